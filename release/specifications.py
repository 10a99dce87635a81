"""Specifications and the evaluation of a lot or batch against them (DOMAIN.md §3).

The limits are data (seeded from DOMAIN.md §3 as version 1, changed only through a new
approved version), never code. Evaluation runs whenever the metrics of a lot or batch change
(release.tasks, on assays.events.metrics_changed) and opens an OOS investigation for every required
criterion that fails.
"""

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from assays.metrics import valid_metrics
from assays.models import QCMetric
from assays.qc import endotoxin
from assays.units import convert, normalised
from lims.audit import audit_context
from lims.roles import can_manage_specifications, require
from lims.signatures import Signer, sign
from lims.transitions import move_status
from release.deviations import deviation_open_oos
from release.models import Criterion, CriterionEvaluation, LotSpecification, Specification

PRODUCT_FOR = {
    "lot": Specification.Product.DRUG_SUBSTANCE,
    "culture_batch": Specification.Product.SOURCE_CELLS,
}
S = CriterionEvaluation.Status


# --- Versions ----------------------------------------------------------------------------------


def effective_specification(product: str) -> Specification | None:
    return Specification.objects.filter(product=product, status="effective").first()


def metric_specification_limits(code: str) -> dict | None:
    """The specification limits of a QC metric (LSL, USL in the criterion's unit), from the
    effective specifications' criteria that judge it: the trend chart's default limits, so
    that nobody types them (a read, one query). None when no effective criterion has a
    numeric limit for it; the first product's when several do."""
    criteria = (
        Criterion.objects.filter(
            specification__status="effective",
            specification__voided_at__isnull=True,
            voided_at__isnull=True,
            metric_code=code,
        )
        .exclude(comparator__in=["equals", "report"])
        .select_related("specification")
        .order_by("specification__product", "position", "pk")
    )
    for criterion in criteria:
        c = Criterion.Comparator
        lsl = criterion.lower if criterion.comparator in (c.BETWEEN, c.GTE, c.GT) else None
        usl = criterion.upper if criterion.comparator in (c.BETWEEN, c.LTE, c.LT) else None
        if lsl is None and usl is None:
            continue
        spec = criterion.specification
        return {
            "lsl": lsl,
            "usl": usl,
            "unit": criterion.unit,
            "source": f"{spec}, criterion {criterion.test} ({criterion.acceptance})",
            "url": spec.get_absolute_url(),
        }
    return None


@transaction.atomic
def specification_approve(*, signer: Signer, specification, comment: str = "") -> Specification:
    """QA approves a draft with an e-signature (meaning: approval)."""
    require(can_manage_specifications, signer.user, "Only QA approves specifications.")
    if signer.meaning != "approval":
        raise ValidationError("A specification is approved with a signature meaning approval.")
    spec = Specification.objects.select_for_update().get(pk=specification.pk)
    _refuse_withdrawn(spec)
    if spec.status != Specification.Status.DRAFT:
        raise ValidationError(f"{spec} is {spec.get_status_display().lower()}, not a draft.")
    if not spec.criteria.exists():
        raise ValidationError("A specification needs at least one criterion.")
    signature = sign(signer=signer, record=spec, content=spec.signed_content(), comment=comment)
    return move_status(
        spec,
        to="approved",
        actor=signer.user,
        reason="Approved by QA",
        extra_fields={"approval_signature": signature},
    )


@transaction.atomic
def specification_make_effective(*, actor, specification) -> Specification:
    """The approved version takes effect; the previous effective one is superseded."""
    require(can_manage_specifications, actor, "Only QA makes a specification effective.")
    spec = Specification.objects.select_for_update().get(pk=specification.pk)
    if spec.status != Specification.Status.APPROVED:
        raise ValidationError(
            f"{spec} is {spec.get_status_display().lower()}: only an approved version can "
            "be made effective."
        )
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


def _refuse_withdrawn(spec: Specification) -> None:
    if spec.is_voided:
        raise ValidationError(f"{spec} was withdrawn: {spec.void_reason}")


@transaction.atomic
def specification_withdraw(*, actor, specification, reason: str) -> Specification:
    """QA withdraws a draft it will not approve, with the reason: a recorded voiding, never a
    deletion. The version number stays used; the next draft takes the one after it."""
    require(can_manage_specifications, actor, "Only QA withdraws a draft specification.")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the draft is withdrawn."})
    spec = Specification.objects.select_for_update().get(pk=specification.pk)
    _refuse_withdrawn(spec)
    if spec.status != Specification.Status.DRAFT:
        raise ValidationError(
            f"{spec} is {spec.get_status_display().lower()}: only a draft can be withdrawn."
        )
    spec.voided_at, spec.voided_by, spec.void_reason = timezone.now(), actor, reason
    with audit_context(actor=actor, reason=reason):
        spec.save(update_fields=["voided_at", "voided_by", "void_reason"])
    return spec


CRITERION_FIELDS = (
    "position",
    "test",
    "method",
    "metric_code",
    "comparator",
    "lower",
    "upper",
    "expected_text",
    "unit",
    "alert_lower",
    "alert_upper",
    "required",
    "reference",
    "combination",
    "any_of_codes",
    "endotoxin_k",
    "dose_ml_per_hour",
    "body_mass_kg",
)
DERIVATION_FIELDS = ("endotoxin_k", "dose_ml_per_hour", "body_mass_kg")


@transaction.atomic
def specification_draft_create(*, actor, product: str, title: str = "") -> Specification:
    """QA starts the next version of a product's specification as a draft, with a copy of the
    criteria of the effective version (or of the latest one when none is effective)."""
    require(can_manage_specifications, actor, "Only QA drafts specifications.")
    if product not in Specification.Product.values:
        raise ValidationError({"product": "Choose a product."})
    # Lock the product's versions: two QA users drafting at once get consecutive versions
    # checked against each other, not two drafts.
    versions = list(
        Specification.objects.select_for_update().filter(product=product).order_by("-version")
    )
    pending = [v for v in versions if v.status in ("draft", "approved") and not v.is_voided]
    if pending:
        v = pending[0]
        raise ValidationError(
            f"{v} is {v.get_status_display().lower()} and not yet effective: finish it first."
        )
    base = next(
        (v for v in versions if v.status == "effective"),
        next((v for v in versions if not v.is_voided), None),
    )
    spec = Specification(
        product=product,
        version=(versions[0].version + 1) if versions else 1,
        title=title or (base.title if base else Specification.Product(product).label),
        created_by=actor,
    )
    spec.full_clean()
    with audit_context(actor=actor, reason=f"Draft created from {base or 'nothing'}"):
        spec.save()
        if base is not None:
            Criterion.objects.bulk_create(
                Criterion(
                    specification=spec,
                    created_by=actor,
                    **{name: getattr(c, name) for name in CRITERION_FIELDS},
                )
                for c in base.criteria.order_by("position", "pk")
            )
    return spec


def _check_limits(criterion: Criterion) -> None:
    c = Criterion.Comparator
    errors = _derive_limit(criterion)
    if criterion.comparator in (c.GTE, c.GT, c.BETWEEN) and criterion.lower is None:
        errors["lower"] = "This comparator needs a lower limit."
    if criterion.comparator in (c.LTE, c.LT, c.BETWEEN) and criterion.upper is None:
        errors.setdefault("upper", "This comparator needs an upper limit.")
    if (
        criterion.comparator == c.BETWEEN
        and None not in (criterion.lower, criterion.upper)
        and criterion.lower >= criterion.upper
    ):
        errors["upper"] = "The upper limit must be above the lower limit."
    if criterion.comparator == c.EQUALS and not criterion.expected_text.strip():
        errors["expected_text"] = "Say which qualitative result is accepted."
    if (
        None not in (criterion.alert_lower, criterion.alert_upper)
        and criterion.alert_lower >= criterion.alert_upper
    ):
        errors["alert_upper"] = "The upper alert limit must be above the lower one."
    codes = criterion.any_of_codes or []
    if criterion.metric_code in codes or len(set(codes)) != len(codes):
        errors["any_of_codes"] = "Name each alternative metric once, other than the metric."
    if errors:
        raise ValidationError(errors)


def _derive_limit(criterion: Criterion) -> dict[str, str]:
    """Set the upper limit of a K/M criterion from its K, dose and body mass (USP <85>:
    limit = K / M, M = dose per kg per hour); the errors, by field, if it cannot be."""
    k, dose, mass = given = [getattr(criterion, name) for name in DERIVATION_FIELDS]
    if all(v is None for v in given):
        return {}
    missing = {
        name: "K/M needs K, the dose per hour and the body mass."
        for name, v in zip(DERIVATION_FIELDS, given, strict=True)
        if v is None
    }
    if missing or k is None or dose is None or mass is None:
        return missing
    if criterion.comparator not in (Criterion.Comparator.LT, Criterion.Comparator.LTE):
        return {"comparator": "A K/M endotoxin limit is an upper limit: choose < or ≤."}
    try:
        limit = convert(endotoxin.dose_limit(k, dose, mass), "EU/mL", criterion.unit or "EU/mL")
    except ValueError as exc:
        return {"endotoxin_k": f"K/M cannot be derived: {exc}."}
    if criterion.upper is not None and abs(criterion.upper - limit) > 1e-9 * limit:
        return {
            "upper": f"The upper limit is derived from K/M: {limit:g} {criterion.unit}. "
            "Leave it empty or give that value."
        }
    criterion.upper = limit
    return {}


@transaction.atomic
def criterion_save(*, actor, specification, criterion=None, **fields) -> Criterion:
    """Add a criterion to a draft, or change one of its criteria. The criteria of an approved
    version never change: a change is a new version, approved again."""
    require(can_manage_specifications, actor, "Only QA edits specifications.")
    spec = Specification.objects.select_for_update().get(pk=specification.pk)
    _refuse_withdrawn(spec)
    if spec.status != Specification.Status.DRAFT:
        raise ValidationError(
            f"{spec} is {spec.get_status_display().lower()}: its criteria never change. "
            "Draft a new version instead."
        )
    unknown = set(fields) - set(CRITERION_FIELDS)
    if unknown:
        raise ValidationError(f"Unknown criterion fields: {', '.join(sorted(unknown))}.")
    if criterion is None:
        criterion = Criterion(specification=spec, created_by=actor)
        reason = "Criterion added to a draft"
    else:
        criterion = Criterion.objects.select_for_update().get(pk=criterion.pk)
        if criterion.specification_id != spec.pk:
            raise ValidationError("This criterion belongs to another specification.")
        reason = "Draft criterion changed"
    if "upper" not in fields and any(name in fields for name in DERIVATION_FIELDS):
        fields["upper"] = None  # derived again from the new K/M
    if isinstance(fields.get("unit"), str):
        # Typed "ug/mL" is kept as "µg/mL": one spelling per unit in the record and on the CoA.
        fields["unit"] = normalised(fields["unit"])
    for name, value in fields.items():
        setattr(criterion, name, value)
    criterion.full_clean()
    _check_limits(criterion)
    with audit_context(actor=actor, reason=reason):
        criterion.save()
    return criterion


def _target(lot, culture_batch) -> tuple[str, dict]:
    kind = "lot" if lot is not None else "culture_batch"
    return kind, {kind: lot if lot is not None else culture_batch}


def judging_specification(*, lot=None, culture_batch=None) -> Specification | None:
    """The version a lot or batch is judged against (a read: it writes nothing).

    The version fixed for it when testing started; until one is fixed, the version effective
    now, which is the one it would be given."""
    kind, target = _target(lot, culture_batch)
    existing = LotSpecification.objects.filter(**target).select_related("specification").first()
    if existing is not None:
        return existing.specification
    return effective_specification(PRODUCT_FOR[kind])


def specification_assign(*, lot=None, culture_batch=None) -> Specification | None:
    """Fix the version a lot or batch is judged against, from the version effective now; a
    version once fixed stays (the first assignment stands)."""
    kind, target = _target(lot, culture_batch)
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
    censored = (metric.details or {}).get("qualifier", "")
    if censored == "mixed":
        return S.INVALID, "results censored both below and above the quantifiable range"
    value = metric.value
    if criterion.unit and metric.unit and criterion.unit != metric.unit:
        try:
            value = convert(value, metric.unit, criterion.unit)
        except ValueError:
            return S.INVALID, f"unit {metric.unit} cannot be compared with {criterion.unit}"
    if criterion.comparator == c.REPORT:
        return S.PASS, "reported"
    if censored:
        return _judge_censored(criterion, censored, value)
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


# Worst first: the status of several results together is the worst of theirs.
_SEVERITY: list[str] = [S.FAIL, S.INVALID, S.PENDING, S.ALERT, S.PASS]


def judge_all(
    criterion: Criterion, metrics: list[QCMetric]
) -> tuple[str, str, QCMetric | None, list[QCMetric]]:
    """(status, note, deciding metric, failing metrics) of a criterion against every valid
    result, original and retests (oldest first), combined as the criterion says.

    ALL: every valid result must conform, so an original OOS result stands beside a passing
    retest until an assignable laboratory cause invalidates it. MEAN: the mean of the results
    is judged, and each result must be within the limits as well."""
    if not metrics:
        status, note = judge(criterion, None)
        return status, note, None, []
    verdicts = [(judge(criterion, m), m) for m in metrics]
    failing = [m for (status, _), m in verdicts if status == S.FAIL]
    (status, note), metric = min(verdicts, key=lambda v: _SEVERITY.index(v[0][0]))
    if status != S.FAIL:
        metric = metrics[-1]  # nothing fails: the newest result is the one shown
    values = [m.value for m in metrics if m.value is not None]
    if (
        criterion.combination == Criterion.Combination.MEAN
        and status in (S.PASS, S.ALERT)
        and len(values) == len(metrics)
    ):
        mean = _MeanOf(metrics[-1], sum(values) / len(values))
        status, note = judge(criterion, mean)
        note = f"mean of {len(values)} results" + (f"; {note}" if note else "")
        return status, note, metric, failing
    if len(metrics) > 1:
        counts = f"{len(metrics)} valid results"
        note = f"{counts}, {len(failing)} out of specification" if failing else counts
    return status, note, metric, failing


def judge_criterion(
    criterion: Criterion, metrics: dict[str, list[QCMetric]]
) -> tuple[str, str, QCMetric | None, list[QCMetric]]:
    """`judge_all` over the criterion's metric and its alternatives ("TSG101 or ALIX").

    The criterion holds when any one of them conforms; it fails (each failing result an OOS)
    only when every one of them has results and none conforms; otherwise it waits for the
    others, so one marker not detected is no OOS while another can still show the protein."""
    if not criterion.any_of_codes:
        return judge_all(criterion, metrics.get(criterion.metric_code, []))
    verdicts = [
        (code, judge_all(criterion, metrics.get(code, []))) for code in criterion.metric_codes
    ]
    conforming = [(code, v) for code, v in verdicts if v[0] in (S.PASS, S.ALERT)]
    if conforming:
        # The best of them: a pass before a pass with alerts.
        code, (status, note, metric, _) = max(conforming, key=lambda cv: _SEVERITY.index(cv[1][0]))
        return status, _joined(f"{_name(code)} conforms", note), metric, []
    if all(v[0] == S.FAIL for _, v in verdicts):
        failing = [m for _, v in verdicts for m in v[3]]
        names = " or ".join(_name(code) for code, _ in verdicts)
        return S.FAIL, f"neither {names} conforms", verdicts[0][1][2], failing
    status, _, metric, _ = min(
        (v for _, v in verdicts), key=lambda v: _SEVERITY.index(v[0]) if v[0] != S.FAIL else 99
    )
    notes = "; ".join(f"{_name(code)}: {v[1] or v[0]}" for code, v in verdicts)
    return status, notes, metric, []


def _name(code: str) -> str:
    return code.rsplit(".", 1)[-1]


def _joined(first: str, rest: str) -> str:
    return f"{first}; {rest}" if rest else first


class _MeanOf:
    """A metric-like value: the mean of several results, in the newest one's unit."""

    def __init__(self, newest, value):
        self.value, self.unit, self.details = value, newest.unit, {}


def _judge_censored(criterion: Criterion, qualifier: str, bound: float) -> tuple[str, str]:
    """A censored value: the true value is below `bound` ("<", e.g. < 0.05 EU/mL, below the
    lowest standard) or above it (">"). It passes only when every value on that side of the bound
    would pass, fails only when every one would fail, and is otherwise indeterminate, which
    blocks like an invalid result: "< 0.05" passes "< 0.5"; "< 1.0" against "< 0.5" cannot be
    judged."""
    c = Criterion.Comparator
    lo, hi = criterion.lower, criterion.upper
    shown = f"{qualifier} {bound:g}"
    if qualifier == "<":  # true value < bound
        passes = criterion.comparator in (c.LT, c.LTE) and hi is not None and bound <= hi
        fails = criterion.comparator in (c.GTE, c.GT, c.BETWEEN) and lo is not None and bound <= lo
    else:  # true value > bound
        passes = criterion.comparator in (c.GT, c.GTE) and lo is not None and bound >= lo
        fails = criterion.comparator in (c.LT, c.LTE, c.BETWEEN) and hi is not None and bound >= hi
    if passes:
        return S.PASS, f"{shown}: below the quantifiable range" if qualifier == "<" else shown
    if fails:
        return S.FAIL, shown
    return S.INVALID, f"indeterminate: {shown} {criterion.unit} cannot show {criterion.acceptance}"


@transaction.atomic
def evaluate(*, lot=None, culture_batch=None) -> list[CriterionEvaluation]:
    """Evaluate every criterion of the judging specification against every valid result and
    open an OOS investigation for each failing result of a required criterion.

    A write: called by the evaluation tasks (release.tasks) when what it depends on changed,
    and by the disposition, never by a page."""
    spec = specification_assign(lot=lot, culture_batch=culture_batch)
    if spec is None:
        return []
    target = {"lot": lot} if lot is not None else {"culture_batch": culture_batch}
    metrics = valid_metrics(**target)
    existing = {
        e.criterion_id: e
        for e in CriterionEvaluation.objects.filter(**target).select_related("metric")
    }
    evaluations, new = [], []
    with audit_context(reason="Evaluated against the specification"):
        for criterion in spec.criteria.all():
            status, note, metric, failing = judge_criterion(criterion, metrics)
            value = metric.value if metric else None
            results = metrics.get(metric.code if metric else criterion.metric_code, [])
            values = [m.value for m in results if m.value is not None]
            if criterion.combination == Criterion.Combination.MEAN and results:
                if len(values) == len(results):
                    value = sum(values) / len(values)
            fields = {
                "status": status,
                "metric": metric,
                "note": note[:300],
                "value": value,
                # The qualitative call, or the side a censored value lies on ("<", ">").
                "text": _shown_text(metric)[:60],
            }
            row = existing.get(criterion.pk)
            if row is None:
                row = CriterionEvaluation(criterion=criterion, **target, **fields)
                new.append(row)
            elif any(getattr(row, k) != v for k, v in fields.items()):
                for k, v in fields.items():
                    setattr(row, k, v)
                row.evaluated_at = timezone.now()
                row.save()
            row.criterion = criterion  # the caller reads it: spare a query per criterion
            evaluations.append(row)
            if criterion.required:
                # Each failing result is an OOS of its own; a failing source-cell criterion is
                # an OOS of the batch, which blocks every lot made from it.
                for failed in failing:
                    deviation_open_oos(criterion=criterion, metric=failed, **target)
        # A lot's first evaluation: its criteria's rows in one insert, not one each (an 18-row
        # specification was half the queries of ingesting a file, issue 10 item 7).
        CriterionEvaluation.objects.bulk_create(new)
    return evaluations


def _shown_text(metric) -> str:
    if metric is None:
        return ""
    details = metric.details or {}
    return details.get("text") or (details.get("qualifier", "") if metric.value is not None else "")


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
