"""Uploading an instrument file from the browser: read and shown for confirmation by the names
the file gives its samples (nothing written before), then the API's path, its status page, its
bytes."""

import hashlib
import html
import re
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from assays import services, upload_stash
from assays.models import AssayRun, InstrumentFile, Result
from tests import factories
from tests.assays_pages.conftest import NTA_FILE, register_instrument, signed_in

VICELL = Path(__file__).resolve().parents[1] / "data" / "instruments" / "vicell_blu_example01.csv"
_HIDDEN = re.compile(r'<input type="hidden" name="([\w-]+)" value="([^"]*)"')


def hidden_fields(page) -> dict[str, list[str]]:
    """The hidden inputs of a confirmation page, as the browser posts them back."""
    fields: dict[str, list[str]] = {}
    for name, value in _HIDDEN.findall(page.content.decode()):
        fields.setdefault(name, []).append(html.unescape(value))
    return fields


def _read(client, sample, *, data=None, name=NTA_FILE.name, assay="NTA", **extra):
    """Step 1: the form; the confirmation page (200) or the form again with its errors."""
    upload = SimpleUploadedFile(name, NTA_FILE.read_bytes() if data is None else data)
    body = {"file": upload, "sample": sample, "assay": assay, "format_hint": ""}
    return client.post(reverse("assays:file_upload"), {**body, **extra})


def _confirm(client, page, **names):
    return client.post(reverse("assays:file_upload"), {**hidden_fields(page), **names})


def _upload(client, sample, *, instrument, **kwargs):
    page = _read(client, sample, instrument=instrument.pk, **kwargs)
    if "ticket" not in hidden_fields(page):
        return page
    return _confirm(client, page)


def _originals_and_stash():
    return [p for p in Path(default_storage.path("")).glob("instrument-files*/*/*")]


def test_uploaded_nta_export_is_parsed_into_results_and_downloads_byte_for_byte(
    technician, qa_user, lot, instrument, django_capture_on_commit_callbacks
):
    client = signed_in(technician)
    page = _read(client, lot.code, instrument=instrument.pk)
    # Read and shown, nothing recorded: the bytes wait in the stash, the browser holds a ticket.
    assert page.status_code == 200 and "Confirm the samples of" in page.content.decode()
    assert not InstrumentFile.objects.exists()
    assert [p.parent.parent.name for p in _originals_and_stash()] == [upload_stash.FOLDER]
    with django_capture_on_commit_callbacks(execute=True):
        response = _confirm(client, page)

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
    # Received: the stash is gone, the original is kept.
    assert [p.parent.parent.name for p in _originals_and_stash()] == ["instrument-files"]


def test_a_queued_file_page_polls_its_status_panel(technician, received_file):
    page = signed_in(technician).get(reverse("assays:file_detail", args=[received_file.pk]))

    html = page.content.decode()
    assert received_file.status == "queued"
    assert f'hx-get="{reverse("assays:file_status", args=[received_file.pk])}"' in html
    assert 'hx-trigger="every 2s"' in html


def test_a_file_that_cannot_be_read_says_why_next_to_the_file_and_keeps_nothing(
    technician, lot, instrument
):
    page = _read(
        signed_in(technician),
        lot.code,
        data=b"not an instrument export\n",
        name="notes.txt",
        instrument=instrument.pk,
    )

    assert page.status_code == 200
    assert page.context["form"].errors["file"][0].startswith("The file could not be read")
    assert not InstrumentFile.objects.exists() and not _originals_and_stash()


@pytest.mark.parametrize("to", ["released", "rejected"])
def test_upload_for_a_locked_lot_is_refused_with_the_service_message(
    technician, qa_user, lot, instrument, to
):
    factories.finalize_lot(qa_user, lot, to)

    response = _upload(signed_in(technician), lot.code, instrument=instrument)

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


@pytest.fixture
def vicell_page(technician, admin_user):
    """Step 1 of the Vi-CELL export (ten culture batches CLB001…CLB011, none known)."""
    counter = register_instrument(admin_user, code="VC-01", assay_codes=("VIABILITY",))
    client = signed_in(technician)
    page = _read(
        client,
        "",
        data=VICELL.read_bytes(),
        name=VICELL.name,
        assay="VIABILITY",
        instrument=counter.pk,
        reagent_lots=factories.reagent_ids_for("VIABILITY"),
    )
    assert page.status_code == 200, page.context["form"].errors
    return client, page


def test_each_unknown_name_is_mapped_or_left_out_with_the_error_next_to_its_field(
    vicell_page, technician
):
    client, page = vicell_page
    rows = page.context["rows"]
    assert [r["name"].identifier for r in rows][:2] == ["CLB001", "CLB002"] and len(rows) == 10
    batch = factories.culture_batch(technician)
    names = {f"name-{n}-reason": "another study" for n in range(3, 10)}
    names |= {
        "name-0-sample": batch.code,
        "name-1-sample": "CB-NO-SUCH",  # unknown
        "name-2-sample": batch.code,  # and also left out: one or the other
        "name-2-reason": "spilled",
    }
    names.pop("name-9-reason")  # neither

    again = _confirm(client, page, **names)

    assert again.status_code == 200
    form = again.context["form"]
    assert form.errors["name-1-sample"] == [
        "No culture batch 'CB-NO-SUCH' (assay VIABILITY tests culture batches)."
    ]
    assert form.errors["name-2-reason"] == [
        "Either give its LIMS sample or leave it out with a reason, not both."
    ]
    assert form.errors["name-9-sample"] == ["Give its LIMS sample, or leave it out with a reason."]
    html = again.content.decode()
    assert "CB-NO-SUCH" in html and 'class="form-control is-invalid"' in html
    assert not InstrumentFile.objects.exists()


def test_two_names_for_one_culture_batch_are_refused(vicell_page, technician):
    client, page = vicell_page
    batch = factories.culture_batch(technician)
    names = {f"name-{n}-reason": "not ours" for n in range(2, 10)}

    again = _confirm(
        client, page, **{"name-0-sample": batch.code, "name-1-sample": batch.code}, **names
    )

    assert again.status_code == 200
    assert any("never one LIMS sample" in e for e in again.context["form"].non_field_errors())
    assert not InstrumentFile.objects.exists()


def test_a_ticket_of_another_user_or_forged_is_refused(vicell_page, make_user):
    _, page = vicell_page
    other = signed_in(make_user("technician", username="other.tech"))
    fields = hidden_fields(page)
    names = {f"name-{n}-reason": "x" for n in range(10)}

    stolen = other.post(reverse("assays:file_upload"), {**fields, **names})
    forged = other.post(
        reverse("assays:file_upload"), {**fields, **names, "ticket": fields["ticket"][0] + "x"}
    )

    for response in (stolen, forged):
        assert response["Location"] == reverse("assays:file_upload")
    assert not InstrumentFile.objects.exists()
