"""Idempotency-Key on POST: replay, mismatch, in progress, and duplicates sent at once."""

import json
import threading
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from assays.api.idempotency import fingerprint
from assays.models import AssayRun, IdempotencyRecord, InstrumentFile
from tests.api.conftest import DATA, a_run, issue_key, key_client, register_instrument

RUNS = "/api/v1/runs/"


@pytest.mark.django_db
def test_retry_with_the_same_key_replays_the_answer_and_records_one_run(client_for_key, lot):
    body = a_run(lot.code)

    first = client_for_key.post(RUNS, body, format="json", HTTP_IDEMPOTENCY_KEY="run-1")
    retry = client_for_key.post(RUNS, body, format="json", HTTP_IDEMPOTENCY_KEY="run-1")

    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json()
    assert retry["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert AssayRun.objects.count() == 1


@pytest.mark.django_db
def test_refusals_are_replayed_too(client_for_key):
    body = a_run("EXO-1999-0001")

    first = client_for_key.post(RUNS, body, format="json", HTTP_IDEMPOTENCY_KEY="bad-1")
    retry = client_for_key.post(RUNS, body, format="json", HTTP_IDEMPOTENCY_KEY="bad-1")

    assert first.status_code == retry.status_code == 422
    assert retry.json() == first.json() and retry["Idempotent-Replayed"] == "true"


@pytest.mark.django_db
def test_same_key_with_another_body_is_422(client_for_key, lot):
    client_for_key.post(RUNS, a_run(lot.code), format="json", HTTP_IDEMPOTENCY_KEY="run-1")

    other = a_run(lot.code, external_id="PLATE-43")
    response = client_for_key.post(RUNS, other, format="json", HTTP_IDEMPOTENCY_KEY="run-1")

    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"
    assert AssayRun.objects.count() == 1


@pytest.mark.django_db
def test_retry_while_the_first_is_still_working_is_409(client_for_key, instrument, lot):
    payload = json.dumps(a_run(lot.code)).encode()
    IdempotencyRecord.objects.create(
        principal=f"instrument:{instrument.code}",
        key="run-1",
        request_hash=fingerprint("POST", RUNS, payload),
        path=RUNS,
    )

    response = client_for_key.generic(
        "POST", RUNS, payload, content_type="application/json", HTTP_IDEMPOTENCY_KEY="run-1"
    )

    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_request_in_progress"
    assert AssayRun.objects.count() == 0


@pytest.mark.django_db
def test_keys_are_per_instrument(admin_user, client_for_key, lot):
    other = key_client(issue_key(admin_user, register_instrument(admin_user)))

    for client in (client_for_key, other):
        response = client.post(RUNS, a_run(lot.code), format="json", HTTP_IDEMPOTENCY_KEY="k")
        assert response.status_code == 201 and "Idempotent-Replayed" not in response

    assert AssayRun.objects.count() == 2


@pytest.mark.django_db
def test_a_malformed_key_is_400(client_for_key, lot):
    response = client_for_key.post(
        RUNS, a_run(lot.code), format="json", HTTP_IDEMPOTENCY_KEY="x" * 201
    )

    assert (response.status_code, response.json()["code"]) == (400, "malformed_request")


@pytest.mark.django_db
def test_a_server_error_releases_the_key(client_for_key, lot, monkeypatch):
    from assays import services

    def broken(**kwargs):
        raise RuntimeError("database on fire")

    monkeypatch.setattr(services, "run_record", broken)
    client_for_key.raise_request_exception = False
    failed = client_for_key.post(RUNS, a_run(lot.code), format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert failed.status_code == 500
    assert not IdempotencyRecord.objects.exists()

    monkeypatch.undo()
    retry = client_for_key.post(RUNS, a_run(lot.code), format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert retry.status_code == 201 and "Idempotent-Replayed" not in retry


@pytest.mark.django_db
def test_file_upload_retry_is_replayed_whatever_the_multipart_boundary(
    client_for_key, lot, media_root
):
    data = (DATA / "nta" / "nanosight_nta32_beads.csv").read_bytes()

    def send(boundary):
        def part(name, content, extra=""):
            head = f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"{extra}\r\n'
            return head.encode() + b"\r\n" + content + b"\r\n"

        body = (
            part("sample", lot.code.encode())
            + part("assay", b"NTA")
            + part("file", data, '; filename="beads.csv"\r\nContent-Type: text/csv')
            + f"--{boundary}--\r\n".encode()
        )
        return client_for_key.generic(
            "POST",
            "/api/v1/instrument-files/",
            body,
            content_type=f"multipart/form-data; boundary={boundary}",
            HTTP_IDEMPOTENCY_KEY="upload-1",
        )

    first, retry = send("aaaa1111"), send("bbbb2222")

    assert first.status_code == retry.status_code == 202
    assert retry.json() == first.json() and retry["Idempotent-Replayed"] == "true"
    assert InstrumentFile.objects.count() == 1
    changed = client_for_key.post(
        "/api/v1/instrument-files/",
        {"file": SimpleUploadedFile("beads.csv", data + b"\n"), "sample": lot.code, "assay": "NTA"},
        format="multipart",
        HTTP_IDEMPOTENCY_KEY="upload-1",
    )
    assert changed.json()["code"] == "idempotency_key_reused"


@pytest.mark.django_db(transaction=True)
def test_ten_duplicates_sent_at_once_record_one_run(admin_user, technician):
    from tests import factories

    instrument = register_instrument(admin_user)
    key = issue_key(admin_user, instrument)
    body = a_run(factories.lot(technician).code)
    start = threading.Barrier(10)
    answers = []

    def send():
        try:
            client = key_client(key)
            start.wait()
            response = client.post(RUNS, body, format="json", HTTP_IDEMPOTENCY_KEY="same-run")
            replayed = response.get("Idempotent-Replayed")
            answers.append((response.status_code, response.json(), replayed))
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert AssayRun.objects.count() == 1
    assert len(answers) == 10
    statuses = sorted(status for status, _, _ in answers)
    assert set(statuses) <= {201, 409}, statuses
    created = [body for status, body, replayed in answers if status == 201 and not replayed]
    replayed = [body for status, body, replayed in answers if status == 201 and replayed]
    assert len(created) == 1
    assert all(body == created[0] for body in replayed)
    in_progress = [body for status, body, _ in answers if status == 409]
    assert all(body["code"] == "idempotency_request_in_progress" for body in in_progress)


# --- A request that died releases its key after a short lease (issue 11, finding 6) ----------


def _claimed_by_a_request(instrument, payload: bytes, *, lease_seconds: float, started_ago):
    from datetime import timedelta

    from django.utils import timezone

    now = timezone.now()
    return IdempotencyRecord.objects.create(
        principal=f"instrument:{instrument.code}",
        key="run-1",
        request_hash=fingerprint("POST", RUNS, payload),
        path=RUNS,
        created_at=now - started_ago,
        lease_until=now + timedelta(seconds=lease_seconds),
    )


@pytest.mark.django_db
def test_a_key_whose_request_died_is_taken_over_once_its_lease_ran_out(
    client_for_key, instrument, lot
):
    """Found: after a crash the same key answered 409 for 10 minutes."""
    from datetime import timedelta

    payload = json.dumps(a_run(lot.code)).encode()
    dead = _claimed_by_a_request(
        instrument, payload, lease_seconds=-1, started_ago=timedelta(seconds=45)
    )

    retry = client_for_key.generic(
        "POST", RUNS, payload, content_type="application/json", HTTP_IDEMPOTENCY_KEY="run-1"
    )

    assert retry.status_code == 201, retry.json()
    assert "Idempotent-Replayed" not in retry
    assert AssayRun.objects.count() == 1
    record = IdempotencyRecord.objects.get(pk=dead.pk)
    assert record.completed and record.response_status == 201
    replay = client_for_key.generic(
        "POST", RUNS, payload, content_type="application/json", HTTP_IDEMPOTENCY_KEY="run-1"
    )
    assert replay.status_code == 201 and replay["Idempotent-Replayed"] == "true"


@pytest.mark.django_db
def test_a_request_holding_its_lease_keeps_the_key_however_long_ago_it_started(
    client_for_key, instrument, lot
):
    """A long upload renewing its lease is never taken over (the old rule: after 10 minutes)."""
    from datetime import timedelta

    payload = json.dumps(a_run(lot.code)).encode()
    _claimed_by_a_request(instrument, payload, lease_seconds=20, started_ago=timedelta(hours=1))

    response = client_for_key.generic(
        "POST", RUNS, payload, content_type="application/json", HTTP_IDEMPOTENCY_KEY="run-1"
    )

    assert (response.status_code, response.json()["code"]) == (
        409,
        "idempotency_request_in_progress",
    )
    assert AssayRun.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_running_request_renews_its_lease_and_answers_at_the_end(
    admin_user, technician, settings, monkeypatch
):
    from django.utils import timezone

    from assays import services
    from tests import factories

    settings.IDEMPOTENCY_LEASE_SECONDS = 0.6
    client = key_client(issue_key(admin_user, register_instrument(admin_user)))
    body = a_run(factories.lot(technician).code)
    real_run_record = services.run_record
    leases = []

    def slow_run_record(**kwargs):
        for _ in range(3):  # 1.5 s: two and a half leases
            leases.append(IdempotencyRecord.objects.get(key="slow").lease_until)
            time.sleep(0.5)
        leases.append(IdempotencyRecord.objects.get(key="slow").lease_until)
        assert leases[-1] > timezone.now(), "the lease ran out while the request was running"
        return real_run_record(**kwargs)

    monkeypatch.setattr(services, "run_record", slow_run_record)
    response = client.post(RUNS, body, format="json", HTTP_IDEMPOTENCY_KEY="slow")

    assert response.status_code == 201, response.json()
    assert leases == sorted(leases) and leases[-1] > leases[0]
    assert IdempotencyRecord.objects.get(key="slow").completed
    assert all(t.name != "idempotency-lease" for t in threading.enumerate())
