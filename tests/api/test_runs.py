"""POST /api/v1/runs/ (JSON) and /api/v1/runs/asm/ (Allotrope Simple Model), and the run reads."""

import copy
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from assays import services
from assays.models import AssayRun, Result
from tests import factories
from tests.api.conftest import a_run

pytestmark = pytest.mark.django_db

RUNS = "/api/v1/runs/"


def test_run_recorded_with_results_converted_to_the_analyte_unit(client_for_key, instrument, lot):
    response = client_for_key.post(RUNS, a_run(lot.code), format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["assay"] == "BCA"
    assert body["instrument"] == instrument.code
    assert body["source"] == "api_json"
    assert body["status"] == "recorded"
    assert body["external_id"] == "PLATE-42"
    assert body["samples"] == [
        {"label": lot.code, "culture_batch": None, "lot": lot.code, "aliquot": None}
    ]
    protein = next(r for r in body["results"] if r["analyte"] == "protein")
    assert protein["value"] == pytest.approx(120.0)
    assert protein["unit"] == "ug/mL"
    assert body["url"].endswith(f"/api/v1/runs/{body['id']}/")
    stored = Result.objects.get(pk=protein["id"])
    assert stored.value == pytest.approx(120.0) and stored.unit == "ug/mL"
    assert stored.run.instrument == instrument and stored.run.operator is None


def test_run_detail_matches_what_the_post_answered(client_for_key, lot):
    created = client_for_key.post(RUNS, a_run(lot.code), format="json").json()

    response = client_for_key.get(f"{RUNS}{created['id']}/")

    assert response.status_code == 200
    assert response.json() == created


def test_field_errors_are_400_with_each_field_named(client_for_key, lot):
    body = a_run(lot.code, started_at="yesterday")
    body["results"][0]["value"] = "lots"
    body["results"][1]["sample"] = "X" * 81
    last = len(body["results"])
    body["results"].append({"analyte": "protein"})

    response = client_for_key.post(RUNS, body, format="json")

    assert response.status_code == 400
    error = response.json()
    assert error["code"] == "validation_error"
    assert set(error["errors"]) == {
        "started_at",
        "results[0].value",
        "results[1].sample",
        f"results[{last}].sample",
    }
    assert all(isinstance(m, str) for messages in error["errors"].values() for m in messages)
    assert AssayRun.objects.count() == 0


def test_a_run_in_the_future_or_ending_before_it_starts_is_400(client_for_key, lot):
    future = a_run(lot.code, started_at=(timezone.now() + timedelta(days=1)).isoformat())
    backwards = a_run(lot.code, ended_at=(timezone.now() - timedelta(days=1)).isoformat())

    assert client_for_key.post(RUNS, future, format="json").json()["errors"].keys() == {
        "started_at"
    }
    assert client_for_key.post(RUNS, backwards, format="json").json()["errors"].keys() == {
        "ended_at"
    }


def test_instrument_out_of_service_is_422_saying_since_when(
    client_for_key, instrument, admin_user, lot
):
    services.instrument_set_status(
        actor=admin_user, instrument=instrument, to="out_of_service", reason="Laser misaligned"
    )

    response = client_for_key.post(RUNS, a_run(lot.code), format="json")

    assert response.status_code == 422
    error = response.json()
    assert error["code"] == "unprocessable"
    today = f"{timezone.localdate():%Y-%m-%d}"
    assert f"out of service since {today}" in error["message"]
    assert "Laser misaligned" in error["errors"]["instrument"][0]
    assert AssayRun.objects.count() == 0


def test_calibration_overdue_is_422(client_for_key, instrument, admin_user, lot):
    today = timezone.localdate()
    services.instrument_log(
        actor=admin_user,
        instrument=instrument,
        kind="calibration",
        performed_on=today - timedelta(days=400),
        due_on=today - timedelta(days=35),
        performed_by="Metrology Ltd",
    )

    response = client_for_key.post(RUNS, a_run(lot.code), format="json")

    assert response.status_code == 422
    assert "past its calibration due date" in response.json()["errors"]["instrument"][0]


def test_released_lot_takes_no_new_results(
    client_for_key, technician, make_user, settings, media_root
):
    from tests.release.helpers import dispose, lot_under_review

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    lot = lot_under_review(technician).lot
    dispose(make_user("qa", username="vera.qa"), lot, "released")

    response = client_for_key.post(RUNS, a_run(lot.code), format="json")

    assert response.status_code == 422
    assert response.json()["errors"] == {
        "sample": [f"Lot {lot.code} is released: it takes no new results."]
    }


def test_unknown_sample_is_422(client_for_key):
    response = client_for_key.post(RUNS, a_run("EXO-1999-0001"), format="json")

    assert response.status_code == 422
    assert response.json()["errors"] == {"sample": ["No exosome lot or vial 'EXO-1999-0001'."]}


def test_expired_reagent_lot_is_422(client_for_key, technician, lot):
    kit = factories.reagent_lot(technician, category="kit", name="BCA kit", expiry_days=-3)

    response = client_for_key.post(RUNS, a_run(lot.code, reagent_lots=[kit.pk]), format="json")

    assert response.status_code == 422
    assert "expired" in response.json()["errors"]["reagent_lots"][0]


def test_unknown_reagent_lot_or_retested_run_is_422(client_for_key, lot):
    response = client_for_key.post(RUNS, a_run(lot.code, reagent_lots=[987654]), format="json")
    assert response.json()["errors"] == {"reagent_lots": ["No reagent lot with id 987654."]}

    response = client_for_key.post(RUNS, a_run(lot.code, retest_of=987654), format="json")
    assert response.status_code == 422
    assert response.json()["errors"] == {"retest_of": ["No run with id 987654."]}


def test_reagent_lots_and_retest_are_recorded(client_for_key, technician, lot):
    kit = factories.reagent_lot(technician, category="bca_kit", name="BCA kit")
    first = client_for_key.post(RUNS, a_run(lot.code), format="json").json()

    response = client_for_key.post(
        RUNS, a_run(lot.code, reagent_lots=[kit.pk], retest_of=first["id"]), format="json"
    )

    assert response.status_code == 201
    assert response.json()["retest_of"] == first["id"]
    assert [r["lot_number"] for r in response.json()["reagent_lots"]] == [kit.lot_number]


def test_unit_that_cannot_be_converted_is_422(client_for_key, lot):
    body = a_run(lot.code)
    body["results"][0]["unit"] = "nm"

    response = client_for_key.post(RUNS, body, format="json")

    assert response.status_code == 422
    assert "cannot be converted" in response.json()["errors"]["unit"][0]


@pytest.mark.parametrize(
    ("content_type", "payload", "status", "code"),
    [
        ("application/json", b'{"assay": "BCA",', 400, "malformed_request"),
        ("application/json", b'{"assay": NaN}', 400, "malformed_request"),
        ("application/json", b"[" * 100_000, 400, "malformed_request"),
        ("application/json", b"\xff\xfe\x00garbage", 400, "malformed_request"),
        ("application/json", b"[]", 400, "validation_error"),
        ("application/json; charset=klingon", b"{}", 400, "validation_error"),
        ("text/plain", b"assay=BCA", 415, "unsupported_media_type"),
        ("application/x-www-form-urlencoded", b"assay=BCA", 415, "unsupported_media_type"),
    ],
)
def test_unreadable_bodies_are_refused_never_500(
    client_for_key, content_type, payload, status, code
):
    response = client_for_key.generic("POST", RUNS, payload, content_type=content_type)

    assert response.status_code == status
    assert response.json()["code"] == code


def test_other_methods_are_405_and_unknown_paths_404_in_json(client_for_key):
    put = client_for_key.put(RUNS, {}, format="json")
    assert (put.status_code, put.json()["code"]) == (405, "method_not_allowed")

    missing = client_for_key.get(f"{RUNS}999999999/")
    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")

    huge = client_for_key.get(f"{RUNS}{10**30}/")
    assert (huge.status_code, huge.json()["code"]) == (404, "not_found")

    newline = client_for_key.get("/api/v1/instrument-files/%0A/")
    assert (newline.status_code, newline.json()["code"]) == (404, "not_found")

    unknown = client_for_key.get("/api/v1/runs")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "not_found")
    assert "/api/v1/runs/" in unknown.json()["message"]


def test_other_accept_is_406(client_for_key):
    response = client_for_key.get(RUNS, HTTP_ACCEPT="text/html")

    assert response.status_code == 406
    assert response.json()["code"] == "not_acceptable"


# --- ASM -------------------------------------------------------------------------------------


def test_asm_document_from_the_vicell_becomes_a_viability_run(
    client_for_key, instrument, culture_batch, vicell_asm
):
    response = client_for_key.post(
        f"{RUNS}asm/?assay=VIABILITY&sample={culture_batch.code}&external_id=VC-7",
        vicell_asm,
        format="json",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["source"] == "api_asm"
    assert body["instrument"] == instrument.code
    assert body["samples"][0]["culture_batch"] == culture_batch.code
    analytes = {r["analyte"] for r in body["results"]}
    assert analytes == {
        "viability",
        "viable_cell_density",
        "total_cell_density",
        "total_cell_count",
    }
    viability = [r for r in body["results"] if r["analyte"] == "viability"]
    assert len(viability) == 10
    assert {r["unit"] for r in viability} == {"percent"}
    assert viability[0]["value"] == pytest.approx(96.9)
    assert viability[0]["source_sample"]  # the sample name as the instrument wrote it
    density = next(r for r in body["results"] if r["analyte"] == "viable_cell_density")
    assert density["unit"] == "cell/mL" and density["value"] > 1e5  # from 10^6 cells/mL


def test_asm_body_that_is_not_asm_is_400(client_for_key, culture_batch):
    response = client_for_key.post(
        f"{RUNS}asm/?assay=VIABILITY&sample={culture_batch.code}",
        {"hello": "world"},
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert "document" in response.json()["errors"]


@pytest.mark.parametrize("text", ["\x00", "\ud800"])
def test_asm_strings_postgresql_cannot_store_are_400(
    client_for_key, culture_batch, vicell_asm, text
):
    document = copy.deepcopy(vicell_asm)
    document["cell counting aggregate document"]["device system document"]["model number"] = text
    payload = json.dumps(document).encode("utf-8", "surrogatepass")

    response = client_for_key.generic(
        "POST",
        f"{RUNS}asm/?assay=VIABILITY&sample={culture_batch.code}",
        payload,
        content_type="application/json",
    )

    assert (response.status_code, response.json()["code"]) == (400, "malformed_request")


def test_asm_without_values_of_the_assay_is_422(client_for_key, lot, vicell_asm):
    response = client_for_key.post(
        f"{RUNS}asm/?assay=NTA&sample={lot.code}", vicell_asm, format="json"
    )

    assert response.status_code == 422
    assert "none of its values is a result of assay NTA" in response.json()["message"]


def test_asm_needs_assay_and_sample(client_for_key, vicell_asm):
    response = client_for_key.post(f"{RUNS}asm/", vicell_asm, format="json")

    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"assay", "sample"}


# --- Reads -----------------------------------------------------------------------------------


def test_runs_and_results_filtered_by_lot_and_analyte(client_for_key, technician, lot):
    other = factories.lot(technician)
    mine = client_for_key.post(RUNS, a_run(lot.code), format="json").json()
    client_for_key.post(RUNS, a_run(other.code), format="json")

    runs = client_for_key.get(RUNS, {"lot": lot.code}).json()
    assert [r["id"] for r in runs["results"]] == [mine["id"]]
    assert runs["results"][0]["samples"] == [lot.code]
    assert runs["results"][0]["result_count"] == 4  # protein, absorbance, the curve's two

    results = client_for_key.get("/api/v1/results/", {"lot": lot.code, "analyte": "protein"})
    assert [r["value"] for r in results.json()["results"]] == [pytest.approx(120.0)]
    assert client_for_key.get(RUNS, {"since": "not a date"}).status_code == 400


def test_lots_with_genealogy(client_for_key, lot):
    plain = client_for_key.get("/api/v1/lots/").json()["results"][0]
    assert plain["code"] == lot.code and plain["genealogy"] is None

    row = client_for_key.get("/api/v1/lots/", {"genealogy": "true"}).json()["results"][0]

    batch = lot.isolation_runs.get().harvests.get().batch
    assert row["genealogy"] == {
        "isolation_runs": [lot.isolation_runs.get().code],
        "culture_batches": [batch.code],
        "cell_banks": [batch.cell_bank.code],
        "donors": [batch.cell_bank.donor.code],
    }


def test_instruments_show_status_and_calibration(client_for_key, instrument, admin_user):
    today = timezone.localdate()
    services.instrument_log(
        actor=admin_user,
        instrument=instrument,
        kind="calibration",
        performed_on=today - timedelta(days=400),
        due_on=today - timedelta(days=1),
        performed_by="Metrology Ltd",
    )

    row = client_for_key.get("/api/v1/instruments/", {"code": instrument.code}).json()
    row = row["results"][0]

    assert row["status"] == "in_service"
    assert row["calibration_due_on"] == f"{today - timedelta(days=1):%Y-%m-%d}"
    assert row["calibration_overdue"] is True


def test_assays_list_their_analytes(client_for_key):
    rows = client_for_key.get("/api/v1/assays/", {"code": "MYCO"}).json()["results"]

    # The call, then the run's controls its validity criteria read (assays 0013).
    assert [a["code"] for a in rows[0]["analytes"]] == ["mycoplasma", "ntc", "efficiency"]
    assert rows[0]["analytes"][0]["allowed_values"] == ["detected", "not detected"]
    assert rows[0]["analytes"][1]["allowed_values"] == ["no amplification", "amplification"]


def test_a_unit_with_a_huge_exponent_is_400_not_evaluated(client_for_key, lot):
    body = a_run(lot.code)
    body["results"][0]["unit"] = "10^999999999 mg/mL"

    response = client_for_key.post(RUNS, body, format="json")

    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"results[0].unit"}


def test_a_value_out_of_range_once_converted_is_422(client_for_key, lot):
    body = a_run(lot.code)
    body["results"][0].update(value=1e308, unit="g/mL")  # 1e314 ug/mL: no float holds it

    response = client_for_key.post(RUNS, body, format="json")

    assert response.status_code == 422
    assert "out of range" in response.json()["errors"]["value"][0]
