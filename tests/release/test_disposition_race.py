"""Two QA users signing the same lot at the same moment give exactly one disposition (issue 5
§7): the lot row is locked for the decision (select_for_update) and a partial unique index
allows one final disposition per lot.

Real threads against PostgreSQL, each with its own connection, released together by a barrier:
eight QA users sign the same lot at once, twenty times over on fresh lots. Every time exactly
one signs, the lot is released once with one certificate, and the seven others are told the lot
was decided first (DispositionConflict), with no other error.
"""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import IntegrityError, connection, transaction

from batches.models import ExosomeLot
from lims.models import Signature
from lims.signatures import signatures_of
from release.models import CertificateOfAnalysis, Disposition
from release.services import DispositionConflict
from tests.release.helpers import dispose, lot_under_review

SIGNERS = 8
ROUNDS = 20


def sign_all_at_once(users, lot, decisions) -> list[tuple[str, object]]:
    """Each user signs `lot` in a thread of their own, all released at the same instant.

    Returns, per user, ("signed", disposition pk), ("conflict", message) or ("error", repr)."""
    barrier = threading.Barrier(len(users))

    def sign(user, decision):
        try:
            barrier.wait(timeout=30)
            reason = "" if decision == "released" else "Rejected in the race"
            return "signed", dispose(user, lot, decision, reason=reason).pk
        except DispositionConflict as conflict:
            return "conflict", " ".join(conflict.messages)
        except BaseException as exc:  # anything else is what the test is looking for
            return "error", repr(exc)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=len(users)) as pool:
        return list(pool.map(sign, users, decisions))


def assert_one_decision(lot, outcomes, users):
    errors = [o for o in outcomes if o[0] == "error"]
    assert not errors, errors
    signed = [i for i, o in enumerate(outcomes) if o[0] == "signed"]
    assert len(signed) == 1, outcomes
    conflicts = [message for kind, message in outcomes if kind == "conflict"]
    assert len(conflicts) == len(users) - 1
    for message in conflicts:
        assert lot.code in message and "another disposition was signed first" in message, message

    (disposition,) = Disposition.objects.filter(lot=lot)
    assert disposition.pk == outcomes[signed[0]][1]
    assert disposition.signature.signer == users[signed[0]]
    # Only the winner signed: the others were stopped before their signature was stored.
    assert list(signatures_of(lot)) == [disposition.signature]
    return disposition


@pytest.fixture
def qa_signers(make_user):
    return [
        make_user("qa", username=f"racer{i}.qa", first_name="Racer", last_name=f"No{i}")
        for i in range(SIGNERS)
    ]


@pytest.mark.django_db(transaction=True)
def test_eight_qa_users_signing_one_lot_at_once_give_one_release_twenty_times(
    technician, qa_signers
):
    building = racing = 0.0
    for _ in range(ROUNDS):
        started = time.monotonic()
        lot = lot_under_review(technician).lot
        building += time.monotonic() - started

        started = time.monotonic()
        outcomes = sign_all_at_once(qa_signers, lot, ["released"] * SIGNERS)
        racing += time.monotonic() - started

        disposition = assert_one_decision(lot, outcomes, qa_signers)
        assert disposition.decision == "released"
        lot.refresh_from_db()
        assert lot.status == "released"
        assert CertificateOfAnalysis.objects.filter(lot=lot, disposition=disposition).count() == 1

    assert Disposition.objects.count() == ROUNDS
    assert ExosomeLot.objects.filter(status="released").count() == ROUNDS
    assert Signature.objects.exclude(meaning="review").count() == ROUNDS  # runs reviewed aside
    print(f"\n{ROUNDS} rounds: building lots {building:.1f} s, signing races {racing:.1f} s")


@pytest.mark.django_db(transaction=True)
def test_release_and_rejection_signed_at_once_give_one_final_decision(technician, qa_signers):
    decisions = ["released", "rejected"] * (SIGNERS // 2)
    for _ in range(3):
        lot = lot_under_review(technician).lot

        outcomes = sign_all_at_once(qa_signers, lot, decisions)

        disposition = assert_one_decision(lot, outcomes, qa_signers)
        lot.refresh_from_db()
        assert lot.status == disposition.decision
        certificates = CertificateOfAnalysis.objects.filter(lot=lot).count()
        assert certificates == (1 if disposition.decision == "released" else 0)


@pytest.mark.django_db
def test_the_database_allows_one_final_disposition_per_lot(passing, qa_approver, make_user):
    """The second guard, without the row lock: the partial unique index."""
    first = dispose(qa_approver, passing.lot)
    for decision in ("released", "rejected"):
        with pytest.raises(IntegrityError), transaction.atomic():
            Disposition.objects.create(
                lot=passing.lot, decision=decision, signature=first.signature
            )
    assert Disposition.objects.filter(lot=passing.lot).count() == 1


@pytest.mark.django_db
def test_a_late_signer_is_told_the_lot_was_decided_first(passing, qa_approver, make_user):
    dispose(qa_approver, passing.lot)
    late = make_user("qa", first_name="Lou", last_name="Late")
    with pytest.raises(DispositionConflict) as conflict:
        dispose(late, passing.lot, "rejected", reason="Too late")
    assert conflict.value.messages == [
        f"Lot {passing.lot.code} was already released (another disposition was signed first)."
    ]
    assert not Signature.objects.filter(signer=late).exists()
