"""Filters of the API lists: exact matches on the identifiers instruments know (codes).

Production records reuse the pages' filtersets (batches.filters); assays, instruments, runs and
results are filtered here by code rather than by primary key or substring, as a machine asks.
"""

import django_filters as filters
from django import forms
from django.db.models import Exists, OuterRef

from assays.models import AssayDefinition, AssayRun, Instrument, Result, RunSample


class AssayFilter(filters.FilterSet):
    code = filters.CharFilter(help_text="Assay code, e.g. NTA.")
    is_current = filters.BooleanFilter(help_text="Only the current (or only past) versions.")

    class Meta:
        model = AssayDefinition
        fields = ["code", "applies_to", "is_current"]


class InstrumentFilter(filters.FilterSet):
    code = filters.CharFilter()
    assay = filters.CharFilter(method="filter_assay", help_text="Instruments that may report it.")
    calibration_due_before = filters.DateFilter(field_name="calibration_due_on", lookup_expr="lt")

    class Meta:
        model = Instrument
        fields = ["code", "status", "assay", "calibration_due_before"]

    def filter_assay(self, queryset, name, value):
        return queryset.filter(assay_codes__contains=[value])


class IdFilter(filters.NumberFilter):
    """A whole-number id (NumberFilter takes decimals, which an id is not)."""

    field_class = forms.IntegerField


def _sample_exists(**lookup):
    return Exists(RunSample.objects.filter(run=OuterRef("pk"), **lookup))


class RunFilter(filters.FilterSet):
    assay = filters.CharFilter(field_name="assay__code", help_text="Assay code.")
    instrument = filters.CharFilter(field_name="instrument__code", help_text="Instrument code.")
    lot = filters.CharFilter(method="filter_lot", help_text="Runs that tested this lot (code).")
    culture_batch = filters.CharFilter(
        method="filter_culture_batch", help_text="Runs that tested this culture batch (code)."
    )
    since = filters.IsoDateTimeFilter(
        field_name="started_at", lookup_expr="gte", help_text="Started at or after (ISO 8601)."
    )
    external_id = filters.CharFilter(help_text="The sender's own run id.")

    class Meta:
        model = AssayRun
        fields = ["assay", "instrument", "status", "source", "lot", "culture_batch", "since"]

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
        fields = ["analyte", "assay", "lot", "culture_batch", "run", "instrument"]
