"""Stability studies: protocols, the start of a study (vials reserved), pulls, the judgement
of pull results against the stability specification, shelf life and the lot's expiry.

ICH Q5C (stability of biotechnological/biological products): real-time, real-temperature data
at the intended storage condition support the expiry; ICH Q1E: the shelf life is where the
one-sided 95 % confidence bound of the regression meets the acceptance limit
(assays.qc.stability). Every write is one service here, in one transaction; pages and the API
read through the selectors at the end.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from dateutil.relativedelta import relativedelta  # type: ignore[import-untyped]
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from assays.models import AssayRun, QCMetric, Result
from assays.qc import stability as q1e
from assays.qc import stability_pooling as q1e_pool
from batches import vial_holds
from batches.models import Aliquot, ExosomeLot
from lims.audit import audit_context
from lims.models import User
from lims.roles import ANALYST, QA, can_manage_specifications, has_role, require
from lims.signatures import Signer, sign
from lims.transitions import move_status
from release.deviations import deviation_open_oos
from release.models import (
    Condition,
    Criterion,
    CriterionEvaluation,
    ShelfLifeAssignment,
    Specification,
    StabilityProtocol,
    StabilityPull,
    StabilityStudy,
    StabilityVial,
)
from release.specifications import judge

S = CriterionEvaluation.Status
# A pull is recorded when it happens (ALCOA+ contemporaneous): at most this far back.
PULL_BACKDATE = timedelta(hours=24)
# A study's start date is its T0: at most this far back (the T0 test is done on the day).
START_BACKDATE = timedelta(days=7)


def can_run_stability(user: User) -> bool:
    """QC analysts and QA start studies and record pulls (production does not)."""
    return has_role(user, ANALYST, QA)


# --- Protocols ---------------------------------------------------------------------------------


@transaction.atomic
def protocol_create(
    *,
    actor: User,
    code: str,
    title: str,
    specification: Specification,
    lots: Collection[ExosomeLot],
    conditions: list[str],
    time_points: list[int],
    shelf_life_condition: str,
    vials_per_pull: int = 1,
    pull_window_days: int = 7,
) -> StabilityProtocol:
    """QA drafts a protocol (the next version of `code` when one exists)."""
    require(can_manage_specifications, actor, "Only QA writes stability protocols.")
    errors: dict[str, str] = {}
    specification = Specification.objects.get(pk=specification.pk)
    if specification.product != Specification.Product.STABILITY:
        errors["specification"] = "Choose a stability specification (product 'stability')."
    elif specification.status not in ("approved", "effective") or specification.is_voided:
        errors["specification"] = f"{specification} is not approved."
    if not lots:
        errors["lots"] = "Name at least one lot."
    if not conditions or len(set(conditions)) != len(conditions):
        errors["conditions"] = "Choose each storage condition once."
    elif shelf_life_condition not in conditions:
        errors["shelf_life_condition"] = "The intended storage condition must be one studied."
    if not time_points or sorted(set(time_points)) != list(time_points):
        errors["time_points"] = "Give distinct time points in increasing order, e.g. 0, 1, 3, 6."
    if vials_per_pull < 1:
        errors["vials_per_pull"] = "At least one vial per pull."
    if errors:
        raise ValidationError(errors)
    versions = list(
        StabilityProtocol.objects.select_for_update().filter(code=code).order_by("-version")
    )
    if any(v.status == StabilityProtocol.Status.DRAFT and not v.is_voided for v in versions):
        raise ValidationError({"code": f"{code} has a draft version: approve it first."})
    protocol = StabilityProtocol(
        code=code,
        version=(versions[0].version + 1) if versions else 1,
        title=title,
        specification=specification,
        conditions=list(conditions),
        time_points=list(time_points),
        shelf_life_condition=shelf_life_condition,
        vials_per_pull=vials_per_pull,
        pull_window_days=pull_window_days,
        created_by=actor,
    )
    protocol.full_clean()
    with audit_context(actor=actor, reason="Stability protocol drafted"):
        protocol.save()
        protocol.lots.set(lots)
    return protocol


@transaction.atomic
def protocol_approve(
    *, signer: Signer, protocol: StabilityProtocol, comment: str = ""
) -> StabilityProtocol:
    """QA approves a draft with an e-signature; the version it replaces is superseded."""
    require(can_manage_specifications, signer.user, "Only QA approves stability protocols.")
    if signer.meaning != "approval":
        raise ValidationError("A protocol is approved with a signature meaning approval.")
    locked = StabilityProtocol.objects.select_for_update().get(pk=protocol.pk)
    if locked.status != StabilityProtocol.Status.DRAFT:
        raise ValidationError(f"{locked} is {locked.get_status_display().lower()}, not a draft.")
    signature = sign(signer=signer, record=locked, content=locked.signed_content(), comment=comment)
    for previous in StabilityProtocol.objects.select_for_update().filter(
        code=locked.code, status=StabilityProtocol.Status.APPROVED
    ):
        move_status(previous, to="superseded", actor=signer.user, reason=f"Superseded by {locked}")
    return move_status(
        locked,
        to="approved",
        actor=signer.user,
        reason="Approved by QA",
        extra_fields={"approval_signature": signature},
    )


# --- Studies and pulls -------------------------------------------------------------------------


def due_date(started_on: date, condition: str, time_point: int) -> date:
    """Months after the start; for freeze–thaw, one cycle a day from the start."""
    if condition == Condition.FREEZE_THAW:
        return started_on + timedelta(days=time_point)
    return started_on + relativedelta(months=time_point)


@transaction.atomic
def study_start(
    *, actor: User, protocol: StabilityProtocol, lot: ExosomeLot, started_on: date
) -> StabilityStudy:
    """Start a study of `lot` on an approved protocol and reserve its vials: per condition and
    time point `vials_per_pull` vials in storage, never tested, held from then on."""
    require(can_run_stability, actor, "Only QC analysts and QA start stability studies.")
    protocol = StabilityProtocol.objects.select_for_update().get(pk=protocol.pk)
    if protocol.status != StabilityProtocol.Status.APPROVED:
        raise ValidationError(
            {
                "protocol": f"{protocol} is {protocol.get_status_display().lower()}: a study "
                "starts only on an approved protocol (signed by QA)."
            }
        )
    if not protocol.lots.filter(pk=lot.pk).exists():
        raise ValidationError({"lot": f"Protocol {protocol} does not name lot {lot}."})
    today = timezone.localdate()
    if started_on > today:
        raise ValidationError({"started_on": "A study cannot start in the future."})
    if started_on < today - START_BACKDATE:
        raise ValidationError(
            {
                "started_on": f"A study is started when it starts: at most {START_BACKDATE.days} "
                "days back."
            }
        )
    if StabilityStudy.objects.filter(protocol=protocol, lot=lot).exists():
        raise ValidationError({"lot": f"Lot {lot} already has a study on {protocol}."})
    points = [(c, t) for c in protocol.conditions for t in protocol.time_points]
    needed = len(points) * protocol.vials_per_pull
    # The lot's row lock orders this study after (or before) a retained set of the same lot
    # being set aside (batches.custody takes the same lock): neither takes the other's vials.
    ExosomeLot.objects.select_for_update().get(pk=lot.pk)
    # Lock the candidate vials in a fixed order: two studies started at once cannot take the
    # same vial (the one-to-one reservation is the database's guarantee as well). A vial held
    # for anything else (a retained sample: batches.vial_holds) is not free.
    candidates = Aliquot.objects.filter(
        lot=lot,
        voided_at__isnull=True,
        location__isnull=False,
        status__in=(Aliquot.Status.QUARANTINE, Aliquot.Status.AVAILABLE),
        stability__isnull=True,
        assay_samples__isnull=True,
    )
    for held in vial_holds.held_vials():
        candidates = candidates.exclude(pk__in=held)
    free = list(candidates.select_for_update(of=("self",)).order_by("number")[:needed])
    if len(free) < needed:
        retained = Aliquot.objects.filter(
            lot=lot, retained__isnull=False, retained__withdrawal__isnull=True
        ).count()
        kept = f" ({retained} kept as retained samples)" if retained else ""
        raise ValidationError(
            {
                "lot": f"The study needs {needed} vials of lot {lot} in storage "
                f"({len(points)} pulls × {protocol.vials_per_pull}); only {len(free)} are "
                f"free{kept}."
            }
        )
    study = StabilityStudy(
        code=f"STAB-{lot.code}-{protocol.code}",
        protocol=protocol,
        lot=lot,
        started_on=started_on,
        created_by=actor,
    )
    study.full_clean()
    with audit_context(actor=actor, reason=f"Stability study started on {protocol}"):
        study.save()
        pulls = StabilityPull.objects.bulk_create(
            StabilityPull(study=study, condition=c, time_point=t, due_on=due_date(started_on, c, t))
            for c, t in points
        )
        vials = iter(free)
        StabilityVial.objects.bulk_create(
            StabilityVial(pull=pull, aliquot=next(vials))
            for pull in pulls
            for _ in range(protocol.vials_per_pull)
        )
    return study


@transaction.atomic
def pull_record(*, actor: User, pull: StabilityPull, pulled_at: datetime) -> StabilityPull:
    """The vials of a pull leave storage for testing, recorded when it happens: not in the
    future, not back-dated beyond 24 h, not before the pull window opens, once."""
    require(can_run_stability, actor, "Only QC analysts and QA record stability pulls.")
    pull = (
        StabilityPull.objects.select_for_update().select_related("study__protocol").get(pk=pull.pk)
    )
    now = timezone.now()
    if pull.pulled_at is not None:
        raise ValidationError({"pulled_at": f"{pull} was pulled already."})
    if pulled_at > now + timedelta(minutes=5):
        raise ValidationError({"pulled_at": "A pull cannot be recorded in the future."})
    if pulled_at < now - PULL_BACKDATE:
        raise ValidationError(
            {"pulled_at": "Record a pull when it happens: at most 24 hours back (ALCOA+)."}
        )
    opens = pull.due_on - timedelta(days=pull.study.protocol.pull_window_days)
    if timezone.localtime(pulled_at).date() < opens:
        raise ValidationError(
            {"pulled_at": f"{pull} is due on {pull.due_on}: its window opens on {opens}."}
        )
    pull.pulled_at, pull.pulled_by = pulled_at, actor
    with audit_context(actor=actor, reason="Stability pull taken out of storage"):
        pull.save(update_fields=["pulled_at", "pulled_by"])
    return pull


# --- Results, judgement, shelf life (reads, except stability_evaluate) --------------------------


def _pull_metrics(studies: Collection[StabilityStudy]) -> dict[int, dict[str, QCMetric]]:
    """The newest valid metric of each code measured on each pull's vials, in three queries
    whatever the number of studies."""
    vial_pull = dict(
        StabilityVial.objects.filter(pull__study__in=[s.pk for s in studies]).values_list(
            "aliquot_id", "pull_id"
        )
    )
    if not vial_pull:
        return {}
    result_pull = {
        pk: vial_pull[aliquot]
        for pk, aliquot in Result.objects.filter(sample__aliquot__in=list(vial_pull))
        .exclude(run__status=AssayRun.Status.INVALIDATED)
        .values_list("pk", "sample__aliquot_id")
    }
    metrics = (
        QCMetric.objects.filter(
            lot__in={s.lot_id for s in studies}, input_results__overlap=list(result_pull)
        )
        .exclude(run__status=AssayRun.Status.INVALIDATED)
        .order_by("-computed_at", "-pk")
    )
    found: dict[int, dict[str, QCMetric]] = defaultdict(dict)
    for metric in metrics:
        pull_id = next((result_pull[r] for r in metric.input_results if r in result_pull), None)
        if pull_id is not None:
            found[pull_id].setdefault(metric.code, metric)
    return found


@dataclass
class PointResult:
    pull: StabilityPull
    criterion: Criterion
    metric: QCMetric | None
    status: str
    note: str


@dataclass
class Trend:
    """One test of the study: its points per condition and the ICH Q1E shelf life at the
    intended storage condition."""

    criterion: Criterion
    points: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    shelf_life: q1e.ShelfLife | None = None
    refusal: str = ""
    # ICH Q1E across the protocol's lots (the batches of the product): set when two or more
    # lots have results at the storage condition; `pooling_note` says why not otherwise.
    pooling: q1e_pool.PooledShelfLife | None = None
    pooling_note: str = ""

    @property
    def governing(self) -> q1e.ShelfLife | q1e_pool.PooledShelfLife | None:
        """The estimate the study's shelf life rests on: the lots' when they were compared."""
        return self.pooling if self.pooling is not None else self.shelf_life

    def chart(self) -> dict[str, Any]:
        """Plotly traces: points per condition; fitted line and bound at the storage condition."""
        traces: list[dict[str, Any]] = [
            {
                "x": [t for t, _ in pts],
                "y": [v for _, v in pts],
                "mode": "markers",
                "type": "scatter",
                "name": Condition(c).label,
            }
            for c, pts in self.points.items()
        ]
        lsl = (
            self.criterion.lower if self.criterion.comparator in ("gte", "gt", "between") else None
        )
        usl = (
            self.criterion.upper if self.criterion.comparator in ("lte", "lt", "between") else None
        )
        end = max((t for pts in self.points.values() for t, _ in pts), default=1) * 1.3 or 1.0
        if self.shelf_life is not None:
            fit = self.shelf_life.fit
            end = max(self.shelf_life.longest_time, self.shelf_life.estimate or 0.0) * 1.1 or 1.0
            xs = [end * i / 40 for i in range(41)]
            traces.append(
                {
                    "x": xs,
                    "y": [fit.predict(x) for x in xs],
                    "mode": "lines",
                    "type": "scatter",
                    "name": "regression",
                }
            )
            bound = (
                fit.lower_bound
                if self.shelf_life.limited_by != "upper" and lsl is not None
                else fit.upper_bound
            )
            traces.append(
                {
                    "x": xs,
                    "y": [bound(x) for x in xs],
                    "mode": "lines",
                    "type": "scatter",
                    "name": "one-sided 95 % bound",
                    "line": {"dash": "dot"},
                }
            )
        for name, limit in (("lower limit", lsl), ("upper limit", usl)):
            if limit is not None:
                xs = [0, end]  # across the whole chart, to where the bound meets it
                traces.append(
                    {
                        "x": xs,
                        "y": [limit, limit],
                        "mode": "lines",
                        "type": "scatter",
                        "name": name,
                        "line": {"dash": "dash", "color": "#c00"},
                    }
                )
        return {
            "data": traces,
            "layout": {
                "xaxis": {"title": {"text": "months"}},
                "yaxis": {"title": {"text": self.criterion.unit}},
                "height": 300,
                "margin": {"t": 20},
            },
        }


@dataclass
class StudyView:
    study: StabilityStudy
    criteria: list[Criterion]
    pulls: list[StabilityPull]
    results: dict[int, list[PointResult]]
    trends: list[Trend]

    @property
    def rows(self) -> list[tuple[StabilityPull, list[PointResult]]]:
        """Each pull beside its judged results, in the pulls' order (the page's table)."""
        return [(p, self.results[p.pk]) for p in self.pulls]

    @property
    def not_supported(self) -> str:
        """Why no shelf life is supported although the data can be regressed: a bound already
        beyond its limit at time zero (a number of 0 months would read as a shelf life)."""
        beyond = [
            t.criterion.test
            for t in self.trends
            if (g := t.governing) is not None and g.beyond_at_start
        ]
        if not beyond:
            return ""
        return (
            f"{', '.join(beyond)}: the one-sided 95 % bound is beyond the acceptance limit "
            "already at time 0, so no shelf life is supported"
        )

    @property
    def supported_months(self) -> int | None:
        """The study's supported shelf life: the shortest over its tests, whole months down;
        None when a test's bound is beyond its limit at time zero."""
        if self.not_supported:
            return None
        values = [g.supported for t in self.trends if (g := t.governing) is not None]
        return int(math.floor(min(values))) if values else None

    @property
    def basis(self) -> str:
        parts = []
        for t in self.trends:
            sl = t.governing
            if sl is None:
                continue
            est = (
                "bound does not meet the limit"
                if sl.estimate is None
                else f"bound meets the limit at {sl.estimate:.1f} months"
            )
            if t.pooling is not None:
                p = t.pooling
                lot = f" (lot {p.governing})" if p.model != q1e_pool.POOLED and p.governing else ""
                est = (
                    f"lots {p.model_label} (ICH Q1E, p slopes {p.p_slopes:.3g}, p intercepts "
                    f"{p.p_intercepts:.3g}); {est}{lot}"
                )
            parts.append(f"{t.criterion.test}: {est}; supported {sl.supported:g} months")
        return "; ".join(parts)


def study_view(study: StabilityStudy) -> StudyView:
    """Everything the study page, the API and the expiry read: results judged per pull and
    test, trends and shelf life (a read in a fixed number of queries)."""
    views = study_views(StabilityStudy.objects.filter(pk=study.pk))
    if not views:
        raise StabilityStudy.DoesNotExist(f"No stability study {study.pk}.")
    return views[0]


def study_views(studies: QuerySet[StabilityStudy]) -> list[StudyView]:
    """The views of many studies (the annual review's) in the same fixed number of queries."""
    found = list(studies.select_related("protocol__specification", "lot"))
    if not found:
        return []
    # The other lots' studies on the same protocols: their results are the other batches of
    # the ICH Q1E poolability test (one more query, whatever the number of studies).
    siblings = list(
        StabilityStudy.objects.filter(protocol__in={s.protocol_id for s in found})
        .exclude(pk__in=[s.pk for s in found])
        .select_related("protocol__specification", "lot")
    )
    everyone = found + siblings
    criteria_of: dict[int, list[Criterion]] = defaultdict(list)
    for c in Criterion.objects.filter(
        specification__in={s.protocol.specification_id for s in everyone}
    ).order_by("position", "pk"):
        criteria_of[c.specification_id].append(c)
    pulls_of: dict[int, list[StabilityPull]] = defaultdict(list)
    for p in (
        StabilityPull.objects.filter(study__in=[s.pk for s in everyone])
        .select_related("pulled_by")
        .prefetch_related("vials__aliquot")
    ):
        pulls_of[p.study_id].append(p)
    metrics = _pull_metrics(everyone)
    views = [
        _study_view(s, criteria_of[s.protocol.specification_id], pulls_of[s.pk], metrics)
        for s in everyone
    ]
    pool_lots(views)
    return views[: len(found)]


def _limits(c: Criterion) -> tuple[float | None, float | None]:
    lower = c.lower if c.comparator in ("gte", "gt", "between") else None
    upper = c.upper if c.comparator in ("lte", "lt", "between") else None
    return lower, upper


def pool_lots(views: list[StudyView]) -> None:
    """ICH Q1E §2.4 / Appendix B.2: the lots studied on one protocol are batches of the
    product; per test, their results at the storage condition are compared (slopes, then
    intercepts, at α = 0.25) and the chosen model's shelf life is set on each lot's trend."""
    groups: dict[int, list[StudyView]] = defaultdict(list)
    for view in views:
        groups[view.study.protocol_id].append(view)
    for group in groups.values():
        condition = group[0].study.protocol.shelf_life_condition
        by_criterion: dict[int, list[tuple[str, Trend]]] = defaultdict(list)
        for view in group:
            for trend in view.trends:
                if trend.points.get(condition):
                    by_criterion[trend.criterion.pk].append((view.study.lot.code, trend))
        for lots in by_criterion.values():
            # In lot order: every lot's page computes the same figures to the last digit.
            lots.sort(key=lambda pair: pair[0])
            criterion = lots[0][1].criterion
            lower, upper = _limits(criterion)
            if len(lots) < 2:
                note = "one lot with results: lots not compared (ICH Q1E needs two or more)"
                result = None
            elif lower is None and upper is None:
                note, result = "no numeric limit", None
            else:
                batches = {
                    code: ([t for t, _ in trend.points[condition]],
                           [v for _, v in trend.points[condition]])
                    for code, trend in lots
                }  # fmt: skip
                try:
                    result = q1e_pool.pooled_shelf_life(batches, lower=lower, upper=upper)
                    note = ""
                except ValueError as exc:
                    # Not comparable yet: each lot keeps its own line, and the page says why.
                    result, note = None, f"lots not compared: {exc}"
            for _, trend in lots:
                trend.pooling, trend.pooling_note = result, note


def _study_view(
    study: StabilityStudy,
    criteria: list[Criterion],
    pulls: list[StabilityPull],
    metrics: dict[int, dict[str, QCMetric]],
) -> StudyView:
    for p in pulls:
        p.study = study
    results: dict[int, list[PointResult]] = {}
    trends = {c.pk: Trend(criterion=c) for c in criteria}
    for pull in pulls:
        row = []
        for c in criteria:
            metric = next(
                (
                    metrics.get(pull.pk, {}).get(code)
                    for code in c.metric_codes
                    if code in metrics.get(pull.pk, {})
                ),
                None,
            )
            status, note = judge(c, metric) if metric is not None else (S.PENDING, "")
            row.append(PointResult(pull, c, metric, status, note))
            if metric is not None and metric.value is not None:
                trends[c.pk].points.setdefault(pull.condition, []).append(
                    (float(pull.time_point), float(metric.value))
                )
        results[pull.pk] = row
    for trend in trends.values():
        lower, upper = _limits(trend.criterion)
        pts = trend.points.get(study.protocol.shelf_life_condition, [])
        if lower is None and upper is None:
            trend.refusal = "no numeric limit"
            continue
        try:
            trend.shelf_life = q1e.shelf_life(
                [t for t, _ in pts], [v for _, v in pts], lower=lower, upper=upper
            )
        except ValueError as exc:
            trend.refusal = str(exc)
    return StudyView(study, criteria, pulls, results, list(trends.values()))


@transaction.atomic
def stability_evaluate(*, study: StabilityStudy) -> int:
    """Open an OOS investigation (release.deviations) for each out-of-specification point of
    a required test; returns how many were opened. A write: the task calls it when metrics of
    the lot changed, never a page."""
    view = study_view(study)
    opened = 0
    for row in view.results.values():
        for point in row:
            if point.status == S.FAIL and point.criterion.required and point.metric is not None:
                if deviation_open_oos(
                    criterion=point.criterion, metric=point.metric, lot=view.study.lot
                ):
                    opened += 1
    return opened


@transaction.atomic
def expiry_assign(
    *, signer: Signer, study: StabilityStudy, lot: ExosomeLot | None = None, comment: str = ""
) -> ShelfLifeAssignment:
    """QA assigns a lot's expiry (the study's lot by default, or a later lot of the product)
    from the study's supported shelf life, signed (meaning: approval)."""
    require(can_manage_specifications, signer.user, "Only QA assigns a lot's expiry.")
    if signer.meaning != "approval":
        raise ValidationError("An expiry is assigned with a signature meaning approval.")
    view = study_view(study)
    months = view.supported_months
    if view.not_supported:
        raise ValidationError({"study": f"{study} supports no shelf life: {view.not_supported}."})
    if not months:
        raise ValidationError(
            {
                "study": f"{study} supports no shelf life yet: it needs results at three or more "
                "time points at the intended storage condition."
            }
        )
    lot = ExosomeLot.objects.select_for_update().get(pk=(lot or study.lot).pk)
    assignment = ShelfLifeAssignment(
        lot=lot,
        study=view.study,
        shelf_life_months=months,
        expires_on=lot.manufactured_on + relativedelta(months=months),
        basis=view.basis,
    )
    assignment.signature = sign(
        signer=signer, record=lot, content=assignment.signed_content(), comment=comment
    )
    with audit_context(actor=signer.user, reason="Expiry assigned from stability data"):
        assignment.save()
    return assignment


def current_expiry(lot: ExosomeLot) -> ShelfLifeAssignment | None:
    return (
        ShelfLifeAssignment.objects.filter(lot=lot)
        .select_related("study", "signature")
        .order_by("-assigned_at", "-pk")
        .first()
    )


def pull_calendar(*, today: date | None = None, days: int = 90) -> list[tuple[StabilityPull, bool]]:
    """Pulls not yet taken of running studies, due within `days` or overdue, soonest first,
    each with whether it is overdue (past its due date and window)."""
    today = today or timezone.localdate()
    pulls = list(
        StabilityPull.objects.filter(
            pulled_at__isnull=True,
            study__status=StabilityStudy.Status.RUNNING,
            due_on__lte=today + timedelta(days=days),
        )
        .select_related("study__protocol", "study__lot")
        .order_by("due_on", "pk")
    )
    return [(p, p.is_overdue(today)) for p in pulls]


# --- Vial holds (batches.vial_holds) -----------------------------------------------------------


def held_reasons(aliquot_ids: Collection[int]) -> dict[int, str]:
    return {
        aliquot: f"reserved for stability study {code} ({Condition(cond).label}, {tp})"
        for aliquot, code, cond, tp in StabilityVial.objects.filter(
            aliquot__in=list(aliquot_ids)
        ).values_list("aliquot_id", "pull__study__code", "pull__condition", "pull__time_point")
    }


def held_subquery() -> QuerySet:
    return StabilityVial.objects.values("aliquot_id")
