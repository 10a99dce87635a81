"""The rules of release (DOMAIN.md §6, issue 5 §3, §4, §7, §8).

A lot is released only when every required criterion passes and no deviation is open; a
failing required criterion opens its OOS investigation by itself, once; the outcome of the
investigation decides what may follow; a released lot takes no new results and no changes; a
lot is judged against the specification version fixed for it; the certificate is stored once.
"""

import hashlib
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from assays import metrics, tasks
from assays.models import AssayRun, QCMetric
from assays.services import ResultInput, run_record
from batches import services as batch_services
from batches.models import ExosomeLot
from lims.signatures import is_valid
from release import tasks as release_tasks
from release.certificate import certificate_bytes, issue_certificate
from release.deviations import (
    capa_add,
    capa_done,
    deviation_close,
    deviation_investigate,
    deviation_open,
)
from release.models import (
    CertificateOfAnalysis,
    CriterionEvaluation,
    Deviation,
    Disposition,
    LotSpecification,
    Specification,
)
from release.selectors import release_blockers, release_content
from release.specifications import evaluate, specification_approve, specification_make_effective
from tests import factories
from tests.release.helpers import (
    PASSING,
    committed,
    dispose,
    draft_specification,
    lot_under_review,
    record_manual_run,
    record_passing_results,
    review_runs,
    signer_for,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def investigator(make_user):
    return make_user("qa", first_name="Ines", last_name="Investigator")


def evaluation(lot, metric_code) -> CriterionEvaluation:
    return CriterionEvaluation.objects.select_related("criterion", "metric").get(
        lot=lot, criterion__metric_code=metric_code
    )


def investigate_and_close(qa, deviation, outcome, *, capa=False) -> Deviation:
    """QA investigates, completes any CAPA action and closes with an e-signature."""
    deviation_investigate(
        actor=qa,
        deviation=deviation,
        root_cause="Pipetting error in the dilution series (lab notebook p. 42).",
        impact_assessment="Laboratory error only; no effect on the product.",
    )
    if capa:
        action = capa_add(
            actor=qa,
            deviation=deviation,
            description="Retrain the analyst on the dilution SOP",
            owner="QC lead",
            due_on=timezone.localdate() + timedelta(days=14),
        )
        with pytest.raises(ValidationError, match="CAPA"):
            deviation_close(signer=signer_for(qa, "approval"), deviation=deviation, outcome=outcome)
        capa_done(actor=qa, action=action, done_on=timezone.localdate())
    signer = signer_for(qa, "approval")
    with committed():  # the invalidated runs' lots are evaluated again once the close commits
        closed = deviation_close(
            signer=signer, deviation=deviation, outcome=outcome, comment="Investigation complete"
        )
    closed.refresh_from_db()
    assert closed.status == "closed" and closed.outcome == outcome
    assert closed.closure_signature.signer == qa
    assert closed.closure_signature.meaning == "approval"
    return closed


def refused_release(approver, lot) -> list[str]:
    with pytest.raises(ValidationError) as refused:
        dispose(approver, lot)
    lot.refresh_from_db()
    assert lot.status == "under_review"
    assert not Disposition.objects.filter(lot=lot).exists()
    return refused.value.messages


# --- Deviations block release ------------------------------------------------------------------


def test_release_is_refused_while_a_hand_opened_deviation_is_open(
    technician, passing, qa_approver, investigator
):
    lot = passing.lot
    deviation = deviation_open(
        actor=technician,
        kind=Deviation.Kind.PROCESS,
        title="TFF flow rate above range for 6 min",
        description="Flow rate reached 65 mL/min (range 40–60) during diafiltration.",
        isolation_run=lot.isolation_runs.get(),
    )
    assert deviation.status == "open"

    messages = refused_release(qa_approver, lot)

    blocker = f"Deviation {deviation.code} (TFF flow rate above range for 6 min) is open."
    assert blocker in messages and "The lot cannot be released:" in messages
    assert [str(b) for b in release_blockers(lot)] == [blocker]

    deviation_investigate(actor=investigator, deviation=deviation, root_cause="Pump drift")
    assert any("is under investigation" in m for m in refused_release(qa_approver, lot))

    deviation.refresh_from_db()
    investigate_and_close(investigator, deviation, "no_product_impact", capa=True)
    assert release_blockers(lot) == []
    dispose(qa_approver, lot)
    lot.refresh_from_db()
    assert lot.status == "released"


# --- A failing required criterion: OOS, once ---------------------------------------------------


def test_a_failing_required_criterion_opens_one_oos_investigation_and_blocks_release(
    technician, qa_approver
):
    lot = lot_under_review(technician, failing="endotoxin").lot

    endotoxin = evaluation(lot, "endotoxin.eu_per_ml")
    assert (endotoxin.status, endotoxin.value) == ("fail", pytest.approx(2.0))
    (oos,) = Deviation.objects.filter(lot=lot)
    assert (oos.kind, oos.status) == ("oos", "open")
    assert oos.criterion == endotoxin.criterion and oos.metric == endotoxin.metric
    assert oos.created_by.username == "system"
    assert "Endotoxin" in oos.title and "2.0 EU/mL" in oos.description

    # Evaluated again, by every path that does it: still one investigation.
    run = endotoxin.metric.run
    tasks.compute_run_metrics(run.pk)
    release_tasks.evaluate_lot(lot.pk)
    evaluate(lot=lot)
    release_blockers(lot)
    assert Deviation.objects.filter(lot=lot).count() == 1

    messages = refused_release(qa_approver, lot)
    assert "Endotoxin (< 0.5 EU/mL) fails (OOS)." in messages
    assert f"OOS investigation {oos.code} ({oos.title}) is open." in messages


@pytest.mark.parametrize("failing", ["sterility", "mode_size", "cd63"])
def test_other_failing_criteria_block_release_too(failing, technician, qa_approver):
    from tests.release.helpers import FAILING

    lot = lot_under_review(technician, failing=failing).lot
    test_name = FAILING[failing][3]

    messages = refused_release(qa_approver, lot)
    assert any(m.startswith(test_name) and m.endswith("fails (OOS).") for m in messages)
    assert Deviation.objects.filter(lot=lot, kind="oos", criterion__test=test_name).count() == 1


def test_result_invalidated_sends_the_criterion_back_to_pending_until_a_retest(
    technician, investigator, qa_approver
):
    tested = lot_under_review(technician, failing="endotoxin")
    lot = tested.lot
    oos = Deviation.objects.get(lot=lot, kind="oos")
    failed_run = tested.runs["ENDOTOXIN"]

    investigate_and_close(investigator, oos, "result_invalidated")

    failed_run.refresh_from_db()
    assert failed_run.status == "invalidated"
    assert oos.code in failed_run.status_reason and "retest required" in failed_run.status_reason
    assert evaluation(lot, "endotoxin.eu_per_ml").status == "pending"
    assert [str(b) for b in release_blockers(lot)] == [
        "Endotoxin (< 0.5 EU/mL) has no result yet.",
        f"Run {failed_run} (Bacterial endotoxins) is invalid ({failed_run.status_reason}); no "
        "valid run has replaced it.",
    ]
    refused_release(qa_approver, lot)

    retest = record_manual_run(
        technician, lot, "ENDOTOXIN", [("endotoxin", 0.12)], retest_of=failed_run
    )
    review_runs([retest])

    endotoxin = evaluation(lot, "endotoxin.eu_per_ml")
    assert endotoxin.status == "pass" and endotoxin.metric.run == retest
    assert Deviation.objects.filter(lot=lot).count() == 1
    assert release_blockers(lot) == []
    dispose(qa_approver, lot)
    lot.refresh_from_db()
    assert lot.status == "released"


def test_result_invalidated_on_a_derived_metric_invalidates_the_runs_it_rests_on(
    technician, investigator, qa_approver
):
    """Purity is computed for the lot from the NTA and BCA results, not by one run."""
    tested = lot_under_review(technician, failing="purity")
    lot = tested.lot
    oos = Deviation.objects.get(lot=lot, kind="oos")
    assert oos.criterion.metric_code == "purity.particles_per_ug" and oos.metric.run is None

    investigate_and_close(investigator, oos, "result_invalidated")

    for code in ("BCA", "NTA"):
        tested.runs[code].refresh_from_db()
        assert tested.runs[code].status == "invalidated", code
    assert evaluation(lot, "purity.particles_per_ug").status == "pending"
    refused_release(qa_approver, lot)

    review_runs(
        [
            record_manual_run(
                technician, lot, "BCA", [("protein", 10.0)], retest_of=tested.runs["BCA"]
            ),
            record_manual_run(technician, lot, "NTA", PASSING["NTA"], retest_of=tested.runs["NTA"]),
        ]
    )
    purity = evaluation(lot, "purity.particles_per_ug")
    assert purity.status == "pass" and purity.value == pytest.approx(5e10)
    assert release_blockers(lot) == []


def test_metrics_derived_from_an_invalidated_run_leave_the_evaluation(
    technician, investigator, qa_approver
):
    """An NTA result invalidated by an investigation takes the purity computed from it along:
    no criterion may keep resting on an invalidated result."""
    tested = lot_under_review(technician, failing="mode_size")
    lot = tested.lot
    assert evaluation(lot, "purity.particles_per_ug").status == "pass"
    oos = Deviation.objects.get(lot=lot, kind="oos")

    investigate_and_close(investigator, oos, "result_invalidated")

    for code in ("nta.concentration", "nta.mode_size", "purity.particles_per_ug"):
        assert evaluation(lot, code).status == "pending", code
    assert "purity.particles_per_ug" not in metrics.current_metrics(lot=lot)

    review_runs(
        [record_manual_run(technician, lot, "NTA", PASSING["NTA"], retest_of=tested.runs["NTA"])]
    )
    assert evaluation(lot, "purity.particles_per_ug").status == "pass"
    assert release_blockers(lot) == []


def test_oos_confirmed_leaves_the_lot_rejectable_only(technician, investigator, qa_approver):
    lot = lot_under_review(technician, failing="endotoxin").lot
    oos = Deviation.objects.get(lot=lot, kind="oos")

    investigate_and_close(investigator, oos, "oos_confirmed")

    blocker = f"OOS confirmed by {oos.code}: the lot can only be rejected."
    assert blocker in [str(b) for b in release_blockers(lot)]
    assert blocker in refused_release(qa_approver, lot)

    disposition = dispose(qa_approver, lot, "rejected", reason=f"OOS confirmed ({oos.code})")

    lot.refresh_from_db()
    assert lot.status == "rejected" and disposition.decision == "rejected"
    assert disposition.signature.meaning == "rejection"
    assert not CertificateOfAnalysis.objects.filter(lot=lot).exists()


# --- A released lot is locked ------------------------------------------------------------------


@pytest.fixture
def released(passing, qa_approver, technician):
    lot = passing.lot
    (vial,) = batch_services.aliquots_create(
        actor=technician, lot=lot, volume_ul=100, locations=[None]
    )
    disposition = dispose(qa_approver, lot)
    lot.refresh_from_db()
    assert lot.status == "released"
    return lot, vial, disposition


def test_a_released_lot_takes_no_new_results(released, technician):
    lot, vial, _ = released
    runs_before = AssayRun.objects.count()
    for sample in (lot.code, vial.barcode):
        with pytest.raises(ValidationError) as refused:
            run_record(
                assay_code="MYCO",
                reagent_lots=factories.reagents_for("MYCO"),
                results=[
                    ResultInput(sample=sample, analyte="mycoplasma", text_value="detected"),
                    ResultInput(sample=sample, analyte="ntc", text_value="no amplification"),
                ],
                source="manual",
                started_at=timezone.now(),
                actor=technician,
            )
        assert refused.value.message_dict == {
            "sample": [f"Lot {lot.code} is released: it takes no new results."]
        }
    assert AssayRun.objects.count() == runs_before


def test_a_released_lot_takes_no_new_vials(released, technician):
    lot, _, _ = released
    with pytest.raises(ValidationError, match=f"Lot {lot.code} is released and locked"):
        batch_services.aliquots_create(actor=technician, lot=lot, volume_ul=100, locations=[None])
    assert lot.aliquots.count() == 1


def test_a_released_lot_refuses_record_changes_with_a_message(released, technician):
    lot, _, _ = released
    with pytest.raises(ValidationError, match="locked"):
        batch_services.record_update(
            lot, actor=technician, changes={"notes": "Relabelled"}, reason="Typo"
        )


def test_a_released_lot_refuses_changes_at_the_database(released, technician):
    lot, _, disposition = released
    writes = {
        "record_update": lambda: batch_services.record_update(
            lot, actor=technician, changes={"notes": "Relabelled"}, reason="Typo"
        ),
        "record_void": lambda: batch_services.record_void(lot, actor=technician, reason="Oops"),
        "queryset.update": lambda: ExosomeLot.objects.filter(pk=lot.pk).update(volume_ml=50),
        "raw SQL": lambda: connection.cursor().execute(
            "UPDATE batches_exosomelot SET notes = 'raw' WHERE id = %s", [lot.pk]
        ),
        "status back": lambda: ExosomeLot.objects.filter(pk=lot.pk).update(status="in_testing"),
    }
    for name, write in writes.items():
        with pytest.raises((DatabaseError, ValidationError)), transaction.atomic():
            write()
            pytest.fail(f"{name} changed a released lot")
    stored = ExosomeLot.objects.get(pk=lot.pk)
    assert (stored.status, stored.notes, stored.voided_at) == ("released", "", None)

    # Nothing re-evaluates a locked lot: what QA signed stays what the records say.
    release_tasks.evaluate_lot(lot.pk)
    assert release_blockers(stored)  # "only a lot under review can be released"
    assert is_valid(disposition.signature, release_content(stored, "released"))


def test_the_lot_status_changes_only_through_the_transition_function(technician):
    from tests import factories

    lot = factories.lot(technician)
    for illegal in ("released", "under_review"):
        with pytest.raises(DatabaseError), transaction.atomic():
            ExosomeLot.objects.filter(pk=lot.pk).update(status=illegal)
    with pytest.raises(ValidationError, match="cannot go from 'In process' to 'under_review'"):
        batch_services.lot_set_status(actor=technician, lot=lot, to="under_review", reason="Skip")
    with pytest.raises(ValidationError, match="only by a signed QA disposition"):
        batch_services.lot_set_status(actor=technician, lot=lot, to="released", reason="Skip")
    lot.refresh_from_db()
    assert lot.status == "in_process"


def test_a_lot_cannot_be_released_at_the_database_without_a_disposition(passing):
    lot = passing.lot
    with pytest.raises(DatabaseError), transaction.atomic():
        ExosomeLot.objects.filter(pk=lot.pk).update(status="released")


# --- The specification version a lot is judged against -----------------------------------------


def _new_effective_version(qa, *, endotoxin_upper=0.25) -> Specification:
    draft = draft_specification(qa, limits={"endotoxin.eu_per_ml": {"upper": endotoxin_upper}})
    approved = specification_approve(signer=signer_for(qa, "approval"), specification=draft)
    return specification_make_effective(actor=qa, specification=approved)


def test_a_lot_is_judged_by_the_version_in_force_when_it_entered_testing(
    technician, make_user, qa_approver
):
    spec_qa = make_user("qa", first_name="Spec", last_name="Writer")
    v1 = Specification.objects.get(product="msc_sev_ds", status="effective")
    assert v1.version == 1
    # Endotoxin 0.3 EU/mL: within v1 (< 0.5), outside v2 (< 0.25).
    old = lot_under_review(technician).lot
    review_runs([record_manual_run(technician, old, "ENDOTOXIN", [("endotoxin", 0.3)])])
    assert evaluation(old, "endotoxin.eu_per_ml").status == "pass"

    v2 = _new_effective_version(spec_qa)

    v1.refresh_from_db()
    assert (v1.status, v2.status) == ("superseded", "effective")
    assert v2.version == 3  # version 2 is the installed MISEV2023 draft, withdrawn
    assert v2.approval_signature.signer == spec_qa
    assert LotSpecification.objects.get(lot=old).specification == v1
    evaluate(lot=old)
    assert evaluation(old, "endotoxin.eu_per_ml").criterion.specification == v1
    disposition = dispose(qa_approver, old)
    assert disposition.specification == v1

    new = lot_under_review(technician).lot
    record_manual_run(technician, new, "ENDOTOXIN", [("endotoxin", 0.3)])
    assert LotSpecification.objects.get(lot=new).specification == v2
    endotoxin = evaluation(new, "endotoxin.eu_per_ml")
    assert endotoxin.criterion.specification == v2 and endotoxin.status == "fail"
    assert "Endotoxin (< 0.25 EU/mL) fails (OOS)." in refused_release(qa_approver, new)


def test_a_lot_in_testing_before_a_new_version_keeps_the_old_one(technician, make_user):
    from tests import factories

    lot = factories.lot(technician)
    with committed():  # release fixes the version once the move to testing commits
        batch_services.lot_set_status(actor=technician, lot=lot, to="in_testing", reason="Sampled")
    _new_effective_version(make_user("qa"))

    record_passing_results(technician, lot)

    assert LotSpecification.objects.get(lot=lot).specification.version == 1


# --- The certificate of analysis ---------------------------------------------------------------


def test_the_certificate_is_stored_once_and_reprints_the_same_bytes(released, settings):
    lot, _, disposition = released
    certificate = CertificateOfAnalysis.objects.get(lot=lot)
    assert certificate.disposition == disposition

    first = certificate_bytes(certificate)
    assert first.startswith(b"%PDF")
    assert all(certificate_bytes(certificate) == first for _ in range(3))
    digest = hashlib.sha256(first).hexdigest()
    assert digest == certificate.sha256 and len(first) == certificate.size
    stored = Path(settings.MEDIA_ROOT) / certificate.storage_name
    assert stored.read_bytes() == first and digest in stored.name

    # Issuing again (a retried task, a second click) returns the certificate already issued.
    again = issue_certificate(disposition)
    assert again.pk == certificate.pk and again.sha256 == certificate.sha256
    assert CertificateOfAnalysis.objects.filter(lot=lot).count() == 1
    assert list(stored.parent.iterdir()) == [stored]
    assert certificate_bytes(again) == first

    # The record cannot be pointed at other bytes, and altered bytes are not served.
    with pytest.raises(DatabaseError), transaction.atomic():
        CertificateOfAnalysis.objects.filter(pk=certificate.pk).update(sha256="0" * 64)
    stored.write_bytes(first + b"%tampered")
    with pytest.raises(RuntimeError, match="no longer matches"):
        certificate_bytes(certificate)


def test_metrics_of_the_lot_are_recorded_with_their_inputs(passing):
    """What the certificate rests on is traceable: every criterion points to its metric and the
    metric to the results it was computed from."""
    for e in CriterionEvaluation.objects.filter(lot=passing.lot, criterion__required=True):
        assert e.status == "pass" and e.metric is not None
        assert e.metric.input_results, e.criterion.test
    purity = QCMetric.objects.get(lot=passing.lot, code="purity.particles_per_ug")
    assert purity.value == pytest.approx(5e10)
