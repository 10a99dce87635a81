"""Lots that reach QA review the way real ones do: runs entered by hand through the services.

`lot_under_review` records one manual run per assay (assays.services.run_record, source
"manual"), giving the lot a passing result for every required criterion of the seeded
drug-substance specification (version 1, assays/default_specifications.py), or one failing
result when asked (`lot_under_review(..., failing="endotoxin")`), then moves the lot to "under
review". Metrics and the evaluation against the specification follow from each run as they do
in production: Celery is eager in the tests and the work queued "on commit" runs at the end of
each recording, inside a test transaction as after a real commit.
"""

from contextlib import nullcontext
from dataclasses import dataclass, field

from django.contrib.sessions.backends.db import SessionStore
from django.db import connection
from django.test import RequestFactory, TestCase

from assays import services as assay_services
from assays.models import AssayRun
from assays.services import ResultInput
from batches import services as batch_services
from batches.models import ExosomeLot
from lims.signatures import reauthenticate
from release.services import MEANING, lot_dispose
from tests import factories
from tests.factories import PASSWORD

# assay code -> [(analyte, value), ...]; a str value is a qualitative call. Three replicates of
# each numeric value, as a technician enters them from the bench sheet, with the run's controls
# its validity criteria read (a mycoplasma qPCR's no-template control, a BCA plate's curve
# statistics; record_manual_run adds those a test leaves out: factories.RUN_CONTROLS).
#   NTA: 5e11 particle/mL (≥ 1e10), 95 % in 50–400 nm (> 90), mode 110 nm (< 200)
#   BCA: 10 µg/mL, so purity = 5e11 / 10 = 5e10 particle/µg (≥ 3e10)
#   Potency: TNF-α inhibition 100·(1 − (550 − 100) / (1000 − 100)) = 50 % (≥ 20),
#            IL-10 fold induction 300 / 150 = 2.0 (≥ 1.5)
PASSING: dict[str, list[tuple[str, float | str]]] = {
    "NTA": [("concentration", 5e11), ("fraction_50_400", 95.0), ("mode_size", 110.0)],
    "BCA": [("protein", 10.0), ("curve_converged", 1.0), ("standards_in_tolerance_pct", 100.0)],
    "EV-MARKERS": [
        ("CD9", "positive"),
        ("CD63", "positive"),
        ("CD81", "positive"),
        ("TSG101", "positive"),
        ("calnexin", "negative"),
    ],
    "TEM": [("morphology", "conforms")],
    "ENDOTOXIN": [("endotoxin", 0.1)],
    "STERILITY": [("sterility", "no growth")],
    "MYCO": [("mycoplasma", "not detected"), ("ntc", "no amplification")],
    "POTENCY-MAC": [
        ("tnf_ev", 550.0),
        ("tnf_lps", 1000.0),
        ("tnf_unstimulated", 100.0),
        ("il10_ev", 300.0),
        ("il10_lps", 150.0),
    ],
}

# One failing required criterion each: name -> (assay, analyte, value, criterion test).
FAILING: dict[str, tuple[str, str, float | str, str]] = {
    "endotoxin": ("ENDOTOXIN", "endotoxin", 2.0, "Endotoxin"),
    "sterility": ("STERILITY", "sterility", "growth", "Sterility"),
    "mode_size": ("NTA", "mode_size", 250.0, "Size: mode"),
    "cd63": ("EV-MARKERS", "CD63", "negative", "EV marker CD63"),
    # 5e11 particle/mL / 30 µg/mL = 1.7e10 particle/µg (< 3e10): a lot-level, derived metric.
    "purity": ("BCA", "protein", 30.0, "Purity (particles per µg protein)"),
}

# The source cells of every culture batch in a lot's genealogy, passing the source-cell
# specification (ISCT: Dominici et al., Cytotherapy 2006;8:315; Ph. Eur. 2.6.7; USP <71>).
SOURCE_CELLS_PASSING: dict[str, list[tuple[str, float | str]]] = {
    "VIABILITY": [("viability", 95.0)],
    "ISCT-FLOW": [(f"{m}_pct", 98.0) for m in ("CD73", "CD90", "CD105")]
    + [(f"{m}_pct", 0.5) for m in ("CD45", "CD34", "CD14", "CD11b", "CD79a", "CD19", "HLA-DR")],
    "MYCO-CB": [("mycoplasma", "not detected"), ("ntc", "no amplification")],
    "STERILITY-CB": [("sterility", "no growth")],
}

REPLICATES = 3


@dataclass
class LotWithResults:
    lot: ExosomeLot
    runs: dict[str, AssayRun] = field(default_factory=dict)

    def refresh(self) -> ExosomeLot:
        self.lot.refresh_from_db()
        return self.lot


def signing_request(user):
    """The request a signing page would hand to the services: a POST by the signed-in user."""
    request = RequestFactory().post("/")
    request.user = user
    request.session = SessionStore()
    return request


def committed():
    """Run the work queued "on commit" (metrics, evaluation) when the block ends: at once in
    autocommit (transactional tests, threads), at the end of the block inside a test
    transaction."""
    if connection.in_atomic_block:
        return TestCase.captureOnCommitCallbacks(execute=True)
    return nullcontext()


def results_for(sample, pairs) -> list[ResultInput]:
    """Results for a lot or culture batch (`sample`: anything with a code)."""
    inputs = []
    for analyte, value in pairs:
        if isinstance(value, str):
            inputs.append(ResultInput(sample=sample.code, analyte=analyte, text_value=value))
        else:
            inputs.extend(
                ResultInput(sample=sample.code, analyte=analyte, value=value, replicate=str(i))
                for i in range(1, REPLICATES + 1)
            )
    return inputs


def record_manual_run(actor, lot, assay_code: str, pairs, **kwargs) -> AssayRun:
    """One run entered by hand by `actor` on a lot or culture batch, with the reagent lots its
    assay requires; its metrics and the evaluation follow."""
    kwargs.setdefault("reagent_lots", factories.reagents_for(assay_code, actor=actor))
    # A run as the bench records it: the result with the run's controls, without which it fails
    # system suitability (a LAL run's positive product control, USP <85>; a qPCR run's
    # no-template control, MIQE; a standard curve's statistics), unless the test gives them.
    given = {a for a, _ in pairs}
    pairs = [
        *pairs,
        *((a, v) for a, v in factories.RUN_CONTROLS.get(assay_code, []) if a not in given),
    ]
    started, ended = factories.run_times(assay_code, hours_ago=0)
    kwargs.setdefault("started_at", started)
    if ended is not None:
        kwargs.setdefault("ended_at", ended)
    with committed():
        return assay_services.run_record(
            assay_code=assay_code,
            results=results_for(lot, pairs),
            source=AssayRun.Source.MANUAL,
            actor=actor,
            **kwargs,
        )


def record_passing_results(actor, lot: ExosomeLot, *, failing: str | None = None):
    """A manual run per assay; every required criterion passes except `failing` (FAILING)."""
    plan = {code: list(pairs) for code, pairs in PASSING.items()}
    if failing is not None:
        assay, analyte, value, _ = FAILING[failing]
        plan[assay] = [(a, value if a == analyte else v) for a, v in plan[assay]]
    return {code: record_manual_run(actor, lot, code, pairs) for code, pairs in plan.items()}


def record_passing_source_cells(actor, lot: ExosomeLot) -> dict[str, AssayRun]:
    """Passing source-cell results for every culture batch the lot was made from that has no
    evaluation yet (release is gated on them: release.selectors.source_batch_blockers)."""
    from batches.models import CultureBatch
    from release.models import CriterionEvaluation

    runs = {}
    batches = CultureBatch.objects.filter(harvests__isolations__lots=lot).distinct()
    for batch in batches:
        if (
            CriterionEvaluation.objects.filter(culture_batch=batch)
            .exclude(status="pending")
            .exists()
        ):
            continue
        for code, pairs in SOURCE_CELLS_PASSING.items():
            runs[f"{batch.code}:{code}"] = record_manual_run(actor, batch, code, pairs)
    return runs


def second_reviewer():
    """An analyst who reviews the runs others performed (the same one on every call)."""
    from lims.models import User

    return User.objects.filter(username="rita.reviewer").first() or factories.UserFactory(
        role="analyst", username="rita.reviewer", first_name="Rita", last_name="Reviewer"
    )


def review_runs(runs, reviewer=None):
    """The second-person review of each run, e-signed (meaning: review), as the run page does
    it; the evaluation follows once committed."""
    reviewer = reviewer or second_reviewer()
    signer = signer_for(reviewer, "review")  # one re-authentication for the batch of reviews
    for run in runs:
        with committed():
            assay_services.run_review(signer=signer, run=run)


def lot_under_review(
    technician,
    *,
    failing: str | None = None,
    lot: ExosomeLot | None = None,
    status="under_review",
    reviewed: bool = True,
    leave_unreviewed: tuple[str, ...] = (),
) -> LotWithResults:
    """A lot recorded by `technician`, put in testing, given its results (and its source
    cells') by the same technician, the runs reviewed by a second person (unless `reviewed` is
    False; the assays in `leave_unreviewed` are left for the test to review), and moved to
    `status` (under review by default)."""
    lot = lot or factories.lot(technician)
    with committed():  # release fixes the judging specification once the move commits
        batch_services.lot_set_status(
            actor=technician, lot=lot, to="in_testing", reason="QC samples"
        )
    runs = record_passing_results(technician, lot, failing=failing)
    source_runs = record_passing_source_cells(technician, lot)
    if reviewed:
        keep = [runs[code] for code in leave_unreviewed]
        review_runs([r for r in [*runs.values(), *source_runs.values()] if r not in keep])
        for run in runs.values():
            run.refresh_from_db()
    lot.refresh_from_db()
    # A lot whose every run is reviewed is moved there by itself (release.lot_progress).
    if status == "under_review" and lot.status != "under_review":
        batch_services.lot_set_status(
            actor=technician, lot=lot, to="under_review", reason="All results in"
        )
    lot.refresh_from_db()
    return LotWithResults(lot=lot, runs=runs)


def signer_for(user, meaning, *, password=PASSWORD, username=None):
    """`user` re-authenticated for a signature of `meaning`, as the signing pages do it."""
    return reauthenticate(
        request=signing_request(user),
        username=user.username if username is None else username,
        password=password,
        meaning=meaning,
    )


def dispose(user, lot, decision="released", *, password=PASSWORD, username=None, **kwargs):
    """QA's signed decision through release.services.lot_dispose, as the signing page calls it:
    re-authentication first, then the service with the verified signer."""
    signer = signer_for(user, MEANING[decision], password=password, username=username)
    return lot_dispose(signer=signer, lot=lot, decision=decision, **kwargs)


def withdraw_installed_draft(actor, product="msc_sev_ds"):
    """Withdraw the draft the installation seeds (version 2 of the drug-substance
    specification, MISEV2023), as QA does before drafting a version of its own."""
    from release.models import Specification
    from release.specifications import specification_withdraw

    for draft in Specification.objects.filter(product=product, status="draft", voided_at=None):
        specification_withdraw(actor=actor, specification=draft, reason="Not adopted here")


def draft_specification(actor, *, version=None, limits: dict | None = None):
    """A draft of the drug-substance specification: a copy of the effective version's criteria,
    with `limits` ({metric code: {field: value}}) changed, as QA drafts a new version (the
    installed MISEV2023 draft withdrawn first)."""
    from django.db.models import Max

    from lims.audit import audit_context
    from release.models import Criterion, Specification
    from release.specifications import effective_specification

    withdraw_installed_draft(actor)
    current = effective_specification(Specification.Product.DRUG_SUBSTANCE)
    if version is None:
        versions = Specification.objects.filter(product=current.product)
        version = versions.aggregate(v=Max("version"))["v"] + 1
    limits = limits or {}
    with audit_context(actor=actor, reason="New specification version drafted"):
        draft = Specification.objects.create(
            product=current.product,
            version=version,
            title=f"{current.title}, version {version}",
            created_by=actor,
        )
        for criterion in current.criteria.order_by("position", "pk"):
            criterion.pk = None
            criterion.specification = draft
            criterion.created_by = actor
            for name, value in limits.get(criterion.metric_code, {}).items():
                setattr(criterion, name, value)
            criterion.save()
    assert Criterion.objects.filter(specification=draft).count() == current.criteria.count()
    return draft
