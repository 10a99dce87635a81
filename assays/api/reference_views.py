"""Read endpoints of the reference standards (issue 13): the lots a run may be tested against,
with their qualification (who signed, when) and whether they are usable today."""

from __future__ import annotations

from django.db.models import F, QuerySet
from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from assays.api.views import ApiView, ListApi
from assays.reference_models import ReferenceStandard


def reference_rows() -> QuerySet:
    """One plain row per reference standard, newest first within each material (2 queries a
    page whatever its length: the count and the rows)."""
    return (
        ReferenceStandard.objects.annotate(
            source_lot_code=F("source_lot__code"),
            qualified_by=F("qualification_signature__printed_name"),
            signature_meaning=F("qualification_signature__meaning"),
        )
        .values(
            "id",
            "code",
            "material",
            "name",
            "kind",
            "source_lot_code",
            "supplier",
            "catalogue_number",
            "lot_number",
            "assay_codes",
            "assigned_values",
            "expiry_date",
            "storage",
            "qualification_report",
            "status",
            "status_reason",
            "qualified_at",
            "qualified_by",
            "signature_meaning",
            "created_at",
        )
        .order_by("material", "-created_at", "-id")
    )


class AssignedValueOutput(serializers.Serializer):
    analyte = serializers.CharField()
    value = serializers.FloatField()
    unit = serializers.CharField(allow_blank=True)


class ReferenceOutput(serializers.Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField()
    material = serializers.CharField()
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=ReferenceStandard.Kind.choices)
    source_lot = serializers.CharField(source="source_lot_code", allow_null=True)
    supplier = serializers.CharField(allow_blank=True)
    catalogue_number = serializers.CharField(allow_blank=True)
    lot_number = serializers.CharField(allow_blank=True)
    assay_codes = serializers.ListField(child=serializers.CharField())
    assigned_values = AssignedValueOutput(many=True)
    expiry_date = serializers.DateField()
    storage = serializers.CharField()
    qualification_report = serializers.CharField()
    status = serializers.ChoiceField(choices=ReferenceStandard.Status.choices)
    status_reason = serializers.CharField(allow_blank=True)
    qualified_at = serializers.DateTimeField(allow_null=True)
    qualified_by = serializers.CharField(allow_null=True, help_text="QA's printed name.")
    usable_today = serializers.SerializerMethodField(
        help_text="Qualified and not expired today (a run also checks its own start date)."
    )
    created_at = serializers.DateTimeField()

    def get_usable_today(self, row) -> bool:
        return row["status"] == "qualified" and row["expiry_date"] >= timezone.localdate()


@extend_schema_view(get=extend_schema(summary="List reference standards"))
class ReferenceStandardListApi(ListApi):
    """Reference standards and their qualification; `?material=EV-RS`, `?status=qualified`."""

    instrument_reads = True
    serializer_class = ReferenceOutput
    filter_backends: list = []

    def get_queryset(self):
        rows = reference_rows()
        params = self.request.query_params
        if material := params.get("material"):
            rows = rows.filter(material=material)
        if status := params.get("status"):
            if status not in ReferenceStandard.Status.values:
                raise serializers.ValidationError(
                    {"status": f"One of {', '.join(ReferenceStandard.Status.values)}."}
                )
            rows = rows.filter(status=status)
        return rows


class ReferenceStandardDetailApi(ApiView):
    instrument_reads = True

    @extend_schema(summary="One reference standard", responses={200: ReferenceOutput})
    def get(self, request, pk: int):
        row = reference_rows().filter(pk=pk).first()
        if row is None:
            raise NotFound(f"No reference standard {pk}.")
        return Response(ReferenceOutput(row).data)
