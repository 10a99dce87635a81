"""QC pages: run metrics and standard curve, control charts, bulk recompute; lot/batch panels.

Every chart is a Plotly figure built in Python (:mod:`assays.charts`) and handed to the page as
JSON in a ``json_script`` element; ``lims/static/lims/charts.js`` draws it. No inline script, so
the Content Security Policy (``script-src 'self'``) holds.
"""

from __future__ import annotations

import json
import math
import threading
from collections import OrderedDict
from functools import cached_property

import numpy as np
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils import timezone
from django.views.generic import DetailView, FormView, ListView, TemplateView

from assays import charts, control_baselines, qc_selectors, qc_services
from assays.models import AssayRun, ControlBaseline, RecomputeJob
from assays.qc import capability, control_limits, westgard
from assays.qc_forms import BaselineProposeForm, RecomputeForm, TrendForm
from assays.units import convert
from lims.audit_trail import events_of
from lims.forms import SignatureForm
from lims.models import Signature
from lims.pages import PredicateRequiredMixin, ViewRecordsMixin, add_service_errors
from lims.roles import (
    can_approve_control_baselines,
    can_propose_control_baselines,
    can_review_runs,
)
from lims.signatures import format_signed_time, is_valid


def figure_data(fig) -> dict:
    """The figure as plain JSON data for ``json_script`` (arrays as base64 typed arrays)."""
    return json.loads(fig.to_json())


# --- Panels included in the lot and culture batch pages ---------------------------------------


# The NTA charts drawn last, by what they are drawn from. Reading the NanoSight file again and
# building its figure took half a second of every view of a lot page; the figure only changes
# with the file (its SHA-256, immutable once received) and the run's stored D-values, which the
# key holds, so a recomputed metric gives a new key. Kept in the process (a few hundred kB
# each): nothing outside it to fail or to hold a figure of older code.
NTA_CHARTS_KEPT = 32
_nta_charts: OrderedDict[tuple, dict] = OrderedDict()
_nta_charts_lock = threading.Lock()


def _nta_panel(lot) -> tuple[qc_selectors.NtaDistribution | None, dict | None]:
    """The lot's latest NTA run (None without one) and its size distribution chart, if any."""
    run = qc_selectors.latest_nta_run(lot)
    if run is None:
        return None, None
    source = run.source_file
    if source is None or not qc_selectors.has_nta_file(run):
        return qc_selectors.nta_distribution(lot, run=run), None  # with a note saying why
    stored = qc_selectors.nta_stored_d_values(run, lot)
    key = (run.pk, lot.pk, source.sha256, tuple(sorted(stored.items())))
    with _nta_charts_lock:
        chart = _nta_charts.get(key)
        if chart is not None:
            _nta_charts.move_to_end(key)
            return qc_selectors.NtaDistribution(run=run), chart
    nta = qc_selectors.nta_distribution(lot, run=run, stored=stored)
    if nta is None or nta.bins_nm is None or not nta.videos:
        return nta, None
    chart = figure_data(
        charts.nta_distribution_figure(
            nta.bins_nm,
            nta.videos,
            d_values=nta.d_values,
            title=f"NTA size distribution, run {nta.run.pk}",
        )
    )
    with _nta_charts_lock:
        _nta_charts[key] = chart
        while len(_nta_charts) > NTA_CHARTS_KEPT:
            _nta_charts.popitem(last=False)
    return nta, chart


def lot_panel_context(lot) -> dict:
    """Current metrics table, NTA size distribution and qPCR relative quantities of a lot."""
    metrics = qc_selectors.lot_metrics(lot)
    context = {"lot": lot, "metrics": metrics, "nta": None, "nta_chart": None, "rq_chart": None}
    context["nta"], context["nta_chart"] = _nta_panel(lot)
    rq = qc_selectors.relative_quantities(metrics)
    if rq is not None:
        context["rq_chart"] = figure_data(
            charts.qpcr_rq_figure(rq.targets, rq.rq, rq.ci_low, rq.ci_high, reference=rq.reference)
        )
    context["has_charts"] = bool(context["nta_chart"] or context["rq_chart"])
    return context


def batch_panel_context(batch) -> dict:
    """Growth chart (population doublings) and current metrics of a culture batch."""
    passages = qc_selectors.batch_passages(batch)
    growth = None
    if any(p.population_doublings is not None for p in passages):
        growth = figure_data(
            charts.growth_figure(
                [p.number for p in passages],
                [p.seeded_on.isoformat() for p in passages],
                [p.harvested_on.isoformat() if p.harvested_on else None for p in passages],
                [p.population_doublings for p in passages],
                title=f"Population doublings of {batch.code}",
            )
        )
    total = sum(p.population_doublings or 0.0 for p in passages)
    return {
        "batch": batch,
        "metrics": qc_selectors.batch_metrics(batch),
        "growth_chart": growth,
        "cumulative_pd": total,
        "has_charts": growth is not None,
    }


# --- Run -------------------------------------------------------------------------------------


class RunQCView(ViewRecordsMixin, DetailView):
    """A run's QC metrics (every algorithm version) and, for a plate, its standard curve."""

    template_name = "qc/run_detail.html"
    context_object_name = "run"

    def get_queryset(self):
        return AssayRun.objects.select_related("assay", "instrument", "source_file")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        run = self.object
        curve = qc_selectors.run_standard_curve(run)
        chart = None
        rows = []
        if curve is not None and curve.fit is not None:
            names = [f"{u.label} {u.well}".strip() for u in curve.unknowns]
            chart = figure_data(
                charts.standard_curve_figure(
                    curve.x_std,
                    curve.y_std,
                    [u.response for u in curve.unknowns],
                    fit=curve.fit,
                    unknown_names=names,
                    x_unit=curve.x_unit,
                    title=f"Standard curve, {run.assay.code} run {run.pk}",
                )
            )
            rows = list(zip(curve.unknowns, curve.back_calculated, strict=True))
        plate_view = qc_selectors.run_plate(run)
        plate_chart = None
        analyte_curves = []  # a multiplex plate: (analyte, its outcome, its curve's chart)
        if plate_view is not None and plate_view.by_analyte:
            for i, (analyte, outcome) in enumerate(plate_view.by_analyte.items()):
                figure = None
                if outcome.curve is not None:
                    figure = figure_data(
                        charts.plate_curve_figure(
                            outcome,
                            title=f"{analyte}: standard curve, {run.assay.code} run {run.pk}",
                        )
                    )
                analyte_curves.append((analyte, outcome, figure, f"chart-plate-curve-{i}"))
        elif plate_view is not None and plate_view.outcome.curve is not None:
            plate_chart = figure_data(
                charts.plate_curve_figure(
                    plate_view.outcome, title=f"Standard curve, {run.assay.code} run {run.pk}"
                )
            )
        context.update(
            metrics=qc_selectors.run_metrics(run),
            curve=curve if plate_view is None else None,
            curve_chart=chart,
            unknown_rows=rows,
            plate=plate_view,
            plate_chart=plate_chart,
            analyte_curves=analyte_curves,
            has_charts=chart is not None
            or plate_chart is not None
            or any(figure for _, _, figure, _ in analyte_curves),
        )
        return context


# --- Trends ------------------------------------------------------------------------------------


X_TITLES = {
    "date": "Manufactured (lot) / started (batch)",
    "order": "Point, in date order",
    "computed": "Metric computed",
}


class TrendView(ViewRecordsMixin, TemplateView):
    """Levey-Jennings chart of one metric across lots, Westgard violations, and Ppk.

    The limits are the metric's approved control baseline (assays.control_baselines) when it
    has one; otherwise provisional: an established mean and SD given on the form, or the first
    20 points of the series. The LSL and USL (for Ppk and the chart) are those typed, else the
    effective specification's criterion for the metric (registered by release), so that nobody
    types them each time. Typed mean and SD never override an approved baseline: values typed
    from the lots being judged would hide a shift in them (CLSI C24). Queries: the metric codes
    for the form, one for the points, one for the metric's baselines, one for the
    specification's limits and, for provisional limits, one for the series' first points,
    whatever the number of lots.

    One view charts the latest ``qc_selectors.TREND_WINDOW`` points (From/To look further back):
    its cost is the window's, never the whole history's (issue 14). Ppk is of the points shown.
    """

    template_name = "qc/trends.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        form = TrendForm(
            self.request.GET or None,
            codes=qc_selectors.metric_codes(),
            assays=qc_selectors.assay_codes(),
        )
        context.update(form=form, chart=None, points=[], violations=[], capability=None)
        context["has_charts"] = False
        if not form.is_bound or not form.is_valid():
            return context
        data = form.cleaned_data
        window = qc_selectors.trend_window(
            data["code"],
            assay_code=data["assay"],
            x_axis=data["x"] or "date",
            since=data["since"],
            until=data["until"],
        )  # "order" sorts by date as "date" does; only the chart's x differs
        points = window.points
        context.update(self._window_links(window, data))
        baselines = qc_selectors.metric_baselines(data["code"])
        approved = next((b for b in baselines if b.status == ControlBaseline.Status.APPROVED), None)
        context.update(
            drafts=[b for b in baselines if b.status == ControlBaseline.Status.DRAFT],
            approved_baseline=approved,
            may_propose=can_propose_control_baselines(self.request.user),
            baseline_min_n=control_limits.BASELINE_MIN_N,
            propose_url=(
                f"{reverse('qc:baseline_propose')}?{self.request.GET.urlencode()}"
                if self.request.GET
                else reverse("qc:baseline_propose")
            ),
        )
        context.update(self._spec_limits(data, points))
        context.update(self._control_chart(window, data, approved, context))
        self._show_defaults(form, data, approved, context)
        return context

    def _window_links(self, window, data) -> dict:
        """What the window shows, and the links to the points before it and back to the latest.

        "Earlier" ends on the day of the newest point before the window (that day's points
        shown already appear again: a day is never split between two views)."""
        query = self.request.GET.copy()
        full = len(window.points) == qc_selectors.TREND_WINDOW
        earlier = ""
        # Within a From date, earlier points only when the limit cut the range (the points
        # before the window may be before From).
        if window.earlier and (data["since"] is None or full):
            query["until"] = qc_selectors.day_of(window.lead_in[-1].x).isoformat()
            earlier = query.urlencode()
        for bound in ("since", "until"):
            query.pop(bound, None)
        return {
            "window_size": qc_selectors.TREND_WINDOW,
            "earlier_query": earlier,
            "latest_query": query.urlencode() if data["until"] or data["since"] else "",
        }

    def _spec_limits(self, data, points) -> dict:
        """LSL and USL: typed on the form, else the specification's criterion for the metric
        (converted into the points' unit), so that nobody types them each time."""
        typed = {"lsl": data["lsl"], "usl": data["usl"]}
        if typed["lsl"] is not None or typed["usl"] is not None:
            return {**typed, "spec_limits": None, "spec_typed": True}
        spec = qc_selectors.specification_limits(data["code"])
        if spec is None:
            return {**typed, "spec_limits": None, "spec_typed": False}
        unit = points[0].unit if points else ""
        limits = {}
        for side in ("lsl", "usl"):
            value = spec[side]
            if value is not None and spec["unit"] and unit and spec["unit"] != unit:
                try:
                    value = convert(value, spec["unit"], unit)
                except ValueError:
                    return {**typed, "spec_limits": None, "spec_typed": False}
            limits[side] = value
        return {**limits, "spec_limits": spec, "spec_typed": False}

    def _show_defaults(self, form, data, approved, context) -> None:
        """The defaults a blank field stands for, shown in it (the placeholder)."""
        if approved is not None and approved.assay_code == (data["assay"] or ""):
            form.fields["mean"].widget.attrs["placeholder"] = f"{approved.mean:.6g} (baseline)"
            form.fields["sd"].widget.attrs["placeholder"] = f"{approved.sd:.4g} (baseline)"
        if context.get("spec_limits"):
            for side in ("lsl", "usl"):
                if context.get(side) is not None:
                    form.fields[side].widget.attrs["placeholder"] = f"{context[side]:.6g} (spec)"

    def _limits(self, data, approved) -> dict:
        """mean, sd and where they come from: the approved baseline, else provisional."""
        if approved is not None and approved.assay_code == (data["assay"] or ""):
            signature = approved.approval_signature
            return {
                "mean": approved.mean,
                "sd": approved.sd,
                "baseline": approved,
                "approved_on": signature.signed_at if signature else None,
                "approved_by": signature.printed_name if signature else "",
                "given_ignored": data["mean"] is not None,
            }
        # Limits are never computed from the points they judge (a shift would move them):
        # given (an established mean and SD), or fixed from a baseline of the first 20 points.
        if data["mean"] is not None:
            return {"mean": data["mean"], "sd": data["sd"], "limits_from": "established (given)"}
        first = qc_selectors.first_trend_points(
            data["code"],
            control_limits.BASELINE_MIN_N,
            assay_code=data["assay"],
            x_axis=data["x"] or "date",
        )  # the series' first points, whatever the window shows
        try:
            fixed = control_limits.baseline([p.value for p in first])
        except ValueError as exc:
            return {
                "note": (
                    f"No control limits: {exc}. Give the established mean and SD, or chart at "
                    f"least {control_limits.BASELINE_MIN_N} points."
                )
            }
        return {
            "mean": fixed.mean,
            "sd": fixed.sd,
            "limits_from": (
                f"a baseline of the first {fixed.n} points, fixed: later points do not move "
                "them (CLSI C24)"
            ),
        }

    def _control_chart(self, window, data, approved, limits_of_spec) -> dict:
        points = window.points
        out = {"points": points, "unit": points[0].unit if points else ""}
        if not points:
            return out
        values = np.array([p.value for p in points], dtype=float)
        limits = self._limits(data, approved)
        out["provisional"] = "baseline" not in limits
        if out["provisional"] and approved is not None:
            out["baseline_elsewhere"] = approved  # approved for another assay's series
        if "note" in limits:
            out["note"] = limits["note"]
            return out
        out.update(limits)
        mean, sd = limits["mean"], limits["sd"]
        # The points just before the window are read too, then left out: the consecutive rules
        # judge the window's first points as they judge them in the whole series.
        lead = [p.value for p in window.lead_in]
        flags = westgard.evaluate([*lead, *values], mean, sd)[len(lead) :]
        out["violations"] = [
            {
                "n": i + 1,
                "point": p,
                "z": (p.value - mean) / sd,
                "rules": [r for r in westgard.RULES if r in f],
                "rejected": westgard.is_rejected(f),
            }
            for i, (p, f) in enumerate(zip(points, flags, strict=True))
            if f
        ]
        lsl, usl = limits_of_spec["lsl"], limits_of_spec["usl"]  # typed, else the specification
        out["capability_min_n"] = control_limits.CAPABILITY_MIN_N
        # Ppk: the overall SD of the values (ISO 22514-2 performance), from 25 values only.
        if (lsl is not None or usl is not None) and control_limits.capability_shown(values.size):
            sigma = float(np.std(values, ddof=1))
            if sigma > 0:
                out["capability"] = capability.capability_from_stats(
                    float(values.mean()), sigma, lsl, usl
                )
                out["capability_n"] = int(values.size)
        unit = f" ({out['unit']})" if out["unit"] else ""
        sequence = data["x"] == "order"
        fig = charts.levey_jennings_figure(
            list(range(1, len(points) + 1)) if sequence else [p.x.isoformat() for p in points],
            values,
            mean=mean,
            sd=sd,
            flags=flags,
            labels=[p.label for p in points],
            lsl=lsl,
            usl=usl,
            title=f"{data['code']}: {'the latest ' if window.earlier else ''}{len(points)} lots",
            y_title=f"{data['code']}{unit}",
            x_title=X_TITLES[data["x"] or "date"],
        )
        out["chart"] = figure_data(fig)
        out["has_charts"] = True
        return out


# --- Control baselines -------------------------------------------------------------------------


class BaselineList(ViewRecordsMixin, ListView):
    """Every version of every metric's control baseline (``?code=`` for one metric,
    ``?status=draft`` for those awaiting QA's approval)."""

    template_name = "qc/baseline_list.html"
    context_object_name = "baselines"

    def get_queryset(self):
        qs = ControlBaseline.objects.select_related("approval_signature", "created_by")
        status = self.request.GET.get("status", "")
        if status in ControlBaseline.Status.values:  # ?status=draft: those awaiting approval
            qs = qs.filter(status=status, voided_at__isnull=True)
        code = self.request.GET.get("code", "")
        return qs.filter(metric_code=code) if code else qs.order_by("metric_code", "-version")


class BaselineDetail(ViewRecordsMixin, DetailView):
    """A baseline: its numbers, the points it was set from, its approval and audit trail."""

    template_name = "qc/baseline_detail.html"
    context_object_name = "baseline"
    queryset = ControlBaseline.objects.select_related("approval_signature", "created_by")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        baseline = self.object
        signature = baseline.approval_signature
        context.update(
            rows=[
                {**p, "n": i, "z": (p["value"] - baseline.mean) / baseline.sd}
                for i, p in enumerate(baseline.points, start=1)
            ],
            signature_valid=signature is not None
            and is_valid(signature, baseline.signed_content()),
            signed_at=format_signed_time(signature.signed_at) if signature else "",
            created_at=format_signed_time(baseline.created_at),
            may_approve=can_approve_control_baselines(self.request.user)
            and baseline.status == ControlBaseline.Status.DRAFT,
            trend_url=qc_selectors.trend_url(baseline.metric_code, baseline.assay_code),
            audit_events=events_of(baseline),
        )
        return context


class BaselinePropose(PredicateRequiredMixin, FormView):
    """Propose a baseline from the metric's trend series (``?code=&assay=``): the first n
    points, less those left out, or a set of points ticked; a draft until QA approves it."""

    predicate = staticmethod(can_propose_control_baselines)
    template_name = "qc/baseline_propose.html"
    form_class = BaselineProposeForm

    def dispatch(self, request, *args, **kwargs):
        source = request.POST if request.method == "POST" else request.GET
        self.code = source.get("code", "")
        self.assay = source.get("assay", "")
        return super().dispatch(request, *args, **kwargs)

    @cached_property
    def series(self):
        if not self.code:
            return []
        return qc_selectors.trend_points(self.code, assay_code=self.assay)

    def get_initial(self):
        return {"code": self.code, "assay": self.assay}

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "series": self.series}

    def form_valid(self, form):
        data = form.cleaned_data
        try:
            baseline = control_baselines.baseline_propose(
                actor=self.request.user,
                metric_code=data["code"],
                assay_code=data["assay"],
                method=data["method"],
                n=data["n"],
                metric_ids=data["points"] if data["method"] == ControlBaseline.Method.SET else (),
                exclude=data["exclude"] if data["method"] == ControlBaseline.Method.FIRST_N else (),
                reason=data["reason"],
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
            return self.form_invalid(form)
        messages.success(
            self.request,
            f"{baseline} proposed from {baseline.n} points (mean {baseline.mean:.5g}, SD "
            f"{baseline.sd:.4g}): a draft until QA approves it.",
        )
        return redirect(baseline.get_absolute_url())

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        form = context["form"]
        if form.is_bound:
            ticked = {str(v) for v in form.data.getlist("points")}
            left_out = {str(v) for v in form.data.getlist("exclude")}
            method = form.data.get("method", ControlBaseline.Method.FIRST_N)
            n = form.data.get("n", "")
        else:
            first = [p.metric_id for p in self.series[: control_limits.BASELINE_MIN_N]]
            ticked, left_out = {str(i) for i in first}, set()
            method, n = ControlBaseline.Method.FIRST_N, control_limits.BASELINE_MIN_N
        context.update(
            code=self.code,
            assay=self.assay,
            series=[
                {
                    "n": i,
                    "point": p,
                    "ticked": str(p.metric_id) in ticked,
                    "left_out": str(p.metric_id) in left_out,
                }
                for i, p in enumerate(self.series, start=1)
            ],
            method=method,
            n_value=n,
            methods=ControlBaseline.Method.choices,
            trend_url=qc_selectors.trend_url(self.code, self.assay) if self.code else "",
            baseline_min_n=control_limits.BASELINE_MIN_N,
        )
        return context


class BaselineApprove(PredicateRequiredMixin, FormView):
    """QA's approval of a draft baseline, e-signed (meaning: approval); it supersedes the
    version approved before and judges the metric's points from now on."""

    predicate = staticmethod(can_approve_control_baselines)
    template_name = "qc/baseline_approve.html"
    form_class = SignatureForm

    def dispatch(self, request, *args, **kwargs):
        self.baseline = get_object_or_404(ControlBaseline, pk=kwargs["pk"])
        return super().dispatch(request, *args, **kwargs)

    def form_valid(self, form):
        try:
            # Re-authentication before the service's transaction: a refusal stays counted.
            signer = form.signer(self.request, Signature.Meaning.APPROVAL)
            baseline = control_baselines.baseline_approve(
                signer=signer, baseline=self.baseline, comment=form.cleaned_data["comment"]
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
            return self.form_invalid(form)
        signature = baseline.approval_signature
        messages.success(
            self.request,
            f"{baseline} approved, signed by {signature.printed_name}: it judges "
            f"{baseline.metric_code} from now on.",
        )
        return redirect(baseline.get_absolute_url())

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["baseline"] = self.baseline
        context["current"] = (
            ControlBaseline.objects.filter(
                metric_code=self.baseline.metric_code, status=ControlBaseline.Status.APPROVED
            )
            .exclude(pk=self.baseline.pk)
            .first()
        )
        return context


# --- Bulk recompute ----------------------------------------------------------------------------


class ReviewRunsMixin(PredicateRequiredMixin):
    predicate = staticmethod(can_review_runs)


class RecomputeStart(ReviewRunsMixin, FormView):
    """Start a recompute of QC metrics (after a new algorithm version), for one assay or all."""

    template_name = "qc/recompute.html"
    form_class = RecomputeForm

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["jobs"] = RecomputeJob.objects.select_related("requested_by")[:10]
        return context

    def form_valid(self, form):
        try:
            job = qc_services.recompute_job_start(
                actor=self.request.user, assay_code=form.cleaned_data["assay_code"]
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
            return self.form_invalid(form)
        messages.success(self.request, f"Recompute job {job.pk} queued.")
        return redirect("qc:recompute_job", pk=job.pk)


def job_progress(job: RecomputeJob) -> dict:
    """What the progress bar shows; a queued job is at 0 % even though it has no total yet."""
    finished = job.status in (RecomputeJob.Status.DONE, RecomputeJob.Status.FAILED)
    percent = 0 if job.status == RecomputeJob.Status.QUEUED else job.percent
    if job.status == RecomputeJob.Status.DONE:
        percent = 100
    seconds = None
    if job.finished_at:
        seconds = max((job.finished_at - job.created_at).total_seconds(), 0.0)
    elif job.status == RecomputeJob.Status.RUNNING:
        seconds = max((timezone.now() - job.created_at).total_seconds(), 0.0)
    return {
        "job": job,
        "finished": finished,
        "percent": percent,
        "seconds": None if seconds is None else math.ceil(seconds * 10) / 10,
        "poll_url": reverse("qc:recompute_progress", args=[job.pk]),
    }


class RecomputeJobDetail(ReviewRunsMixin, TemplateView):
    template_name = "qc/recompute_job.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        job = get_object_or_404(
            RecomputeJob.objects.select_related("requested_by"), pk=kwargs["pk"]
        )
        context.update(job_progress(job))
        return context


class RecomputeProgress(RecomputeJobDetail):
    """The progress fragment alone, polled by htmx every second until the job has finished."""

    template_name = "qc/_recompute_progress.html"
