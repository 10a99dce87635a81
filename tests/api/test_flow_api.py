"""POST /api/v1/runs/flow/ (issue 10): an instrument posts a tube and its control as FCS files and
gets the run, % positive per marker and the ISCT verdict, as the browser upload gives them."""

import json
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from assays import catalogue, flow_services
from assays.models import AssayRun, InstrumentFile, QCMetric
from assays.parsers import fcs
from assays.qc import flow
from tests import fcs_files
from tests.api.conftest import DATA, issue_key, key_client, register_instrument
from tests.qc.test_flow_gating import hand_threshold

pytestmark = pytest.mark.django_db

URL = "/api/v1/runs/flow/"
G11 = (DATA / "fcs" / "flowio_G11_fcs31.fcs").read_bytes()
# G11's stains are GFP, mCherry and Alexa Fluor 405: the run names which marker each carries.
G11_MARKERS = {"CD73": "BL1-A", "CD90": "YL2-A", "CD105": "Alexa Fluor™ 405-A"}


def _post(client, sample: str, *, sample_file=G11, control_file=G11, **extra):
    body = {
        "assay": "ISCT-FLOW",
        "sample": sample,
        "sample_file": SimpleUploadedFile("tube.fcs", sample_file),
        "control_file": SimpleUploadedFile("isotype.fcs", control_file),
        **extra,
    }
    return client.post(URL, body, format="multipart")


def _nothing_written(media_root: Path) -> bool:
    stored = [p for p in Path(media_root).rglob("*") if p.is_file()] if media_root else []
    return not (AssayRun.objects.exists() or InstrumentFile.objects.exists() or stored)


def test_real_file_as_its_own_control_by_hand(
    client_for_key, instrument, culture_batch, media_root, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(
            client_for_key,
            culture_batch.code,
            markers=json.dumps(G11_MARKERS),
            external_id="ATTUNE-0042",
        )

    assert response.status_code == 201, response.json()
    body = response.json()
    run = AssayRun.objects.get(pk=body["id"])
    assert run.instrument == instrument and run.external_id == "ATTUNE-0042"
    assert run.samples.get().culture_batch == culture_batch
    # By hand (tests.qc.test_flow_gating): the ISCT gate FSC-A ≥ 20000, SSC-A ≥ 10000 keeps
    # 5731 of G11's 5785 events; each threshold is the 99th percentile (type 7) of the same
    # gated events, h = 5730 × 0.99 = 5672.7, so the 5731 − 5672 − 1 = 58 events above it
    # are positive: 100 × 58 / 5731 = 1.01204 %.
    data = fcs.parse(G11)
    x, y = data.channel_index("FSC-A"), data.channel_index("SSC-A")
    gated = [row for row in data.events.tolist() if row[x] >= 20000 and row[y] >= 10000]
    assert len(gated) == 5731
    stored = {r.analyte.code: r for r in run.results.select_related("analyte")}
    for marker, channel in G11_MARKERS.items():
        column = data.channel_index(channel)
        values = [row[column] for row in gated]
        above = sum(v > hand_threshold(values, 99) for v in values)
        assert above == 58
        assert stored[f"{marker}_pct"].value == pytest.approx(100 * above / 5731, rel=1e-12)
        assert stored[f"{marker}_pct"].value == pytest.approx(1.01204, abs=5e-6)
    assert stored["event_count"].value == 5785.0
    assert "CD45_pct" not in stored  # no channel carries it: unmeasured, not 0 %
    # Both originals kept byte for byte, the gate and the verdict computed (identity not shown).
    files = {f.original_name: f for f in InstrumentFile.objects.all()}
    assert set(files) == {"tube.fcs", "isotype.fcs"}
    assert files["tube.fcs"].original_bytes() == G11
    assert all(f.instrument == instrument and f.uploaded_by is None for f in files.values())
    gate = QCMetric.objects.get(run=run, code="flow.gate")
    assert gate.details["sample_in_gate"] == 5731
    assert gate.details["gating"]["markers"]["CD73"] == "BL1-A"
    verdict = QCMetric.objects.get(run=run, code="identity.isct")
    assert verdict.details["passed"] is False


def test_a_panel_labelled_by_its_stains_passes_the_isct_verdict(
    client_for_key, culture_batch, media_root, django_capture_on_commit_callbacks
):
    sample, control = fcs_files.isct_tubes()
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(
            client_for_key, culture_batch.code, sample_file=sample, control_file=control
        )

    assert response.status_code == 201, response.json()
    run = AssayRun.objects.get()
    expected = flow_services.analyse(
        fcs.parse(sample), fcs.parse(control), flow.FlowGating.from_json(catalogue.ISCT_FLOW_GATING)
    )
    stored = {r.analyte.code: r.value for r in run.results.select_related("analyte")}
    for marker, percent in expected.percentages.items():
        assert stored[f"{marker}_pct"] == pytest.approx(percent)
    assert QCMetric.objects.get(run=run, code="identity.isct").value == 1.0


@pytest.mark.parametrize(
    ("field", "content", "reason"),
    [
        ("control_file", b"NTA Experiment Summary", "does not start with 'FCS'"),
        ("sample_file", G11[: len(G11) // 2], "cannot read"),
    ],
)
def test_a_file_that_is_not_readable_fcs_is_400_and_nothing_is_written(
    client_for_key, culture_batch, media_root, field, content, reason
):
    response = _post(client_for_key, culture_batch.code, **{field: content})

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "validation_error"
    assert list(body["errors"]) == [field]
    assert reason in body["errors"][field][0]
    assert _nothing_written(media_root)


def test_a_key_whose_instrument_does_not_run_the_assay_is_403(
    admin_user, culture_batch, media_root
):
    other = key_client(issue_key(admin_user, register_instrument(admin_user, assays=["NTA"])))

    response = _post(other, culture_batch.code)

    assert response.status_code == 403
    assert response.json()["code"] == "assay_not_allowed_for_instrument"
    assert _nothing_written(media_root)


def test_a_person_posts_in_the_browser_not_here(client, technician, culture_batch, media_root):
    client.force_login(technician)

    response = _post(client, culture_batch.code)

    assert response.status_code == 403
    assert response.json()["code"] == "instrument_key_required"


@pytest.mark.parametrize(
    ("markers", "status", "message"),
    [
        ('{"CD999": "BL1-A"}', 422, "CD999: not a marker of the assay's gating"),
        ('{"CD73": "PE-Cy7-A"}', 422, "has no channel 'PE-Cy7-A'"),
        ('["CD73"]', 400, "A JSON object of marker to channel"),
    ],
)
def test_a_marker_mapping_that_cannot_be_used_is_refused_on_its_field(
    client_for_key, culture_batch, media_root, markers, status, message
):
    response = _post(client_for_key, culture_batch.code, markers=markers)

    assert response.status_code == status
    assert message in response.json()["errors"]["markers"][0]
    assert _nothing_written(media_root)


def test_a_readable_file_the_gate_cannot_use_is_422_on_its_field(
    client_for_key, culture_batch, media_root
):
    other = fcs_files.dataset([[1, 2, 3]], ["FSC-H", "SSC-H", "FL1-H"])

    response = _post(client_for_key, culture_batch.code, control_file=other)

    assert response.status_code == 422
    assert "no channel 'FSC-A'" in response.json()["errors"]["control_file"][0]
    assert _nothing_written(media_root)


def test_two_tubes_in_one_field_are_refused(client_for_key, culture_batch, media_root):
    body = {
        "assay": "ISCT-FLOW",
        "sample": culture_batch.code,
        "sample_file": [SimpleUploadedFile("a.fcs", G11), SimpleUploadedFile("b.fcs", G11)],
        "control_file": SimpleUploadedFile("isotype.fcs", G11),
    }
    response = client_for_key.post(URL, body, format="multipart")

    assert response.status_code == 400
    assert "sample_file" in response.json()["errors"]
    assert _nothing_written(media_root)


def test_the_openapi_document_lists_the_flow_upload(client, technician):
    client.force_login(technician)

    document = client.get("/api/schema/").json()

    post = document["paths"][URL]["post"]
    form = post["requestBody"]["content"]["multipart/form-data"]["schema"]["$ref"]
    fields = document["components"]["schemas"][form.rsplit("/", 1)[1]]
    assert {"assay", "sample", "sample_file", "control_file"} <= set(fields["required"])
    assert fields["properties"]["sample_file"]["format"] == "binary"
    assert "markers" in fields["properties"]
    assert {"201", "400", "401", "403", "413", "422", "429"} <= set(post["responses"])
    assert post["security"] and "InstrumentKey" in post["security"][0]
