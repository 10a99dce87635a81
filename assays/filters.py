"""Filters for the assay, instrument, run and instrument-file lists."""

import django_filters as filters
from django import forms

from assays.models import AssayDefinition, AssayRun, Instrument, InstrumentFile
from lims.forms import DATE, BootstrapMixin


class FilterForm(BootstrapMixin, forms.Form):
    """Filter fields styled like the rest of the pages."""


def _assay_code_choices():
    codes = AssayDefinition.objects.order_by("code").values_list("code", flat=True).distinct()
    return [(code, code) for code in codes]


class AssayFilter(filters.FilterSet):
    code = filters.CharFilter(lookup_expr="icontains")
    name = filters.CharFilter(lookup_expr="icontains")
    is_current = filters.BooleanFilter(label="Current version")

    class Meta:
        model = AssayDefinition
        form = FilterForm
        fields = ["code", "name", "applies_to", "is_current"]


class InstrumentFilter(filters.FilterSet):
    code = filters.CharFilter(lookup_expr="icontains")
    instrument_type = filters.CharFilter(lookup_expr="icontains", label="Type")
    location = filters.CharFilter(lookup_expr="icontains")
    assay = filters.ChoiceFilter(
        choices=_assay_code_choices, label="May report", method="filter_assay"
    )
    calibration_due_before = filters.DateFilter(
        field_name="calibration_due_on", lookup_expr="lte", label="Calibration due by", widget=DATE
    )

    class Meta:
        model = Instrument
        form = FilterForm
        fields = ["code", "instrument_type", "location", "status", "assay"]

    def filter_assay(self, queryset, name, value):
        return queryset.filter(assay_codes__contains=[value])


class RunFilter(filters.FilterSet):
    assay = filters.ChoiceFilter(
        field_name="assay__code", choices=_assay_code_choices, label="Assay"
    )
    instrument = filters.ModelChoiceFilter(queryset=Instrument.objects.order_by("code"))
    sample = filters.CharFilter(
        field_name="samples__label", lookup_expr="icontains", distinct=True, label="Sample"
    )
    started_after = filters.DateFilter(
        field_name="started_at", lookup_expr="date__gte", widget=DATE, label="Started from"
    )
    started_before = filters.DateFilter(
        field_name="started_at", lookup_expr="date__lte", widget=DATE, label="Started until"
    )

    class Meta:
        model = AssayRun
        form = FilterForm
        fields = ["assay", "instrument", "status", "source", "sample"]


class InstrumentFileFilter(filters.FilterSet):
    original_name = filters.CharFilter(lookup_expr="icontains", label="File name")
    sample_identifier = filters.CharFilter(lookup_expr="icontains", label="Sample")
    assay_code = filters.ChoiceFilter(choices=_assay_code_choices, label="Assay")
    sha256 = filters.CharFilter(lookup_expr="startswith", label="SHA-256")

    class Meta:
        model = InstrumentFile
        form = FilterForm
        fields = ["status", "assay_code", "sample_identifier", "original_name", "sha256"]
