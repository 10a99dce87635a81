"""Bounded work and crash-safe originals through the instrument API (issue 11 items 4 and 5).

Found: JSON bodies shared the 100 MB upload limit (a 95 MB post grew a worker by 1.46 GB); a
713 KB xlsx decompression bomb held the only Celery worker for 527 s and 1.37 GB; a file whose
bytes never arrived whole stayed `queued` and its download answered 500.
"""

import hashlib
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from celery.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from assays import services, tasks
from assays.api.errors import PayloadTooLarge
from assays.api.parsers import JSONParser
from assays.models import AssayRun, IdempotencyRecord, InstrumentFile, RecomputeJob
from lims import file_store
from tests import factories
from tests.api.conftest import DATA, a_run, register_instrument
from tests.parsers.test_archive import decompression_bomb

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
RUNS = "/api/v1/runs/"
FILES = "/api/v1/instrument-files/"
NTA = DATA / "nta" / "nanosight_nta32_beads.csv"


def _upload(client, name: str, data: bytes, assay: str, sample: str, **headers):
    form = {
        "file": SimpleUploadedFile(name, data),
        "sample": sample,
        "assay": assay,
        "reagent_lots": factories.reagent_ids_for(assay),
    }
    return client.post(FILES, form, format="multipart", **headers)


# --- JSON bodies have a limit of their own -----------------------------------------------------


def test_the_json_limit_is_a_few_mb_and_apart_from_the_file_limit():
    assert django_settings.API_JSON_MAX_BYTES == 5 * 1024 * 1024
    assert django_settings.DATA_UPLOAD_MAX_MEMORY_SIZE == django_settings.API_JSON_MAX_BYTES
    assert django_settings.FILE_UPLOAD_MAX_BYTES == 100 * 1024 * 1024


def test_a_json_run_over_the_json_limit_is_413_and_records_nothing(client_for_key, lot, settings):
    settings.API_JSON_MAX_BYTES = 4000
    body = json.dumps(a_run(lot.code)).encode() + b" " * 5000  # valid JSON, under 100 MB

    response = client_for_key.generic(
        "POST", RUNS, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="big-1"
    )

    assert response.status_code == 413
    answer = response.json()
    assert answer["code"] == "payload_too_large"
    assert "JSON body limit of 4000 bytes" in answer["message"]
    assert set(answer) == {"code", "message", "errors"}
    assert not AssayRun.objects.exists() and not IdempotencyRecord.objects.exists()
    # The same body within the limit is recorded.
    small = client_for_key.post(RUNS, a_run(lot.code), format="json")
    assert small.status_code == 201, small.json()


def test_an_asm_document_over_the_json_limit_is_413(client_for_key, culture_batch, settings):
    settings.API_JSON_MAX_BYTES = 1000
    document = {"$asm.manifest": "x" * 2000}

    response = client_for_key.post(
        f"{RUNS}asm/?assay=VIABILITY&sample={culture_batch.code}", document, format="json"
    )

    assert (response.status_code, response.json()["code"]) == (413, "payload_too_large")


def test_the_json_parser_reads_no_more_than_the_limit_whatever_the_headers(settings):
    """A body longer than its Content-Length said (or sent without one) is cut at the limit."""
    settings.API_JSON_MAX_BYTES = 1000

    class Counting(io.BytesIO):
        read_bytes = 0

        def read(self, size=-1):
            chunk = super().read(size)
            self.read_bytes += len(chunk)
            return chunk

    stream = Counting(b"[" + b"1," * 50_000 + b"1]")
    with pytest.raises(PayloadTooLarge):
        JSONParser().parse(stream, "application/json", {})
    assert stream.read_bytes <= 1001
    assert JSONParser().parse(io.BytesIO(b'{"a": [1, 2]}'), "application/json", {}) == {"a": [1, 2]}


def test_a_file_upload_is_held_to_the_file_limit_not_the_json_limit(
    client_for_key, lot, media_root, settings
):
    settings.API_JSON_MAX_BYTES = 1000
    data = NTA.read_bytes()
    assert len(data) > 10 * 1000

    response = _upload(client_for_key, NTA.name, data, "NTA", lot.code)

    assert response.status_code == 202, response.json()


# --- Zip containers are bounded before anything inflates them ----------------------------------


@pytest.fixture(scope="module")
def bomb() -> bytes:
    return decompression_bomb()


def test_an_xlsx_bomb_is_refused_at_upload_with_413_archive_too_large(
    client_for_key, culture_batch, media_root, bomb
):
    response = _upload(
        client_for_key, "counts.xlsx", bomb, "VIABILITY", culture_batch.code,
        HTTP_IDEMPOTENCY_KEY="bomb-1",
    )  # fmt: skip

    assert response.status_code == 413
    answer = response.json()
    assert answer["code"] == "archive_too_large"
    assert "over the limit of 52428800 bytes" in answer["errors"]["file"][0]
    assert not InstrumentFile.objects.exists()
    assert not list(Path(media_root).glob("instrument-files/*/*"))  # nothing kept either
    # The refusal is replayed to a retry with the same key, like any 4xx.
    again = _upload(
        client_for_key, "counts.xlsx", bomb, "VIABILITY", culture_batch.code,
        HTTP_IDEMPOTENCY_KEY="bomb-1",
    )  # fmt: skip
    assert again.status_code == 413 and again["Idempotent-Replayed"] == "true"


def test_an_xlsx_bomb_uploaded_in_the_browser_is_a_form_error(
    technician, admin_user, culture_batch, media_root, bomb
):
    client = Client()
    client.force_login(technician, backend="django.contrib.auth.backends.ModelBackend")

    page = client.post(
        reverse("assays:file_upload"),
        {
            "file": SimpleUploadedFile("counts.xlsx", bomb),
            "sample": culture_batch.code,
            "assay": "VIABILITY",
            "format_hint": "",
            "instrument": register_instrument(admin_user).pk,
        },
    )

    assert page.status_code == 200
    assert "over the limit of 52428800 bytes" in page.content.decode()
    assert not InstrumentFile.objects.exists()


def _queued(data: bytes, *, name: str, assay: str, sample: str, store: bool = True):
    """A file record as an earlier release (or a crash) left it: queued, its bytes stored, or
    not, under their SHA-256."""
    digest = hashlib.sha256(data).hexdigest()
    if store:
        file_store.store(data, folder=InstrumentFile.STORE_FOLDER)
    return InstrumentFile.objects.create(
        sha256=digest,
        size=len(data),
        original_name=name,
        sample_identifier=sample,
        assay_code=assay,
        reagent_lot_ids=factories.reagent_ids_for(assay),
    )


def test_a_queued_bomb_fails_with_the_reason_without_being_opened(
    culture_batch, media_root, bomb, monkeypatch
):
    from assays.parsers import asm

    def must_not_open(*args, **kwargs):
        raise AssertionError("allotropy was handed the bomb")

    monkeypatch.setattr(asm, "allotrope_model_from_io", must_not_open)
    monkeypatch.setattr(asm, "vendor_from_io", must_not_open)
    record = _queued(bomb, name="counts.xlsx", assay="VIABILITY", sample=culture_batch.code)

    parsed = services.instrument_file_parse(record.pk)

    assert parsed.status == "failed"
    assert "over the limit of 52428800 bytes" in parsed.error
    assert not AssayRun.objects.exists()


# --- Originals that never arrived whole ------------------------------------------------------


def test_a_file_whose_bytes_never_arrived_ends_failed_not_queued(lot, media_root):
    record = _queued(NTA.read_bytes(), name=NTA.name, assay="NTA", sample=lot.code, store=False)

    parsed = services.instrument_file_parse(record.pk)

    assert parsed.status == "failed"
    assert "missing from the file store" in parsed.error


def test_a_file_whose_stored_bytes_were_cut_short_ends_failed(lot, media_root):
    data = NTA.read_bytes()
    record = _queued(data, name=NTA.name, assay="NTA", sample=lot.code)
    stored = Path(media_root) / record.storage_name
    stored.write_bytes(data[: len(data) // 7])

    parsed = services.instrument_file_parse(record.pk)

    assert parsed.status == "failed" and "no longer matches its SHA-256" in parsed.error


def test_a_retry_after_a_crash_replaces_the_truncated_original_and_is_parsed(
    client_for_key, lot, media_root, django_capture_on_commit_callbacks
):
    """The crash left part of the file under its hash; the retry stores it whole."""
    data = NTA.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    stored = Path(media_root) / file_store.storage_name(InstrumentFile.STORE_FOLDER, digest)
    stored.parent.mkdir(parents=True)
    stored.write_bytes(data[: len(data) // 7])

    with django_capture_on_commit_callbacks(execute=True):
        response = _upload(client_for_key, NTA.name, data, "NTA", lot.code)

    assert response.status_code == 202 and response.json()["sha256"] == digest
    assert stored.read_bytes() == data
    record = InstrumentFile.objects.get()
    assert record.status == "parsed", record.error


@pytest.mark.parametrize("damage", ["missing", "altered"])
def test_the_download_of_a_missing_or_altered_original_is_409_not_500(
    technician, lot, media_root, damage
):
    data = NTA.read_bytes()
    record = _queued(data, name=NTA.name, assay="NTA", sample=lot.code)
    stored = Path(media_root) / record.storage_name
    if damage == "missing":
        stored.unlink()
    else:
        stored.write_bytes(data + b"\n")
    client = Client()
    client.force_login(technician, backend="django.contrib.auth.backends.ModelBackend")
    client.raise_request_exception = False

    page = client.get(reverse("assays:file_download", args=[record.pk]))

    assert page.status_code == 409
    html = page.content.decode()
    assert "cannot be served" in html and record.sha256 in html
    assert ("missing from the file store" if damage == "missing" else "no longer match") in html
    assert reverse("assays:file_detail", args=[record.pk]) in html
    assert "Content-Disposition" not in page


# --- Time limits -----------------------------------------------------------------------------


def test_a_parse_past_its_soft_time_limit_ends_failed_with_the_reason(lot, media_root, monkeypatch):
    record = _queued(NTA.read_bytes(), name=NTA.name, assay="NTA", sample=lot.code)

    def too_slow(file_id):
        raise SoftTimeLimitExceeded()

    monkeypatch.setattr(services, "instrument_file_parse", too_slow)

    assert tasks.parse_instrument_file(str(record.pk)) == "failed"
    record.refresh_from_db()
    assert record.status == "failed"
    assert record.error == tasks.over_time(django_settings.FILE_PARSE_SOFT_TIME_LIMIT)
    assert "time limit of 120 s" in record.error


def test_a_parse_killed_at_its_hard_time_limit_ends_failed_too(lot, media_root):
    record = _queued(NTA.read_bytes(), name=NTA.name, assay="NTA", sample=lot.code)
    task = tasks.parse_instrument_file

    # What the worker's main process calls once it has killed the child (celery Request).
    task.on_failure(TimeLimitExceeded(150), "task-id", [str(record.pk)], {}, None)

    record.refresh_from_db()
    assert record.status == "failed" and "time limit of 150 s" in record.error
    # Any other failure leaves the file to the catch-up.
    other = _queued(b"Other,file\n", name="other.csv", assay="NTA", sample=lot.code)
    task.on_failure(RuntimeError("broker gone"), "task-id", [str(other.pk)], {}, None)
    other.refresh_from_db()
    assert other.status == "queued"


def test_a_recompute_job_past_its_soft_time_limit_is_failed_with_the_reason(
    client_for_key, lot, analyst, monkeypatch
):
    assert client_for_key.post(RUNS, a_run(lot.code), format="json").status_code == 201
    job = RecomputeJob.objects.create(requested_by=analyst)

    def too_slow(run_id):
        raise SoftTimeLimitExceeded()

    monkeypatch.setattr(tasks.metrics, "compute_run_metrics", too_slow)
    with pytest.raises(SoftTimeLimitExceeded):
        tasks.run_recompute_job(job.pk)

    job.refresh_from_db()
    assert job.status == "failed"
    assert job.error == tasks.over_time(django_settings.CELERY_TASK_SOFT_TIME_LIMIT)


def test_every_task_has_time_limits_and_a_killed_workers_task_returns_in_minutes():
    from lims.celery import app

    conf = app.conf
    visibility = conf.broker_transport_options["visibility_timeout"]
    assert conf.task_acks_late and conf.task_reject_on_worker_lost
    assert 300 < visibility <= 15 * 60  # minutes, not Redis's default hour
    assert conf.task_soft_time_limit < conf.task_time_limit < visibility
    assert conf.worker_max_tasks_per_child and conf.worker_max_memory_per_child
    app.loader.import_default_modules()
    ours = [t for name, t in app.tasks.items() if name.startswith(("lims.", "assays.", "release."))]
    assert len(ours) >= 8
    for task in ours:
        hard = task.time_limit or conf.task_time_limit
        soft = task.soft_time_limit or conf.task_soft_time_limit
        assert soft < hard < visibility, task.name
        if getattr(
            task, "autoretry_for", ()
        ):  # a retry's countdown waits, unacknowledged, in the worker
            assert task.retry_backoff_max < visibility, task.name
    parse = app.tasks["assays.tasks.parse_instrument_file"]
    assert (parse.soft_time_limit, parse.time_limit) == (120, 150)
    assert app.tasks["release.tasks.issue_lot_certificate"].soft_time_limit == 120


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CELERY_VISIBILITY_TIMEOUT": "200"}, "CELERY_VISIBILITY_TIMEOUT must exceed"),
        ({"CELERY_TASK_SOFT_TIME_LIMIT": "300"}, "must be below CELERY_TASK_TIME_LIMIT"),
    ],
)
def test_settings_refuse_limits_that_would_run_a_task_twice(env, message):
    result = subprocess.run(
        [sys.executable, "-c", "import lims.settings"],
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "DEBUG": "True",  # past the production check, to the limits
            "DATABASE_URL": "postgres://nobody@127.0.0.1:1/none",
            "PYTHONPATH": str(ROOT),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode != 0 and "ImproperlyConfigured" in result.stderr
    assert message in result.stderr


def test_gunicorn_workers_are_recycled_where_it_is_started():
    compose = (ROOT / "docker-compose.yml").read_text()
    dockerfile = (ROOT / "Dockerfile").read_text()

    web = compose.split("\n  web:\n", 1)[1].split("\n  worker:\n", 1)[0]
    assert re.search(r"--max-requests \d+ --max-requests-jitter \d+", web)
    cmd = dockerfile.rsplit("CMD", 1)[1]
    assert '"--max-requests", "1000"' in cmd and '"--max-requests-jitter", "100"' in cmd
