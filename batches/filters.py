"""Filters for production-record lists (one filterset per model serves the pages and the API)."""

import django_filters as filters

from batches.models import (
    Aliquot,
    CellBank,
    CultureBatch,
    Donor,
    ExosomeLot,
    IsolationRun,
    ReagentLot,
    StorageLocation,
)


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


class CultureBatchFilter(filters.FilterSet):
    code = filters.CharFilter(lookup_expr="icontains")
    started_after = filters.DateFilter(field_name="started_on", lookup_expr="gte")
    started_before = filters.DateFilter(field_name="started_on", lookup_expr="lte")

    class Meta:
        model = CultureBatch
        fields = ["code", "status", "cell_bank", "started_after", "started_before"]


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

    class Meta:
        model = Aliquot
        fields = ["barcode", "lot", "status", "freezer"]


class StorageLocationFilter(filters.FilterSet):
    freezer = filters.CharFilter(lookup_expr="icontains")
    box = filters.CharFilter()
    free = filters.BooleanFilter(field_name="aliquot", lookup_expr="isnull", label="Free")

    class Meta:
        model = StorageLocation
        fields = ["freezer", "rack", "box", "free"]
