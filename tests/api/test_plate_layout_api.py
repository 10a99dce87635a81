"""POST /api/v1/instrument-files/ with a plate layout (issue 10 items 5 and 7): the plate is
computed from its standards as from the upload form; a layout that cannot be used is refused
under `plate_layout`. And a client's ASM document is still checked against its schema (the
upload path skips that check only for allotropy's own output, assays.parsers.asm.convert)."""

import copy
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from assays.models import AssayRun, InstrumentFile, PlateAnalysis
from tests import factories
from tests.api.conftest import DATA
from tests.plate.test_plate_upload import bca_layout

pytestmark = pytest.mark.django_db

FILES = "/api/v1/instrument-files/"
GEN5 = "gen5_absorbance_stdcurve_singleplate.txt"


def _post(client, layout):
    upload = SimpleUploadedFile(GEN5, (DATA / "instruments" / GEN5).read_bytes())
    body = {"file": upload, "assay": "BCA", "reagent_lots": factories.reagent_ids_for("BCA")}
    if layout is not None:
        body["plate_layout"] = layout if isinstance(layout, str) else json.dumps(layout)
    return client.post(FILES, body, format="multipart")


def test_gen5_plate_posted_with_its_layout_is_computed_from_the_plate(
    client_for_key, media_root, lot, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(client_for_key, bca_layout({"SPL1": lot.code}))

    assert response.status_code == 202, response.json()
    record = InstrumentFile.objects.get()
    assert record.status == "parsed", record.error
    assert record.plate_layout["groups"]
    run = AssayRun.objects.get(source_file=record)
    assert PlateAnalysis.objects.filter(run=run).exists()
    assert run.results.exists()


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda layout: {**layout, "fit": "spline"}, "fit"),
        (lambda layout: {**layout, "groups": layout["groups"][:3]}, "no sample wells"),
    ],
)
def test_a_layout_that_cannot_be_used_is_refused_under_plate_layout(
    client_for_key, media_root, lot, change, expected
):
    layout = change(bca_layout({"SPL1": lot.code}))

    response = _post(client_for_key, layout)

    assert 400 <= response.status_code < 500, response.json()
    messages = response.json()["errors"]["plate_layout"]
    assert messages and any(expected in m for m in messages), messages
    assert not InstrumentFile.objects.exists()


@pytest.mark.parametrize("layout", ["[1, 2]", "not json"])
def test_a_layout_that_is_not_a_json_object_is_a_400(client_for_key, media_root, layout):
    response = _post(client_for_key, layout)

    assert response.status_code == 400
    assert response.json()["errors"]["plate_layout"]
    assert not InstrumentFile.objects.exists()


def test_a_layout_for_an_assay_that_is_no_plate_assay_is_refused(
    client_for_key, media_root, culture_batch
):
    upload = SimpleUploadedFile(
        "v.csv", (DATA / "instruments" / "vicell_blu_example01.csv").read_bytes()
    )
    response = client_for_key.post(
        FILES,
        {
            "file": upload,
            "assay": "VIABILITY",
            "plate_layout": json.dumps(bca_layout({})),
        },
        format="multipart",
    )

    assert 400 <= response.status_code < 500
    assert any("not a plate assay" in m for m in response.json()["errors"]["plate_layout"])


def test_a_posted_asm_document_is_still_checked_against_its_schema(
    client_for_key, culture_batch, vicell_asm
):
    document = copy.deepcopy(vicell_asm)
    document["cell counting aggregate document"]["device system document"] = "a string"

    response = client_for_key.post(
        f"/api/v1/runs/asm/?assay=VIABILITY&sample={culture_batch.code}", document, format="json"
    )

    assert response.status_code == 400
    (message,) = response.json()["errors"]["document"]
    assert "not a valid ASM document" in message and "device system document" in message
    assert not AssayRun.objects.exists()
