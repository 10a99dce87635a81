"""Filters of the assay, instrument, run, result and instrument-file lists: one filterset per
model, shared by the pages and the API (a filter means the same in both).

Identifiers a machine knows (assay, instrument, lot and batch codes) match exactly, ignoring
case; descriptive text (names, types, locations, sample labels) matches a part.
"""

import django_filters as filters
from django import forms
from django.db.models import Exists, OuterRef, QuerySet

from assays.models import AssayDefinition, AssayRun, Instrument, InstrumentFile, Result, RunSample
from lims.forms import DATE, BootstrapMixin


class FilterForm(BootstrapMixin, forms.Form):
    """Filter fields styled like the rest of the pages."""


def _assay_code_choices():
    codes = AssayDefinition.objects.order_by("code").values_list("code", flat=True).distinct()
    return [(code, code) for code in codes]


class IdFilter(filters.NumberFilter):
    """A whole-number id (NumberFilter takes decimals, which an id is not)."""

    field_class = forms.IntegerField


def _sample_exists(**lookup):
    return Exists(RunSample.objects.filter(run=OuterRef("pk"), **lookup))


class AssayFilter(filters.FilterSet):
    code = filters.CharFilter(lookup_expr="iexact", help_text="Assay code, e.g. NTA.")
    name = filters.CharFilter(lookup_expr="icontains")
    is_current = filters.BooleanFilter(
        label="Current version", help_text="Only the current (or only past) versions."
    )

    class Meta:
        model = AssayDefinition
        form = FilterForm
        fields = ["code", "name", "applies_to", "is_current"]


class InstrumentFilter(filters.FilterSet):
    code = filters.CharFilter(lookup_expr="iexact")
    instrument_type = filters.CharFilter(lookup_expr="icontains", label="Type")
    location = filters.CharFilter(lookup_expr="icontains")
    assay = filters.ChoiceFilter(
        choices=_assay_code_choices,
        label="May report",
        method="filter_assay",
        help_text="Instruments that may report this assay (code).",
    )
    calibration_due_before = filters.DateFilter(
        field_name="calibration_due_on",
        lookup_expr="lt",
        label="Calibration due before",
        widget=DATE,
        help_text="Calibration due before this date (ISO 8601).",
    )

    class Meta:
        model = Instrument
        form = FilterForm
        fields = [
            "code",
            "instrument_type",
            "location",
            "status",
            "assay",
            "calibration_due_before",
        ]

    def filter_assay(
        self, queryset: QuerySet[Instrument], name: str, value: str
    ) -> QuerySet[Instrument]:
        return queryset.filter(assay_codes__contains=[value])


class RunFilter(filters.FilterSet):
    assay = filters.ChoiceFilter(
        field_name="assay__code",
        choices=_assay_code_choices,
        label="Assay",
        help_text="Assay code.",
    )
    instrument = filters.ModelChoiceFilter(
        queryset=Instrument.objects.order_by("code"),
        to_field_name="code",
        help_text="Instrument code.",
    )
    sample = filters.CharFilter(
        field_name="samples__label", lookup_expr="icontains", distinct=True, label="Sample"
    )
    lot = filters.CharFilter(method="filter_lot", help_text="Runs that tested this lot (code).")
    culture_batch = filters.CharFilter(
        method="filter_culture_batch", help_text="Runs that tested this culture batch (code)."
    )
    started_after = filters.DateFilter(
        field_name="started_at", lookup_expr="date__gte", widget=DATE, label="Started from"
    )
    started_before = filters.DateFilter(
        field_name="started_at", lookup_expr="date__lte", widget=DATE, label="Started until"
    )
    since = filters.IsoDateTimeFilter(
        field_name="started_at", lookup_expr="gte", help_text="Started at or after (ISO 8601)."
    )
    external_id = filters.CharFilter(help_text="The sender's own run id.")

    class Meta:
        model = AssayRun
        form = FilterForm
        fields = ["assay", "instrument", "status", "source", "sample", "lot", "culture_batch"]

    def filter_lot(self, queryset, name, value):
        # EXISTS rather than a join: a run testing several vials of a lot is listed once.
        return queryset.filter(_sample_exists(lot__code=value))

    def filter_culture_batch(self, queryset, name, value):
        return queryset.filter(_sample_exists(culture_batch__code=value))


class ResultFilter(filters.FilterSet):
    analyte = filters.CharFilter(field_name="analyte__code", help_text="Analyte code.")
    assay = filters.CharFilter(field_name="run__assay__code", help_text="Assay code.")
    lot = filters.CharFilter(field_name="sample__lot__code", help_text="Lot code.")
    culture_batch = filters.CharFilter(
        field_name="sample__culture_batch__code", help_text="Culture batch code."
    )
    run = IdFilter(field_name="run_id", help_text="Run id.")
    instrument = filters.CharFilter(field_name="run__instrument__code")

    class Meta:
        model = Result
        form = FilterForm
        fields = ["analyte", "assay", "lot", "culture_batch", "run", "instrument"]


class InstrumentFileFilter(filters.FilterSet):
    original_name = filters.CharFilter(lookup_expr="icontains", label="File name")
    sample_identifier = filters.CharFilter(lookup_expr="icontains", label="Sample")
    assay_code = filters.ChoiceFilter(choices=_assay_code_choices, label="Assay")
    sha256 = filters.CharFilter(lookup_expr="startswith", label="SHA-256")

    class Meta:
        model = InstrumentFile
        form = FilterForm
        fields = ["status", "assay_code", "sample_identifier", "original_name", "sha256"]
