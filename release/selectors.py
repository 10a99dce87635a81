"""Reads behind the release pages: a lot's checklist against its specification, what QA must
judge on the review page, and the release dashboard (the writes are in release.services).

Every function here only reads: pages and API show the stored evaluation, which the evaluation
tasks keep current (release.tasks) and the disposition renews under the lot's lock.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from types import SimpleNamespace

from django.db.models import Count, Exists, F, OuterRef, Q
from django.urls import reverse
from django.utils import timezone

from assays.lot_samples import any_of, of_lot
from assays.models import AssayRun, Result, RunReagentUse, RunSample
from assays.qc_selectors import TrendAlert, out_of_trend
from assays.selectors import calibration_state
from batches.genealogy import lot_genealogy
from batches.models import Aliquot, CultureBatch, ExosomeLot, LotSource
from lims.models import AuditEvent
from lims.signatures import is_valid
from release.deviations import related_deviations
from release.models import (
    AuditTrailReview,
    CertificateOfAnalysis,
    CriterionEvaluation,
    Deviation,
    Disposition,
    LotSpecification,
    Specification,
)
from release.specifications import effective_specification, judging_specification, overall_state

REAGENT_WARNING_DAYS = 30
RECENT_RELEASE_DAYS = 30
# Cards a board column shows (its total and a link to the lots list show the rest): a column
# is read at a glance and redrawn every 5 seconds, and each card costs its blockers' reads and
# its rendering (issue 14: 50 a column made the busy site's board 6.5 times the tenth's work).
DASHBOARD_CAP = 20
# Updates that move a record through its workflow rather than change what was entered.
WORKFLOW_FIELDS = {
    "status",
    "status_reason",
    "status_changed_at",
    "metrics_computed_at",
    "reviewed_by",
    "reviewed_by_id",
}


@dataclass
class ChecklistRow:
    """One criterion of the judging specification and where the lot stands on it."""

    criterion: object
    evaluation: CriterionEvaluation | None
    investigations: list = field(default_factory=list)

    @property
    def status(self) -> str:
        return self.evaluation.status if self.evaluation else CriterionEvaluation.Status.PENDING

    @property
    def status_label(self) -> str:
        return CriterionEvaluation.Status(self.status).label

    @property
    def metric(self):
        return self.evaluation.metric if self.evaluation else None

    @property
    def unit(self) -> str:
        # The evaluation stores the metric's value in the metric's own unit.
        return self.metric.unit if self.metric is not None else self.criterion.unit


@dataclass
class Checklist:
    specification: Specification | None
    fixed: bool  # False: testing has not started; the effective version is shown
    rows: list[ChecklistRow]

    @property
    def state(self) -> str:
        return overall_state(self.rows) if self.rows else "no_specification"

    @property
    def needing_judgement(self) -> list[ChecklistRow]:
        return [r for r in self.rows if r.status in ("fail", "alert", "invalid")]


@dataclass
class LotRecords:
    """What the release reads of a lot, read once for a page: the version it is judged by (None
    before testing starts), its stored evaluations (with their criteria and metrics) and its
    related deviations, oldest first. Checklist, signed content and panel share it."""

    judged: LotSpecification | None
    evaluations: list[CriterionEvaluation]
    deviations: list[Deviation]

    @classmethod
    def of(cls, lot: ExosomeLot, *, genealogy=None, deviations=None) -> "LotRecords":
        return cls(
            judged=LotSpecification.objects.filter(lot=lot).select_related("specification").first(),
            evaluations=list(
                CriterionEvaluation.objects.filter(lot=lot).select_related("criterion", "metric")
            ),
            deviations=(
                list(related_deviations(lot, genealogy=genealogy))
                if deviations is None
                else list(deviations)
            ),
        )


def lot_checklist(
    lot: ExosomeLot, deviations=None, *, records: LotRecords | None = None
) -> Checklist:
    """The stored evaluation of every criterion of the lot's specification, with its OOS
    investigations (`deviations`: the lot's related deviations, if already read; `records`:
    all that the release reads of the lot, if already read)."""
    if records is None:
        records = LotRecords.of(lot, deviations=deviations)
    judged = records.judged
    spec = (
        judged.specification
        if judged
        else effective_specification(Specification.Product.DRUG_SUBSTANCE)
    )
    if spec is None:
        return Checklist(None, False, [])
    evaluations = {e.criterion_id: e for e in records.evaluations}
    oos = [d for d in records.deviations if d.kind == Deviation.Kind.OOS]
    rows = [
        ChecklistRow(
            criterion=c,
            evaluation=evaluations.get(c.pk),
            investigations=[d for d in oos if d.criterion_id == c.pk],
        )
        for c in spec.criteria.order_by("position", "pk")
    ]
    return Checklist(spec, judged is not None, rows)


def release_content(lot: ExosomeLot, decision: str, *, records: LotRecords | None = None) -> dict:
    """What QA signs: the decision, the specification and every evaluation it rests on."""
    if records is None:
        records = LotRecords.of(lot)
    judged = records.judged
    evaluations = sorted(records.evaluations, key=lambda e: (e.criterion.position, e.criterion_id))
    return {
        "lot": lot.code,
        "decision": decision,
        "specification": str(judged.specification) if judged else None,
        "evaluations": [
            {
                "test": e.criterion.test,
                "acceptance": e.criterion.acceptance,
                "status": e.status,
                "value": e.value,
                "text": e.text,
                "metric": e.metric_id,
            }
            for e in evaluations
        ],
        "deviations": [
            {"code": d.code, "status": d.status, "outcome": d.outcome} for d in records.deviations
        ],
    }


@dataclass
class SignedDisposition:
    disposition: Disposition
    valid: bool


def lot_dispositions(
    lot: ExosomeLot, *, records: LotRecords | None = None
) -> list[SignedDisposition]:
    """Every disposition of the lot with whether its signature still matches the content (the
    content read once, however many dispositions)."""
    dispositions = list(
        Disposition.objects.filter(lot=lot)
        .select_related("signature", "specification")
        .order_by("decided_at", "pk")
    )
    if dispositions and records is None:
        records = LotRecords.of(lot)
    contents = {}
    out = []
    for d in dispositions:
        if d.decision not in contents:
            contents[d.decision] = release_content(lot, d.decision, records=records)
        out.append(SignedDisposition(d, is_valid(d.signature, contents[d.decision])))
    return out


def lot_release_panel(lot: ExosomeLot, *, genealogy=None) -> dict:
    """What the lot page shows of the release: checklist, deviations, dispositions, CoA, in a
    fixed number of queries (`genealogy`: the lot's, if the page has read it already)."""
    records = LotRecords.of(lot, genealogy=genealogy)
    return {
        "lot": lot,
        "checklist": lot_checklist(lot, records=records),
        "open_deviations": [d for d in records.deviations if d.status != Deviation.Status.CLOSED],
        "dispositions": lot_dispositions(lot, records=records),
        "certificate": CertificateOfAnalysis.objects.filter(lot=lot).first(),
        "lock_message": lot.lock_reason,
    }


# Stable codes of what stops a release (the API's `blockers[].code`; the messages may change).
BLOCKER_CODES = {
    "lot_not_under_review": "The lot is not under review: only a lot under review is released.",
    "no_specification": "No effective specification judges the lot or batch.",
    "not_evaluated": "The lot or batch has not been evaluated against its specification yet.",
    "criterion_failed": "A required criterion fails (OOS).",
    "criterion_pending": "A required criterion has no result yet.",
    "criterion_invalid": "A required criterion has an invalid result.",
    "deviation_open": "A deviation concerning it is not closed.",
    "oos_open": "An OOS investigation concerning it is not closed.",
    "oos_confirmed": "An investigation confirmed an OOS: a lot can only be rejected, a batch's "
    "cells not used.",
    "source_batch_failed": "A culture batch the lot was made from fails a required source-cell "
    "criterion.",
    "run_invalid": "A run of the lot is invalid (system suitability failed, or invalidated) and "
    "no valid run of its assay has replaced it yet.",
    "run_unreviewed": "A run the lot or its source cells were tested in has not had its "
    "second-person review.",
    "source_batch_incomplete": "A culture batch the lot was made from has a required source-cell "
    "criterion without a valid result, or has not been evaluated.",
}
_CRITERION_BLOCKERS = {
    "fail": ("criterion_failed", "fails (OOS)"),
    "pending": ("criterion_pending", "has no result yet"),
    "invalid": ("criterion_invalid", "has an invalid result"),
}


@dataclass(frozen=True)
class Blocker:
    """One thing that stops a release: a stable `code`, a `message` QA can act on, and the
    record it is about (`object`: {"type", "id", "code"}, None when it is the lot itself)."""

    code: str
    message: str
    object: dict | None = None

    def __str__(self) -> str:  # the pages show the message
        return self.message


def _ref(kind: str, pk: int, code: str) -> dict:
    return {"type": kind, "id": pk, "code": code}


def _evaluation_blockers(evaluations, *, what: str, judged_by) -> list[Blocker]:
    """Blockers of the stored evaluations of a lot or batch (`judged_by`: the specification
    that would judge it, read only when nothing is evaluated)."""
    blockers = []
    if not evaluations:
        if judged_by() is None:
            blockers.append(
                Blocker("no_specification", f"No effective specification judges this {what}.")
            )
        else:
            blockers.append(
                Blocker(
                    "not_evaluated",
                    f"The {what} has not been evaluated against its specification yet.",
                )
            )
    for e in evaluations:
        if e.criterion.required and e.status not in ("pass", "alert"):
            code, verdict = _CRITERION_BLOCKERS[e.status]
            blockers.append(
                Blocker(
                    code,
                    f"{e.criterion.test} ({e.criterion.acceptance}) {verdict}.",
                    _ref("criterion", e.criterion_id, e.criterion.metric_code),
                )
            )
    return blockers


def _deviation_blockers(deviations, *, confirmed: str) -> list[Blocker]:
    """Open deviations, and closed ones that confirmed an OOS (`confirmed`: what follows)."""
    blockers = []
    for d in deviations:
        ref = _ref("deviation", d.pk, d.code)
        if d.status != Deviation.Status.CLOSED:
            oos = d.kind == Deviation.Kind.OOS
            blockers.append(
                Blocker(
                    "oos_open" if oos else "deviation_open",
                    f"{'OOS investigation' if oos else 'Deviation'} {d.code} ({d.title}) is "
                    f"{d.get_status_display().lower()}.",
                    ref,
                )
            )
        elif d.outcome == Deviation.Outcome.OOS_CONFIRMED:
            blockers.append(
                Blocker(
                    "oos_confirmed",
                    f"OOS confirmed by {d.code}: {confirmed}.",
                    ref,
                )
            )
    return blockers


def release_blockers(lot: ExosomeLot) -> list[Blocker]:
    """Everything that stops the release of the lot, in words QA can act on (str(blocker)),
    each with a stable code for the API.

    A read of the stored evaluation (release.tasks keeps it current; the disposition
    re-evaluates under the lot's lock before it decides)."""
    return release_blockers_of([lot])[lot.pk]


def release_blockers_of(lots: list[ExosomeLot]) -> dict[int, list[Blocker]]:
    """release_blockers of each lot, read together: a fixed number of queries however many
    lots (the release dashboard shows every lot not yet decided)."""
    lots = list(lots)
    out: dict[int, list[Blocker]] = {}
    for lot in lots:
        out[lot.pk] = []
        if lot.status != ExosomeLot.Status.UNDER_REVIEW:
            out[lot.pk].append(
                Blocker(
                    "lot_not_under_review",
                    f"The lot is {lot.get_status_display().lower()}: only a lot under review "
                    "can be released.",
                    _ref("lot", lot.pk, lot.code),
                )
            )
    open_lots = [lot for lot in lots if not lot.is_locked]
    if not open_lots:
        return out
    ids = [lot.pk for lot in open_lots]
    evaluations: dict[int, list[CriterionEvaluation]] = {pk: [] for pk in ids}
    for e in (
        CriterionEvaluation.objects.filter(lot__in=ids)
        .select_related("criterion")
        .order_by("criterion__position", "criterion_id")
    ):
        if e.lot_id is not None:  # filtered on lot: always set
            evaluations[e.lot_id].append(e)
    unjudged = [pk for pk in ids if not evaluations[pk]]
    judged = _judged(unjudged, "lot", Specification.Product.DRUG_SUBSTANCE)
    batches = _source_batches(ids)
    source = _source_batch_blockers_of(batches)
    samples = _samples_of(ids, sorted({b.pk for bs in batches.values() for b in bs}))
    unreviewed = _unreviewed_runs_of(samples, ids, batches)
    invalid = _invalid_runs_of(samples, ids)
    deviations = _related_deviations_of(ids, batches)
    for lot in open_lots:
        out[lot.pk] += _evaluation_blockers(
            evaluations[lot.pk], what="lot", judged_by=lambda pk=lot.pk: judged.get(pk)
        )
        out[lot.pk] += source[lot.pk]
        out[lot.pk] += unreviewed[lot.pk]
        out[lot.pk] += invalid[lot.pk]
        # The deviations of the lot and of its genealogy (a batch's OOS included).
        out[lot.pk] += _deviation_blockers(
            deviations[lot.pk], confirmed="the lot can only be rejected"
        )
    return out


def _judged(pks: list[int], field: str, product: str) -> dict[int, bool]:
    """Which of these lots or batches (without evaluations) a specification would judge: the
    version fixed for it, or the one effective now (judging_specification). Two queries."""
    if not pks:
        return {}
    fixed = set(
        LotSpecification.objects.filter(**{f"{field}__in": pks}).values_list(field, flat=True)
    )
    effective = effective_specification(product) is not None
    return {pk: True for pk in pks if pk in fixed or effective}


def _source_batches(lot_ids: list[int]) -> dict[int, list[CultureBatch]]:
    """The culture batches each lot was made from (through its isolation runs' harvests), by
    code. Two queries."""
    pairs = set(
        LotSource.objects.filter(lot__in=lot_ids, run__inputs__harvest__batch__isnull=False)
        .values_list("lot", "run__inputs__harvest__batch")
        .distinct()
    )
    batches = CultureBatch.objects.in_bulk({batch for _, batch in pairs})
    out: dict[int, list[CultureBatch]] = {pk: [] for pk in lot_ids}
    for lot_id, batch_id in pairs:
        out[lot_id].append(batches[batch_id])
    for its in out.values():
        its.sort(key=lambda b: (b.code, b.pk))
    return out


def _source_batch_blockers_of(batches: dict[int, list[CultureBatch]]) -> dict[int, list]:
    all_batches = {b.pk: b for bs in batches.values() for b in bs}
    by_batch: dict[int | None, list[CriterionEvaluation]] = {pk: [] for pk in all_batches}
    for e in (
        CriterionEvaluation.objects.filter(culture_batch__in=list(all_batches))
        .select_related("criterion")
        .order_by("criterion__position", "criterion_id")
    ):
        by_batch[e.culture_batch_id].append(e)
    judged = _judged(
        [pk for pk in all_batches if not by_batch[pk]],
        "culture_batch",
        Specification.Product.SOURCE_CELLS,
    )
    out: dict[int, list[Blocker]] = {}
    for lot_id, its_batches in batches.items():
        out[lot_id] = []
        for batch in its_batches:
            inner = _evaluation_blockers(
                by_batch[batch.pk], what="batch", judged_by=lambda pk=batch.pk: judged.get(pk)
            )
            for b in inner:
                code = (
                    "source_batch_failed"
                    if b.code == "criterion_failed"
                    else "source_batch_incomplete"
                )
                out[lot_id].append(
                    Blocker(
                        code,
                        f"Source culture batch {batch.code}: {b.message}",
                        _ref("culture_batch", batch.pk, batch.code),
                    )
                )
    return out


@dataclass(frozen=True)
class _Run:
    """What a blocker names of a run, read as plain values (a model instance per run cost the
    board 0.2 ms each: 150 ms for the 750 runs of a hundred lots in testing)."""

    pk: int
    status: str
    status_reason: str
    assay: SimpleNamespace  # its code and name

    def __str__(self):
        return f"{self.assay.code} run {self.pk}"  # as AssayRun's


@dataclass(frozen=True)
class _Sample:
    """A sample of a run, reduced to what names the lots it tests."""

    run: _Run
    lot_id: int | None
    aliquot_lot: int | None  # the lot of its vial, if it is a vial
    culture_batch_id: int | None


def _runs_by_lot(samples: list[_Sample], lots_of_batch: dict[int, set[int]], lot_ids: list[int]):
    """{lot id: {run id: run}} of the runs these samples put on each lot, in the samples'
    order."""
    wanted = set(lot_ids)
    out: dict[int, dict[int, _Run]] = {pk: {} for pk in lot_ids}
    for sample in samples:
        named = {sample.lot_id, sample.aliquot_lot} - {None}
        targets: set[int] = {pk for pk in named if pk is not None}
        if sample.culture_batch_id is not None:
            targets |= lots_of_batch.get(sample.culture_batch_id, set())
        for lot_id in targets & wanted:
            out[lot_id].setdefault(sample.run.pk, sample.run)
    return out


def _samples_of(lot_ids: list[int], batch_ids: list[int]) -> list[_Sample]:
    """The samples on these lots, their vials or these culture batches, oldest run first.
    Two queries: the samples, their runs.

    Each branch an index scan of the samples for the lots shown only, the vials' ids an array
    read once (assays.lot_samples.any_of). As one query, an OR across the vials' join made
    PostgreSQL hash every vial and scan every sample of the history (100,000 vials and 49,750
    samples at the busy size: 170 ms); with the vials' ids sent as parameters (20 a lot),
    building and sending the list cost more than the query and grew with every card on the
    board. Joined to the samples, the runs were read by a scan of them all (49,750) for the
    few hundred wanted."""
    columns = ("run", "lot", "aliquot__lot", "culture_batch")
    rows = list(
        RunSample.objects.filter(lot__in=lot_ids)
        .values_list(*columns)
        .union(
            RunSample.objects.filter(
                any_of("aliquot_id", Aliquot.objects.filter(lot__in=lot_ids))
            ).values_list(*columns),
            RunSample.objects.filter(culture_batch__in=batch_ids).values_list(*columns),
            all=True,
        )
    )
    run_ids = sorted({row[0] for row in rows})
    runs: dict[int, _Run] = {}
    assays: dict[str, SimpleNamespace] = {}
    if run_ids:
        # The range tells the planner what the ids alone hide: the runs of lots still on the
        # board are recent, a short stretch of the primary key, read by an index range scan
        # (1.6 ms) where it priced each of the hundreds of ids as a random read and scanned
        # every run instead (13 ms at the busy size, growing with the history).
        for pk, status, reason, code, name in (
            AssayRun.objects.filter(pk__in=run_ids, pk__gte=run_ids[0], pk__lte=run_ids[-1])
            .order_by("started_at", "pk")
            .values_list("pk", "status", "status_reason", "assay__code", "assay__name")
        ):
            assay = assays.setdefault(code, SimpleNamespace(code=code, name=name))
            runs[pk] = _Run(pk, status, reason, assay)
    position = {pk: i for i, pk in enumerate(runs)}
    rows.sort(key=lambda row: position[row[0]])
    return [
        _Sample(runs[run_id], lot_id, vial_lot, batch_id)
        for run_id, lot_id, vial_lot, batch_id in rows
    ]


def _unreviewed_runs_of(
    samples: list[_Sample], lot_ids: list[int], batches: dict[int, list[CultureBatch]]
) -> dict[int, list[Blocker]]:
    """Runs on the lots, their vials or their source culture batches (`samples`: theirs, from
    _samples_of) that count (not invalidated) but have no second-person review yet."""
    lots_of_batch: dict[int, set[int]] = {}
    for lot_id, its_batches in batches.items():
        for b in its_batches:
            lots_of_batch.setdefault(b.pk, set()).add(lot_id)
    recorded = [s for s in samples if s.run.status == AssayRun.Status.RECORDED]
    runs = _runs_by_lot(recorded, lots_of_batch, lot_ids)
    return {
        lot_id: [
            Blocker(
                "run_unreviewed",
                f"Run {run} ({run.assay.name}) has not been reviewed by a second person.",
                _ref("run", run.pk, str(run)),
            )
            for run in its_runs.values()
        ]
        for lot_id, its_runs in runs.items()
    }


def _invalid_runs_of(samples: list[_Sample], lot_ids: list[int]) -> dict[int, list[Blocker]]:
    """Invalid runs of the lots (failed system suitability, or invalidated) whose assay has no
    valid run recorded on the lot since: a retest is owed. `samples`: from _samples_of (a
    batch's own samples name no lot and count for none here)."""
    return {
        lot_id: _retests_owed(list(its.values()))
        for lot_id, its in _runs_by_lot(samples, {}, lot_ids).items()
    }


def _retests_owed(runs: list[AssayRun]) -> list[Blocker]:
    """A blocker per invalid run among a lot's runs (oldest first) that no valid run of the same
    assay, recorded after it, has replaced."""
    blockers = []
    for run in runs:
        if run.status != AssayRun.Status.INVALIDATED:
            continue
        replaced = any(
            other.assay.code == run.assay.code
            and other.status != AssayRun.Status.INVALIDATED
            and other.pk > run.pk  # recorded after it
            for other in runs
        )
        if not replaced:
            blockers.append(
                Blocker(
                    "run_invalid",
                    f"Run {run} ({run.assay.name}) is invalid ({run.status_reason}); no valid "
                    "run has replaced it.",
                    _ref("run", run.pk, str(run)),
                )
            )
    return blockers


def _related_deviations_of(
    lot_ids: list[int], batches: dict[int, list[CultureBatch]]
) -> dict[int, list[Deviation]]:
    """release.deviations.related_deviations of each lot: its own, its genealogy's (culture
    batches, isolation runs) and its vials' storage positions'. Two queries."""
    runs_of: dict[int, set[int]] = {pk: set() for pk in lot_ids}
    for lot_id, run_id in LotSource.objects.filter(lot__in=lot_ids).values_list("lot", "run"):
        runs_of[lot_id].add(run_id)
    lots_of_batch: dict[int, set[int]] = {}
    for lot_id, its_batches in batches.items():
        for b in its_batches:
            lots_of_batch.setdefault(b.pk, set()).add(lot_id)
    lots_of_run: dict[int, set[int]] = {}
    for lot_id, run_ids in runs_of.items():
        for run_id in run_ids:
            lots_of_run.setdefault(run_id, set()).add(lot_id)
    rows = (
        Deviation.objects.filter(
            Q(lot__in=lot_ids)
            | Q(culture_batch__in=list(lots_of_batch))
            | Q(isolation_run__in=list(lots_of_run))
            | Q(storage_location__aliquot__lot__in=lot_ids)
        )
        .annotate(stored_lot=F("storage_location__aliquot__lot"))
        .order_by("created_at", "pk")
    )
    wanted = set(lot_ids)
    out: dict[int, list[Deviation]] = {pk: [] for pk in lot_ids}
    seen: set[tuple[int, int]] = set()
    for d in rows:
        concerned = (
            {d.lot_id, d.stored_lot}
            | (lots_of_batch.get(d.culture_batch_id, set()) if d.culture_batch_id else set())
            | (lots_of_run.get(d.isolation_run_id, set()) if d.isolation_run_id else set())
        ) & wanted
        for lot_id in concerned:
            if (lot_id, d.pk) not in seen:
                seen.add((lot_id, d.pk))
                out[lot_id].append(d)
    return out


def unreviewed_run_blockers(lot: ExosomeLot) -> list[Blocker]:
    """Runs on the lot, its vials or its source culture batches that count (not invalidated)
    but have no second-person review yet (assays.services.run_review). One query."""
    runs = (
        AssayRun.objects.filter(status=AssayRun.Status.RECORDED)
        .filter(
            of_lot(lot, "samples__")
            | any_of(
                "samples__culture_batch_id",
                CultureBatch.objects.filter(harvests__isolations__lots=lot),
            )
        )
        .select_related("assay")
        .distinct()
        .order_by("started_at", "pk")
    )
    return [
        Blocker(
            "run_unreviewed",
            f"Run {run} ({run.assay.name}) has not been reviewed by a second person.",
            _ref("run", run.pk, str(run)),
        )
        for run in runs
    ]


def invalid_run_blockers(lot: ExosomeLot) -> list[Blocker]:
    """Invalid runs of the lot (failed system suitability, or invalidated) whose assay has no
    valid run recorded on the lot since: a retest is owed. One query."""
    runs = list(
        AssayRun.objects.filter(of_lot(lot, "samples__"))
        .select_related("assay")
        .distinct()
        .order_by("started_at", "pk")
    )
    return _retests_owed(runs)


def source_batch_blockers(lot: ExosomeLot) -> list[Blocker]:
    """The genealogy gates the release: every culture batch the lot was made from needs a
    complete, passing evaluation against the source-cell specification (ISCT identity,
    viability, mycoplasma, sterility). Each blocker names the batch and the criterion.

    Three queries whatever the number of batches (deviations are the lot's own blockers)."""
    batches = list(
        CultureBatch.objects.filter(harvests__isolations__lots=lot).distinct().order_by("code")
    )
    by_batch: dict[int | None, list[CriterionEvaluation]] = {b.pk: [] for b in batches}
    for e in (
        CriterionEvaluation.objects.filter(culture_batch__in=list(by_batch))
        .select_related("criterion")
        .order_by("criterion__position", "criterion_id")
    ):
        by_batch[e.culture_batch_id].append(e)
    blockers = []
    for batch in batches:
        inner = _evaluation_blockers(
            by_batch[batch.pk],
            what="batch",
            judged_by=lambda batch=batch: judging_specification(culture_batch=batch),
        )
        for b in inner:
            code = (
                "source_batch_failed" if b.code == "criterion_failed" else "source_batch_incomplete"
            )
            blockers.append(
                Blocker(
                    code,
                    f"Source culture batch {batch.code}: {b.message}",
                    _ref("culture_batch", batch.pk, batch.code),
                )
            )
    return blockers


def culture_batch_blockers(batch: CultureBatch, evaluations=None) -> list[Blocker]:
    """What stops a culture batch's source cells from being accepted: a required source-cell
    criterion that does not pass, or a deviation on the batch that is open (or confirmed an
    OOS). `evaluations`: the batch's stored evaluations with their criteria, if already read."""
    if evaluations is None:
        evaluations = list(
            CriterionEvaluation.objects.filter(culture_batch=batch)
            .select_related("criterion")
            .order_by("criterion__position", "criterion_id")
        )
    blockers = _evaluation_blockers(
        evaluations, what="batch", judged_by=lambda: judging_specification(culture_batch=batch)
    )
    deviations = Deviation.objects.filter(culture_batch=batch).order_by("created_at", "pk")
    return blockers + _deviation_blockers(deviations, confirmed="the batch's cells cannot be used")


# --- Review by exception ---------------------------------------------------------------------


@dataclass
class ReagentFlag:
    reagent: object
    state: str  # "expired" or "expiring"
    used_in: list[str]
    expired_when_used: bool


@dataclass
class Review:
    """Everything on the lot's record that needs QA's judgement before the disposition."""

    lot: ExosomeLot
    checklist: Checklist
    blockers: list[Blocker]
    deviations: list[Deviation]
    open_deviations: list[Deviation]
    invalidated_runs: list[AssayRun]
    retests: list[AssayRun]
    manual_runs: list[AssayRun]
    backdated_runs: list[AssayRun]
    reagents: list[ReagentFlag]
    instruments: list[tuple]
    changes: list
    # Out-of-trend alerts against approved control baselines (assays.qc_selectors.out_of_trend):
    # judged and counted here, never a release blocker.
    trend_alerts: list[TrendAlert] = field(default_factory=list)
    # QA's signed reviews of this lot's audit trail (release.audit_reviews), newest first.
    audit_reviews: list = field(default_factory=list)

    @property
    def audit_reviewed(self) -> bool:
        """Reviewed since its last change after first entry (a later change needs a new one)."""
        if not self.audit_reviews:
            return False
        last_change = max((e.pgh_created_at for e in self.changes), default=None)
        return last_change is None or self.audit_reviews[0].reviewed_at >= last_change

    @property
    def rerun_count(self) -> int:
        return len(self.invalidated_runs) + len(self.retests)

    @property
    def exceptions(self) -> int:
        return sum(
            len(x)
            for x in (
                self.checklist.needing_judgement,
                self.open_deviations,
                self.invalidated_runs,
                self.retests,
                self.manual_runs,
                self.backdated_runs,
                self.reagents,
                self.instruments,
                self.changes,
                self.trend_alerts,
            )
        )


def lot_review(lot: ExosomeLot) -> Review:
    blockers = release_blockers(lot)
    deviations = list(related_deviations(lot))
    checklist = lot_checklist(lot, deviations)
    runs = list(
        AssayRun.objects.filter(pk__in=AssayRun.objects.filter(samples__lot=lot).values("pk"))
        .select_related("assay", "instrument", "operator", "retest_of")
        .order_by("started_at", "pk")
    )
    return Review(
        lot=lot,
        checklist=checklist,
        blockers=blockers,
        deviations=deviations,
        open_deviations=[d for d in deviations if d.status != Deviation.Status.CLOSED],
        invalidated_runs=[r for r in runs if r.status == AssayRun.Status.INVALIDATED],
        retests=[r for r in runs if r.retest_of_id is not None],
        manual_runs=[r for r in runs if r.source == AssayRun.Source.MANUAL],
        backdated_runs=[r for r in runs if r.is_backdated],
        reagents=_reagent_flags(lot, runs),
        instruments=_instrument_flags(runs),
        changes=changes_after_entry(lot, runs),
        trend_alerts=out_of_trend(lot),
        audit_reviews=list(AuditTrailReview.objects.filter(lot=lot).select_related("signature")),
    )


def _reagent_flags(lot, runs) -> list[ReagentFlag]:
    """Reagent lots of the genealogy and of the lot's runs that are expired or expire soon."""
    today = timezone.localdate()
    horizon = today + timedelta(days=REAGENT_WARNING_DAYS)
    genealogy = lot_genealogy(lot)
    used: dict[int, tuple[object, list[str], bool]] = {}
    for reagent in genealogy.reagent_lots:
        used[reagent.pk] = (reagent, ["production (culture or isolation)"], False)
    uses = RunReagentUse.objects.filter(run__in=runs).select_related("reagent_lot", "run__assay")
    for use in uses:
        reagent, where, expired_at_use = used.get(use.reagent_lot_id, (use.reagent_lot, [], False))
        run_day = timezone.localdate(use.run.started_at)
        where.append(f"{use.run.assay.code} run {use.run_id}")
        used[reagent.pk] = (reagent, where, expired_at_use or reagent.expiry_date < run_day)
    flags = []
    for reagent, where, expired_at_use in used.values():
        if reagent.expiry_date < today:
            state = "expired"
        elif reagent.expiry_date <= horizon:
            state = "expiring"
        else:
            continue
        flags.append(ReagentFlag(reagent, state, where, expired_at_use))
    return sorted(flags, key=lambda f: f.reagent.expiry_date)


def _instrument_flags(runs) -> list[tuple]:
    """(instrument, state, runs) for instruments overdue or due for calibration."""
    by_instrument: dict[int, tuple[object, list]] = {}
    for run in runs:
        if run.instrument is not None:
            by_instrument.setdefault(run.instrument_id, (run.instrument, []))[1].append(run)
    flags = []
    for instrument, its_runs in by_instrument.values():
        state = calibration_state(instrument)
        if state in ("overdue", "due_soon"):
            flags.append((instrument, state, its_runs))
    return flags


def changes_after_entry(lot, runs=None) -> list:
    """Audit events that changed the data of the lot, its vials, runs and results after they
    were first entered (EU GMP Annex 11 §8.2, §9); status moves are not data changes."""
    if runs is None:
        runs = list(AssayRun.objects.filter(samples__lot=lot).select_related("assay").distinct())
    results = Result.objects.filter(sample__lot=lot).only("pk", "run_id")
    targets = [
        {str(lot.pk): f"lot {lot}"},
        {str(a.pk): f"vial {a}" for a in Aliquot.objects.filter(lot=lot)},
        {str(r.pk): f"{r}" for r in runs},
        {str(r.pk): f"result {r.pk} of run {r.run_id}" for r in results},
    ]
    models = [ExosomeLot, Aliquot, AssayRun, Result]
    events = []
    for model, labels in zip(models, targets, strict=True):
        if not labels:
            continue
        objs = [model(pk=int(pk)) for pk in labels]
        for event in AuditEvent.objects.tracks(objs).filter(pgh_label="update"):
            changed = set((event.pgh_diff or {}).keys())
            if changed and not changed <= WORKFLOW_FIELDS:
                event.record_label = labels.get(event.pgh_obj_id, event.pgh_obj_id)
                events.append(event)
    return sorted(events, key=lambda e: (e.pgh_created_at, e.pgh_id))


# --- Dashboard -------------------------------------------------------------------------------


# What the board names first on a lot's card (the rest keep release_blockers' order).
BOARD_PRIORITY = {
    code: i
    for i, code in enumerate(
        ("criterion_failed", "source_batch_failed", "oos_confirmed", "oos_open", "deviation_open")
    )
}


def _url_of(name: str) -> Callable[[int], str]:
    """The URL of `name` for an id, reversed once: the board links each of its cards to the
    lot, its review and its certificate, and a reverse() per link was a fifth of a card's
    cost (0.04 of 0.2 ms)."""
    placeholder = 2**62  # a primary key no table reaches
    pattern = reverse(name, args=[placeholder])
    return lambda pk: pattern.replace(str(placeholder), str(pk))


@dataclass
class BoardLot:
    lot: ExosomeLot
    blockers: list[Blocker]
    disposition: Disposition | None = None
    urls: dict[str, str] = field(default_factory=dict)  # the card's links (release_board)

    @property
    def first_blockers(self) -> list[Blocker]:
        """The three the board shows: failures and open investigations before what is merely
        missing, so that a lot with an open OOS says so on its card."""
        last = len(BOARD_PRIORITY)
        return sorted(self.blockers, key=lambda b: BOARD_PRIORITY.get(b.code, last))[:3]

    @property
    def certificate(self):
        return getattr(self.lot, "certificate", None)  # reverse one-to-one: absent raises


@dataclass
class BoardColumn:
    key: str
    title: str
    lots: list[BoardLot]
    total: int


def release_board() -> list[BoardColumn]:
    """Every lot not yet decided, by status (in process, in testing, under review, quarantined),
    with what blocks each one, and the lots decided lately. At most DASHBOARD_CAP lots a column,
    those with a deviation or OOS investigation still open first, so that no such lot is ever
    left out of the board.

    A fixed number of queries however many lots (release_blockers_of reads them together):
    the page and its 5-second poll cost the same with 10 lots or 10,000.
    """
    status = ExosomeLot.Status
    undecided = (
        (status.IN_PROCESS, "In process"),
        (status.IN_TESTING, "In testing"),
        (status.UNDER_REVIEW, "Under review"),
        (status.QUARANTINED, "Quarantined"),
    )
    totals = dict(
        ExosomeLot.objects.filter(status__in=[key for key, _ in undecided], voided_at__isnull=True)
        .values_list("status")
        .annotate(n=Count("pk"))
        .order_by()
    )
    open_deviation = Deviation.objects.filter(lot=OuterRef("pk")).exclude(
        status=Deviation.Status.CLOSED
    )
    shown: dict[str, list[ExosomeLot]] = {}
    for key, _ in undecided:
        shown[key] = list(
            ExosomeLot.objects.filter(status=key, voided_at__isnull=True)
            .alias(has_open_deviation=Exists(open_deviation))
            .order_by("-has_open_deviation", "manufactured_on", "pk")[:DASHBOARD_CAP]
        )
    blockers = release_blockers_of([lot for lots in shown.values() for lot in lots])
    link = {
        "lot": _url_of("batches:exosomelot_detail"),
        "review": _url_of("release:lot_review"),
        "certificate": _url_of("release:certificate"),
    }

    def card(lot: ExosomeLot, its_blockers: list[Blocker], disposition=None) -> BoardLot:
        urls = {name: url(lot.pk) for name, url in link.items()}
        return BoardLot(lot, its_blockers, disposition, urls)

    columns = [
        BoardColumn(
            key,
            title,
            [card(lot, blockers[lot.pk]) for lot in shown[key]],
            totals.get(key, 0),
        )
        for key, title in undecided
    ]
    # The decided columns start from the final dispositions (one per released or rejected lot,
    # the database's constraint), newest first on the (decision, decided_at) index: the 50
    # shown cost the same after ten years, where a Max over each lot's dispositions sorted them
    # all (releases and rejections of the whole history).
    since = timezone.now() - timedelta(days=RECENT_RELEASE_DAYS)
    for key, title, finals in (
        (
            status.RELEASED,
            f"Released (last {RECENT_RELEASE_DAYS} days)",
            Disposition.objects.filter(decided_at__gte=since),
        ),
        (status.REJECTED, "Rejected", Disposition.objects.all()),
    ):
        finals = finals.filter(decision=key, lot__status=key)
        shown_finals = finals.select_related("signature", "lot__certificate").order_by(
            "-decided_at", "-lot_id"
        )[:DASHBOARD_CAP]
        columns.append(
            BoardColumn(
                key,
                title,
                [card(d.lot, [], d) for d in shown_finals],
                finals.count(),
            )
        )
    return columns
