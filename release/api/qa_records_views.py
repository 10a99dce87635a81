"""Read endpoints of training and qualification (lims.training) and of retained and received
samples (batches.custody), for people only. Everything here is written in the browser."""

from typing import Any

from django.db.models import Sum
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers
from rest_framework.response import Response

from assays.api.pagination import Key, keyset
from assays.api.views import ApiView, ListApi
from batches.models import RetainedSet, SampleReceipt
from lims.models import Step, TrainingRecord
from lims.training import training_matrix


@extend_schema_view(get=extend_schema(summary="List training records"))
class TrainingRecordListApi(ListApi):
    """Who was trained on which SOP version, when, by whom, until when (21 CFR 211.25(a));
    voided records included, with their voiding."""

    class TrainingRecordOutput(serializers.Serializer):
        id = serializers.IntegerField()
        trainee = serializers.CharField(source="trainee.username")
        sop = serializers.CharField(source="sop.code")
        sop_version = serializers.IntegerField(source="sop.version")
        trained_on = serializers.DateField()
        trainer = serializers.CharField(source="trainer.username")
        expires_on = serializers.DateField()
        recorded_by = serializers.CharField(source="created_by.username")
        voided_at = serializers.DateTimeField(allow_null=True)
        void_reason = serializers.CharField()

    serializer_class = TrainingRecordOutput
    pagination_class = keyset(Key("trained_on", "trained_on", True), id_descending=True)

    def get_queryset(self) -> Any:
        return TrainingRecord.objects.select_related(
            "trainee", "trainer", "sop", "created_by"
        ).order_by("-trained_on", "-pk")


class CellOutput(serializers.Serializer):
    subject = serializers.CharField(help_text='An assay code, or "release".')
    state = serializers.ChoiceField(choices=["qualified", "expiring", "lapsed", "untrained"])
    ends_on = serializers.DateField(allow_null=True, help_text="The first day it no longer counts.")
    reasons = serializers.ListField(child=serializers.CharField())


class PersonOutput(serializers.Serializer):
    username = serializers.CharField()
    name = serializers.CharField()
    qualifications = CellOutput(many=True)


class MatrixOutput(serializers.Serializer):
    subjects = serializers.ListField(child=serializers.CharField())
    steps = serializers.ListField(child=serializers.CharField())
    people = PersonOutput(many=True)


@extend_schema(
    summary="The training matrix: each person's qualification for each assay today",
    responses={200: MatrixOutput},
)
class TrainingMatrixApi(ApiView):
    def get(self, request: Any) -> Response:
        subjects, rows = training_matrix()
        people = [
            {
                "username": row.user.username,
                "name": row.user.printed_name,
                "qualifications": [
                    {"subject": s, "state": c.state, "ends_on": c.ends_on, "reasons": c.reasons}
                    for s, c in zip(subjects, row.cells, strict=True)
                ],
            }
            for row in rows
        ]
        body = {"subjects": subjects, "steps": list(Step.values), "people": people}
        return Response(MatrixOutput(body).data)


@extend_schema_view(get=extend_schema(summary="List retained samples of lots"))
class RetainedSetListApi(ListApi):
    """Each lot's retained vials: how many, how many remain, where, until when (EU GMP
    Annex 19)."""

    class RetainedSetOutput(serializers.Serializer):
        id = serializers.IntegerField()
        lot = serializers.CharField(source="lot.code")
        vials = serializers.IntegerField()
        withdrawn = serializers.IntegerField()
        location = serializers.CharField()
        lot_expiry = serializers.DateField()
        retain_until = serializers.DateField()
        set_aside_on = serializers.DateField()
        voided_at = serializers.DateTimeField(allow_null=True)

    serializer_class = RetainedSetOutput
    pagination_class = keyset(Key("retain_until", "retain_until", False), id_descending=False)

    def get_queryset(self) -> Any:
        return (
            RetainedSet.objects.select_related("lot")
            .annotate(withdrawn=Sum("withdrawals__vials", default=0))
            .order_by("retain_until", "pk")
        )


class CustodyOutput(serializers.Serializer):
    from_party = serializers.CharField()
    to_party = serializers.CharField()
    at = serializers.DateTimeField()
    note = serializers.CharField()


@extend_schema_view(get=extend_schema(summary="List received samples with their custody"))
class SampleReceiptListApi(ListApi):
    """Samples received from outside: condition and temperature on arrival, chain of custody."""

    class SampleReceiptOutput(serializers.Serializer):
        id = serializers.IntegerField()
        code = serializers.CharField()
        sender_kind = serializers.ChoiceField(choices=SampleReceipt.Sender.choices)
        sender_name = serializers.CharField()
        description = serializers.CharField()
        lot = serializers.CharField(source="lot.code", allow_null=True, default=None)
        containers = serializers.IntegerField()
        shipped_at = serializers.DateTimeField()
        received_at = serializers.DateTimeField()
        late_reason = serializers.CharField()
        condition = serializers.ChoiceField(choices=SampleReceipt.Condition.choices)
        condition_notes = serializers.CharField()
        shipping_condition = serializers.ChoiceField(choices=SampleReceipt.Shipping.choices)
        temperature_min_c = serializers.DecimalField(max_digits=5, decimal_places=1)
        temperature_max_c = serializers.DecimalField(max_digits=5, decimal_places=1)
        excursion = serializers.BooleanField()
        acceptable = serializers.BooleanField()
        custody = CustodyOutput(many=True, source="custody.all")

    serializer_class = SampleReceiptOutput
    pagination_class = keyset(Key("received_at", "received_at", True), id_descending=True)

    def get_queryset(self) -> Any:
        return (
            SampleReceipt.objects.select_related("lot")
            .prefetch_related("custody")
            .order_by("-received_at", "-pk")
        )
