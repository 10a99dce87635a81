"""Training gates the steps QA declared it for (lims.training; 21 CFR 211.25(a), 11.10(i)):
a run performed, a result entered, a review or a disposition signed by someone not qualified
is refused with the reason, next to the field; a new SOP version lapses earlier training after
its grace period; training records are QA's, signed and append-only."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import DatabaseError, transaction
from django.utils import timezone

from assays import services as assay_services
from assays.services import ResultInput
from lims import training
from lims.models import Signature, Step, TrainingRecord
from lims.roles import RoleRefused
from lims.signatures import signatures_of
from lims.training import NotQualified, is_qualified, require_qualified, training_matrix
from release.services import lot_dispose
from tests import factories
from tests.release.helpers import signer_for

pytestmark = pytest.mark.django_db


def nta_run(actor, lot, *, hours_ago=1.0):
    return assay_services.run_record(
        actor=actor,
        assay_code="NTA",
        source="manual",
        started_at=timezone.now() - timedelta(hours=hours_ago),
        results=[ResultInput(sample=lot.code, analyte="mean_size", value=120, unit="nm")],
    )


@pytest.fixture
def lot(technician):
    return factories.lot(technician)


def test_without_a_requirement_nobody_is_refused(technician, lot):
    assert is_qualified(technician, "NTA", Step.PERFORM)
    nta_run(technician, lot)


def test_run_by_an_untrained_technician_is_refused_next_to_the_assay(technician, lot):
    factories.training_required("NTA")
    with pytest.raises(NotQualified) as refused:
        nta_run(technician, lot)
    message = refused.value.message_dict["assay"][0]
    assert "not qualified to perform NTA" in message
    assert "Not trained on SOP-NTA." in message
    factories.qualify(technician, "NTA")
    assert nta_run(technician, lot).operator == technician


def test_a_new_sop_version_lapses_training_after_its_grace_period(technician, qa_user, lot):
    factories.training_required("NTA", sop_code="SOP-QC-001")
    factories.qualify(technician, "NTA", trained_days_ago=100)
    today = timezone.localdate()
    training.sop_issue(
        actor=qa_user,
        code="SOP-QC-001",
        title="NTA v2",
        effective_on=today - timedelta(days=5),
        grace_days=30,
    )
    nta_run(technician, lot)  # day 5 of 30: the v1 training still counts, up to day 29
    assert is_qualified(technician, "NTA", Step.PERFORM, timezone.now() + timedelta(days=24))
    assert not is_qualified(technician, "NTA", Step.PERFORM, timezone.now() + timedelta(days=25))


def test_entering_needs_training_now_even_when_the_run_was_performed_while_trained(technician, lot):
    """Performed three days ago under a training that expired yesterday: the person was
    qualified to perform, but is not to enter its results today."""
    factories.training_required("NTA")
    factories.qualify(technician, "NTA", trained_days_ago=300, valid_days=299)
    with pytest.raises(NotQualified) as refused:
        assay_services.run_record(
            actor=technician,
            assay_code="NTA",
            source="manual",
            started_at=timezone.now() - timedelta(days=3),
            backdate_reason="Instrument PC was down",
            results=[ResultInput(sample=lot.code, analyte="mean_size", value=120, unit="nm")],
        )
    assert "not qualified to enter results of NTA" in refused.value.message_dict["assay"][0]
    assert "expired on" in refused.value.message_dict["assay"][0]


def test_review_by_an_analyst_not_qualified_is_refused(technician, analyst, lot):
    factories.training_required("NTA", Step.PERFORM, Step.ENTER)
    factories.training_required("NTA", Step.REVIEW, sop_code="SOP-QC-REVIEW")
    factories.qualify(technician, "NTA")  # trained on both SOPs the NTA steps require
    run = nta_run(technician, lot)
    with pytest.raises(NotQualified) as refused:
        assay_services.run_review(signer=signer_for(analyst, "review"), run=run)
    assert "not qualified to review NTA" in refused.value.message_dict["username"][0]
    assert not Signature.objects.filter(signer=analyst).exists()
    factories.qualify(analyst, "NTA")
    assert assay_services.run_review(signer=signer_for(analyst, "review"), run=run).status == (
        "reviewed"
    )


def test_disposition_by_qa_not_trained_on_release_is_refused(technician, make_user, lot):
    factories.training_required("release", Step.SIGN, sop_code="SOP-QA-RELEASE")
    qa = make_user("qa", username="quentin")
    with pytest.raises(NotQualified) as refused:
        lot_dispose(
            signer=signer_for(qa, "responsibility"),
            lot=lot,
            decision="quarantined",
            reason="Suspected mix-up",
        )
    assert "not qualified to sign this disposition" in refused.value.message_dict["decision"][0]
    lot.refresh_from_db()
    assert lot.status == "in_process"


def test_training_is_recorded_by_qa_with_a_signature(technician, analyst, qa_user):
    sop = factories.training_required("NTA")
    signer = signer_for(qa_user, "approval")
    today = timezone.localdate()
    record = training.training_record(
        signer=signer,
        trainee=technician,
        sop=sop,
        trained_on=today,
        trainer=analyst,
        expires_on=today + timedelta(days=365),
    )
    (signature,) = signatures_of(record)
    assert signature.content["trainee"] == technician.username
    assert is_qualified(technician, "NTA", Step.PERFORM)
    with pytest.raises(DatabaseError), transaction.atomic():
        TrainingRecord.objects.filter(pk=record.pk).update(expires_on=today + timedelta(days=900))
    with pytest.raises(DatabaseError), transaction.atomic():
        TrainingRecord.objects.filter(pk=record.pk).delete()
    training.training_void(actor=qa_user, record=record, reason="Wrong trainee")
    assert not is_qualified(technician, "NTA", Step.PERFORM)


@pytest.mark.parametrize("role", ["technician", "analyst", "admin"])
def test_only_qa_records_training(make_user, technician, role):
    sop = factories.training_required("NTA")
    other = make_user(role, username=f"not-qa-{role}")
    today = timezone.localdate()
    with pytest.raises(RoleRefused):
        training.training_record(
            signer=signer_for(other, "approval"),
            trainee=technician,
            sop=sop,
            trained_on=today,
            trainer=factories.training_qa(),
            expires_on=today + timedelta(days=1),
        )
    with pytest.raises(RoleRefused):
        training.sop_issue(actor=other, code="SOP-Z", title="Z", effective_on=today)


def test_training_refuses_self_training_future_dates_and_expiry_before_it(technician, qa_user):
    sop = factories.training_required("NTA")
    today = timezone.localdate()
    with pytest.raises(ValidationError) as refused:
        training.training_record(
            signer=signer_for(qa_user, "approval"),
            trainee=technician,
            sop=sop,
            trained_on=today + timedelta(days=1),
            trainer=technician,
            expires_on=today,
        )
    assert set(refused.value.message_dict) == {"trained_on", "trainer", "expires_on"}


def test_a_new_sop_version_takes_effect_after_the_last(qa_user):
    today = timezone.localdate()
    training.sop_issue(actor=qa_user, code="SOP-A", title="A", effective_on=today)
    with pytest.raises(ValidationError) as refused:
        training.sop_issue(actor=qa_user, code="SOP-A", title="A", effective_on=today)
    assert "effective_on" in refused.value.message_dict


def test_require_qualified_passes_the_system_account(db):
    from lims.models import system_user

    factories.training_required("NTA")
    require_qualified(system_user(), "NTA", Step.PERFORM)


def test_matrix_shows_lapsed_and_expiring_in_constant_queries(
    technician, analyst, qa_user, make_user, django_assert_max_num_queries
):
    factories.training_required("NTA")
    factories.training_required("BCA")
    factories.qualify(technician, "NTA", trained_days_ago=350)  # ends in 15 days
    factories.qualify(analyst, "BCA", trained_days_ago=400)  # ended 35 days ago
    for n in range(5):
        factories.qualify(make_user("technician", username=f"t{n}"), "NTA")
    with django_assert_max_num_queries(4):
        subjects, rows = training_matrix()
    assert subjects == ["BCA", "NTA"]
    by_user = {row.user.username: row.cells for row in rows}
    assert by_user[technician.username][1].state == "expiring"
    assert by_user[analyst.username][0].state == "lapsed"
    assert by_user[qa_user.username][0].state == "untrained"
