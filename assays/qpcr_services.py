"""qPCR: the assay definition's configuration, changed as a new assay version, and what a run
gives the Pfaffl computation (assays.qc.qpcr_analysis; the metric is stored by assays.metrics).

A change of the configuration (references, spike-in, efficiencies, calibrator) is a change of
the method: it is never an edit of the version runs were analysed with, but a new version of the
assay with the reason in the audit trail; the version before is kept, superseded, with its runs.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from functools import lru_cache
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max, Q

from assays.models import Analyte, AssayDefinition, AssayRun, InstrumentFile, QCMetric, Result
from assays.parsers import ParseError
from assays.qc import qpcr_analysis
from lims import file_store
from lims.audit import audit_context
from lims.roles import can_configure_assays, require

log = logging.getLogger(__name__)

# What a new version copies from the one it supersedes (everything but its identity).
_COPIED = (
    "code",
    "name",
    "method",
    "sop_reference",
    "applies_to",
    "minimum_days",
    "suitability",
    "plate_layouts",
    "required_reagents",
    "reference_material",
    "flow_gating",
)
_ANALYTE_COPIED = ("code", "name", "result_type", "unit", "allowed_values", "position")


def parse_config(raw: object) -> qpcr_analysis.QpcrConfig:
    """The configuration, or a ValidationError on ``qpcr`` saying what is wrong."""
    try:
        return qpcr_analysis.QpcrConfig.from_json(raw)
    except ValueError as exc:
        raise ValidationError({"qpcr": f"qPCR configuration: {exc}."}) from exc


@transaction.atomic
def qpcr_configure(
    *, actor, assay: AssayDefinition, config: dict[str, Any], reason: str
) -> AssayDefinition:
    """A new version of ``assay`` carrying ``config``, the current one superseded; its analytes
    and every other setting are copied. Field errors: ``qpcr`` (invalid or unchanged),
    ``reason`` (required), ``assay`` (not the current version or not a qPCR assay)."""
    require(can_configure_assays, actor, "Only QC (analysts or QA) configure an assay.")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the configuration changes (audit trail)."})
    parsed = parse_config(config)
    # The current version, locked: two changes at once make consecutive versions, not two
    # current ones (the database refuses that too: one_current_assay_version).
    current = AssayDefinition.objects.select_for_update().get(pk=assay.pk)
    if not current.is_current:
        raise ValidationError(
            {"assay": f"{current} is superseded: change the current version of {current.code}."}
        )
    if not current.qpcr:
        raise ValidationError({"assay": f"{current} is not a qPCR assay (no qPCR configuration)."})
    stored = parsed.to_json()
    if stored == qpcr_analysis.QpcrConfig.from_json(current.qpcr).to_json():
        raise ValidationError({"qpcr": "The configuration is unchanged: nothing to version."})
    last = AssayDefinition.objects.filter(code=current.code).aggregate(v=Max("version"))["v"]
    with audit_context(actor=actor, reason=f"qPCR configuration changed: {reason}"):
        AssayDefinition.objects.filter(pk=current.pk).update(is_current=False)
        new = AssayDefinition(
            **{f: getattr(current, f) for f in _COPIED},
            version=last + 1,
            is_current=True,
            qpcr=stored,
            created_by=actor,
        )
        new.full_clean()
        new.save()
        Analyte.objects.bulk_create(
            [
                Analyte(assay=new, created_by=actor, **{f: getattr(a, f) for f in _ANALYTE_COPIED})
                for a in current.analytes.order_by("position", "code")
            ]
        )
    return new


# --- What a run gives the computation -------------------------------------------------------


def run_config(run: AssayRun) -> qpcr_analysis.QpcrConfig | None:
    """The configuration of the run's assay version; None when it has none (or a bad one,
    which the model's validator keeps out)."""
    if not run.assay.qpcr:
        return None
    try:
        return qpcr_analysis.QpcrConfig.from_json(run.assay.qpcr)
    except ValueError:
        log.error("run %s: the qPCR configuration of %s cannot be read", run.pk, run.assay)
        return None


def cts_by_gene(results: list[Result]) -> dict[str, list[float | None]]:
    """Gene (the result's target) → its Ct replicates; None for an undetermined well."""
    by_gene: dict[str, list[float | None]] = defaultdict(list)
    for r in results:
        by_gene[r.target].append(r.value)
    return dict(by_gene)


def calibrator_results(
    run: AssayRun, config: qpcr_analysis.QpcrConfig, by_analyte: dict[str, list[Result]]
) -> list[Result]:
    """The calibrator's Ct results for one sample: the run's ``ct`` results of the calibrator
    sample the configuration names (by its name in the file or its LIMS identifier), else the
    sample's own ``calibrator_ct`` results."""
    if not config.calibrator_sample:
        return by_analyte.get("calibrator_ct", [])
    name = config.calibrator_sample
    return list(
        Result.objects.filter(run=run, analyte__code="ct")
        .filter(Q(source_sample=name) | Q(sample__label=name))
        .order_by("pk")
    )


def is_calibrator(config: qpcr_analysis.QpcrConfig, results: list[Result]) -> bool:
    """Whether these Ct results are the calibrator's own (it gets no ratio against itself)."""
    name = config.calibrator_sample
    return bool(name) and all(name in (r.source_sample, r.sample.label) for r in results)


def efficiencies(
    run: AssayRun, config: qpcr_analysis.QpcrConfig, genes: list[str]
) -> tuple[dict[str, qpcr_analysis.GeneEfficiency | str], list[InstrumentFile]]:
    """Each gene's efficiency (or why it has none) and the files read for standard curves."""
    out: dict[str, qpcr_analysis.GeneEfficiency | str] = {}
    files: list[InstrumentFile] = []
    wells: qpcr_analysis.WellCts | None = None
    why = ""
    for gene in genes:
        source = config.source_of(gene)
        if source.source == qpcr_analysis.STANDARD_CURVE:
            if wells is None and not why:  # the file is read once, and only if needed
                wells, why = _run_wells(run)
                if wells is not None and run.source_file is not None:
                    files.append(run.source_file)
            if wells is None:
                out[gene] = why
                continue
        try:
            out[gene] = qpcr_analysis.gene_efficiency(gene, source, wells or {})
        except ValueError as exc:
            out[gene] = str(exc)
    return out, files


def _run_wells(run: AssayRun) -> tuple[qpcr_analysis.WellCts | None, str]:
    source = run.source_file
    if source is None:
        return None, "the run was not recorded from an instrument file: no standard curve"
    try:
        return _file_wells(str(source.pk), source.sha256), ""
    except (file_store.OriginalUnavailable, ParseError, ValueError) as exc:
        # No efficiency from an original that is gone or altered: the ratio waits, never
        # computed from other bytes.
        log.error("run %s: standard curve not read: %s", run.pk, exc)
        return None, f"the run's file cannot be read: {exc}"


@lru_cache(maxsize=8)
def _file_wells(file_id: str, sha256: str) -> dict[tuple[str, str], float | None]:
    """(well, target) → Ct of every well of an original file (standards included), read once
    per file (the bytes are immutable under their SHA-256, the cache key)."""
    from assays.ingest import records_from_file  # noqa: PLC0415 (imports allotropy, slow)

    record = InstrumentFile.objects.get(pk=file_id)
    _, records = records_from_file(
        record.original_bytes(), filename=record.original_name, format_hint=record.format_hint
    )
    wells: dict[tuple[str, str], float | None] = {}
    for sample in records:
        if not sample.has_well or "," in sample.position:
            continue
        for value in sample.values:
            if value.name == "cycle threshold result":
                well = qpcr_analysis.normalise_well(sample.position)
                wells[(well, value.target)] = value.value
    return wells


# --- The run page ---------------------------------------------------------------------------


def run_section(run: AssayRun) -> dict[str, Any]:
    """The run page's qPCR section from the run's stored RQ metrics (newest computation of each
    code and sample): each target's ratio with its interval and efficiencies, and each standard
    curve the run was analysed with. GET only reads."""
    metrics = list(
        QCMetric.objects.filter(run=run, code__startswith="mirna.", code__endswith=".rq")
        .select_related("lot", "culture_batch")
        .order_by("lot_id", "culture_batch_id", "code", "-computed_at", "-pk")
        .distinct("lot_id", "culture_batch_id", "code")
    )
    rows: list[dict[str, Any]] = []
    curves: dict[str, dict[str, Any]] = {}
    for m in metrics:
        details = m.details or {}
        efficiencies = details.get("efficiencies", {})
        for gene, eff in efficiencies.items():
            if "standard_curve" in eff:
                curves.setdefault(gene, eff)
        rows.append(
            {
                "metric": m,
                "sample": m.lot or m.culture_batch,
                "target": m.code.removeprefix("mirna.").removesuffix(".rq"),
                "details": details,
                "efficiencies": sorted(efficiencies.items()),
            }
        )
    return {"rows": rows, "curves": sorted(curves.items())}
