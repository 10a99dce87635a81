"""Filters for production-record lists (one filterset per model serves the pages and the API)."""

from datetime import date, timedelta

import django_filters as filters
from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import DateField, Exists, F, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from django_filters.fields import ModelChoiceField

from batches.models import (
    Aliquot,
    CellBank,
    CultureBatch,
    Donor,
    ExosomeLot,
    IsolationRun,
    Passage,
    ReagentLot,
    StorageLocation,
)

# Vials that are still somewhere in the building (not used, shipped or destroyed).
VIALS_IN_HAND = (
    Aliquot.Status.QUARANTINE,
    Aliquot.Status.AVAILABLE,
    Aliquot.Status.REJECTED,
    Aliquot.Status.RETAIN,
)


def with_last_passage(queryset: QuerySet[CultureBatch]) -> QuerySet[CultureBatch]:
    """Annotate `last_passaged_on`: the seeding date of the batch's last passage (not voided),
    or the day it was started when it has none yet."""
    last = (
        Passage.objects.filter(batch=OuterRef("pk"), voided_at__isnull=True)
        .order_by("-seeded_on", "-number")
        .values("seeded_on")[:1]
    )
    return queryset.annotate(
        last_passaged_on=Coalesce(Subquery(last, output_field=DateField()), F("started_on"))
    )


def due_passage(queryset: QuerySet[CultureBatch], on: date | None = None):
    """Batches in culture whose last passage (or start) is PASSAGE_INTERVAL_DAYS old or more,
    the longest waiting first."""
    on = on or timezone.localdate()
    since = on - timedelta(days=settings.PASSAGE_INTERVAL_DAYS)
    return (
        with_last_passage(queryset)
        .filter(status=CultureBatch.Status.IN_CULTURE, voided_at__isnull=True)
        .filter(last_passaged_on__lte=since)  # type: ignore[misc]  # with_last_passage's annotation
        .order_by("last_passaged_on", "pk")
    )


def vials_to_place(queryset: QuerySet[Aliquot]) -> QuerySet[Aliquot]:
    """Vials in hand (not voided) with no storage position."""
    return queryset.filter(location__isnull=True, voided_at__isnull=True, status__in=VIALS_IN_HAND)


class DonorFilter(filters.FilterSet):
    code = filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = Donor
        fields = ["code", "tissue_source"]


class CellBankFilter(filters.FilterSet):
    code = filters.CharFilter(lookup_expr="icontains")
    donor = filters.CharFilter(field_name="donor__code", lookup_expr="icontains", label="Donor")

    class Meta:
        model = CellBank
        fields = ["code", "bank_type", "donor"]


class ReagentLotFilter(filters.FilterSet):
    name = filters.CharFilter(lookup_expr="icontains")
    lot_number = filters.CharFilter(lookup_expr="icontains")
    expires_before = filters.DateFilter(field_name="expiry_date", lookup_expr="lt")

    class Meta:
        model = ReagentLot
        fields = ["category", "name", "lot_number", "expires_before"]


class CodeField(ModelChoiceField):
    """A record named by its code, typed (ignoring case), rather than picked from a <select>
    of every record: a site's cell banks number in the thousands after some years, and a page
    that lists them all grows with them. An unknown code is a form error that says so."""

    widget = forms.TextInput

    def to_python(self, value):
        if value in self.empty_values:
            return None
        value = str(value).strip()
        # `UPPER(code) = UPPER(%s)`: served by an index on UPPER(code) (see the model's Meta).
        record = self.queryset.filter(code__iexact=value).first()
        if record is None:
            name = self.queryset.model._meta.verbose_name
            raise ValidationError(
                "No %(model)s has the code “%(value)s”.",
                code="invalid_choice",
                params={"model": name, "value": value},
            )
        return record


class CodeFilter(filters.ModelChoiceFilter):
    """Records whose `field_name` is the record of the code typed (see CodeField)."""

    field_class = CodeField

    def __init__(self, *args, **kwargs):
        # Shown back as the code; the API schema documents a string (the related `code`).
        kwargs.setdefault("to_field_name", "code")
        super().__init__(*args, **kwargs)


class CultureBatchFilter(filters.FilterSet):
    code = filters.CharFilter(lookup_expr="icontains")
    cell_bank = CodeFilter(
        queryset=CellBank.objects.all(), label="Cell bank", help_text="Cell bank code."
    )
    started_after = filters.DateFilter(field_name="started_on", lookup_expr="gte")
    started_before = filters.DateFilter(field_name="started_on", lookup_expr="lte")
    passage_due = filters.BooleanFilter(method="filter_passage_due", label="Passage due")

    class Meta:
        model = CultureBatch
        fields = ["code", "status", "cell_bank", "started_after", "started_before", "passage_due"]

    def filter_passage_due(self, queryset, name, value):
        due = due_passage(CultureBatch.objects.all()).values("pk")
        return queryset.filter(pk__in=due) if value else queryset.exclude(pk__in=due)


class IsolationRunFilter(filters.FilterSet):
    code = filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = IsolationRun
        fields = ["code", "method", "operator"]


class ExosomeLotFilter(filters.FilterSet):
    code = filters.CharFilter(lookup_expr="icontains")
    manufactured_after = filters.DateFilter(field_name="manufactured_on", lookup_expr="gte")

    class Meta:
        model = ExosomeLot
        fields = ["code", "status", "manufactured_after"]


class AliquotFilter(filters.FilterSet):
    barcode = filters.CharFilter(lookup_expr="icontains")
    lot = filters.CharFilter(field_name="lot__code", lookup_expr="icontains", label="Lot")
    freezer = filters.CharFilter(field_name="location__freezer", label="Freezer")
    to_place = filters.BooleanFilter(method="filter_to_place", label="To place in storage")

    class Meta:
        model = Aliquot
        fields = ["barcode", "lot", "status", "freezer", "to_place"]

    def filter_to_place(self, queryset, name, value):
        to_place = vials_to_place(Aliquot.objects.all()).values("pk")
        return queryset.filter(pk__in=to_place) if value else queryset.exclude(pk__in=to_place)


class StorageLocationFilter(filters.FilterSet):
    freezer = filters.CharFilter(lookup_expr="icontains")
    box = filters.CharFilter()
    free = filters.BooleanFilter(method="filter_free", label="Free")

    class Meta:
        model = StorageLocation
        fields = ["freezer", "rack", "box", "free"]

    def filter_free(self, queryset, name, value):
        """NOT EXISTS a vial there, not `aliquot__isnull`: PostgreSQL does not read the LEFT
        JOIN's `aliquot.id IS NULL` as an anti-join (the join is on `location_id`), guesses one
        row, and hashed all 100,000 vials against all 100,000 positions before the first 25
        (63 ms at the busy size); NOT EXISTS is an anti-join probing the vials' unique
        `location_id` index along the positions' order, stopping at the page."""
        occupied = Exists(Aliquot.objects.filter(location=OuterRef("pk")))
        return queryset.exclude(occupied) if value else queryset.filter(occupied)
