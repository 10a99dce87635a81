"""Revisions of a signed annual product quality review (release.apqr.apqr_revise): QA issues a
new revision with its reason and a new e-signature; the earlier one is kept as it was, shown
as superseded, its PDF still downloadable; refused without a reason, to anyone but QA, on a
superseded revision, and by the database when two revisions replace the same one; the audit
trail records the reason; the revisions page and list API keep a constant number of queries."""

import hashlib

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, ProgrammingError, connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from lims.audit_trail import events_of
from lims.models import Signature
from release import apqr
from release.models import AnnualProductReview
from tests import factories
from tests.release.helpers import signer_for
from tests.stability.test_apqr import DS, _pdf_text, _sign, _year_of

pytestmark = pytest.mark.django_db

BACKEND = "django.contrib.auth.backends.ModelBackend"
REASON = "Deviation DEV-0007 was closed after signing: its CAPA status was wrong."


@pytest.fixture(autouse=True)
def _settings(settings, tmp_path):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.MEDIA_ROOT = str(tmp_path / "files")


def _revise(user, previous, *, reason=REASON, conclusion="Corrected: no adverse trend."):
    return apqr.apqr_revise(
        signer=signer_for(user, Signature.Meaning.APPROVAL),
        previous=previous,
        reason=reason,
        conclusion=conclusion,
    )


def _client(user) -> Client:
    client = Client()
    client.force_login(user, backend=BACKEND)
    return client


def test_qa_revises_with_a_reason_and_the_first_revision_stays_readable(technician, qa_user):
    _year_of(technician, qa_user)
    first = _sign(qa_user)
    first_pdf = apqr.apqr_bytes(first)
    second = _revise(qa_user, first)
    assert (second.revision, second.supersedes, second.reason) == (2, first, REASON)
    assert second.signature.signer == qa_user and second.signature.meaning == "approval"
    assert second.signature.pk != first.signature.pk
    assert second.signature.content["reason"] == REASON
    assert second.signature.content["supersedes"] == first.sha256
    # The first revision is as it was: same row, same signature, same PDF bytes.
    first.refresh_from_db()
    assert first.conclusion.startswith("No adverse trend") and first.supersedes is None
    assert apqr.apqr_bytes(first) == first_pdf
    second_pdf = apqr.apqr_bytes(second)
    assert second_pdf.startswith(b"%PDF")
    assert second.sha256 == hashlib.sha256(second_pdf).hexdigest() != first.sha256
    # Both PDFs download, for every role that reads records; the first is marked superseded.
    client = _client(technician)
    for record, data in ((first, first_pdf), (second, second_pdf)):
        response = client.get(reverse("release:apqr_pdf", args=[record.pk]))
        assert response.status_code == 200
        assert b"".join(response) == data
        assert f"-rev{record.revision}.pdf" in response["Content-Disposition"]
    page = client.get(reverse("release:apqr") + f"?year={first.year}").content.decode()
    table = page[page.index('id="apqr-revisions"') :]
    assert table.index(">2<") < table.index("current") < table.index(">1<")
    assert table.index(">1<") < table.index("superseded")
    assert REASON in table
    # The API shows both, the current one first.
    api = client.get("/api/v1/apqr/", {"year": first.year}).json()
    assert [(r["revision"], r["status"], r["superseded_by"]) for r in api["revisions"]] == [
        (2, "current", None),
        (1, "superseded", second.pk),
    ]
    assert api["revisions"][0]["reason"] == REASON
    assert api["revisions"][1]["pdf"] == reverse("release:apqr_pdf", args=[first.pk])


def test_the_new_pdf_names_its_revision_the_one_it_supersedes_and_the_reason(
    technician, qa_user, tmp_path
):
    first = _sign(qa_user)
    text = _pdf_text(apqr.apqr_bytes(_revise(qa_user, first)), tmp_path)  # skips without poppler
    assert "Revision 2" in text and REASON in text and first.sha256 in text


def test_the_audit_trail_records_the_revision_and_its_reason(technician, qa_user):
    first = _sign(qa_user)
    second = _revise(qa_user, first)
    events = events_of(second)
    assert [e.pgh_label for e in events] == ["insert", "update"]
    for event in events:
        assert event.reason == f"Annual product review revision 2 issued: {REASON}"
        assert event.username == qa_user.username
    # Nothing about the first revision changed: its trail is its own signing.
    assert [e.reason for e in events_of(first)] == ["Annual product review signed"] * 2


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_revision_without_a_reason_is_refused_next_to_the_field(qa_user, reason):
    first = _sign(qa_user)
    with pytest.raises(ValidationError) as refused:
        _revise(qa_user, first, reason=reason)
    assert set(refused.value.message_dict) == {"reason"}
    response = _client(qa_user).post(
        reverse("release:apqr_revise", args=[first.pk]),
        {
            "reason": reason,
            "conclusion": "Corrected.",
            "username": qa_user.username,
            "password": factories.PASSWORD,
        },
    )
    assert response.status_code == 200
    assert response.context["form"].errors["reason"] == [
        "Say why the signed review is revised (what was wrong or missing)."
    ]
    assert AnnualProductReview.objects.get() == first


@pytest.mark.parametrize("role", ["technician", "analyst"])
def test_only_qa_revises(role, request, qa_user):
    first = _sign(qa_user)
    user = request.getfixturevalue(role)
    with pytest.raises(PermissionDenied):
        _revise(user, first)
    client = _client(user)
    url = reverse("release:apqr_revise", args=[first.pk])
    assert client.get(url).status_code == 403
    response = client.post(
        url,
        {
            "reason": REASON,
            "conclusion": "x",
            "username": user.username,
            "password": factories.PASSWORD,
        },
    )
    assert response.status_code == 403
    assert AnnualProductReview.objects.get() == first


def test_qa_revises_through_the_page_with_a_new_signature(qa_user):
    first = _sign(qa_user)
    client = _client(qa_user)
    url = reverse("release:apqr_revise", args=[first.pk])
    assert first.conclusion in client.get(url).content.decode()  # offered as the start
    response = client.post(
        url,
        {
            "reason": REASON,
            "conclusion": "Corrected.",
            "username": qa_user.username,
            "password": "wrong password",
        },
    )
    assert response.status_code == 200 and AnnualProductReview.objects.count() == 1
    response = client.post(
        url,
        {
            "reason": REASON,
            "conclusion": "Corrected.",
            "username": qa_user.username,
            "password": factories.PASSWORD,
        },
    )
    second = AnnualProductReview.objects.get(revision=2)
    assert response.status_code == 302 and second.supersedes == first


def test_a_superseded_revision_is_not_revised_again_and_the_database_holds_the_chain(qa_user):
    first = _sign(qa_user)
    second = _revise(qa_user, first)
    with pytest.raises(ValidationError, match="superseded by revision 2"):
        _revise(qa_user, first, reason="Another correction")
    third = _revise(qa_user, second, reason="Stability study added")
    assert (third.revision, third.supersedes) == (3, second)
    # Two revisions cannot replace the same one, a later revision needs a reason, and the
    # first one replaces nothing; signed rows never change.
    row = dict(product=DS, year=first.year, conclusion="x", content_sha256="0", sha256="0", size=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        AnnualProductReview.objects.create(**row, revision=9, supersedes=first, reason="r")
    with pytest.raises(IntegrityError), transaction.atomic():
        AnnualProductReview.objects.create(**row, revision=9, supersedes=third, reason="")
    with pytest.raises(IntegrityError), transaction.atomic():
        AnnualProductReview.objects.create(**row, revision=1, supersedes=third, reason="r")
    with pytest.raises(ProgrammingError), transaction.atomic():
        AnnualProductReview.objects.filter(pk=second.pk).update(reason="Rewritten")
    assert AnnualProductReview.objects.count() == 3


def test_the_review_page_and_the_revision_list_keep_a_constant_number_of_queries(
    technician, qa_user, django_assert_max_num_queries
):
    year = timezone.localdate().year
    client = _client(qa_user)
    page = reverse("release:apqr") + f"?year={year}"
    urls = [page, "/api/v1/apqr/revisions/", f"/api/v1/apqr/?year={year}"]
    _year_of(technician, qa_user)
    current = _sign(qa_user)
    counts = {}
    for url in urls:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200
        counts[url] = len(ctx.captured_queries)
    for i in range(3):
        current = _revise(qa_user, current, reason=f"Correction {i}")
    for past in (year - 1, year - 2):
        _sign(qa_user, year=past)
    for url in urls:
        with django_assert_max_num_queries(counts[url]):
            response = client.get(url)
        assert response.status_code == 200
    listed = client.get("/api/v1/apqr/revisions/").json()["results"]
    assert [(r["year"], r["revision"], r["status"]) for r in listed] == [
        (year, 4, "current"),
        (year, 3, "superseded"),
        (year, 2, "superseded"),
        (year, 1, "superseded"),
        (year - 1, 1, "current"),
        (year - 2, 1, "current"),
    ]
