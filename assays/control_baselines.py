"""Control baselines: the fixed mean and SD each metric's control chart is judged against.

CLSI C24 sets a control's limits from a baseline of at least 20 in-control results and keeps
them fixed while later results are judged (``assays.qc.control_limits``). Here the baseline is a
record (``ControlBaseline``): an analyst or QA proposes it from the metric's trend series (the
points the trend page charts, ``qc_selectors.trend_points``), either the first ``n`` points in
date order or a set they choose; QA approves it with an e-signature (meaning: approval), which
supersedes the version approved before. Only the approved version judges: the trend page's
limits and the review page's out-of-trend alerts (``qc_selectors.out_of_trend``) come from it.

A baseline must be in control itself: its points are checked with the Westgard rejection rules
against their own mean and SD, and a proposal with a rejected point is refused until that point
is left out (``exclude``, recorded with the baseline) or another set is chosen.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from assays import qc_selectors
from assays.models import ControlBaseline
from assays.qc import control_limits, westgard
from lims.audit import audit_context
from lims.roles import can_approve_control_baselines, can_propose_control_baselines, require
from lims.signatures import Signer, sign
from lims.transitions import move_status

if TYPE_CHECKING:
    from assays.qc_selectors import TrendPoint
    from lims.models import User

Method = ControlBaseline.Method


def _point(p: TrendPoint) -> dict[str, Any]:
    return {"metric_id": p.metric_id, "label": p.label, "x": p.x.isoformat(), "value": p.value}


def _points_named(points: list[TrendPoint]) -> str:
    return ", ".join(f"{p.label} ({p.value:g})" for p in points)


def choose_points(
    series: list[TrendPoint],
    *,
    method: str,
    n: int = control_limits.BASELINE_MIN_N,
    metric_ids: Collection[int] = (),
    exclude: Collection[int] = (),
) -> tuple[list[TrendPoint], list[TrendPoint]]:
    """(the baseline's points, the points left out) of a series, in date order.

    ``first_n``: the first ``n`` points that are not in ``exclude``; ``set``: the points whose
    metric ids are ``metric_ids``. Ids that are not points of the series are refused.
    """
    known = {p.metric_id for p in series}
    unknown = sorted((set(metric_ids) | set(exclude)) - known)
    if unknown:
        raise ValidationError(
            "Not points of this metric's series (another metric, a newer value of the lot, or "
            f"an invalidated run): {', '.join(map(str, unknown))}."
        )
    if method == Method.FIRST_N:
        if metric_ids:
            raise ValidationError("Choose the first n points or a set of points, not both.")
        if n < control_limits.BASELINE_MIN_N:
            raise ValidationError(
                f"A baseline needs at least {control_limits.BASELINE_MIN_N} points (CLSI C24)."
            )
        candidates = [p for p in series if p.metric_id not in exclude]
        if len(candidates) < n:
            raise ValidationError(
                f"The series has {len(candidates)} points to choose from"
                f"{' once those left out are' if exclude else ''}: a baseline of the first "
                f"{n} needs {n}."
            )
        chosen = candidates[:n]
        last = series.index(chosen[-1])
        return chosen, [p for p in series[:last] if p.metric_id in exclude]
    if method == Method.SET:
        if exclude:
            raise ValidationError("A chosen set has no points left out: leave them unchosen.")
        return [p for p in series if p.metric_id in metric_ids], []
    raise ValidationError({"method": f"Unknown way of choosing a baseline: {method!r}."})


@transaction.atomic
def baseline_propose(
    *,
    actor: User,
    metric_code: str,
    reason: str,
    assay_code: str = "",
    method: str = Method.FIRST_N,
    n: int = control_limits.BASELINE_MIN_N,
    metric_ids: Collection[int] = (),
    exclude: Collection[int] = (),
) -> ControlBaseline:
    """A draft baseline of ``metric_code`` (next version) from its current trend series.

    Refused: fewer than 20 points, values that do not vary, a point that a Westgard rejection
    rule flags against the baseline's own limits (not in control: leave it out), a point not in
    the series. The draft judges nothing until QA approves it (``baseline_approve``).
    """
    require(can_propose_control_baselines, actor, "Only analysts and QA propose a baseline.")
    if not reason or not reason.strip():
        raise ValidationError({"reason": "Say why this baseline (e.g. the first 20 lots)."})
    series = qc_selectors.trend_points(metric_code, assay_code=assay_code)
    if not series:
        raise ValidationError(f"No values of {metric_code} to set a baseline from.")
    chosen, excluded = choose_points(
        series, method=method, n=n, metric_ids=metric_ids, exclude=exclude
    )
    try:
        limits = control_limits.baseline([p.value for p in chosen], n=len(chosen))
    except ValueError as exc:
        raise ValidationError(f"No baseline: {exc}.") from exc
    flags = westgard.evaluate([p.value for p in chosen], limits.mean, limits.sd)
    rejected = [
        f"{p.label} ({', '.join(r for r in westgard.RULES if r in f)})"
        for p, f in zip(chosen, flags, strict=True)
        if westgard.is_rejected(f)
    ]
    if rejected:
        raise ValidationError(
            "A baseline is set from in-control points only; against the baseline's own mean "
            f"and SD these are not: {'; '.join(rejected)}. Leave them out, with the reason, or "
            "choose other points."
        )
    # The metric's versions, locked: two proposals at once get consecutive versions.
    last = (
        ControlBaseline.objects.select_for_update()
        .filter(metric_code=metric_code)
        .order_by("-version")
        .first()
    )
    baseline = ControlBaseline(
        metric_code=metric_code,
        assay_code=assay_code,
        version=(last.version + 1) if last else 1,
        mean=limits.mean,
        sd=limits.sd,
        n=limits.n,
        points=[_point(p) for p in chosen],
        excluded=[_point(p) for p in excluded],
        method=method,
        reason=reason.strip(),
        created_by=actor,
    )
    baseline.full_clean()
    left_out = f"; left out: {_points_named(excluded)}" if excluded else ""
    try:
        with (
            transaction.atomic(),
            audit_context(actor=actor, reason=f"Baseline proposed: {baseline.reason}{left_out}"),
        ):
            baseline.save()
    except IntegrityError as exc:  # the first version of a metric, proposed twice at once
        raise ValidationError(
            f"Another baseline of {metric_code} was proposed at the same time: try again."
        ) from exc
    return baseline


@transaction.atomic
def baseline_approve(
    *, signer: Signer, baseline: ControlBaseline, comment: str = ""
) -> ControlBaseline:
    """QA approves a draft with an e-signature (meaning: approval); the version approved before
    is superseded in the same transaction. From now on it judges the metric's points."""
    require(can_approve_control_baselines, signer.user, "Only QA approves a control baseline.")
    if signer.meaning != "approval":
        raise ValidationError("A baseline is approved with a signature meaning approval.")
    draft = ControlBaseline.objects.select_for_update().get(pk=baseline.pk)
    if draft.status != ControlBaseline.Status.DRAFT:
        raise ValidationError(f"{draft} is {draft.get_status_display().lower()}, not a draft.")
    current = (
        ControlBaseline.objects.select_for_update()
        .filter(metric_code=draft.metric_code, status=ControlBaseline.Status.APPROVED)
        .first()
    )
    if current is not None and current.version > draft.version:
        raise ValidationError(f"{current}, a newer version, is approved: propose again.")
    in_series = {
        p.metric_id
        for p in qc_selectors.trend_points(draft.metric_code, assay_code=draft.assay_code)
    }
    gone = [p["label"] for p in draft.points if p["metric_id"] not in in_series]
    if gone:
        raise ValidationError(
            "These points are no longer their lot's value in the series (a run invalidated or "
            f"a metric recomputed since the proposal): {', '.join(gone)}. Propose again."
        )
    signature = sign(signer=signer, record=draft, content=draft.signed_content(), comment=comment)
    if current is not None:
        move_status(
            current,
            to=ControlBaseline.Status.SUPERSEDED,
            actor=signer.user,
            reason=f"Superseded by version {draft.version}",
        )
    move_status(
        draft,
        to=ControlBaseline.Status.APPROVED,
        actor=signer.user,
        reason=f"Approved by QA: {draft.reason}",
        extra_fields={"approval_signature": signature},
    )
    baseline.refresh_from_db()
    return draft
