"""POST /api/v1/instrument-files/ with every real export of tests/data, and its status."""

import hashlib
import json

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile

from assays.models import AssayRun, InstrumentFile, Result
from tests import factories
from tests.api.conftest import DATA

pytestmark = pytest.mark.django_db

FILES = "/api/v1/instrument-files/"

# file, assay, sample kind, the analytes its results must be
PARSED = [
    ("instruments/vicell_blu_example01.csv", "VIABILITY", "batch",
     {"viability", "viable_cell_density", "total_cell_density", "total_cell_count"}),
    ("nta/nanosight_nta32_beads.csv", "NTA", "lot",
     {"concentration", "mean_size", "mode_size", "sd_size", "d10", "d50", "d90"}),
    ("fcs/flowio_G11_fcs31.fcs", "ISCT-FLOW", "batch", {"event_count"}),
    ("fcs/flowio_3FITC_4PE_004.fcs", "ISCT-FLOW", "batch", {"event_count"}),
    ("instruments/quantstudio_example01.txt", "MIRNA-QPCR", "lot", {"ct"}),
    ("instruments/luminex_xponent_example02.csv", "POTENCY-MAC", "lot", {"net_mfi"}),
    ("instruments/gen5_absorbance_stdcurve_singleplate.txt", "BCA", "lot", {"absorbance"}),
    ("instruments/softmax_pro_absorbance_endpoint_example01.txt", "BCA", "lot", {"absorbance"}),
]  # fmt: skip


def _post(client, path: str, assay: str, sample: str, **extra):
    """Upload an export, naming the reagent lots the assay requires (repeated form fields)."""
    extra.setdefault("reagent_lots", factories.reagent_ids_for(assay))
    data = (DATA / path).read_bytes()
    upload = SimpleUploadedFile(path.rsplit("/", 1)[-1], data)
    return client.post(
        FILES, {"file": upload, "sample": sample, "assay": assay, **extra}, format="multipart"
    )


@pytest.mark.parametrize(("path", "assay", "kind", "analytes"), PARSED, ids=[p[0] for p in PARSED])
def test_real_export_is_parsed_into_a_run(
    client_for_key,
    instrument,
    lot,
    culture_batch,
    media_root,
    django_capture_on_commit_callbacks,
    path,
    assay,
    kind,
    analytes,
):
    sample = culture_batch.code if kind == "batch" else lot.code
    data = (DATA / path).read_bytes()
    digest = hashlib.sha256(data).hexdigest()

    with django_capture_on_commit_callbacks(execute=True):  # the (eager) parsing task
        response = _post(client_for_key, path, assay, sample)
        if response.status_code == 422:
            # A file naming several samples: the LIMS knows none of its names; the first is
            # mapped to this test's sample, the others left out (assays.sample_matching).
            unmatched = response.json()["errors"]["unmatched"]
            assert len(unmatched) > 1
            response = _post(
                client_for_key,
                path,
                assay,
                "",
                samples=json.dumps({unmatched[0]: sample}),
                exclude=json.dumps({name: "not in this test" for name in unmatched[1:]}),
            )

    assert response.status_code == 202, response.json()
    received = response.json()
    assert received["sha256"] == digest
    assert received["status"] == "queued"
    status = client_for_key.get(received["status_url"])
    assert status.status_code == 200
    body = status.json()
    assert body["status"] == "parsed", body["error"]
    assert body["error"] == ""
    assert body["run"]["assay"] == assay
    assert body["run"]["source"] == "file"
    assert body["run"]["instrument"] == instrument.code
    assert {r["analyte"] for r in body["results"]} == analytes
    assert {r["source_file"] for r in body["results"]} == {received["id"]}
    assert {r["sample"] for r in body["results"]} == {sample}
    if assay in ("MIRNA-QPCR", "POTENCY-MAC"):
        assert all(r["target"] for r in body["results"])  # the miRNA or the cytokine
    # The original, byte for byte, under its SHA-256 and not under the client's name.
    name = f"instrument-files/{digest[:2]}/{digest}"
    with default_storage.open(name, "rb") as stored:
        assert stored.read() == data
    assert InstrumentFile.objects.get(pk=received["id"]).original_name == path.rsplit("/")[-1]


def test_garbage_file_fails_with_a_clear_error_and_leaves_nothing(
    client_for_key, lot, media_root, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(client_for_key, "instruments/gen5_garbage_error.txt", "BCA", lot.code)

    assert response.status_code == 202
    body = client_for_key.get(response.json()["status_url"]).json()
    assert body["status"] == "failed"
    assert "gen5_garbage_error.txt" in body["error"]
    assert "no allotropy vendor format recognised" in body["error"]
    assert body["run"] is None and body["results"] == []
    assert not AssayRun.objects.exists() and not Result.objects.exists()


def test_format_hint_is_checked_up_front(client_for_key, lot, media_root):
    response = _post(
        client_for_key, "nta/nanosight_nta32_beads.csv", "NTA", lot.code, format="no-such-vendor"
    )

    assert response.status_code == 400
    assert "unknown instrument vendor" in response.json()["errors"]["format"][0]


def test_file_over_the_limit_is_413(client_for_key, lot, media_root, settings):
    settings.FILE_UPLOAD_MAX_BYTES = 1000

    small_overflow = client_for_key.post(
        FILES,
        {"file": SimpleUploadedFile("big.csv", b"x" * 5000), "sample": lot.code, "assay": "NTA"},
        format="multipart",
    )
    from_content_length = client_for_key.post(
        FILES,
        {"file": SimpleUploadedFile("big.csv", b"x" * 100_000), "sample": lot.code, "assay": "NTA"},
        format="multipart",
    )

    for response in (small_overflow, from_content_length):
        assert response.status_code == 413
        assert response.json()["code"] == "payload_too_large"
        assert "limit of 1000 bytes" in response.json()["message"]
    assert not InstrumentFile.objects.exists()


@pytest.mark.parametrize(
    ("form", "errors"),
    [
        ({"sample": "EXO-1", "assay": "NTA"}, {"file"}),
        ({"file": b""}, {"file", "assay"}),
        ({"file": b"data", "assay": "NTA", "samples": "[1]"}, {"samples"}),
        ({"file": b"data", "assay": "NTA", "exclude": '{"SPL1": 2}'}, {"exclude"}),
        ({"file": "not a file", "sample": "EXO-1", "assay": "NTA"}, {"file"}),
    ],
)
def test_missing_or_empty_parts_are_400(client_for_key, media_root, form, errors):
    if isinstance(form.get("file"), bytes):
        form = {**form, "file": SimpleUploadedFile("f.csv", form["file"])}

    response = client_for_key.post(FILES, form, format="multipart")

    assert response.status_code == 400
    assert set(response.json()["errors"]) == errors


def test_broken_multipart_and_json_bodies_are_refused(client_for_key):
    broken = client_for_key.generic(
        "POST", FILES, b"--xyz\r\nnonsense", content_type="multipart/form-data; boundary=xyz"
    )
    no_boundary = client_for_key.generic(
        "POST", FILES, b"whatever", content_type="multipart/form-data"
    )
    json_body = client_for_key.post(FILES, {"sample": "x"}, format="json")

    assert broken.status_code == 400
    assert (no_boundary.status_code, no_boundary.json()["code"]) == (400, "malformed_request")
    assert (json_body.status_code, json_body.json()["code"]) == (415, "unsupported_media_type")


def test_unknown_sample_is_refused_before_the_file_is_queued(client_for_key, media_root):
    response = _post(client_for_key, "nta/nanosight_nta32_beads.csv", "NTA", "EXO-1999-0001")

    assert response.status_code == 422
    assert "sample" in response.json()["errors"]
    assert not InstrumentFile.objects.exists()
