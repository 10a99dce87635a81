"""Specifications and the evaluation of a lot or batch against them (DOMAIN.md §3).

The limits are data (seeded from DOMAIN.md §3 as version 1, changed only through a new
approved version), never code. Evaluation runs whenever the metrics of a lot or batch change
(assays.metrics.evaluate_lot calls it) and opens an OOS investigation for every required
criterion that fails.
"""

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from assays.metrics import current_metrics
from assays.models import Criterion, CriterionEvaluation, LotSpecification, Specification
from assays.units import convert
from lims.audit import audit_context
from lims.transitions import move_status

PRODUCT_FOR = {
    "lot": Specification.Product.DRUG_SUBSTANCE,
    "culture_batch": Specification.Product.SOURCE_CELLS,
}
S = CriterionEvaluation.Status


# --- Versions ----------------------------------------------------------------------------------


def effective_specification(product: str) -> Specification | None:
    return Specification.objects.filter(product=product, status="effective").first()


@transaction.atomic
def specification_approve(*, request, specification, username, password, comment=""):
    """QA approves a draft with an e-signature (meaning: approval)."""
    from lims.roles import QA, has_role
    from lims.signatures import sign

    if not has_role(request.user, QA):
        raise ValidationError("Only QA approves specifications.")
    spec = Specification.objects.select_for_update().get(pk=specification.pk)
    if spec.status != Specification.Status.DRAFT:
        raise ValidationError(f"{spec} is {spec.get_status_display().lower()}, not a draft.")
    if not spec.criteria.exists():
        raise ValidationError("A specification needs at least one criterion.")
    signature = sign(
        request=request,
        username=username,
        password=password,
        meaning="approval",
        record=spec,
        content=spec.signed_content(),
        comment=comment,
    )
    return move_status(
        spec,
        to="approved",
        actor=request.user,
        reason="Approved by QA",
        extra_fields={"approval_signature": signature},
    )


@transaction.atomic
def specification_make_effective(*, actor, specification) -> Specification:
    """The approved version takes effect; the previous effective one is superseded."""
    spec = Specification.objects.select_for_update().get(pk=specification.pk)
    previous = (
        Specification.objects.select_for_update()
        .filter(product=spec.product, status="effective")
        .exclude(pk=spec.pk)
        .first()
    )
    if previous is not None:
        move_status(
            previous, to="superseded", actor=actor, reason=f"Superseded by version {spec.version}"
        )
    return move_status(
        spec,
        to="effective",
        actor=actor,
        reason="Made effective",
        extra_fields={"effective_from": timezone.now()},
    )


def specification_for(*, lot=None, culture_batch=None) -> Specification | None:
    """The version a lot or batch is judged against: fixed the first time it is asked for
    (when testing starts), from the version effective at that moment."""
    kind = "lot" if lot is not None else "culture_batch"
    target = {kind: lot if lot is not None else culture_batch}
    existing = LotSpecification.objects.filter(**target).select_related("specification").first()
    if existing is not None:
        return existing.specification
    spec = effective_specification(PRODUCT_FOR[kind])
    if spec is None:
        return None
    try:
        with transaction.atomic(), audit_context(reason="Specification fixed for judgement"):
            LotSpecification.objects.create(specification=spec, **target)
    except IntegrityError:  # assigned concurrently: the first assignment stands
        return LotSpecification.objects.get(**target).specification
    return spec


# --- Evaluation ------------------------------------------------------------------------------


def judge(criterion: Criterion, metric) -> tuple[str, str]:
    """(status, note) of one criterion against the metric it rests on (None: none yet)."""
    if metric is None:
        return S.PENDING, "no result yet"
    c = Criterion.Comparator
    if criterion.comparator == c.EQUALS:
        text = (metric.details or {}).get("text", "")
        if text == "discordant":
            return S.INVALID, "replicates disagree"
        ok = text.lower() == criterion.expected_text.lower()
        return (S.PASS if ok else S.FAIL), text
    if metric.value is None:
        return S.INVALID, "no numeric value"
    value = metric.value
    if criterion.unit and metric.unit and criterion.unit != metric.unit:
        try:
            value = convert(value, metric.unit, criterion.unit)
        except ValueError:
            return S.INVALID, f"unit {metric.unit} cannot be compared with {criterion.unit}"
    if criterion.comparator == c.REPORT:
        return S.PASS, "reported"
    lo, hi = criterion.lower, criterion.upper
    ok = {
        c.GTE: lambda: value >= lo,
        c.GT: lambda: value > lo,
        c.LTE: lambda: value <= hi,
        c.LT: lambda: value < hi,
        c.BETWEEN: lambda: lo <= value <= hi,
    }[criterion.comparator]()
    if not ok:
        return S.FAIL, ""
    if (criterion.alert_lower is not None and value < criterion.alert_lower) or (
        criterion.alert_upper is not None and value > criterion.alert_upper
    ):
        return S.ALERT, "within specification, outside alert limits"
    return S.PASS, ""


@transaction.atomic
def evaluate(*, lot=None, culture_batch=None) -> list[CriterionEvaluation]:
    """Evaluate every criterion of the judging specification and open OOS investigations."""
    spec = specification_for(lot=lot, culture_batch=culture_batch)
    if spec is None:
        return []
    target = {"lot": lot} if lot is not None else {"culture_batch": culture_batch}
    metrics = current_metrics(**target)
    existing = {e.criterion_id: e for e in CriterionEvaluation.objects.filter(**target)}
    evaluations = []
    with audit_context(reason="Evaluated against the specification"):
        for criterion in spec.criteria.all():
            metric = metrics.get(criterion.metric_code)
            status, note = judge(criterion, metric)
            fields = {
                "status": status,
                "metric": metric,
                "note": note[:300],
                "value": metric.value if metric else None,
                "text": ((metric.details or {}).get("text", "") if metric else "")[:60],
            }
            row = existing.get(criterion.pk)
            if row is None:
                row = CriterionEvaluation.objects.create(criterion=criterion, **target, **fields)
            elif any(getattr(row, k) != v for k, v in fields.items()):
                for k, v in fields.items():
                    setattr(row, k, v)
                row.evaluated_at = timezone.now()
                row.save()
            evaluations.append(row)
            if status == S.FAIL and criterion.required and lot is not None:
                _open_oos(lot, criterion, metric)
    return evaluations


def _open_oos(lot, criterion, metric) -> None:
    from batches.release import deviation_open_oos

    deviation_open_oos(lot=lot, criterion=criterion, metric=metric)


def overall_state(evaluations) -> str:
    """fail if a required criterion fails, pending if one is pending or invalid, else alert or
    pass."""
    required = [e for e in evaluations if e.criterion.required]
    if not evaluations:
        return "no_specification"
    if any(e.status == S.FAIL for e in required):
        return "fail"
    if any(e.status in (S.PENDING, S.INVALID) for e in required):
        return "pending"
    if any(e.status == S.ALERT for e in evaluations):
        return "alert"
    return "pass"
