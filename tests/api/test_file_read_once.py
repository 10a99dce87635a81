"""An instrument file is read once (issue 10 item 7): the ASM document allotropy wrote when the
file was received is kept (assays.kept_readings) and the worker records the run from it without
converting the file again, unless that document cannot be trusted; a NanoSight export is parsed
once for its results, its NTA reading and its size-fraction metric. And a worker runs the steps
of one operation (a run's metrics, then its lot's evaluation) in the task that did the first,
handing a step that fails there to the broker (assays.tasks.follow_up)."""

import json
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from assays import ingest, kept_readings, tasks
from assays.models import AssayRun, InstrumentFile, QCMetric
from assays.parsers import asm, nanosight
from assays.parsers.file_samples import records_from_asm
from lims import file_store
from tests import factories
from tests.api.conftest import DATA
from tests.plate.test_plate_upload import bca_layout

pytestmark = pytest.mark.django_db

FILES = "/api/v1/instrument-files/"
GEN5 = DATA / "instruments" / "gen5_absorbance_stdcurve_singleplate.txt"
NTA = DATA / "nta" / "nanosight_nta32_beads.csv"


def _post_gen5(client, lot):
    return client.post(
        FILES,
        {
            "file": SimpleUploadedFile(GEN5.name, GEN5.read_bytes()),
            "assay": "BCA",
            "reagent_lots": factories.reagent_ids_for("BCA"),
            "plate_layout": json.dumps(bca_layout({"SPL1": lot.code})),
        },
        format="multipart",
    )


def _refuse_conversion(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("allotropy converted the file a second time")

    monkeypatch.setattr(asm, "allotrope_model_from_io", refuse)
    monkeypatch.setattr(asm, "vendor_from_io", refuse)


def _results(record):
    run = AssayRun.objects.get(source_file=record)
    return sorted(run.results.values_list("analyte__code", "well", "value"))


def test_the_worker_records_the_plate_from_the_document_kept_at_receipt(
    client_for_key, media_root, lot, django_capture_on_commit_callbacks, monkeypatch
):
    with django_capture_on_commit_callbacks() as queued:
        response = _post_gen5(client_for_key, lot)
    assert response.status_code == 202, response.json()
    record = InstrumentFile.objects.get()
    kept = kept_readings.kept(record.asm_sha256)
    assert kept is not None
    # What allotropy writes, but for the random identifiers it gives each measurement.
    converted = asm.convert(GEN5.read_bytes(), GEN5.name, validate=False)
    assert records_from_asm(kept) == records_from_asm(converted)

    _refuse_conversion(monkeypatch)
    for callback in queued:
        callback()

    record.refresh_from_db()
    assert record.status == "parsed", record.error
    assert record.detected_format == "asm"
    assert _results(record)


@pytest.mark.parametrize("damage", ["altered", "missing", "other converter"])
def test_a_kept_document_that_cannot_be_trusted_is_not_used(
    client_for_key, media_root, lot, django_capture_on_commit_callbacks, damage
):
    """The original is the record: the worker converts it again, and the run is the same."""
    with django_capture_on_commit_callbacks(execute=True):
        _post_gen5(client_for_key, lot)
    expected = _results(InstrumentFile.objects.get())
    other = factories.lot(lot.created_by)
    with django_capture_on_commit_callbacks() as queued:
        _post_gen5(client_for_key, other)
    record = InstrumentFile.objects.filter(status="queued").get()
    stored = Path(media_root) / file_store.storage_name(
        kept_readings.FOLDER, record.asm_sha256, kept_readings.SUFFIX
    )
    envelope = json.loads(stored.read_bytes())
    if damage == "altered":
        envelope["document"]["$asm.manifest"] = "elsewhere"
        stored.write_text(json.dumps(envelope))
    elif damage == "missing":
        stored.unlink()
    else:
        # Written by another allotropy version: the digest checks, the converter does not.
        envelope["converter"] = "allotropy 0.0.1"
        record.asm_sha256 = file_store.store(
            json.dumps(envelope).encode(), folder=kept_readings.FOLDER, suffix=kept_readings.SUFFIX
        )
        InstrumentFile.objects.filter(pk=record.pk).update(asm_sha256=record.asm_sha256)

    assert kept_readings.kept(record.asm_sha256) is None
    for callback in queued:
        callback()

    record.refresh_from_db()
    assert record.status == "parsed", record.error
    assert _results(record) == expected


def test_a_nanosight_export_is_parsed_once_from_receipt_to_its_metrics(
    client_for_key, media_root, lot, django_capture_on_commit_callbacks, monkeypatch
):
    calls = []
    parse = nanosight.parse
    monkeypatch.setattr(nanosight, "parse", lambda data: calls.append(1) or parse(data))
    monkeypatch.setattr(ingest, "_NTA_EXPORTS", type(ingest._NTA_EXPORTS)())

    with django_capture_on_commit_callbacks(execute=True):
        response = client_for_key.post(
            FILES,
            {
                "file": SimpleUploadedFile(NTA.name, NTA.read_bytes()),
                "assay": "NTA",
                "sample": lot.code,
            },
            format="multipart",
        )

    assert response.status_code == 202, response.json()
    run = AssayRun.objects.get(source_file__original_name=NTA.name)
    assert run.nta_summary.dilution_pending
    assert QCMetric.objects.filter(run=run, code="nta.fraction_50_400").exists()
    assert len(calls) == 1


def _evaluate_lot_stub(calls, fail=False):
    class Stub:
        name = "release.tasks.evaluate_lot"
        max_retries = 8

        def apply(self, args, retries, throw):
            calls.append(("here", args, retries))
            if fail:
                raise tasks.OperationalError("the database went away")

    return Stub()


@pytest.mark.parametrize("in_worker", [False, True])
def test_a_follow_up_runs_here_only_in_a_worker(monkeypatch, in_worker):
    calls = []
    monkeypatch.setattr(tasks, "_in_worker", in_worker)
    monkeypatch.setattr(tasks, "enqueue", lambda task, *args: calls.append(("sent", args)))

    tasks.follow_up(_evaluate_lot_stub(calls), 7)

    # In a worker: at once, with no eager retries of its own; elsewhere: sent to the broker.
    assert calls == ([("here", (7,), 8)] if in_worker else [("sent", (7,))])


def test_a_follow_up_that_fails_here_is_sent_to_the_broker(monkeypatch):
    calls = []
    monkeypatch.setattr(tasks, "_in_worker", True)
    monkeypatch.setattr(tasks, "enqueue", lambda task, *args: calls.append(("sent", args)))

    tasks.follow_up(_evaluate_lot_stub(calls, fail=True), 7)

    assert calls == [("here", (7,), 8), ("sent", (7,))]


def test_a_follow_up_run_here_is_not_retried_eagerly(monkeypatch, technician):
    """The real task, applied as follow_up applies it: a database error is raised at once
    (the broker retries it with backoff), not retried eight times in a row without a pause."""
    attempts = []

    def down(run_id):
        attempts.append(run_id)
        raise tasks.OperationalError("the database went away")

    monkeypatch.setattr(tasks.metrics, "compute_run_metrics", down)
    sent = []
    monkeypatch.setattr(tasks, "_in_worker", True)
    monkeypatch.setattr(tasks, "enqueue", lambda task, *args: sent.append((task.name, args)))

    tasks.follow_up(tasks.compute_run_metrics, 41)

    assert attempts == [41]
    assert sent == [("assays.tasks.compute_run_metrics", (41,))]
