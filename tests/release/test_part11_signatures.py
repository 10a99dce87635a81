"""21 CFR Part 11 electronic signatures, statement by statement.

§11.200(a): signing asks for the user ID and password again; §11.300(d): failed attempts are
counted (django-axes) and lock the account; §11.50: the signature shows printed name, date and
time with the zone, and meaning, on the record and on the certificate; §11.70: it is bound to
the signed content, a later edit shows it invalid, and it cannot be edited, deleted or moved.

Signing goes through the services the signing pages call (release.services.lot_dispose,
release.specifications.specification_approve), with the request a page would hand them.
"""

import shutil
import subprocess
from datetime import UTC, timedelta

import pytest
from axes.models import AccessAttempt
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from lims.models import Signature, User
from lims.signatures import SignatureRefused, content_hash, is_valid, sign
from release.certificate import certificate_bytes, issue_certificate
from release.models import Criterion, CriterionEvaluation, Disposition, Specification
from release.selectors import release_content
from release.specifications import specification_approve
from tests.factories import PASSWORD
from tests.release.helpers import dispose, draft_specification, lot_under_review, signer_for

pytestmark = pytest.mark.django_db


def failures_of(user) -> int:
    """Failed sign-ins django-axes has counted against the account."""
    return sum(
        AccessAttempt.objects.filter(username=user.username).values_list(
            "failures_since_start", flat=True
        )
    )


@pytest.fixture
def colleague(make_user):
    return make_user("qa", username="cole.qa", first_name="Cole", last_name="League")


# --- §11.200 / §11.300: re-authentication, counted failures, lockout ---------------------------

REFUSED_CREDENTIALS = {
    "a wrong password": lambda me, other: (me.username, "not-my-password-at-all"),
    "another user's password": lambda me, other: (me.username, PASSWORD + "-cole"),
    "another user's user ID and password": lambda me, other: (other.username, PASSWORD + "-cole"),
    "a missing password": lambda me, other: (me.username, ""),
}


@pytest.mark.parametrize("attempt", REFUSED_CREDENTIALS, ids=list(REFUSED_CREDENTIALS))
def test_signing_a_release_refuses_and_counts(attempt, passing, qa_approver, colleague):
    colleague.set_password(PASSWORD + "-cole")
    colleague.save()
    username, password = REFUSED_CREDENTIALS[attempt](qa_approver, colleague)

    with pytest.raises(SignatureRefused) as refused:
        dispose(qa_approver, passing.lot, username=username, password=password)

    assert refused.value.messages  # the page shows why
    passing.refresh()
    assert passing.lot.status == "under_review"
    assert not Disposition.objects.filter(lot=passing.lot).exists()
    assert not Signature.objects.filter(signer=qa_approver).exists()
    assert failures_of(qa_approver) == 1, "the refused signing attempt is counted by django-axes"
    assert failures_of(colleague) == 0


def test_signing_with_a_password_refused_outside_a_transaction_is_counted(passing, qa_approver):
    """The same rule for a bare re-authentication (no service transaction around it)."""
    with pytest.raises(SignatureRefused):
        signer_for(qa_approver, "approval", password="wrong-password-again")
    assert failures_of(qa_approver) == 1


def test_the_account_locks_after_the_failure_limit_even_for_the_right_password(
    settings, passing, qa_approver, colleague
):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        with pytest.raises(SignatureRefused):
            dispose(qa_approver, passing.lot, password="guessing-again-and-again")
    assert failures_of(qa_approver) == settings.AXES_FAILURE_LIMIT

    with pytest.raises(SignatureRefused, match="locked"):
        dispose(qa_approver, passing.lot, password=PASSWORD)
    passing.refresh()
    assert passing.lot.status == "under_review"
    assert not Disposition.objects.filter(lot=passing.lot).exists()

    # The lock is on the account, not on the bench terminal: a colleague still signs.
    dispose(colleague, passing.lot)
    passing.refresh()
    assert passing.lot.status == "released"


def test_a_deactivated_account_cannot_sign_even_with_a_session_still_open(passing, qa_approver):
    """§11.300(a): leaving staff are deactivated, and a deactivated account signs nothing."""
    User.objects.filter(pk=qa_approver.pk).update(is_active=False)

    with pytest.raises(SignatureRefused):
        dispose(qa_approver, passing.lot)  # the request still carries the signed-in user
    assert passing.refresh().status == "under_review"


def test_specification_approval_also_re_authenticates_and_counts(qa_approver):
    draft = draft_specification(qa_approver)
    with pytest.raises(SignatureRefused):
        specification_approve(
            signer=signer_for(qa_approver, "approval", password=""), specification=draft
        )
    draft.refresh_from_db()
    assert draft.status == "draft" and draft.approval_signature is None
    assert failures_of(qa_approver) == 1


# --- §11.50: manifestation ---------------------------------------------------------------------


def test_the_signature_shows_printed_name_utc_time_and_meaning(passing, qa_approver):
    before = timezone.now()
    disposition = dispose(qa_approver, passing.lot, comment="All criteria met.")
    after = timezone.now()

    signature = disposition.signature
    signature.refresh_from_db()
    assert signature.signer == qa_approver
    assert signature.printed_name == "Vera Approver"
    assert signature.meaning == "approval" and signature.get_meaning_display() == "Approval"
    assert signature.comment == "All criteria met."
    assert before <= signature.signed_at <= after
    assert signature.signed_at.utcoffset() == timedelta(0)
    assert (signature.record_type, signature.record_id) == (
        "batches.ExosomeLot",
        str(passing.lot.pk),
    )
    shown = str(signature)
    assert "Vera Approver" in shown and "Approval" in shown
    assert f"{signature.signed_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC" in shown
    # Bound to the content QA saw: the decision, the specification and every evaluation.
    assert signature.content_sha256 == content_hash(release_content(passing.refresh(), "released"))
    assert signature.content["decision"] == "released"
    assert len(signature.content_sha256) == 64


def test_rejection_and_quarantine_carry_their_own_meaning(make_user, technician):
    quarantined = lot_under_review(technician).lot
    rejected = lot_under_review(technician).lot
    qa = make_user("qa", first_name="Rhea", last_name="Jecter")

    q = dispose(qa, quarantined, "quarantined", reason="Freezer alarm under review")
    r = dispose(qa, rejected, "rejected", reason="Customer complaint on the batch")

    assert q.signature.meaning == "responsibility"
    assert r.signature.meaning == "rejection"
    with pytest.raises(ValidationError, match="reason"):
        dispose(qa, lot_under_review(technician).lot, "rejected", reason="  ")


def pdf_text(data: bytes) -> str:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed: the PDF text cannot be read")
    out = subprocess.run(["pdftotext", "-", "-"], input=data, capture_output=True, check=True)
    return " ".join(out.stdout.decode().split())  # table cells wrap: compare words, not lines


def test_the_certificate_shows_name_utc_time_meaning_and_sha256(passing, qa_approver):
    disposition = dispose(qa_approver, passing.lot)
    certificate = issue_certificate(disposition)  # already issued at release: the same one

    text = pdf_text(certificate_bytes(certificate))

    signed_at = disposition.signature.signed_at.astimezone(UTC)
    assert "Vera Approver" in text
    assert f"{signed_at:%Y-%m-%d %H:%M:%S} UTC" in text
    assert "Approval" in text
    assert "SHA-256" in text
    assert passing.lot.code in text
    assert "Approved for release" in text


# --- §11.70: binding to the content ------------------------------------------------------------


def test_a_criterion_added_after_approval_shows_the_approval_signature_invalid(qa_approver):
    draft = draft_specification(qa_approver, limits={"endotoxin.eu_per_ml": {"upper": 0.25}})
    spec = specification_approve(signer=signer_for(qa_approver, "approval"), specification=draft)
    spec.refresh_from_db()
    signature = spec.approval_signature
    assert spec.status == "approved" and signature.meaning == "approval"
    assert is_valid(signature, spec.signed_content())

    Criterion.objects.create(
        specification=spec,
        position=99,
        test="Extra test slipped in",
        metric_code="bca.protein",
        comparator="report",
        created_by=qa_approver,
    )

    assert not is_valid(signature, Specification.objects.get(pk=spec.pk).signed_content())


def test_a_changed_limit_after_approval_shows_the_approval_signature_invalid(qa_approver):
    draft = draft_specification(qa_approver)
    spec = specification_approve(signer=signer_for(qa_approver, "approval"), specification=draft)
    spec.refresh_from_db()
    Criterion.objects.filter(specification=spec, metric_code="endotoxin.eu_per_ml").update(
        upper=5.0
    )
    assert not is_valid(spec.approval_signature, spec.signed_content())


def test_a_changed_evaluation_after_release_shows_the_release_signature_invalid(
    passing, qa_approver
):
    disposition = dispose(qa_approver, passing.lot)
    lot = passing.refresh()
    assert is_valid(disposition.signature, release_content(lot, "released"))

    CriterionEvaluation.objects.filter(
        lot=lot, criterion__metric_code="endotoxin.eu_per_ml"
    ).update(value=0.45)

    assert not is_valid(disposition.signature, release_content(lot, "released"))


# --- §11.70: signatures cannot be edited, deleted or moved -------------------------------------


@pytest.fixture
def signature(passing, qa_approver):
    """A signature no other record points to, so only the database trigger stands in the way."""
    return sign(
        signer=signer_for(qa_approver, "review"),
        record=passing.lot,
        content={"lot": passing.lot.code, "reviewed": True},
    )


def _refused_by_the_database(write) -> None:
    with pytest.raises(DatabaseError, match="lims_signature"), transaction.atomic():
        write()


def _raw(sql, *params):
    def run():
        with connection.cursor() as cursor:
            cursor.execute(sql, params)

    return run


def test_a_signature_cannot_be_edited(signature, make_user):
    def save_edit():
        signature.printed_name = "Somebody Else"
        signature.save()

    _refused_by_the_database(save_edit)
    _refused_by_the_database(
        lambda: Signature.objects.filter(pk=signature.pk).update(meaning="approval")
    )
    _refused_by_the_database(lambda: Signature.objects.all().update(comment="edited"))
    _refused_by_the_database(
        lambda: Signature.objects.filter(pk=signature.pk).update(
            signed_at=signature.signed_at - timedelta(days=1)
        )
    )
    _refused_by_the_database(
        _raw("UPDATE lims_signature SET content_sha256 = %s WHERE id = %s", "0" * 64, signature.pk)
    )
    other = make_user("qa")
    _refused_by_the_database(lambda: Signature.objects.filter(pk=signature.pk).update(signer=other))
    stored = Signature.objects.get(pk=signature.pk)
    assert (stored.printed_name, stored.meaning, stored.content_sha256) == (
        "Vera Approver",
        "review",
        signature.content_sha256,
    )


def test_a_signature_cannot_be_moved_to_another_record(signature, technician):
    from tests import factories

    other_lot = factories.lot(technician)
    _refused_by_the_database(
        lambda: Signature.objects.filter(pk=signature.pk).update(record_id=str(other_lot.pk))
    )
    _refused_by_the_database(
        _raw(
            "UPDATE lims_signature SET record_type = 'assays.Specification' WHERE id = %s",
            signature.pk,
        )
    )
    stored = Signature.objects.get(pk=signature.pk)
    assert (stored.record_type, stored.record_id) == (signature.record_type, signature.record_id)


def test_a_signature_cannot_be_deleted(signature):
    _refused_by_the_database(signature.delete)
    _refused_by_the_database(lambda: Signature.objects.filter(pk=signature.pk).delete())
    _refused_by_the_database(_raw("DELETE FROM lims_signature WHERE id = %s", signature.pk))
    _refused_by_the_database(_raw("DELETE FROM lims_signature"))
    assert Signature.objects.filter(pk=signature.pk).exists()


def test_a_disposition_cannot_be_pointed_at_another_signature(passing, qa_approver, signature):
    disposition = dispose(qa_approver, passing.lot)
    with pytest.raises(DatabaseError), transaction.atomic():
        Disposition.objects.filter(pk=disposition.pk).update(signature=signature)
    assert Disposition.objects.get(pk=disposition.pk).signature_id == disposition.signature_id
