"""Uploading an instrument file from the browser: the API's path, its status page, its bytes."""

import hashlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from assays import services
from assays.models import AssayRun, InstrumentFile, Result
from tests import factories
from tests.assays_pages.conftest import NTA_FILE, signed_in


def _upload(client, sample, *, data=None, name=NTA_FILE.name, assay="NTA", **extra):
    upload = SimpleUploadedFile(name, NTA_FILE.read_bytes() if data is None else data)
    return client.post(
        reverse("assays:file_upload"),
        {"file": upload, "sample": sample, "assay": assay, "format_hint": "", **extra},
    )


def test_uploaded_nta_export_is_parsed_into_results_and_downloads_byte_for_byte(
    technician, qa_user, lot, django_capture_on_commit_callbacks
):
    client = signed_in(technician)
    with django_capture_on_commit_callbacks(execute=True):
        response = _upload(client, lot.code)

    record = InstrumentFile.objects.get()
    assert response["Location"] == reverse("assays:file_detail", args=[record.pk])
    assert record.status == "parsed", record.error
    assert (record.detected_format, record.uploaded_by) == ("nanosight", technician)
    run = AssayRun.objects.get(source_file=record)
    assert run.results.count() == 12 * 7  # twelve videos, seven statistics each
    assert run.samples.get().lot == lot
    assert Result.objects.filter(source_file=record).count() == run.results.count()

    status = client.get(reverse("assays:file_status", args=[record.pk])).content.decode()
    assert "hx-trigger" not in status  # parsed: the panel stops polling
    assert run.get_absolute_url() in status and "84 results" in status

    download = signed_in(qa_user).get(reverse("assays:file_download", args=[record.pk]))
    body = b"".join(download) if download.streaming else download.content
    assert body == NTA_FILE.read_bytes()
    assert download["Content-Disposition"] == f'attachment; filename="{NTA_FILE.name}"'
    assert download["X-Content-SHA256"] == hashlib.sha256(body).hexdigest() == record.sha256

    lot_page = client.get(lot.get_absolute_url()).content.decode()
    assert run.get_absolute_url() in lot_page
    assert reverse("assays:file_download", args=[record.pk]) in lot_page


def test_a_queued_file_page_polls_its_status_panel(technician, received_file):
    page = signed_in(technician).get(reverse("assays:file_detail", args=[received_file.pk]))

    html = page.content.decode()
    assert received_file.status == "queued"
    assert f'hx-get="{reverse("assays:file_status", args=[received_file.pk])}"' in html
    assert 'hx-trigger="every 2s"' in html


def test_a_file_that_cannot_be_read_says_why_and_leaves_no_run(
    technician, lot, django_capture_on_commit_callbacks
):
    client = signed_in(technician)
    with django_capture_on_commit_callbacks(execute=True):
        _upload(client, lot.code, data=b"not an instrument export\n", name="notes.txt")

    record = InstrumentFile.objects.get()
    assert record.status == "failed" and record.error
    assert not AssayRun.objects.exists()
    page = client.get(reverse("assays:file_detail", args=[record.pk])).content.decode()
    assert "could not be read" in page


@pytest.mark.parametrize("to", ["released", "rejected"])
def test_upload_for_a_locked_lot_is_refused_with_the_service_message(technician, qa_user, lot, to):
    factories.finalize_lot(qa_user, lot, to)

    response = _upload(signed_in(technician), lot.code)

    assert response.status_code == 200
    assert (
        f"Lot {lot} is {to}: it takes no new results." in response.context["form"].errors["sample"]
    )
    assert not InstrumentFile.objects.exists()


def test_culture_batch_page_shows_its_runs(technician, batch):
    run = services.run_record(
        actor=technician,
        source="manual",
        assay_code="VIABILITY",
        started_at=batch.created_at,
        results=[services.ResultInput(sample=batch.code, analyte="viability", value=96.5)],
    )

    page = signed_in(technician).get(batch.get_absolute_url()).content.decode()

    assert run.get_absolute_url() in page and "96.5" in page
