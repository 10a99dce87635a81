"""A plate file uploaded with its layout becomes computed results (issue 10 item 5): the Gen5
export's BCA plate through the browser's upload, the run's QC page with the plate map and the
curve, and the refusals."""

import json
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from assays import ingest, services
from assays.catalogue import PLATE_LAYOUTS
from assays.models import AssayRun, InstrumentFile, PlateAnalysis, QCMetric
from assays.qc import plate
from tests import factories
from tests.assays_pages.conftest import register_instrument, signed_in
from tests.assays_pages.test_upload import hidden_fields
from tests.plate.test_plate_maths import _lal_plate

pytestmark = pytest.mark.django_db

GEN5 = Path(__file__).resolve().parents[1] / "data" / "instruments"
GEN5 = GEN5 / "gen5_absorbance_stdcurve_singleplate.txt"


@pytest.fixture(autouse=True)
def _files(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "files"


@pytest.fixture
def plate_reader(admin_user):
    return register_instrument(admin_user, code="PLATE-01", assay_codes=("BCA", "ENDOTOXIN"))


def bca_layout(names: dict[str, str], fit: str = "linear") -> dict:
    """The catalogue's BCA template (the Gen5 example's own wells), its sample groups renamed
    to LIMS samples; groups not named are left out (their wells are not results)."""
    template = PLATE_LAYOUTS["BCA"][0]
    groups = [
        {**g, "name": names[g["name"]]} if g["role"] == "sample" else g
        for g in template["groups"]
        if g["role"] != "sample" or g["name"] in names
    ]
    return {**template, "fit": fit, "groups": groups}


def _upload(client, layout, **extra):
    """Both steps of the browser's upload; the form again (step 1 refused) or the confirmation
    page (a name of the layout the LIMS does not know) when the file is not recorded."""
    page = _read(client, layout, **extra)
    if page.status_code != 200 or "ticket" not in hidden_fields(page) or page.context["rows"]:
        return page
    return client.post(reverse("assays:file_upload"), hidden_fields(page))


def _read(client, layout, **extra):
    from assays.models import Instrument

    return client.post(
        reverse("assays:file_upload"),
        {
            "file": SimpleUploadedFile(GEN5.name, GEN5.read_bytes()),
            "instrument": Instrument.objects.get(code="PLATE-01").pk,
            "assay": "BCA",
            "format_hint": "",
            "plate_layout": json.dumps(layout),
            "reagent_lots": factories.reagent_ids_for("BCA"),
            **extra,
        },
    )


def test_gen5_plate_uploaded_with_its_layout_gives_protein_per_lot_and_shows_the_plate(
    technician, plate_reader, django_capture_on_commit_callbacks
):
    lot_a, lot_b = factories.lot(technician), factories.lot(technician)
    client = signed_in(technician)
    layout = bca_layout({"SPL1": lot_a.code, "SPL4": lot_b.code})
    with django_capture_on_commit_callbacks(execute=True):
        response = _upload(client, layout)
    assert response.status_code == 302, response.content.decode()[:2000]

    record = InstrumentFile.objects.get()
    assert record.status == "parsed", record.error
    run = AssayRun.objects.get(source_file=record)
    assert run.status == "recorded", run.status_reason
    protein = run.results.filter(analyte__code="protein").select_related("sample")
    by_lot = {}
    for r in protein:
        by_lot.setdefault(r.sample.lot_id, []).append(r)
        assert r.flags == ["computed from plate"] and r.unit == "ug/mL"
    assert {lot: len(rows) for lot, rows in by_lot.items()} == {lot_a.pk: 4, lot_b.pk: 4}
    # SPL1 at 1:1 reads 1206.3 µg/mL (tests/plate/test_plate_maths.py: by hand and by Gen5).
    first = next(r for r in by_lot[lot_a.pk] if r.replicate.startswith("1:1 "))
    assert first.value == pytest.approx(1206.26, abs=0.01)
    assert not run.results.filter(analyte__code="absorbance").exists()  # no well is a result

    analysis = PlateAnalysis.objects.get(run=run)
    assert analysis.fit == "linear" and analysis.failures == []
    assert analysis.parameters["slope"] == pytest.approx(0.0016847, rel=1e-4)
    assert analysis.wavelengths_nm == [630.0]
    assert len(analysis.readings["Plate 1"]) == 96  # every well kept, standards included

    metric = QCMetric.objects.get(run=run, lot=lot_a, code="bca.protein")
    assert metric.value == pytest.approx(1206.02, abs=0.05)  # mean of the four dilutions

    page = client.get(reverse("qc:run_detail", args=[run.pk])).content.decode()
    assert 'aria-label="Plate map Plate 1"' in page
    assert page.count('data-role="standard"') == 21 and page.count('data-role="blank"') == 3
    assert "630 nm" in page and "chart-plate-curve" in page


def test_the_layouts_sample_names_are_matched_and_an_unknown_one_refuses_the_upload(
    technician, lot, plate_reader
):
    """The layout names the wells; assays.sample_matching maps those names to LIMS samples."""
    layout = bca_layout({"SPL1": lot.code, "SPL4": "SPL4"})
    client = signed_in(technician)
    response = _upload(client, layout)
    assert response.status_code == 200
    [row] = response.context["rows"]  # to map or leave out on the confirmation page
    assert row["name"].identifier == "SPL4" and row["name"].positions[:3] == ["E4", "E5", "E6"]
    assert [n.sample for n in response.context["matched"]] == [lot.code]
    refused = client.post(reverse("assays:file_upload"), hidden_fields(response))
    assert refused.context["form"].errors["name-0-sample"] == [
        "Give its LIMS sample, or leave it out with a reason."
    ]
    assert not InstrumentFile.objects.exists()


def test_an_unusable_layout_is_refused_on_the_form_and_nothing_is_kept(
    technician, lot, plate_reader
):
    layout = bca_layout({"SPL1": lot.code})
    layout["groups"][-1]["dilution"] = 0  # a sample "diluted" 0-fold
    response = _upload(signed_in(technician), layout)
    assert response.status_code == 200
    errors = response.context["form"].errors["plate_layout"]
    assert any("dilution" in e and "fold" in e for e in errors)
    assert not InstrumentFile.objects.exists()


def test_a_layout_for_an_assay_that_is_no_plate_assay_is_refused(technician, lot, admin_user):
    register_instrument(admin_user, code="PLATE-01", assay_codes=("NTA",))
    response = _upload(signed_in(technician), bca_layout({"SPL1": lot.code}), assay="NTA")
    assert "is not a plate assay" in " ".join(response.context["form"].errors["plate_layout"])


def test_lal_plate_with_a_40_percent_spike_recovery_is_invalidated(technician):
    """The computed PPC recovery feeds the assay's USP <85> validity rule like a typed one."""
    lots = {name: factories.lot(technician) for name in ("SPL1", "SPL2", "SPL3")}
    layout, readings = _lal_plate(spike_in_spl3=0.2)
    computation = ingest.PlateComputation(
        outcome=plate.compute_plate(layout, readings),
        layout_origin="test",
        readings={"": readings},
        wavelengths_nm=[],
        reports="endotoxin",
    )
    items = ingest.plate_result_inputs(computation, {n: lot.code for n, lot in lots.items()})
    recorded = services.run_record(
        actor=technician,
        source="file",
        assay_code="ENDOTOXIN",
        started_at=timezone.now() - timedelta(hours=1),
        results=items,
        reagent_lots=factories.reagents_for("ENDOTOXIN", actor=technician),
    )
    # The assay's rule judges the mean recovery (100, 100, 40 → 80 %) and passes...
    assert recorded.status == "recorded"
    services.plate_analysis_record(run=recorded, computation=computation, source_file=None)
    run = AssayRun.objects.get(pk=recorded.pk)
    # ...the plate judges each spike: SPL3's 40 % makes the run invalid.
    assert run.status == "invalidated"
    assert "spike recovery of SPL3 (1:10) 40 %" in run.status_reason
    assert PlateAnalysis.objects.get(run=run).failures == [run.status_reason.split(": ", 1)[1]]
    endotoxin = run.results.filter(analyte__code="endotoxin", sample__lot=lots["SPL1"]).get()
    assert endotoxin.value == pytest.approx(1.0)  # 0.1 EU/mL in the well × 10
    below = run.results.get(analyte__code="endotoxin", sample__lot=lots["SPL2"])
    assert (below.qualifier, below.value) == ("<λ", pytest.approx(0.05))  # λ 0.005 × 10


def test_a_real_gen5_kinetic_read_uploaded_as_a_lal_plate_gives_endotoxin_per_lot(
    technician, plate_reader, django_capture_on_commit_callbacks
):
    """Gen5's kinetic export (tests/data/instruments/gen5_kinetic_stdcurve_4pl.txt) uploaded
    to the endotoxin assay with a log-log layout: onset times come from the wells' kinetic
    reads (onset OD 0.05 stated in the layout), and the numbers are the hand calculation of
    tests/plate/test_plate_real_kinetic.py (LOT 12.36445, spike recovery 78.01 %, LOT2 at 1:10
    80.63729, r −0.9967233)."""
    from assays.models import Instrument
    from assays.qc import real_plate_examples as real

    lot_a, lot_b = factories.lot(technician), factories.lot(technician)
    names = {"LOT": lot_a.code, "LOT2": lot_b.code}
    layout = {
        **real.LAL_LAYOUT,
        "reports": "endotoxin",
        "groups": [
            {**g, "name": names[g["name"]]} if g["name"] in names else g
            for g in real.LAL_LAYOUT["groups"]
        ],
    }
    kinetic = GEN5.parent / "gen5_kinetic_stdcurve_4pl.txt"
    client = signed_in(technician)
    page = client.post(
        reverse("assays:file_upload"),
        {
            "file": SimpleUploadedFile(kinetic.name, kinetic.read_bytes()),
            "instrument": Instrument.objects.get(code="PLATE-01").pk,
            "assay": "ENDOTOXIN",
            "format_hint": "",
            "plate_layout": json.dumps(layout),
            "reagent_lots": factories.reagent_ids_for("ENDOTOXIN"),
        },
    )
    assert page.status_code == 200 and "ticket" in hidden_fields(page), page.content[:3000]
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("assays:file_upload"), hidden_fields(page))
    assert response.status_code == 302, response.content.decode()[:2000]

    record = InstrumentFile.objects.get()
    assert record.status == "parsed", record.error
    run = AssayRun.objects.get(source_file=record)
    analysis = PlateAnalysis.objects.get(run=run)
    assert analysis.fit == "loglog" and analysis.failures == []
    assert analysis.layout["onset_od"] == 0.05
    assert analysis.statistics["r"] == pytest.approx(-0.9967233, abs=5e-7)
    assert analysis.wavelengths_nm == [420.0]
    assert analysis.readings["Plate 1"]["A6"] == pytest.approx(105.0)
    endotoxin = {
        r.sample.lot_id: r
        for r in run.results.filter(analyte__code="endotoxin").select_related("sample")
    }
    assert endotoxin[lot_a.pk].value == pytest.approx(12.36445, abs=5e-5)
    assert endotoxin[lot_b.pk].value == pytest.approx(80.63729, abs=5e-4)
    recovery = run.results.get(analyte__code="spike_recovery")
    assert recovery.value == pytest.approx(78.01, abs=5e-3)
    assert run.status == "recorded", run.status_reason
