"""Read endpoints of the release workflow: specifications, evaluations, deviations, signatures
and certificates of analysis. Signing is done in the browser only (re-authentication of a
person, 21 CFR 11.200), so nothing here writes."""

from dataclasses import asdict

import django_filters as filters
from django.db.models import Case, Value, When
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from assays.api.errors import OriginalUnavailable
from assays.api.pagination import Key, keyset
from assays.api.permissions import ApiPermission
from assays.api.schema import error_responses
from assays.api.views import ApiView, ListApi
from batches.models import CultureBatch, ExosomeLot
from lims import file_store
from lims.models import Signature
from lims.roles import can_view_audit_trail
from lims.signatures import format_signed_time
from release.certificate import certificate_bytes
from release.filters import AuditTrailReviewFilter, DeviationFilter
from release.models import (
    AuditTrailReview,
    CertificateOfAnalysis,
    CriterionEvaluation,
    Deviation,
    LotSpecification,
    Specification,
)
from release.selectors import BLOCKER_CODES, culture_batch_blockers, release_blockers
from release.specifications import overall_state


class CriterionOutput(serializers.Serializer):
    position = serializers.IntegerField()
    test = serializers.CharField()
    method = serializers.CharField()
    metric_code = serializers.CharField()
    comparator = serializers.CharField()
    lower = serializers.FloatField(allow_null=True)
    upper = serializers.FloatField(allow_null=True)
    expected_text = serializers.CharField()
    unit = serializers.CharField()
    alert_lower = serializers.FloatField(allow_null=True)
    alert_upper = serializers.FloatField(allow_null=True)
    required = serializers.BooleanField()
    acceptance = serializers.CharField()
    combination = serializers.CharField(help_text="How original and retest results combine.")
    any_of_codes = serializers.ListField(
        child=serializers.CharField(),
        help_text="Alternative metrics: the criterion holds when any one of them conforms.",
    )
    derived_from = serializers.CharField(help_text="How a derived limit was computed (K/M).")
    reference = serializers.CharField()


class SignatureOutput(serializers.Serializer):
    id = serializers.IntegerField()
    printed_name = serializers.CharField()
    meaning = serializers.ChoiceField(choices=Signature.Meaning.choices)
    comment = serializers.CharField()
    signed_at = serializers.DateTimeField(help_text="UTC")
    signed_at_display = serializers.SerializerMethodField(
        help_text="In the site's time zone, with the zone named"
    )
    record_type = serializers.CharField()
    record_id = serializers.CharField()
    content_sha256 = serializers.CharField()

    def get_signed_at_display(self, obj) -> str:
        return format_signed_time(obj.signed_at)


@extend_schema_view(get=extend_schema(summary="List specifications with their criteria"))
class SpecificationListApi(ListApi):
    """Specification versions per product, with status, criteria and approval signature."""

    class SpecificationOutput(serializers.Serializer):
        id = serializers.IntegerField()
        product = serializers.ChoiceField(choices=Specification.Product.choices)
        version = serializers.IntegerField()
        title = serializers.CharField()
        status = serializers.ChoiceField(choices=Specification.Status.choices)
        effective_from = serializers.DateTimeField(allow_null=True)
        approval_signature = SignatureOutput(allow_null=True)
        criteria = CriterionOutput(many=True, source="criteria.all")

    serializer_class = SpecificationOutput

    def get_queryset(self):
        return (
            Specification.objects.select_related("approval_signature")
            .prefetch_related("criteria")
            .order_by("product", "-version")
        )


class EvaluationOutput(serializers.Serializer):
    test = serializers.CharField(source="criterion.test")
    acceptance = serializers.CharField(source="criterion.acceptance")
    required = serializers.BooleanField(source="criterion.required")
    status = serializers.ChoiceField(choices=CriterionEvaluation.Status.choices)
    value = serializers.FloatField(allow_null=True)
    unit = serializers.CharField(source="criterion.unit")
    text = serializers.CharField()
    metric = serializers.IntegerField(source="metric_id", allow_null=True)
    run = serializers.IntegerField(source="metric.run_id", allow_null=True, default=None)
    evaluated_at = serializers.DateTimeField()


class BlockerObjectOutput(serializers.Serializer):
    type = serializers.ChoiceField(
        choices=["lot", "culture_batch", "run", "criterion", "deviation"],
        help_text="What the blocker is about",
    )
    id = serializers.IntegerField()
    code = serializers.CharField(
        help_text="Lot or batch code, run, criterion metric code or deviation code"
    )


class BlockerOutput(serializers.Serializer):
    code = serializers.ChoiceField(
        choices=list(BLOCKER_CODES.items()),
        help_text="Stable code; " + "; ".join(f"{k}: {v}" for k, v in BLOCKER_CODES.items()),
    )
    message = serializers.CharField(help_text="What the review page shows")
    object = BlockerObjectOutput(allow_null=True)


class _EvaluationOutput(serializers.Serializer):
    specification = serializers.CharField(allow_null=True)
    overall = serializers.ChoiceField(
        choices=["pass", "alert", "pending", "fail", "no_specification"]
    )
    criteria = EvaluationOutput(many=True)
    releasable = serializers.BooleanField(help_text="True exactly when `blockers` is empty")
    blockers = BlockerOutput(many=True, help_text="The list the review page shows")


class LotEvaluationOutput(_EvaluationOutput):
    lot = serializers.CharField()
    status = serializers.ChoiceField(choices=ExosomeLot.Status.choices)


class CultureBatchEvaluationOutput(_EvaluationOutput):
    culture_batch = serializers.CharField()
    status = serializers.ChoiceField(choices=CultureBatch.Status.choices)


def _evaluation(target: dict, blockers) -> dict:
    """What both evaluation endpoints return of the target's stored evaluation."""
    judged = LotSpecification.objects.filter(**target).select_related("specification").first()
    evaluations = list(
        CriterionEvaluation.objects.filter(**target)
        .select_related("criterion", "metric")
        .order_by("criterion__position", "criterion_id")
    )
    found = blockers(evaluations)
    return {
        "specification": str(judged.specification) if judged else None,
        "overall": overall_state(evaluations),
        "criteria": evaluations,
        "releasable": not found,
        "blockers": [asdict(b) for b in found],
    }


@extend_schema(
    summary="A lot's evaluation against its specification, and what blocks its release",
    responses={200: LotEvaluationOutput, 404: OpenApiResponse(description="No such lot")},
)
class LotEvaluationApi(ApiView):
    def get(self, request, pk: int):
        lot = ExosomeLot.objects.filter(pk=pk).first()
        if lot is None:
            raise NotFound(f"No lot {pk}.")
        body = _evaluation({"lot": lot}, lambda _: release_blockers(lot))
        return Response(LotEvaluationOutput({"lot": lot.code, "status": lot.status, **body}).data)


@extend_schema(
    summary="A culture batch's evaluation against the source-cell specification",
    description="Releasable: every required source-cell criterion passes and no deviation on "
    "the batch is open.",
    responses={
        200: CultureBatchEvaluationOutput,
        404: OpenApiResponse(description="No such culture batch"),
    },
)
class CultureBatchEvaluationApi(ApiView):
    def get(self, request, pk: int):
        batch = CultureBatch.objects.filter(pk=pk).first()
        if batch is None:
            raise NotFound(f"No culture batch {pk}.")
        body = _evaluation(
            {"culture_batch": batch},
            lambda evaluations: culture_batch_blockers(batch, evaluations),
        )
        return Response(
            CultureBatchEvaluationOutput(
                {"culture_batch": batch.code, "status": batch.status, **body}
            ).data
        )


@extend_schema_view(get=extend_schema(summary="List deviations and OOS investigations"))
class DeviationListApi(ListApi):
    class DeviationOutput(serializers.Serializer):
        id = serializers.IntegerField()
        code = serializers.CharField()
        kind = serializers.ChoiceField(choices=Deviation.Kind.choices)
        status = serializers.ChoiceField(choices=Deviation.Status.choices)
        title = serializers.CharField()
        description = serializers.CharField()
        lot = serializers.CharField(source="lot.code", allow_null=True, default=None)
        culture_batch = serializers.CharField(
            source="culture_batch.code", allow_null=True, default=None
        )
        metric = serializers.IntegerField(source="metric_id", allow_null=True)
        root_cause = serializers.CharField()
        impact_assessment = serializers.CharField()
        outcome = serializers.CharField()
        created_at = serializers.DateTimeField()
        closed_at = serializers.DateTimeField(allow_null=True)
        closure_signature = SignatureOutput(allow_null=True)

    serializer_class = DeviationOutput
    filterset_class = DeviationFilter
    pagination_class = keyset(Key("created_at", "created_at", True), id_descending=True)

    def get_queryset(self):
        return Deviation.objects.select_related(
            "lot", "culture_batch", "closure_signature"
        ).order_by("-created_at", "-id")


class SignatureFilter(filters.FilterSet):
    class Meta:
        model = Signature
        fields = ["record_type", "record_id", "meaning"]


@extend_schema_view(get=extend_schema(summary="List electronic signatures"))
class SignatureListApi(ListApi):
    """Signatures with printed name, time (UTC and in the site's zone, named) and meaning."""

    serializer_class = SignatureOutput
    filterset_class = SignatureFilter
    pagination_class = keyset(Key("signed_at", "signed_at", True), id_descending=True)

    def get_queryset(self):
        return Signature.objects.order_by("-signed_at", "-pk")


@extend_schema(
    summary="A lot's certificate of analysis (PDF)",
    responses={
        (200, "application/pdf"): OpenApiTypes.BINARY,
        404: OpenApiResponse(description="No certificate issued for this lot"),
        409: error_responses(409)[409],
    },
)
class CertificateApi(ApiView):
    def get(self, request, pk: int):
        certificate = CertificateOfAnalysis.objects.select_related("lot").filter(lot_id=pk).first()
        if certificate is None:
            raise NotFound(f"No certificate of analysis for lot {pk}.")
        try:
            data = certificate_bytes(certificate)
        except file_store.OriginalUnavailable as exc:
            raise OriginalUnavailable(str(exc)) from exc  # 409, never other bytes
        response = HttpResponse(data, content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="CoA-{certificate.lot.code}.pdf"'
        response["X-Content-SHA256"] = certificate.sha256
        return response


class AuditTrailReaders(ApiPermission):
    """The audit trail and its reviews are read by those who may open the audit trail page
    (lims.view_audit_trail), as in the browser."""

    def has_permission(self, request, view) -> bool:
        if not super().has_permission(request, view):
            return False
        self.code = "permission_denied"
        self.message = "Your account's role may not read the audit trail."
        return can_view_audit_trail(request.user)


class AuditTrailReviewOutput(serializers.Serializer):
    id = serializers.IntegerField()
    scope = serializers.ChoiceField(choices=["lot", "period"])
    lot = serializers.CharField(source="lot.code", allow_null=True, default=None)
    period_start = serializers.DateField(allow_null=True)
    period_end = serializers.DateField(allow_null=True)
    events_reviewed = serializers.IntegerField()
    chain_head = serializers.CharField(help_text="The audit chain's head when it was signed.")
    findings = serializers.CharField()
    reviewed_by = serializers.CharField(source="signature.printed_name")
    reviewed_at = serializers.DateTimeField()
    signature_id = serializers.IntegerField()


@extend_schema_view(get=extend_schema(summary="List audit trail reviews"))
class AuditTrailReviewListApi(ListApi):
    """QA's e-signed reviews of a lot's or a period's audit trail (EU GMP Annex 11 §9), newest
    first; filter by lot code."""

    serializer_class = AuditTrailReviewOutput
    permission_classes = [AuditTrailReaders]
    filterset_class = AuditTrailReviewFilter
    pagination_class = keyset(Key("reviewed_at", "reviewed_at", True), id_descending=True)

    def get_queryset(self):
        return (
            AuditTrailReview.objects.select_related("lot", "signature")
            .annotate(
                scope=Case(When(lot__isnull=False, then=Value("lot")), default=Value("period"))
            )
            .order_by("-reviewed_at", "-pk")
        )
