"""Read endpoints of the release workflow: specifications, evaluations, deviations, signatures
(manifested with name, time with zone and meaning, 21 CFR 11.50) and the CoA. They are read by
signed-in people: an instrument key reads only what it needs to post (403 person_required)."""

import hashlib

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from release.models import CertificateOfAnalysis
from tests import factories
from tests.release.helpers import dispose, lot_under_review

pytestmark = pytest.mark.django_db


@pytest.fixture
def reader(analyst) -> APIClient:
    """A signed-in person with a role, reading through the API as the release pages' users do."""
    client = APIClient()
    client.force_login(analyst)
    return client


@pytest.fixture
def released(technician, make_user, media_root):
    approver = make_user("qa", username="rita.release", first_name="Rita", last_name="Release")
    lot = lot_under_review(technician).lot
    dispose(approver, lot, comment="All criteria met")
    lot.refresh_from_db()
    return lot


def test_release_endpoints_need_a_signed_in_person(client_for_key):
    for path in (
        "specifications/",
        "deviations/",
        "signatures/",
        "lots/1/evaluation/",
        "culture-batches/1/evaluation/",
        "lots/1/certificate/",
    ):
        response = APIClient().get(f"/api/v1/{path}")
        assert response.status_code == 401, path
        assert response.json()["code"] == "not_authenticated"
        response = client_for_key.get(f"/api/v1/{path}")
        assert response.status_code == 403, path
        assert response.json()["code"] == "person_required"


def test_signature_shows_name_time_with_zone_and_meaning(reader, released):
    rows = reader.get(
        "/api/v1/signatures/", {"record_type": "batches.ExosomeLot", "record_id": released.pk}
    ).json()["results"]

    assert len(rows) == 1
    signature = rows[0]
    assert signature["printed_name"] == "Rita Release"
    assert signature["meaning"] == "approval"
    assert signature["signed_at"].endswith("Z")
    assert "UTC" in signature["signed_at_display"]
    assert len(signature["content_sha256"]) == 64


def test_lot_evaluation_lists_every_criterion_with_its_verdict(reader, released):
    body = reader.get(f"/api/v1/lots/{released.pk}/evaluation/").json()

    assert body["lot"] == released.code and body["status"] == "released"
    assert body["specification"] == "MSC-sEV drug substance v1"
    assert body["overall"] == "pass"
    required = [c for c in body["criteria"] if c["required"]]
    assert required and all(c["status"] == "pass" for c in required)


def test_certificate_downloads_the_stored_bytes_every_time(reader, released):
    first = reader.get(f"/api/v1/lots/{released.pk}/certificate/")
    second = reader.get(f"/api/v1/lots/{released.pk}/certificate/")

    certificate = CertificateOfAnalysis.objects.get(lot=released)
    assert first.status_code == 200 and first["Content-Type"] == "application/pdf"
    assert first.content.startswith(b"%PDF") and first.content == second.content
    assert hashlib.sha256(first.content).hexdigest() == certificate.sha256
    assert first["X-Content-SHA256"] == certificate.sha256


def test_no_certificate_before_release_is_a_404(reader, technician):
    lot = lot_under_review(technician).lot
    response = reader.get(f"/api/v1/lots/{lot.pk}/certificate/")
    assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_a_failing_lot_shows_its_oos_investigation(reader, technician):
    lot = lot_under_review(technician, failing="endotoxin").lot

    rows = reader.get("/api/v1/deviations/", {"lot": lot.code}).json()["results"]
    evaluation = reader.get(f"/api/v1/lots/{lot.pk}/evaluation/").json()

    assert [(r["kind"], r["status"]) for r in rows] == [("oos", "open")]
    assert evaluation["overall"] == "fail"


def test_release_lists_keep_a_constant_query_count(reader, qa_user, technician):
    from tests.release.helpers import draft_specification

    def count(path):
        with CaptureQueriesContext(connection) as ctx:
            assert reader.get(path).status_code == 200
        return len(ctx.captured_queries)

    paths = ["/api/v1/specifications/", "/api/v1/deviations/", "/api/v1/signatures/"]
    lot_under_review(technician, failing="endotoxin")
    few = [count(p) for p in paths]
    draft_specification(qa_user, version=3)
    draft_specification(qa_user, version=4)
    lot_under_review(technician, failing="sterility")
    lot_under_review(technician, failing="mode_size")
    assert [count(p) for p in paths] == few


# --- Releasable and blockers (release gate, item 12) ------------------------------------------


def _codes(body) -> list[str]:
    return [b["code"] for b in body["blockers"]]


def test_a_passing_lot_under_review_is_releasable_with_no_blockers(reader, technician):
    lot = lot_under_review(technician).lot
    body = reader.get(f"/api/v1/lots/{lot.pk}/evaluation/").json()

    assert body["releasable"] is True
    assert body["blockers"] == []


def test_an_oos_lot_names_the_failing_criterion_and_its_open_investigation(reader, technician):
    from release.models import Deviation
    from release.selectors import release_blockers

    lot = lot_under_review(technician, failing="endotoxin").lot
    oos = Deviation.objects.get(lot=lot, kind="oos")
    body = reader.get(f"/api/v1/lots/{lot.pk}/evaluation/").json()

    assert body["releasable"] is False
    assert _codes(body) == ["criterion_failed", "oos_open"]
    failed, investigation = body["blockers"]
    assert failed["object"]["type"] == "criterion"
    assert failed["object"]["code"].startswith("endotoxin")
    assert failed["object"]["id"] == oos.criterion_id
    assert investigation["object"] == {"type": "deviation", "id": oos.pk, "code": oos.code}
    # The same list, in the same words, as the review page shows.
    assert [b["message"] for b in body["blockers"]] == [str(b) for b in release_blockers(lot)]


def test_a_lot_not_under_review_says_so_first(reader, technician):
    lot = factories.lot(technician)
    body = reader.get(f"/api/v1/lots/{lot.pk}/evaluation/").json()

    assert body["releasable"] is False
    assert _codes(body)[0] == "lot_not_under_review"
    assert body["blockers"][0]["object"] == {"type": "lot", "id": lot.pk, "code": lot.code}
    assert body["blockers"][0]["message"] == (
        "The lot is in process: only a lot under review can be released."
    )
    assert set(_codes(body)[1:]) <= {"not_evaluated", "no_specification", "source_batch_incomplete"}


def test_a_released_lot_is_not_releasable_again(reader, released):
    body = reader.get(f"/api/v1/lots/{released.pk}/evaluation/").json()
    assert body["releasable"] is False and _codes(body) == ["lot_not_under_review"]


def test_the_lot_evaluation_keeps_a_constant_query_count(reader, technician):
    def count(lot):
        with CaptureQueriesContext(connection) as ctx:
            assert reader.get(f"/api/v1/lots/{lot.pk}/evaluation/").status_code == 200
        return len(ctx.captured_queries)

    passing = count(lot_under_review(technician).lot)
    failing = count(lot_under_review(technician, failing="endotoxin").lot)
    assert failing == passing


def test_a_culture_batch_evaluation_has_its_own_releasable_and_blockers(
    reader, technician, qa_user
):
    from release.deviations import deviation_open

    batch = factories.culture_batch(technician)
    body = reader.get(f"/api/v1/culture-batches/{batch.pk}/evaluation/").json()
    assert body["culture_batch"] == batch.code and body["status"] == "in_culture"
    assert body["releasable"] is False
    assert _codes(body) in (["not_evaluated"], ["no_specification"])

    deviation = deviation_open(
        actor=qa_user,
        kind="process",
        title="Incubator CO2 excursion",
        description="5.9% for 40 min",
        culture_batch=batch,
    )
    body = reader.get(f"/api/v1/culture-batches/{batch.pk}/evaluation/").json()
    assert body["blockers"][-1] == {
        "code": "deviation_open",
        "message": f"Deviation {deviation.code} (Incubator CO2 excursion) is open.",
        "object": {"type": "deviation", "id": deviation.pk, "code": deviation.code},
    }
    assert reader.get("/api/v1/culture-batches/0/evaluation/").status_code == 404


def test_the_schema_documents_releasable_and_blockers(client, technician):
    client.force_login(technician)
    document = client.get("/api/schema/").json()
    schemas = document["components"]["schemas"]

    for path, name in (
        ("/api/v1/lots/{id}/evaluation/", "LotEvaluationOutput"),
        ("/api/v1/culture-batches/{id}/evaluation/", "CultureBatchEvaluationOutput"),
    ):
        ok = document["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
        assert ok["schema"]["$ref"].endswith(f"/{name}")
        properties = schemas[name]["properties"]
        assert properties["releasable"]["type"] == "boolean"
        assert properties["blockers"]["type"] == "array"
    blocker = schemas["BlockerOutput"]["properties"]
    assert set(blocker) == {"code", "message", "object"}
    code_enum = blocker["code"]["allOf"][0]["$ref"].rsplit("/", 1)[1]
    assert {"lot_not_under_review", "criterion_failed", "oos_open", "oos_confirmed"} <= set(
        schemas[code_enum]["enum"]
    )
