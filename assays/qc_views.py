"""QC pages: run metrics and standard curve, control charts, bulk recompute; lot/batch panels.

Every chart is a Plotly figure built in Python (:mod:`assays.charts`) and handed to the page as
JSON in a ``json_script`` element; ``lims/static/lims/charts.js`` draws it. No inline script, so
the Content Security Policy (``script-src 'self'``) holds.
"""

from __future__ import annotations

import json
import math

import numpy as np
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils import timezone
from django.views.generic import DetailView, FormView, TemplateView

from assays import charts, qc_selectors, qc_services
from assays.models import AssayRun, RecomputeJob
from assays.qc import capability, control_limits, westgard
from assays.qc_forms import RecomputeForm, TrendForm
from lims.pages import PredicateRequiredMixin, ViewRecordsMixin, add_service_errors
from lims.roles import can_review_runs


def figure_data(fig) -> dict:
    """The figure as plain JSON data for ``json_script`` (arrays as base64 typed arrays)."""
    return json.loads(fig.to_json())


# --- Panels included in the lot and culture batch pages ---------------------------------------


def lot_panel_context(lot) -> dict:
    """Current metrics table, NTA size distribution and qPCR relative quantities of a lot."""
    metrics = qc_selectors.lot_metrics(lot)
    context = {"lot": lot, "metrics": metrics, "nta": None, "nta_chart": None, "rq_chart": None}
    nta = qc_selectors.nta_distribution(lot)
    if nta is not None:
        context["nta"] = nta
        if nta.videos:
            context["nta_chart"] = figure_data(
                charts.nta_distribution_figure(
                    nta.bins_nm,
                    nta.videos,
                    d_values=nta.d_values,
                    title=f"NTA size distribution, run {nta.run.pk}",
                )
            )
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
        context.update(
            metrics=qc_selectors.run_metrics(run),
            curve=curve,
            curve_chart=chart,
            unknown_rows=rows,
            has_charts=chart is not None,
        )
        return context


# --- Trends ------------------------------------------------------------------------------------


X_TITLES = {
    "date": "Manufactured (lot) / started (batch)",
    "order": "Point, in date order",
    "computed": "Metric computed",
}


class TrendView(ViewRecordsMixin, TemplateView):
    """Levey-Jennings chart of one metric across lots, Westgard violations, and Cpk.

    Queries: the metric codes for the form and one query for the points, whatever the number
    of lots.
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
        points = qc_selectors.trend_points(
            data["code"], assay_code=data["assay"], x_axis=data["x"] or "date"
        )  # "order" sorts by date as "date" does; only the chart's x differs
        context.update(self._control_chart(points, data))
        return context

    def _control_chart(self, points, data) -> dict:
        out = {"points": points, "unit": points[0].unit if points else ""}
        values = np.array([p.value for p in points], dtype=float)
        # Limits are never computed from the points they judge (a shift would move them):
        # given (an established mean and SD), or fixed from a baseline of the first 20 points.
        if data["mean"] is not None:
            mean, sd, source = data["mean"], data["sd"], "established (given)"
        else:
            try:
                fixed = control_limits.baseline(values.tolist())
            except ValueError as exc:
                out["note"] = (
                    f"No control limits: {exc}. Give the established mean and SD, or chart at "
                    f"least {control_limits.BASELINE_MIN_N} points."
                )
                return out
            mean, sd = fixed.mean, fixed.sd
            source = (
                f"a baseline of the first {fixed.n} points, fixed: later points do not move "
                "them (CLSI C24)"
            )
        flags = westgard.evaluate(values, mean, sd)
        out.update(mean=mean, sd=sd, limits_from=source)
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
        lsl, usl = data["lsl"], data["usl"]
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
            title=f"{data['code']}: {len(points)} lots",
            y_title=f"{data['code']}{unit}",
            x_title=X_TITLES[data["x"] or "date"],
        )
        out["chart"] = figure_data(fig)
        out["has_charts"] = True
        return out


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
