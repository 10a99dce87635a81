"""QC metrics: from a run's results to stored, traceable values (DOMAIN.md §4).

The mathematics lives in assays.qc (pure, validated against worked examples); this module picks
each assay's inputs from the database, calls the algorithm and stores a QCMetric per value with
its inputs, algorithm name and version. Storing is idempotent: the unique key is (code, inputs
hash, algorithm, version), so computing again finds the rows already there.
"""

import hashlib
import json
import logging
import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from assays import ingest, qpcr_services
from assays.models import AssayRun, NtaDilutionRecord, NtaRunSummary, QCMetric, Result, RunSample
from assays.qc import ALGORITHM_VERSIONS, flow, nta, potency, qpcr_analysis, relative_potency
from batches import vial_holds
from batches.models import ExosomeLot
from lims import file_store
from lims.audit import audit_context

log = logging.getLogger(__name__)

MEAN = "summary.mean"
VERSIONS = {**ALGORITHM_VERSIONS, MEAN: "1.0", "purity.ratio": "1.0", "summary.qualitative": "1.0"}


@dataclass
class Computed:
    """One metric value before it is stored."""

    code: str
    value: float | None
    unit: str
    algorithm: str
    inputs: list[Result]
    details: dict = field(default_factory=dict)
    files: list = field(default_factory=list)
    # Inputs that are not results (e.g. a dilution factor recorded later): part of the inputs
    # hash, so a metric computed on another basis is a new metric, never a stale match.
    basis: dict = field(default_factory=dict)


def _values(results: Iterable[Result]) -> list[float]:
    return [r.value for r in results if r.value is not None]


def censoring(results: Iterable[Result]) -> str:
    """How results with a number are censored: "<" when some are below their limit (`< LLOQ`,
    the number being the limit), ">" when some are above it, "mixed" when both, "" when none.

    The mean of such results, the limits standing in for the values, bounds the true mean: from
    above for "<", from below for ">" (release.specifications.judge judges it so)."""
    kinds = {
        r.qualifier[0] for r in results if r.value is not None and r.qualifier[:1] in ("<", ">")
    }
    return "mixed" if len(kinds) > 1 else next(iter(kinds), "")


def _mean_metric(code: str, results: list[Result], unit: str | None = None) -> Computed | None:
    values = _values(results)
    if not values:
        return None
    summary = nta.mean_and_standard_error(values) if len(values) > 1 else None
    details: dict[str, Any] = {"n": len(values)}
    if qualifier := censoring(results):
        details["qualifier"] = qualifier
    if summary is not None:
        details.update(sd=summary.sd, standard_error=summary.standard_error)
    return Computed(
        code,
        float(np.mean(values)),
        unit if unit is not None else results[0].unit,
        MEAN,
        results,
        details,
    )


def _qualitative_metric(code: str, results: list[Result]) -> Computed | None:
    """A qualitative call; several replicates must agree, else the metric says 'discordant'."""
    calls = sorted({r.text_value for r in results if r.text_value})
    if not calls:
        return None
    text = calls[0] if len(calls) == 1 else "discordant"
    return Computed(code, None, "", "summary.qualitative", results, {"text": text, "calls": calls})


# --- Per-assay rules: results of one sample in one run → metrics ---------------------------


def _nta_dilution(run: AssayRun) -> tuple[bool, dict[str, Any]]:
    """(pending, basis): whether the run's file left its dilution unrecorded and nobody has
    recorded it yet; the analyst's record the concentration is multiplied by, if any."""
    summary = NtaRunSummary.objects.filter(run=run).first()
    if summary is None or summary.dilution_in_file is not None:
        return False, {}
    record = NtaDilutionRecord.objects.filter(run=run).order_by("-created_at", "-pk").first()
    if record is None:
        return True, {}
    return False, {"dilution_factor": record.dilution_factor, "dilution_record": record.pk}


def _nta(run: AssayRun, by_analyte: dict[str, list[Result]]) -> list[Computed]:
    out = []
    pending, basis = _nta_dilution(run)
    for analyte in ("concentration", "mean_size", "mode_size", "sd_size", "d10", "d50", "d90"):
        results = by_analyte.get(analyte, [])
        values = _values(results)
        if not values:
            continue
        factor = 1.0
        if analyte == "concentration":
            if pending:  # no concentration until the dilution is recorded (it would be wrong)
                continue
            factor = basis.get("dilution_factor", 1.0)
        summary = nta.mean_and_standard_error([v * factor for v in values])
        out.append(
            Computed(
                f"nta.{analyte}",
                summary.average,
                results[0].unit,
                "nta.lot_summary",
                results,
                {
                    "standard_error": summary.standard_error,
                    "sd": summary.sd,
                    "n": summary.n,
                    **(basis if analyte == "concentration" else {}),
                },
                basis=basis if analyte == "concentration" else {},
            )
        )
    fraction = _nta_fraction(run, by_analyte)
    if fraction is not None:
        out.append(fraction)
    return out


def _nta_fraction(run: AssayRun, by_analyte) -> Computed | None:
    """% of particles between the configured size window, from the original file's bins."""
    low, high = settings.NTA_SIZE_WINDOW_NM
    if by_analyte.get("fraction_50_400"):
        return _mean_metric("nta.fraction_50_400", by_analyte["fraction_50_400"], "percent")
    source = run.source_file
    if source is None or source.detected_format != "nanosight":
        return None
    try:
        # Read once per process: the worker that parsed the file computes this next.
        export = ingest.nanosight_export(source.original_bytes())
    except (file_store.OriginalMissing, file_store.OriginalCorrupted) as exc:
        # No fraction from an original that is gone or altered (its download answers 409 and
        # the file is marked failed): the criterion stays pending, never computed from other
        # bytes, and the task does not fail over and over.
        log.error("NTA fraction of run %s not computed: %s", run.pk, exc)
        return None
    fractions = [
        100.0 * nta.fraction_in_window(v.bins_nm, v.concentration_per_bin, low, high)
        for v in export.videos
    ]
    summary = nta.mean_and_standard_error(fractions)
    inputs = by_analyte.get("concentration", [])
    return Computed(
        "nta.fraction_50_400",
        summary.average,
        "percent",
        "nta.fraction_in_window",
        inputs,
        {"window_nm": [low, high], "standard_error": summary.standard_error, "n": summary.n},
        files=[source.pk],
    )


def _simple_means(codes: dict[str, str]) -> Callable:
    def rule(run, by_analyte):
        return [
            m
            for analyte, code in codes.items()
            if (m := _mean_metric(code, by_analyte.get(analyte, []))) is not None
        ]

    return rule


def _qualitative(prefix: str) -> Callable:
    """A metric per qualitative analyte, except the run's controls its validity criteria read
    (a qPCR no-template control says whether the run worked, nothing about the sample)."""

    def rule(run, by_analyte):
        controls = {r["analyte"] for r in run.assay.suitability or []}
        return [
            m
            for analyte, results in sorted(by_analyte.items())
            if analyte not in controls
            and (m := _qualitative_metric(f"{prefix}.{analyte}", results)) is not None
        ]

    return rule


def _identity(run, by_analyte) -> list[Computed]:
    out, percentages, inputs = [], {}, []
    for analyte, results in sorted(by_analyte.items()):
        if not analyte.endswith("_pct"):
            continue
        metric = _mean_metric(f"identity.{analyte}", results, "percent")
        if metric is not None:
            out.append(metric)
            percentages[analyte.removesuffix("_pct")] = metric.value
            inputs.extend(results)
    if percentages:
        verdict = flow.isct_identity(percentages)
        out.append(
            Computed(
                "identity.isct",
                1.0 if verdict.passed else 0.0,
                "",
                "flow.isct_identity",
                inputs,
                {
                    "passed": verdict.passed,
                    "missing": list(verdict.missing),
                    "failed": [r.marker for r in verdict.results if r.passed is False],
                },
            )
        )
    return out


def _potency(run, by_analyte) -> list[Computed]:
    out = []

    def has(*names):
        return all(_values(by_analyte.get(n, [])) for n in names)

    def values(name):
        return _values(by_analyte[name])

    def inputs(*names):
        return [r for n in names for r in by_analyte[n]]

    for cytokine in ("tnf", "il6"):
        names = (f"{cytokine}_ev", f"{cytokine}_lps", f"{cytokine}_unstimulated")
        if has(*names):
            value = potency.percent_inhibition(*(values(n) for n in names))
            out.append(
                Computed(
                    f"potency.{cytokine}_inhibition",
                    value,
                    "percent",
                    "potency.percent_inhibition",
                    inputs(*names),
                )
            )
    for cytokine in ("il10", "tgfb"):
        names = (f"{cytokine}_ev", f"{cytokine}_lps")
        if has(*names):
            value = potency.fold_induction(*(values(n) for n in names))
            out.append(
                Computed(
                    f"potency.{cytokine}_fold_induction",
                    value,
                    "",
                    "potency.fold_induction",
                    inputs(*names),
                )
            )
    if has("CD206_pct", "CD86_pct"):
        value = potency.m2_m1_index(values("CD206_pct"), values("CD86_pct"))
        out.append(
            Computed(
                "potency.m2_m1_index",
                value,
                "",
                "potency.m2_m1_index",
                inputs("CD206_pct", "CD86_pct"),
            )
        )
    return out


def _dose_series(results: list[Result]) -> tuple[list[float], list[float], list[Result]]:
    """(doses, responses, results) of a dose series: each result's target is its well's dose."""
    doses, responses, used = [], [], []
    for r in results:
        try:
            dose = float(r.target)
        except ValueError:
            continue  # a well without a dose is not part of the series (the run shows it)
        if r.value is not None and math.isfinite(dose) and dose >= 0:
            doses.append(dose)
            responses.append(r.value)
            used.append(r)
    return doses, responses, used


def _relative_potency(run, by_analyte) -> list[Computed]:
    """% inhibition as POTENCY-MAC, and the relative potency of the lot's dose series against
    the reference standard's (parallel 4PL, USP <1034>); reported as a percentage of the
    reference's assigned potency when it has one (else 100 %)."""
    out = _potency(run, by_analyte)
    ref_x, ref_y, ref_used = _dose_series(by_analyte.get("tnf_reference", []))
    test_x, test_y, test_used = _dose_series(by_analyte.get("tnf_test", []))
    if not ref_used or not test_used:
        return out
    try:
        rp = relative_potency.relative_potency(ref_x, ref_y, test_x, test_y)
    except ValueError as exc:
        log.warning("run %s: no relative potency: %s", run.pk, exc)
        return out
    use = getattr(run, "reference_use", None)
    reference = use.reference if use is not None else None
    assigned = (reference.assigned("potency") if reference is not None else None) or {}
    scale = float(assigned.get("value", 100.0))
    details = {
        **rp.details(),
        "relative_potency": rp.rp,
        "reference_standard": reference.code if reference is not None else "",
        "reference_assigned_potency": scale,
        "potency_low": scale * rp.rp_low,
        "potency_high": scale * rp.rp_high,
    }
    out.append(
        Computed(
            "potency.relative_potency",
            scale * rp.rp,
            "percent",
            "potency.relative_potency",
            ref_used + test_used,
            details,
        )
    )
    return out


def _mirna(run, by_analyte) -> list[Computed]:
    """Relative quantity of each miRNA versus the calibrator by Pfaffl's ratio, as the assay
    version configures it (assays.qc.qpcr_analysis): each gene's own efficiency, normalised by
    the geometric mean of the references or by a spike-in, with its 95 % interval. With one
    reference and every efficiency 2.0 this is the 2^-ΔΔCt of Livak & Schmittgen 2001.

    A target that cannot be quantified (a reference or the target undetermined, a standard
    curve that cannot be fitted) is stored without a value, with the reason: a release
    criterion on it is then invalid, never silently pending."""
    config = qpcr_services.run_config(run)
    sample_results = by_analyte.get("ct", [])
    if config is None or not sample_results:
        return []
    if qpcr_services.is_calibrator(config, sample_results):
        return []
    calibrator_results = qpcr_services.calibrator_results(run, config, by_analyte)
    if not calibrator_results:
        return []  # nothing to compare with: no calibrator measured for this sample
    sample = qpcr_services.cts_by_gene(sample_results)
    calibrator = qpcr_services.cts_by_gene(calibrator_results)
    targets = qpcr_analysis.reported_targets(config, sample)
    genes = list(dict.fromkeys([*targets, *config.normalisers]))
    efficiencies, files = qpcr_services.efficiencies(run, config, genes)
    outcomes = qpcr_analysis.relative_quantities(config, sample, calibrator, efficiencies)
    normalisers = set(config.normalisers)
    out = []
    for outcome in outcomes:
        used = {outcome.target, *normalisers}
        inputs = [r for r in sample_results + calibrator_results if r.target in used]
        details = _pfaffl_details(config, outcome, efficiencies, sample, calibrator, used)
        ratio = outcome.ratio
        out.append(
            Computed(
                f"mirna.{outcome.target}.rq",
                ratio.ratio if ratio is not None else None,
                "",
                "qpcr.pfaffl_ratio",
                inputs,
                details,
                files=[f.pk for f in files],
                basis={"qpcr": config.to_json()},
            )
        )
    return out


def _pfaffl_details(config, outcome, efficiencies, sample, calibrator, used) -> dict[str, Any]:
    """What the run page and a reviewer need to redo the ratio by hand."""
    references = list(config.normalisers)
    if config.spike_in:
        normalisation = f"spike-in {config.spike_in}"
    elif len(references) > 1:
        normalisation = f"geometric mean of {', '.join(references)} (Vandesompele 2002)"
    else:
        normalisation = f"reference gene {references[0]}"
    details: dict[str, Any] = {
        "method": "Pfaffl 2001" + (" (E = 2: 2^-ΔΔCt)" if config.is_delta_delta_ct else ""),
        "reference": " + ".join(references),
        "references": references,
        "normalisation": normalisation,
        "calibrator": config.calibrator or config.calibrator_sample,
        "efficiencies": {
            g: (e.to_json() if isinstance(e, qpcr_analysis.GeneEfficiency) else {"error": e})
            for g, e in efficiencies.items()
            if g in used
        },
        "inputs": {
            "sample": {g: sample.get(g, []) for g in sorted(used)},
            "calibrator": {g: calibrator.get(g, []) for g in sorted(used)},
        },
        "flags": list(outcome.flags),
    }
    ratio = outcome.ratio
    if ratio is None:
        details["error"] = outcome.error
        return details
    details.update(
        ci_low=ratio.ci_low,
        ci_high=ratio.ci_high,
        confidence=ratio.confidence,
        se_log=ratio.se_log,
        df=ratio.df,
        target_rq=ratio.target_rq,
        normalisation_factor=ratio.normalisation_factor,
        delta_ct_target=ratio.delta_ct_target,
        delta_ct_references=dict(zip(ratio.references, ratio.delta_ct_references, strict=True)),
    )
    if len(references) == 1:
        # ΔΔCt as Livak writes it: ΔCt(sample) − ΔCt(calibrator) = −(ΔCt_t − ΔCt_r) here.
        details["ddct"] = -(ratio.delta_ct_target - ratio.delta_ct_references[0])
    return details


RULES: dict[str, Callable] = {
    "NTA": _nta,
    "BCA": _simple_means({"protein": "bca.protein"}),
    "ENDOTOXIN": _simple_means(
        {"endotoxin": "endotoxin.eu_per_ml", "spike_recovery": "endotoxin.spike_recovery"}
    ),
    "VIABILITY": _simple_means(
        {"viability": "viability", "viable_cell_density": "viable_cell_density"}
    ),
    "ISCT-FLOW": _identity,
    "POTENCY-MAC": _potency,
    "POTENCY-RP": _relative_potency,
    "MIRNA-QPCR": _mirna,
    "STERILITY": _qualitative("sterility"),
    "STERILITY-CB": _qualitative("sterility"),
    "MYCO": _qualitative("mycoplasma"),
    "MYCO-CB": _qualitative("mycoplasma"),
    "EV-MARKERS": _qualitative("ev_markers"),
    "TEM": _qualitative("tem"),
    "EV-IDENTITY": _qualitative("ev_identity"),
    "EV-COISOLATES": _qualitative("ev_coisolates"),
    "APPEARANCE": _qualitative("appearance"),
    "DSDNA": _simple_means({"dsdna": "dsdna.ng_per_ml"}),
    "PH": _simple_means({"ph": "ph"}),
    "OSMOLALITY": _simple_means({"osmolality": "osmolality"}),
    "BIOBURDEN": _simple_means({"bioburden": "bioburden.cfu"}),
}


# --- Storing ---------------------------------------------------------------------------------


def _inputs_hash(c: Computed) -> str:
    payload: dict[str, Any] = {
        "code": c.code,
        "results": sorted((r.pk, r.value, r.text_value) for r in c.inputs),
        "files": sorted(str(f) for f in c.files),
    }
    if c.basis:
        payload["basis"] = c.basis
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def _json_safe(details: dict) -> dict:
    def clean(v):
        if isinstance(v, float | np.floating):
            return None if not np.isfinite(v) else float(v)
        if isinstance(v, list | tuple):
            return [clean(x) for x in v]
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, np.integer):
            return int(v)
        return v

    return clean(details)


def store(computed: list[Computed], *, run=None, lot=None, culture_batch=None) -> int:
    """Insert the metrics not already stored; returns how many were new."""
    if not computed:
        return 0
    rows = []
    for c in computed:
        value = c.value if c.value is None or np.isfinite(c.value) else None
        rows.append(
            QCMetric(
                run=run,
                lot=lot,
                culture_batch=culture_batch,
                code=c.code,
                value=value,
                unit=c.unit,
                details=_json_safe(c.details),
                input_results=sorted(r.pk for r in c.inputs),
                input_files=list(c.files),
                inputs_hash=_inputs_hash(c),
                algorithm=c.algorithm,
                algorithm_version=VERSIONS[c.algorithm],
            )
        )
    keys = {(m.code, m.inputs_hash, m.algorithm, m.algorithm_version) for m in rows}
    # By the unique index's leading columns (code, inputs_hash): an index probe per metric, not a
    # scan of every stored metric (issue 14).
    existing = set(
        QCMetric.objects.filter(
            code__in=sorted({k[0] for k in keys}), inputs_hash__in=sorted({k[1] for k in keys})
        ).values_list("code", "inputs_hash", "algorithm", "algorithm_version")
    )
    new = [
        m for m in rows if (m.code, m.inputs_hash, m.algorithm, m.algorithm_version) not in existing
    ]
    # ignore_conflicts: a concurrent computation of the same inputs may have won the race.
    QCMetric.objects.bulk_create(new, ignore_conflicts=True)
    return len(new)


@transaction.atomic
def compute_run_metrics(run_id: int) -> int:
    """Compute and store the metrics of one run; returns how many new metrics were stored."""
    run = AssayRun.objects.select_related("assay", "source_file").get(pk=run_id)
    rule = RULES.get(run.assay.code)
    added = 0
    if rule is not None and run.status != AssayRun.Status.INVALIDATED:
        results = list(
            Result.objects.filter(run=run).select_related("analyte", "sample").order_by("pk")
        )
        by_sample: dict[int, dict[str, list[Result]]] = defaultdict(lambda: defaultdict(list))
        for r in results:
            by_sample[r.sample_id][r.analyte.code].append(r)
        samples = RunSample.objects.in_bulk(list(by_sample))
        for sample_id, by_analyte in by_sample.items():
            sample = samples[sample_id]
            added += store(
                rule(run, by_analyte), run=run, lot=sample.lot, culture_batch=sample.culture_batch
            )
    with audit_context(reason="QC metrics computed"):
        AssayRun.objects.filter(pk=run.pk).update(metrics_computed_at=timezone.now())
    return added


# --- Lot and batch level -------------------------------------------------------------------


def _valid_metric_rows(lot, culture_batch):
    """Metrics of the lot or batch that still count: not from an invalidated run, and (for a
    lot-level metric, which has no run of its own) not computed from one's results."""
    qs = (
        QCMetric.objects.filter(lot=lot)
        if lot is not None
        else QCMetric.objects.filter(culture_batch=culture_batch)
    )
    qs = qs.exclude(run__status=AssayRun.Status.INVALIDATED)
    # An NTA run whose dilution nobody has recorded yet does not count (assays.nta_models).
    qs = qs.exclude(run__nta_summary__dilution_pending=True)
    sample = {"sample__lot": lot} if lot is not None else {"sample__culture_batch": culture_batch}
    # Results of an invalidated run, and results of a vial held for a stability study (a
    # stability result is judged against the stability specification, never for release):
    # one query for both.
    left_out = Q(run__status=AssayRun.Status.INVALIDATED)
    for held in vial_holds.held_vials():
        left_out |= Q(sample__aliquot__in=held)
    invalidated = list(Result.objects.filter(left_out, **sample).values_list("pk", flat=True))
    if invalidated:
        qs = qs.exclude(input_results__overlap=invalidated)
    return qs


def metric_is_valid(metric: QCMetric) -> bool:
    """True while the metric still counts (its run, or the runs of its inputs, not invalidated)."""
    rows = _valid_metric_rows(
        metric.lot if metric.lot_id else None,
        metric.culture_batch if metric.lot_id is None else None,
    )
    return rows.filter(pk=metric.pk).exists()


def current_metrics(*, lot=None, culture_batch=None) -> dict[str, QCMetric]:
    """The newest valid metric for each code, for display and for derived metrics (purity).

    Release never judges on this alone: a retest does not replace a valid original result
    (valid_metrics, release.specifications.evaluate)."""
    # The newest run, whatever the order in which runs were (re)computed; within a run, the
    # newest computation (newest algorithm version).
    latest = (
        _valid_metric_rows(lot, culture_batch)
        .order_by("code", F("run__started_at").desc(nulls_last=True), "-computed_at", "-pk")
        .distinct("code")
    )
    return {m.code: m for m in latest}


def valid_metrics(*, lot=None, culture_batch=None) -> dict[str, list[QCMetric]]:
    """Every valid result for each code: one metric per run that is not invalidated (its newest
    computation), oldest run first; a lot-level metric counts once (its newest computation).

    FDA, Investigating OOS Test Results (2006): an original OOS result stands unless an
    assignable laboratory cause invalidates it; a passing retest does not override it."""
    rows = (
        _valid_metric_rows(lot, culture_batch)
        .select_related("run")
        .order_by("code", "run_id", "-computed_at", "-pk")
        .distinct("code", "run_id")
    )
    by_code: dict[str, list[QCMetric]] = {}
    for m in rows:
        by_code.setdefault(m.code, []).append(m)
    for metrics in by_code.values():
        metrics.sort(key=lambda m: (m.run.started_at if m.run is not None else m.computed_at, m.pk))
    return by_code


@transaction.atomic
def compute_lot_metrics(lot_id: int) -> int:
    """Lot-level metrics derived from the current run metrics (e.g. purity); returns how many
    new metrics were stored."""
    lot = ExosomeLot.objects.get(pk=lot_id)
    current = current_metrics(lot=lot)
    computed = []
    particles, protein = current.get("nta.concentration"), current.get("bca.protein")
    if particles and protein and particles.value and protein.value:
        inputs = list(Result.objects.filter(pk__in=particles.input_results + protein.input_results))
        computed.append(
            Computed(
                "purity.particles_per_ug",
                particles.value / protein.value,
                "particle/ug",
                "purity.ratio",
                inputs,
                {"concentration_metric": particles.pk, "protein_metric": protein.pk},
            )
        )
    return store(computed, lot=lot)
