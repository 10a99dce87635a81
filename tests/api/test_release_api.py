"""Read endpoints of the release workflow: specifications, evaluations, deviations, signatures
(manifested with name, time with zone and meaning, 21 CFR 11.50) and the CoA."""

import hashlib

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from release.models import CertificateOfAnalysis
from tests.release.helpers import dispose, lot_under_review

pytestmark = pytest.mark.django_db


@pytest.fixture
def released(technician, make_user, media_root):
    approver = make_user("qa", username="rita.release", first_name="Rita", last_name="Release")
    lot = lot_under_review(technician).lot
    dispose(approver, lot, comment="All criteria met")
    lot.refresh_from_db()
    return lot


def test_release_endpoints_need_a_key_or_a_session():
    for path in (
        "specifications/",
        "deviations/",
        "signatures/",
        "lots/1/evaluation/",
        "lots/1/certificate/",
    ):
        response = APIClient().get(f"/api/v1/{path}")
        assert response.status_code == 401, path
        assert response.json()["code"] == "not_authenticated"


def test_signature_shows_name_time_with_zone_and_meaning(client_for_key, released):
    rows = client_for_key.get(
        "/api/v1/signatures/", {"record_type": "batches.ExosomeLot", "record_id": released.pk}
    ).json()["results"]

    assert len(rows) == 1
    signature = rows[0]
    assert signature["printed_name"] == "Rita Release"
    assert signature["meaning"] == "approval"
    assert signature["signed_at"].endswith("Z")
    assert "UTC" in signature["signed_at_display"]
    assert len(signature["content_sha256"]) == 64


def test_lot_evaluation_lists_every_criterion_with_its_verdict(client_for_key, released):
    body = client_for_key.get(f"/api/v1/lots/{released.pk}/evaluation/").json()

    assert body["lot"] == released.code and body["status"] == "released"
    assert body["specification"] == "MSC-sEV drug substance v1"
    assert body["overall"] == "pass"
    required = [c for c in body["criteria"] if c["required"]]
    assert required and all(c["status"] == "pass" for c in required)


def test_certificate_downloads_the_stored_bytes_every_time(client_for_key, released):
    first = client_for_key.get(f"/api/v1/lots/{released.pk}/certificate/")
    second = client_for_key.get(f"/api/v1/lots/{released.pk}/certificate/")

    certificate = CertificateOfAnalysis.objects.get(lot=released)
    assert first.status_code == 200 and first["Content-Type"] == "application/pdf"
    assert first.content.startswith(b"%PDF") and first.content == second.content
    assert hashlib.sha256(first.content).hexdigest() == certificate.sha256
    assert first["X-Content-SHA256"] == certificate.sha256


def test_no_certificate_before_release_is_a_404(client_for_key, technician):
    lot = lot_under_review(technician).lot
    response = client_for_key.get(f"/api/v1/lots/{lot.pk}/certificate/")
    assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_a_failing_lot_shows_its_oos_investigation(client_for_key, technician):
    lot = lot_under_review(technician, failing="endotoxin").lot

    rows = client_for_key.get("/api/v1/deviations/", {"lot": lot.code}).json()["results"]
    evaluation = client_for_key.get(f"/api/v1/lots/{lot.pk}/evaluation/").json()

    assert [(r["kind"], r["status"]) for r in rows] == [("oos", "open")]
    assert evaluation["overall"] == "fail"


def test_release_lists_keep_a_constant_query_count(client_for_key, qa_user, technician):
    from tests.release.helpers import draft_specification

    def count(path):
        with CaptureQueriesContext(connection) as ctx:
            assert client_for_key.get(path).status_code == 200
        return len(ctx.captured_queries)

    paths = ["/api/v1/specifications/", "/api/v1/deviations/", "/api/v1/signatures/"]
    lot_under_review(technician, failing="endotoxin")
    few = [count(p) for p in paths]
    draft_specification(qa_user, version=2)
    draft_specification(qa_user, version=3)
    lot_under_review(technician, failing="sterility")
    lot_under_review(technician, failing="mode_size")
    assert [count(p) for p in paths] == few
