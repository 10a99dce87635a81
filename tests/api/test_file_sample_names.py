"""POST /api/v1/instrument-files/: a file's samples matched by the names the file gives them."""

import json

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from assays import services
from assays.models import InstrumentFile, Result
from batches.models import CultureBatch
from tests import factories
from tests.api.conftest import DATA

pytestmark = pytest.mark.django_db

FILES = "/api/v1/instrument-files/"
GEN5 = "gen5_absorbance_stdcurve_singleplate.txt"


def _post(client, name, assay, **extra):
    upload = SimpleUploadedFile(name, (DATA / "instruments" / name).read_bytes())
    body = {"file": upload, "assay": assay, "reagent_lots": factories.reagent_ids_for(assay)}
    return client.post(FILES, {**body, **extra}, format="multipart")


def test_unmatched_names_are_a_422_listing_them_and_nothing_is_kept(client_for_key, media_root):
    response = _post(client_for_key, "vicell_blu_example01.csv", "VIABILITY")

    assert response.status_code == 422
    errors = response.json()["errors"]
    assert errors["unmatched"][:3] == ["CLB001", "CLB002", "CLB003"]
    assert len(errors["unmatched"]) == 10
    assert any("No culture batch 'CLB011'" in m for m in errors["samples"])
    assert not InstrumentFile.objects.exists()


def test_one_sample_for_a_file_of_many_is_refused(client_for_key, media_root, culture_batch):
    response = _post(
        client_for_key, "vicell_blu_example01.csv", "VIABILITY", sample=culture_batch.code
    )

    assert response.status_code == 422
    assert any("cannot stand for them all" in m for m in response.json()["errors"]["samples"])


def test_gen5_plate_by_its_layout_names_read_at_630_nm(
    client_for_key, media_root, lot, django_capture_on_commit_callbacks
):
    left_out = {f"SPL{n}": "another study's sample" for n in range(2, 7)}
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(
            client_for_key,
            GEN5,
            "BCA",
            samples=json.dumps({"SPL1": lot.code}),
            exclude=json.dumps(left_out),
        )

    assert response.status_code == 202, response.json()
    record = InstrumentFile.objects.get()
    assert record.status == "parsed", record.error
    results = Result.objects.filter(run__source_file=record)
    # SPL1 is 12 wells (4 dilutions x 3); standards and blanks are no result of the lot.
    assert results.count() == 12
    assert {r.source_sample for r in results} == {"SPL1:1", "SPL1:2", "SPL1:3", "SPL1:4"}
    assert {r.target for r in results} == {"630 nm"}
    assert all("read at 630 nm, not 562 nm" in r.flags for r in results)
    by_status = {}
    for name in record.sample_map["names"]:
        by_status.setdefault(name["status"], []).append(name["name"])
    assert by_status["mapped"] == ["SPL1"]
    assert sorted(by_status["excluded"]) == sorted(left_out)
    assert "STD1" in by_status["recognised"] and "BLK" in by_status["recognised"]


def test_leaving_a_name_out_needs_a_reason(client_for_key, media_root, lot):
    response = _post(
        client_for_key,
        GEN5,
        "BCA",
        samples=json.dumps({"SPL1": lot.code}),
        exclude=json.dumps({f"SPL{n}": "" for n in range(2, 7)}),
    )

    assert response.status_code == 422
    assert "'SPL2' is left out: say why." in response.json()["errors"]["samples"]


def test_two_names_are_never_one_lims_sample(client_for_key, media_root, lot):
    response = _post(
        client_for_key,
        GEN5,
        "BCA",
        samples=json.dumps({f"SPL{n}": lot.code for n in range(1, 7)}),
    )

    assert response.status_code == 422
    assert any("never one LIMS sample" in m for m in response.json()["errors"]["samples"])


def test_a_file_without_an_instrument_is_refused(technician, lot, media_root):
    with pytest.raises(ValidationError) as caught:
        services.instrument_file_receive(
            data=(DATA / "nta" / "nanosight_nta32_beads.csv").read_bytes(),
            filename="nta.csv",
            sample_identifier=lot.code,
            assay_code="NTA",
            instrument=None,
            uploaded_by=technician,
        )
    assert "instrument" in caught.value.message_dict
    assert not InstrumentFile.objects.exists()


def test_a_file_whose_names_all_match_is_one_call(
    client_for_key, technician, media_root, django_capture_on_commit_callbacks
):
    names = [f"CLB{n:03d}" for n in (1, 2, 3, 5, 6, 7, 8, 9, 10, 11)]
    batches = {}
    for name in names:  # culture batches the LIMS knows by the file's names for them
        batch = factories.culture_batch(technician)
        CultureBatch.objects.filter(pk=batch.pk).update(code=name)
        batches[name] = batch

    with django_capture_on_commit_callbacks(execute=True):
        response = _post(client_for_key, "vicell_blu_example01.csv", "VIABILITY")

    assert response.status_code == 202, response.json()
    record = InstrumentFile.objects.get()
    assert record.status == "parsed", record.error
    assert {n["name"]: n["status"] for n in record.sample_map["names"]} == dict.fromkeys(
        names, "matched"
    )
    viability = {
        r.sample.culture_batch.code: (r.source_sample, r.value)
        for r in Result.objects.filter(run__source_file=record, analyte__code="viability")
        .select_related("sample__culture_batch")
        .exclude(value=None)
    }
    # Each culture batch its own row of the file, under the file's name: CLB011 72.06 %,
    # not the file's 93.4 % mean.
    assert viability["CLB011"] == ("CLB011", pytest.approx(72.06))
    assert viability["CLB001"] == ("CLB001", pytest.approx(96.9))
    assert all(source == code for code, (source, _) in viability.items())
    assert len(viability) >= 9
