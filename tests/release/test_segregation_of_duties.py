"""Segregation of duties (21 CFR 211.192, EU GMP Annex 11 §15): only QA signs a disposition,
never an administrator, never anyone who recorded, performed or reviewed a record or result of
the lot; the analyst who reviews a run is not the one who performed it.

Each row of the matrix is a person and what they did; the person is refused by
disposition_refusals and by lot_dispose with the reason in the message, or allowed.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.utils import timezone

from assays.services import run_review
from batches import services as batch_services
from lims.models import Signature, User
from lims.signatures import SignatureRefused
from release.models import Disposition
from release.services import DispositionConflict, disposition_refusals
from tests import factories
from tests.release.helpers import (
    dispose,
    lot_under_review,
    record_manual_run,
    review_runs,
    signer_for,
)

pytestmark = pytest.mark.django_db

INVOLVED = "recorded, performed or reviewed"
NOT_QA = "Only QA can sign"
ADMIN = "Administrators cannot sign"


def _with_roles(user, *roles):
    user.groups.add(*Group.objects.filter(name__in=roles))
    return User.objects.get(pk=user.pk)  # a fresh instance: roles are cached per instance


@pytest.fixture
def lot_and_people(technician, make_user):
    """A lot under review, and around it everyone who touched it, each also in the QA group
    where that matters (so that involvement, not the role, is what refuses them)."""
    isolation_operator = make_user("qa", first_name="Iso", last_name="Operator")
    batch_harvest = factories.harvest(technician)
    start = timezone.now() - timedelta(hours=1)
    isolation = batch_services.isolation_run_create(
        actor=technician,
        method="tff_sec",
        harvests=[batch_harvest],
        input_volume_ml=Decimal("250"),
        output_volume_ml=Decimal("5"),
        operator=isolation_operator,
        equipment="TFF-01",
        started_at=start,
        ended_at=start + timedelta(minutes=50),
    )
    tested = lot_under_review(
        technician, lot=factories.lot(technician, runs=[isolation]), leave_unreviewed=("ENDOTOXIN",)
    )
    lot = tested.lot

    performer = make_user("analyst", first_name="Perry", last_name="Former")
    performed = record_manual_run(performer, lot, "EV-MARKERS", [("ALIX", "positive")])

    reviewer = make_user("analyst", first_name="Rae", last_name="Viewer")
    run_review(signer=signer_for(reviewer, "review"), run=tested.runs["ENDOTOXIN"])

    # QA people who also work at the bench (their second role lets the services take their
    # entries; a QA-only account is refused by the services themselves).
    qa_enterer = _with_roles(make_user("analyst", first_name="Quentin", last_name="Enterer"), "qa")
    entered = record_manual_run(
        qa_enterer, lot, "TEM", [("comment", "Cup-shaped, intact membranes")]
    )
    review_runs([performed, entered])  # by a second analyst, uninvolved in the disposition

    qa_filler = _with_roles(make_user("technician", first_name="Phil", last_name="Vials"), "qa")
    batch_services.aliquots_create(
        actor=qa_filler, lot=lot, volume_ul=Decimal("100"), locations=[None]
    )

    admin_qa = _with_roles(make_user("admin", first_name="Ada", last_name="Both"), "qa")
    people = {
        "the technician who recorded the lot and its results (also QA)": (
            _with_roles(technician, "qa"),
            INVOLVED,
        ),
        "the operator of the lot's isolation run (QA)": (isolation_operator, INVOLVED),
        "the analyst who performed a run of the lot (also QA)": (
            _with_roles(performer, "qa"),
            INVOLVED,
        ),
        "the analyst who reviewed a run of the lot (also QA)": (
            _with_roles(reviewer, "qa"),
            INVOLVED,
        ),
        "a QA user who entered a result of the lot": (qa_enterer, INVOLVED),
        "a QA user who filled vials of the lot": (qa_filler, INVOLVED),
        "an administrator who is also QA": (admin_qa, ADMIN),
        "an administrator": (make_user("admin"), ADMIN),
        "a technician": (make_user("technician"), NOT_QA),
        "an analyst": (make_user("analyst"), NOT_QA),
        "an uninvolved QA user": (make_user("qa", first_name="Una", last_name="Involved"), None),
    }
    lot.refresh_from_db()
    assert lot.status == "under_review"
    return lot, people


MATRIX = [
    "the technician who recorded the lot and its results (also QA)",
    "the operator of the lot's isolation run (QA)",
    "the analyst who performed a run of the lot (also QA)",
    "the analyst who reviewed a run of the lot (also QA)",
    "a QA user who entered a result of the lot",
    "a QA user who filled vials of the lot",
    "an administrator who is also QA",
    "an administrator",
    "a technician",
    "an analyst",
    "an uninvolved QA user",
]


@pytest.mark.parametrize("who", MATRIX, ids=MATRIX)
def test_who_may_sign_the_disposition(who, lot_and_people):
    lot, people = lot_and_people
    assert list(people) == MATRIX
    user, reason = people[who]

    refusals = disposition_refusals(user, lot)

    if reason is None:
        assert refusals == []
        disposition = dispose(user, lot)
        lot.refresh_from_db()
        assert lot.status == "released" and disposition.signature.signer == user
        return

    assert len(refusals) == 1 and reason in refusals[0]
    if reason == INVOLVED:
        assert lot.code in refusals[0] and "another QA person" in refusals[0]
    for decision, why in (("released", ""), ("rejected", "Refused anyway"), ("quarantined", "x")):
        with pytest.raises(ValidationError) as refused:
            dispose(user, lot, decision, reason=why)
        assert not isinstance(refused.value, DispositionConflict | SignatureRefused)
        assert any(reason in m for m in refused.value.messages), refused.value.messages
    lot.refresh_from_db()
    assert lot.status == "under_review"
    assert not Disposition.objects.filter(lot=lot).exists()
    assert not Signature.objects.filter(signer=user).exclude(meaning="review").exists(), (
        "refused before signing"
    )


def test_the_analyst_who_performed_a_run_cannot_review_it(technician, make_user):
    lot = factories.lot(technician)
    performer = make_user("analyst")
    run = record_manual_run(performer, lot, "ENDOTOXIN", [("endotoxin", 0.1)])

    with pytest.raises(ValidationError, match="not the analyst who performed or recorded it"):
        run_review(signer=signer_for(performer, "review"), run=run)
    run.refresh_from_db()
    assert run.status == "recorded" and run.reviewed_by is None

    reviewer = make_user("analyst")
    run_review(signer=signer_for(reviewer, "review"), run=run)
    run.refresh_from_db()
    assert run.status == "reviewed" and run.reviewed_by == reviewer


def test_the_reviewer_of_a_run_and_the_approver_of_the_lot_are_different_people(
    technician, make_user
):
    tested = lot_under_review(technician, leave_unreviewed=("STERILITY",))
    reviewer_and_qa = make_user("analyst")
    reviewer_and_qa.groups.add(Group.objects.get(name="qa"))
    reviewer_and_qa = User.objects.get(pk=reviewer_and_qa.pk)
    assert disposition_refusals(reviewer_and_qa, tested.lot) == []  # not involved yet

    run_review(signer=signer_for(reviewer_and_qa, "review"), run=tested.runs["STERILITY"])

    with pytest.raises(ValidationError, match=INVOLVED):
        dispose(reviewer_and_qa, tested.lot)
    other_qa = make_user("qa")
    dispose(other_qa, tested.lot)
    assert tested.refresh().status == "released"
