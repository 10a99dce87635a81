"""Read endpoints of stability studies and the annual product quality review (signing and
every write happen in the browser, re-authenticated: 21 CFR 11.200)."""

from typing import Any

from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers
from rest_framework.exceptions import ValidationError as ApiValidationError
from rest_framework.response import Response

from assays.api.views import ApiView, ListApi
from lims.signatures import format_signed_time
from release import apqr, stability
from release.models import (
    AnnualProductReview,
    Specification,
    StabilityProtocol,
    StabilityStudy,
)


class ProtocolOutput(serializers.Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField()
    version = serializers.IntegerField()
    title = serializers.CharField()
    status = serializers.CharField()
    specification_id = serializers.IntegerField()
    conditions = serializers.ListField(child=serializers.CharField())
    time_points = serializers.ListField(child=serializers.IntegerField())
    shelf_life_condition = serializers.CharField()
    vials_per_pull = serializers.IntegerField()


class PointOutput(serializers.Serializer):
    test = serializers.CharField()
    metric_code = serializers.CharField()
    value = serializers.FloatField(allow_null=True)
    status = serializers.CharField()


class PullOutput(serializers.Serializer):
    id = serializers.IntegerField()
    condition = serializers.CharField()
    time_point = serializers.IntegerField()
    due_on = serializers.DateField()
    pulled_at = serializers.DateTimeField(allow_null=True)
    overdue = serializers.BooleanField()
    vials = serializers.ListField(child=serializers.CharField())
    results = PointOutput(many=True)


class TrendOutput(serializers.Serializer):
    test = serializers.CharField()
    intercept = serializers.FloatField(allow_null=True)
    slope = serializers.FloatField(allow_null=True)
    bound_meets_limit_at = serializers.FloatField(
        allow_null=True, help_text="Months where the one-sided 95 % bound meets the limit."
    )
    supported_months = serializers.FloatField(
        allow_null=True, help_text="Capped at the longest time point (ICH Q5C)."
    )
    refusal = serializers.CharField()
    pooling_model = serializers.CharField(
        allow_null=True,
        help_text="ICH Q1E model across the protocol's lots: pooled, common slope or separate.",
    )
    pooling_p_slopes = serializers.FloatField(allow_null=True)
    pooling_p_intercepts = serializers.FloatField(allow_null=True)
    pooling_governing_lot = serializers.CharField(allow_null=True)
    pooling_supported_months = serializers.FloatField(allow_null=True)
    pooling_note = serializers.CharField()


class StudyOutput(serializers.Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField()
    lot = serializers.CharField()
    protocol = serializers.CharField()
    started_on = serializers.DateField()
    status = serializers.CharField()
    supported_shelf_life_months = serializers.IntegerField(allow_null=True)
    pulls = PullOutput(many=True)
    trends = TrendOutput(many=True)


class ProtocolListApi(ApiView):
    @extend_schema(summary="List stability protocols", responses=ProtocolOutput(many=True))
    def get(self, request):
        rows = StabilityProtocol.objects.order_by("code", "-version").values(
            "id",
            "code",
            "version",
            "title",
            "status",
            "specification_id",
            "conditions",
            "time_points",
            "shelf_life_condition",
            "vials_per_pull",
        )
        return Response(ProtocolOutput(list(rows), many=True).data)


def _pooling(trend: stability.Trend) -> dict:
    p = trend.pooling
    return {
        "pooling_model": p.model if p else None,
        "pooling_p_slopes": p.p_slopes if p else None,
        "pooling_p_intercepts": p.p_intercepts if p else None,
        "pooling_governing_lot": (p.governing or None) if p else None,
        "pooling_supported_months": p.supported if p and not p.beyond_at_start else None,
        "pooling_note": trend.pooling_note,
    }


def _study(study: StabilityStudy) -> dict:
    view = stability.study_view(study)
    return {
        "id": view.study.pk,
        "code": view.study.code,
        "lot": view.study.lot.code,
        "protocol": str(view.study.protocol),
        "started_on": view.study.started_on,
        "status": view.study.status,
        "supported_shelf_life_months": view.supported_months,
        "pulls": [
            {
                "id": p.pk,
                "condition": p.condition,
                "time_point": p.time_point,
                "due_on": p.due_on,
                "pulled_at": p.pulled_at,
                "overdue": p.is_overdue(),
                "vials": [v.aliquot.barcode for v in p.vials.all()],
                "results": [
                    {
                        "test": r.criterion.test,
                        "metric_code": r.criterion.metric_code,
                        "value": r.metric.value if r.metric else None,
                        "status": r.status,
                    }
                    for r in view.results[p.pk]
                ],
            }
            for p in view.pulls
        ],
        "trends": [
            {
                "test": t.criterion.test,
                "intercept": t.shelf_life.fit.intercept if t.shelf_life else None,
                "slope": t.shelf_life.fit.slope if t.shelf_life else None,
                "bound_meets_limit_at": t.shelf_life.estimate if t.shelf_life else None,
                "supported_months": t.shelf_life.supported if t.shelf_life else None,
                "refusal": t.refusal,
                **_pooling(t),
            }
            for t in view.trends
        ],
    }


class StudyDetailApi(ApiView):
    @extend_schema(
        summary="A stability study: pulls, results judged, ICH Q1E trends and shelf life",
        responses=StudyOutput,
    )
    def get(self, request, pk: int):
        return Response(StudyOutput(_study(get_object_or_404(StabilityStudy, pk=pk))).data)


class ApqrRevisionOutput(serializers.Serializer):
    """One signed revision of a review: current, or superseded by the one after it."""

    id = serializers.IntegerField()
    product = serializers.CharField()
    year = serializers.IntegerField()
    revision = serializers.IntegerField()
    status = serializers.SerializerMethodField()
    supersedes = serializers.IntegerField(source="supersedes_id", allow_null=True)
    superseded_by = serializers.SerializerMethodField()
    reason = serializers.CharField()
    conclusion = serializers.CharField()
    sha256 = serializers.CharField()
    size = serializers.IntegerField()
    issued_at = serializers.DateTimeField()
    signed_by = serializers.CharField(source="signature.printed_name", allow_null=True)
    signed_at = serializers.SerializerMethodField()
    pdf = serializers.SerializerMethodField()

    def _later(self, record: AnnualProductReview) -> AnnualProductReview | None:
        try:
            return record.superseded_by
        except AnnualProductReview.DoesNotExist:
            return None

    def get_status(self, record: AnnualProductReview) -> str:
        return "superseded" if self._later(record) else "current"

    def get_superseded_by(self, record: AnnualProductReview) -> int | None:
        later = self._later(record)
        return later.pk if later else None

    def get_signed_at(self, record: AnnualProductReview) -> str:
        return format_signed_time(record.signature.signed_at if record.signature else None)

    def get_pdf(self, record: AnnualProductReview) -> str:
        return reverse("release:apqr_pdf", args=[record.pk])


def _revisions() -> Any:
    # The later revision (reverse one-to-one) and the signature joined: one query a page.
    return AnnualProductReview.objects.select_related("signature", "superseded_by")


@extend_schema_view(get=extend_schema(summary="List signed annual product reviews, revisions"))
class ApqrRevisionListApi(ListApi):
    """Every signed revision of every annual product quality review, newest year first, each
    current or superseded (21 CFR 211.180(e); a correction is a new signed revision)."""

    serializer_class = ApqrRevisionOutput

    def get_queryset(self) -> Any:
        return _revisions().order_by("-year", "product", "-revision")


class ApqrOutput(serializers.Serializer):
    product = serializers.CharField()
    year = serializers.IntegerField()
    made = serializers.IntegerField()
    released = serializers.IntegerField()
    rejected = serializers.IntegerField()
    deviations = serializers.ListField(child=serializers.DictField())
    trends = serializers.ListField(child=serializers.DictField())
    specifications = serializers.ListField(child=serializers.CharField())
    studies = serializers.ListField(child=serializers.DictField())
    revisions = ApqrRevisionOutput(many=True)


class ApqrApi(ApiView):
    @extend_schema(
        summary="The annual product quality review of a product and year (21 CFR 211.180(e))",
        parameters=[
            OpenApiParameter("product", str, required=False),
            OpenApiParameter(
                "year", int, required=False, description="Default: the current year, as the page."
            ),
        ],
        responses=ApqrOutput,
    )
    def get(self, request):
        product = request.query_params.get("product", Specification.Product.DRUG_SUBSTANCE)
        try:
            year = int(request.query_params.get("year") or timezone.localdate().year)
        except ValueError as exc:
            raise ApiValidationError({"year": ["A year, e.g. 2026."]}) from exc
        try:
            data = apqr.review(product=product, year=year)
        except ValidationError as exc:
            raise ApiValidationError(exc.message_dict) from exc
        return Response(
            ApqrOutput(
                {
                    "product": product,
                    "year": year,
                    "made": data["made"],
                    "released": data["released"],
                    "rejected": data["rejected"],
                    "deviations": [
                        {
                            "code": d.code,
                            "kind": d.kind,
                            "status": d.status,
                            "capa_open": d.capa_open,
                            "capa_total": d.capa_total,
                        }
                        for d in data["deviations"]
                    ],
                    "trends": [
                        {
                            "test": t.test,
                            "n": len(t.values),
                            "mean": t.mean,
                            "sd": t.sd,
                            "ppk": t.ppk,
                        }
                        for t in data["trends"]
                    ],
                    "specifications": [str(s) for s in data["specifications"]],
                    "studies": [
                        {"code": v.study.code, "supported_months": v.supported_months}
                        for v in data["studies"]
                    ],
                    "revisions": _revisions()
                    .filter(product=product, year=year)
                    .order_by("-revision"),
                }
            ).data
        )
