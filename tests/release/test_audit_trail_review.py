"""QA's signed review of the audit trail (EU GMP Annex 11 §9; FDA, Data Integrity and
Compliance With Drug CGMP, 2018, Q7): a lot's before release, or a period's; recorded once with
its e-signature, shown on the lot's review page, never changed or deleted."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import DatabaseError, transaction
from django.urls import reverse
from django.utils import timezone

from batches import services as batch_services
from release.audit_reviews import audit_trail_review_record
from release.models import AuditTrailReview
from tests.factories import PASSWORD
from tests.release.helpers import signer_for

pytestmark = pytest.mark.django_db


def _review(user, **kwargs):
    return audit_trail_review_record(signer=signer_for(user, "review"), **kwargs)


def test_qa_reviews_a_lots_trail_and_the_review_page_shows_it(passing, qa_approver, client):
    lot = passing.lot
    client.force_login(qa_approver)
    page = client.get(reverse("release:lot_review", args=[lot.pk])).content.decode()
    assert "audit trail not reviewed" in page

    response = client.post(
        reverse("release:audit_review_create"),
        {
            "lot": lot.code,
            "findings": "No change after entry.",
            "username": qa_approver.username,
            "password": PASSWORD,
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    review = AuditTrailReview.objects.get(lot=lot)
    assert review.signature.meaning == "review" and review.signature.signer == qa_approver
    assert review.events_reviewed == 0 and len(review.chain_head) == 64
    page = client.get(reverse("release:lot_review", args=[lot.pk])).content.decode()
    assert "audit trail reviewed" in page and "No change after entry." in page
    listing = client.get(reverse("release:audit_review_list")).content.decode()
    assert lot.code in listing and "Vera Approver" in listing


def test_a_change_after_the_review_needs_a_new_one(passing, qa_approver, technician, client):
    lot = passing.lot
    _review(qa_approver, lot=lot)
    batch_services.record_update(
        lot, actor=technician, reason="Label text corrected", changes={"notes": "Corrected"}
    )
    client.force_login(qa_approver)
    page = client.get(reverse("release:lot_review", args=[lot.pk])).content.decode()
    assert "audit trail not reviewed since its last change" in page


def test_a_period_review_counts_the_events_in_it(passing, qa_approver):
    today = timezone.localdate()
    review = _review(qa_approver, period_start=today - timedelta(days=7), period_end=today)
    assert review.events_reviewed > 10
    assert review.signature.content["period"] == [str(today - timedelta(days=7)), str(today)]


def test_wrong_reviews_are_refused(passing, qa_approver, technician, make_user):
    today = timezone.localdate()
    with pytest.raises(ValidationError, match="Only QA"):
        _review(technician, lot=passing.lot)
    with pytest.raises(ValidationError, match="Only QA"):
        _review(make_user("admin"), lot=passing.lot)
    with pytest.raises(ValidationError, match="meaning review"):
        audit_trail_review_record(signer=signer_for(qa_approver, "approval"), lot=passing.lot)
    with pytest.raises(ValidationError, match="in the future"):
        _review(qa_approver, period_start=today, period_end=today + timedelta(days=1))
    with pytest.raises(ValidationError, match="ends before it starts"):
        _review(qa_approver, period_start=today, period_end=today - timedelta(days=1))
    with pytest.raises(ValidationError, match="not both"):
        _review(qa_approver, lot=passing.lot, period_start=today, period_end=today)
    assert not AuditTrailReview.objects.exists()


def test_a_signed_review_is_never_changed_or_deleted(passing, qa_approver):
    review = _review(qa_approver, lot=passing.lot, findings="None")
    for attempt in (
        lambda: AuditTrailReview.objects.filter(pk=review.pk).update(findings="Edited"),
        lambda: AuditTrailReview.objects.filter(pk=review.pk).delete(),
    ):
        with pytest.raises(DatabaseError), transaction.atomic():
            attempt()
    assert AuditTrailReview.objects.get(pk=review.pk).findings == "None"


def test_only_qa_opens_the_review_form(passing, technician, client):
    client.force_login(technician)
    assert client.get(reverse("release:audit_review_create")).status_code == 403


def _api_queries(api, **params) -> tuple[int, dict]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        response = api.get(reverse("api:audit-review-list"), params)
    assert response.status_code == 200, response.content
    return len(queries), response.json()


def test_api_lists_reviews_to_audit_trail_readers_only(passing, qa_approver, technician, make_user):
    from rest_framework.test import APIClient

    today = timezone.localdate()
    lot_review = _review(qa_approver, lot=passing.lot, findings="No change after entry.")
    api = APIClient()
    assert api.get(reverse("api:audit-review-list")).status_code == 401
    api.force_authenticate(technician)  # a role, but not one that reads the audit trail
    refused = api.get(reverse("api:audit-review-list"))
    assert refused.status_code == 403 and refused.json()["code"] == "permission_denied"

    api.force_authenticate(make_user("analyst"))
    _api_queries(api)  # the first request loads the person's permissions
    queries, body = _api_queries(api)
    assert [row["id"] for row in body["results"]] == [lot_review.pk]
    row = body["results"][0]
    assert row["scope"] == "lot" and row["lot"] == passing.lot.code
    assert row["reviewed_by"] == "Vera Approver" and row["findings"] == "No change after entry."
    assert row["signature_id"] == lot_review.signature_id and len(row["chain_head"]) == 64

    for days in (30, 20, 10):  # more reviews, the same number of queries
        _review(qa_approver, period_start=today - timedelta(days=days), period_end=today)
    more, body = _api_queries(api)
    assert more == queries and body["count"] == 4
    assert body["results"][0]["scope"] == "period" and body["results"][0]["lot"] is None
    _, body = _api_queries(api, lot=passing.lot.code)
    assert [row["id"] for row in body["results"]] == [lot_review.pk]


def test_api_refuses_an_instrument_key(passing, qa_approver, admin_user):
    from tests.api.conftest import issue_key, key_client
    from tests.assays_pages.conftest import register_instrument

    api = key_client(issue_key(admin_user, register_instrument(admin_user)))
    response = api.get(reverse("api:audit-review-list"))
    assert response.status_code == 403 and response.json()["code"] == "person_required"
