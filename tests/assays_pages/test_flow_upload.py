"""Flow results from events (issue 10 item 4): the sample and control FCS files uploaded, % positive
per marker and the ISCT verdict computed from them with the assay's gating, the run page's
histograms and gate; refusals are field errors and leave nothing behind."""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from assays import catalogue, flow_services
from assays.models import AssayDefinition, AssayRun, InstrumentFile, QCMetric
from assays.parsers import fcs
from assays.qc import flow
from tests import fcs_files
from tests.assays_pages.conftest import signed_in

pytestmark = pytest.mark.django_db
SAMPLE, CONTROL = fcs_files.isct_tubes()


def _post(client, batch, *, sample=SAMPLE, control=CONTROL, **extra):
    return client.post(
        reverse("assays:flow_upload"),
        {
            "assay": "ISCT-FLOW",
            "sample": batch.code,
            "sample_file": SimpleUploadedFile("msc_panel.fcs", sample),
            "control_file": SimpleUploadedFile("isotype.fcs", control),
            **extra,
        },
    )


def test_isct_flow_v1_carries_the_catalogue_gating():
    assay = AssayDefinition.objects.get(code="ISCT-FLOW", is_current=True)
    assert assay.flow_gating == catalogue.ISCT_FLOW_GATING
    assert flow.FlowGating.from_json(assay.flow_gating).percentile == 99.0


def test_uploaded_tubes_give_percent_positive_and_the_isct_verdict(
    technician, batch, django_capture_on_commit_callbacks
):
    client = signed_in(technician)
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(client, batch)

    run = AssayRun.objects.get()
    assert response.status_code == 302 and response["Location"] == run.get_absolute_url()
    # The same numbers by the pure function on the same bytes (hand-checked in tests/qc).
    gating = flow.FlowGating.from_json(catalogue.ISCT_FLOW_GATING)
    expected = flow_services.analyse(fcs.parse(SAMPLE), fcs.parse(CONTROL), gating)
    stored = {r.analyte.code: r.value for r in run.results.select_related("analyte")}
    assert stored == {
        **{f"{m}_pct": pytest.approx(v) for m, v in expected.percentages.items()},
        "event_count": 3000.0,
    }
    assert stored["CD73_pct"] == 100.0 and stored["CD45_pct"] < 2.0
    files = InstrumentFile.objects.order_by("original_name")
    assert [(f.original_name, f.status) for f in files] == [
        ("isotype.fcs", "parsed"),
        ("msc_panel.fcs", "parsed"),
    ]
    assert run.source_file.original_name == "msc_panel.fcs"
    assert run.samples.get().culture_batch == batch
    gate = QCMetric.objects.get(run=run, code="flow.gate")
    assert gate.details["sample_in_gate"] == 2700 and gate.value == pytest.approx(90.0)
    assert sorted(gate.input_files) == sorted(f.pk for f in files)
    verdict = QCMetric.objects.get(run=run, code="identity.isct")
    assert verdict.value == 1.0 and verdict.details["passed"] is True

    metrics_before = QCMetric.objects.count()
    page = client.get(run.get_absolute_url()).content.decode()
    assert QCMetric.objects.count() == metrics_before  # GET never writes
    assert 'id="flow-markers"' in page and "2700 of 3000 events in the gate" in page
    assert 'data-chart="chart-flow-gate"' in page and '"scattergl"' in page
    for marker in expected.percentages:
        assert f'data-chart="chart-flow-hist-{marker}"' in page
    assert "Not in this panel" in page and "CD11b" in page
    assert "plotly-lims.min.js" in page


def test_a_file_that_is_not_fcs_is_a_field_error_and_nothing_is_kept(technician, batch):
    response = _post(signed_in(technician), batch, control=b"NTA Experiment Summary")

    assert response.status_code == 200
    errors = response.context["form"].errors
    assert "does not start with 'FCS'" in errors["control_file"][0]
    assert not InstrumentFile.objects.exists() and not AssayRun.objects.exists()


def test_a_truncated_sample_file_is_refused_on_its_field(technician, batch):
    response = _post(signed_in(technician), batch, sample=SAMPLE[: len(SAMPLE) // 2])

    assert "cannot read" in response.context["form"].errors["sample_file"][0]
    assert not AssayRun.objects.exists()


def test_a_file_without_the_gate_channels_is_refused(technician, batch):
    other = fcs_files.dataset([[1, 2, 3]], ["FSC-H", "SSC-H", "FL1-H"])
    response = _post(signed_in(technician), batch, control=other)

    assert "no channel 'FSC-A'" in response.context["form"].errors["control_file"][0]
    assert not InstrumentFile.objects.exists()


def test_a_future_acquisition_time_is_refused(technician, batch):
    future = (timezone.localtime() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    response = _post(signed_in(technician), batch, started_at=future)

    assert response.status_code == 200 and response.context["form"].errors
    assert not AssayRun.objects.exists() and not InstrumentFile.objects.exists()


def test_qa_cannot_upload_flow_files(qa_user, batch):
    response = _post(signed_in(qa_user), batch)

    assert response.status_code == 403
    assert not InstrumentFile.objects.exists()


def test_an_assay_without_gating_is_refused_by_the_service(technician, lot):
    with pytest.raises(Exception) as refused:
        flow_services.flow_run_record(
            actor=technician,
            assay_code="NTA",
            sample_identifier=lot.code,
            sample_file=flow_services.FcsUpload("s.fcs", SAMPLE),
            control_file=flow_services.FcsUpload("c.fcs", CONTROL),
        )
    assert "carries no flow gating" in str(refused.value)
    assert not InstrumentFile.objects.exists()


def test_gating_json_that_cannot_be_read_is_refused_by_the_model():
    from django.core.exceptions import ValidationError

    assay = AssayDefinition.objects.get(code="ISCT-FLOW", is_current=True)
    assay.flow_gating = {"gate": {"x_channel": "FSC-A"}, "markers": {"CD73": ""}}
    with pytest.raises(ValidationError, match="x and a y channel"):
        assay.full_clean()
