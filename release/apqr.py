"""The annual product quality review (21 CFR 211.180(e); EU GMP Part I ch. 1.10): for a product
and a year, the lots made, released and rejected; deviations, OOS investigations and CAPA with
their status; every release test's trend with fixed control limits and Ppk; the stability
results; the specification versions that took effect. A page reads it; QA signs it and the PDF
is kept byte for byte under its SHA-256, like the certificate of analysis.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.template.loader import render_to_string
from django.utils import timezone
from weasyprint import HTML

from assays.qc import capability
from batches.models import ExosomeLot
from lims import file_store
from lims.audit import audit_context
from lims.roles import can_manage_specifications, require
from lims.signatures import Signer, canonical_json, content_hash, sign
from release.models import (
    AnnualProductReview,
    CapaAction,
    CriterionEvaluation,
    Deviation,
    Disposition,
    Specification,
    StabilityStudy,
)
from release.stability import study_views


@dataclass
class TestTrend:
    test: str
    unit: str
    values: list[tuple[str, float]]
    lsl: float | None
    usl: float | None
    mean: float | None
    sd: float | None
    ppk: float | None

    @property
    def control_limits(self) -> tuple[float, float] | None:
        """Fixed ±3 SD limits of the year's results (individuals, ISO 7870-2)."""
        if self.mean is None or self.sd is None:
            return None
        return (self.mean - 3 * self.sd, self.mean + 3 * self.sd)


def _bounds(year: int) -> tuple[date, date]:
    return date(year, 1, 1), date(year, 12, 31)


def review(*, product: str, year: int) -> dict[str, Any]:
    """The review's content (a read; a fixed number of queries whatever the year holds)."""
    if product != Specification.Product.DRUG_SUBSTANCE:
        raise ValidationError({"product": "The review covers the drug substance (exosome lots)."})
    start, end = _bounds(year)
    lots = list(
        ExosomeLot.objects.filter(manufactured_on__range=(start, end)).order_by("manufactured_on")
    )
    decisions = dict(
        Disposition.objects.filter(lot__in=lots, decision__in=["released", "rejected"]).values_list(
            "lot_id", "decision"
        )
    )
    deviations = list(
        Deviation.objects.filter(Q(lot__in=lots) | Q(created_at__date__range=(start, end)))
        .annotate(
            capa_total=Count("capa_actions"),
            capa_open=Count("capa_actions", filter=Q(capa_actions__done_on__isnull=True)),
        )
        .select_related("lot")
        .order_by("created_at")
    )
    capa = list(
        CapaAction.objects.filter(deviation__in=[d.pk for d in deviations]).select_related(
            "deviation"
        )
    )
    evaluations = (
        CriterionEvaluation.objects.filter(lot__in=lots, value__isnull=False)
        .select_related("criterion", "lot")
        .order_by("criterion__position", "lot__manufactured_on")
    )
    trends: dict[str, TestTrend] = {}
    for e in evaluations:
        if e.value is None or e.lot is None:
            continue
        c = e.criterion
        lsl = c.lower if c.comparator in ("gte", "gt", "between") else None
        usl = c.upper if c.comparator in ("lte", "lt", "between") else None
        trend = trends.setdefault(c.test, TestTrend(c.test, c.unit, [], lsl, usl, None, None, None))
        trend.values.append((e.lot.code, float(e.value)))
    for trend in trends.values():
        values = [v for _, v in trend.values]
        if len(values) >= 2:
            mean = sum(values) / len(values)
            sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
            trend.mean, trend.sd = mean, sd
            if sd > 0 and (trend.lsl is not None or trend.usl is not None):
                # Overall SD: the performance index Ppk (ISO 22514-2), as capability documents.
                trend.ppk = capability.cpk(values, lsl=trend.lsl, usl=trend.usl)
    specs = list(
        Specification.objects.filter(effective_from__date__range=(start, end)).order_by(
            "effective_from"
        )
    )
    studies = study_views(
        StabilityStudy.objects.filter(Q(lot__in=lots) | Q(started_on__range=(start, end))).order_by(
            "started_on", "pk"
        )
    )
    return {
        "product": Specification.Product(product),
        "year": year,
        "lots": lots,
        "decisions": decisions,
        "made": len(lots),
        "released": sum(1 for d in decisions.values() if d == "released"),
        "rejected": sum(1 for d in decisions.values() if d == "rejected"),
        "deviations": deviations,
        "oos": [d for d in deviations if d.kind == Deviation.Kind.OOS],
        "capa": capa,
        "trends": list(trends.values()),
        "specifications": specs,
        "studies": studies,
    }


def signed_content(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "apqr": f"{data['product'].value} {data['year']}",
        "lots": [(lot.code, data["decisions"].get(lot.pk, lot.status)) for lot in data["lots"]],
        "deviations": [(d.code, d.status) for d in data["deviations"]],
        "capa": [(a.pk, str(a.done_on)) for a in data["capa"]],
        "trends": [(t.test, [v for _, v in t.values], t.ppk) for t in data["trends"]],
        "specifications": [str(s) for s in data["specifications"]],
        "studies": [(v.study.code, v.supported_months) for v in data["studies"]],
    }


def _check_signer(signer: Signer, refusal: str) -> None:
    require(can_manage_specifications, signer.user, refusal)
    if signer.meaning != "approval":
        raise ValidationError("The review is signed with the meaning approval.")


def _render_pdf(
    data: dict[str, Any], content: dict[str, Any], digest: str, signer: Signer, **extra: Any
) -> bytes:
    """The review as signed, rendered once (outside any transaction: WeasyPrint is slow)."""
    html = render_to_string(
        "release/apqr_pdf.html",
        {
            **data,
            **extra,
            "conclusion": content["conclusion"],
            "content_sha256": digest,
            "content_json": canonical_json(content),
            "signer": signer.user,
            "issued_at": timezone.now(),
        },
    )
    return HTML(string=html).write_pdf()


def _save_signed(
    record: AnnualProductReview, *, signer: Signer, content: dict[str, Any], comment: str, why: str
) -> AnnualProductReview:
    with audit_context(actor=signer.user, reason=why):
        record.save()
        # Bound to the saved record, then fixed (the row never changes after this).
        record.signature = sign(signer=signer, record=record, content=content, comment=comment)
        record.save(update_fields=["signature"])
    return record


def apqr_sign(
    *, signer: Signer, product: str, year: int, conclusion: str, comment: str = ""
) -> AnnualProductReview:
    """QA signs the review (meaning: approval); its PDF is rendered outside the transaction
    and stored under its SHA-256; one first signed review per product and year (a correction
    is a revision: apqr_revise)."""
    _check_signer(signer, "Only QA signs the annual product review.")
    if not conclusion.strip():
        raise ValidationError({"conclusion": "State QA's conclusion on the year."})
    if year >= timezone.localdate().year + 1:
        raise ValidationError({"year": "A year that has not begun cannot be reviewed."})
    if AnnualProductReview.objects.filter(product=product, year=year).exists():
        raise ValidationError(
            {"year": f"The {year} review of this product is signed already: revise it instead."}
        )
    data = review(product=product, year=year)
    content = {**signed_content(data), "conclusion": conclusion}
    digest = content_hash(content)
    pdf = _render_pdf(data, content, digest, signer)
    stored = file_store.store(pdf, folder=AnnualProductReview.STORE_FOLDER, suffix=".pdf")
    try:
        with transaction.atomic():
            record = AnnualProductReview(
                product=product,
                year=year,
                conclusion=conclusion,
                content_sha256=digest,
                sha256=stored,
                size=len(pdf),
            )
            return _save_signed(
                record,
                signer=signer,
                content=content,
                comment=comment,
                why="Annual product review signed",
            )
    except IntegrityError as exc:
        raise ValidationError({"year": f"The {year} review was signed meanwhile."}) from exc


def _refuse_revision_of(previous: AnnualProductReview) -> None:
    later = AnnualProductReview.objects.filter(supersedes=previous).first()
    if later is not None:
        raise ValidationError(
            f"{previous} is superseded by revision {later.revision}: only the current revision "
            "is revised."
        )
    if previous.signature_id is None:
        raise ValidationError(f"{previous} was never signed: there is nothing to revise.")


def apqr_revise(
    *,
    signer: Signer,
    previous: AnnualProductReview,
    reason: str,
    conclusion: str,
    comment: str = "",
) -> AnnualProductReview:
    """QA issues a new revision of a signed review, with its reason and a new signature
    (meaning: approval): the review is read again as the records stand now, rendered and
    stored as its own PDF. The earlier revision stays as it was, superseded by this one
    (GMP records are corrected by a new version with a reason, never overwritten)."""
    _check_signer(signer, "Only QA revises the annual product review.")
    errors: dict[str, str] = {}
    if not reason.strip():
        errors["reason"] = "Say why the signed review is revised (what was wrong or missing)."
    if not conclusion.strip():
        errors["conclusion"] = "State QA's conclusion on the year."
    if errors:
        raise ValidationError(errors)
    _refuse_revision_of(previous)
    reason = reason.strip()
    revision = previous.revision + 1
    data = review(product=previous.product, year=previous.year)
    content = {
        **signed_content(data),
        "conclusion": conclusion,
        "revision": revision,
        "supersedes": previous.sha256,
        "reason": reason,
    }
    digest = content_hash(content)
    pdf = _render_pdf(
        data, content, digest, signer, revision=revision, previous=previous, reason=reason
    )
    stored = file_store.store(pdf, folder=AnnualProductReview.STORE_FOLDER, suffix=".pdf")
    try:
        with transaction.atomic():
            # Under the row lock, checked again: a revision issued meanwhile wins.
            previous = AnnualProductReview.objects.select_for_update().get(pk=previous.pk)
            _refuse_revision_of(previous)
            record = AnnualProductReview(
                product=previous.product,
                year=previous.year,
                revision=revision,
                supersedes=previous,
                reason=reason,
                conclusion=conclusion,
                content_sha256=digest,
                sha256=stored,
                size=len(pdf),
            )
            return _save_signed(
                record,
                signer=signer,
                content=content,
                comment=comment,
                why=f"Annual product review revision {revision} issued: {reason}",
            )
    except IntegrityError as exc:
        raise ValidationError(f"{previous} was revised meanwhile.") from exc


def revisions_of(*, product: str, year: int) -> list[AnnualProductReview]:
    """Every signed revision of a product's year, the current one first (one query)."""
    return list(
        AnnualProductReview.objects.filter(product=product, year=year)
        .select_related("signature", "supersedes")
        .order_by("-revision")
    )


def apqr_bytes(record: AnnualProductReview) -> bytes:
    return file_store.read(record.storage_name, sha256=record.sha256)
