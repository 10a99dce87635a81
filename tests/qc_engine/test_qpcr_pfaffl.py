"""The miRNA RQ metric by Pfaffl as the assay version configures it (issue 10 item 6): from the
real QuantStudio export (tests/data/instruments/quantstudio_example01.txt) through the project's
reader and the metrics task, the configuration changed by QC as a new assay version with its
reason, and the run page showing efficiencies, the standard curve and RQ with its interval.

The export measures one target, TARGET_1, in every well. To have a reference gene the tests
rename the target of wells A7-A12 "U6" (every Ct stays the instrument's): the calibrator is the
reference lot, A1-A3 (TARGET_1) and A7-A9 (U6); the lot is A4-A6 (TARGET_1) and A10-A12 (U6).
The NTC call is the bench's (a file run needs it: the NTC well is no LIMS sample's result).
"""

import json
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone
from django.utils.html import strip_tags

from assays import qpcr_services, services
from assays.ingest import records_from_file, results_from_records
from assays.inputs import ResultInput
from assays.models import AssayDefinition, AssayRun, InstrumentFile, QCMetric
from assays.qc import qpcr
from lims.models import AuditEvent
from lims.roles import RoleRefused
from tests import factories
from tests.assays_pages.conftest import signed_in

pytestmark = pytest.mark.django_db

EXPORT = Path(__file__).resolve().parents[1] / "data" / "instruments" / "quantstudio_example01.txt"
NAME = "quantstudio_example01.txt"
# The file's sample name of each well (one name per well in this export).
LOT_WELLS = ["4SAMPLE_2.1", "5SAMPLE_2.2", "6SAMPLE_2.3", "10SAMPLE_4.1", "11SAMPLE_4.2"]
LOT_WELLS += ["12SAMPLE_4.3"]
CALIBRATOR_WELLS = ["1SAMPLE_1.1", "2SAMPLE_1.2", "3SAMPLE_1.3", "7SAMPLE_3.1", "8SAMPLE_3.2"]
CALIBRATOR_WELLS += ["9SAMPLE_3.3"]


def _export(undetermined: str = "") -> bytes:
    """The real export with the target of wells A7-A12 named U6; ``undetermined`` a well whose
    Ct reads "Undetermined" as QuantStudio writes a well that never crossed the threshold."""
    out, section = [], ""
    for line in EXPORT.read_text(encoding="utf-8").splitlines(keepends=True):
        if line.startswith("["):
            section = line.strip()
        cells = line.split("\t")
        well = cells[1].strip() if len(cells) > 4 else ""
        if section in ("[Sample Setup]", "[Results]") and well in {f"A{i}" for i in range(7, 13)}:
            line = line.replace("\tTARGET_1\t", "\tU6\t")
        if section == "[Amplification Data]" and cells[0] in ("7", "8"):
            line = line.replace("\tTARGET_1\t", "\tU6\t")
        if undetermined and section == "[Results]" and well == undetermined:
            ct = cells[14]
            line = line.replace(f"\t{ct}\t{ct}\t", "\tUndetermined\t\t")
        out.append(line)
    return "".join(out).encode("utf-8")


def _configure(analyst, **config):
    current = AssayDefinition.objects.get(code="MIRNA-QPCR", is_current=True)
    raw = {"references": ["U6"], "calibrator": "Reference lot", **config}
    return qpcr_services.qpcr_configure(
        actor=analyst, assay=current, config=raw, reason="Validated efficiencies, VAL-QC-011"
    )


@pytest.fixture
def lots(technician):
    """(the lot tested, the reference lot that is the run's calibrator)."""
    return factories.lot(technician), factories.lot(technician)


@pytest.fixture
def record_file_run(analyst, lots, django_capture_on_commit_callbacks):
    """Record the export as a file run of the current MIRNA-QPCR: its wells attributed to the
    lot and to the reference lot, through the project's reader, with the bench's NTC call."""
    lot, reference = lots

    def record(data: bytes) -> AssayRun:
        source = InstrumentFile.objects.create(
            sha256=services.store_original(data),
            size=len(data),
            original_name=NAME,
            assay_code="MIRNA-QPCR",
            uploaded_by=analyst,
        )
        fmt, records = records_from_file(data, filename=NAME)
        attribution = {n: lot.code for n in LOT_WELLS} | {
            n: reference.code for n in CALIBRATOR_WELLS
        }
        assay = AssayDefinition.objects.get(code="MIRNA-QPCR", is_current=True)
        items = results_from_records(
            records, fmt=fmt, assay=assay, attribution=attribution, source=NAME
        )
        for code in (lot.code, reference.code):
            items += [ResultInput(**c) for c in factories.run_controls("MIRNA-QPCR", code)]
        with django_capture_on_commit_callbacks(execute=True):
            return services.run_record(
                assay_code="MIRNA-QPCR",
                results=items,
                source=AssayRun.Source.FILE,
                started_at=timezone.now(),
                actor=analyst,
                reagent_lots=factories.reagents_for("MIRNA-QPCR"),
                source_file=source,
            )

    return record


def _rq(run, lot, target="TARGET_1") -> QCMetric:
    return QCMetric.objects.get(run=run, lot=lot, code=f"mirna.{target}.rq")


def test_the_real_quantstudio_export_gives_pfaffls_ratio_with_its_interval(
    analyst, lots, record_file_run, django_assert_num_queries
):
    lot, reference = lots
    # Version 1 compares each sample with its own calibrator_ct results: the file has none.
    run = record_file_run(_export())
    assert run.status == AssayRun.Status.RECORDED
    assert not QCMetric.objects.filter(run=run, code__startswith="mirna.").exists()

    # QC configures version 2: TARGET_1's validated efficiency 95 %, the reference lot (its
    # LIMS identifier) the calibrator measured in the same run.
    v2 = _configure(
        analyst,
        efficiencies={"TARGET_1": {"source": "validated", "percent": 95.0}},
        calibrator_sample=reference.code,
    )
    run = record_file_run(_export())
    assert run.assay == v2

    metric = _rq(run, lot)
    # Means: TARGET_1 reference lot (A1-A3) 59.082/3 = 19.694, lot (A4-A6) 61.431/3 = 20.477;
    # U6 reference lot (A7-A9) 55.337/3 = 18.44567, lot (A10-A12) 55.511/3 = 18.50367.
    # ΔCt_t = 19.694 − 20.477 = −0.783, ΔCt_U6 = 18.44567 − 18.50367 = −0.058;
    # RQ = 1.95^−0.783 / 2^−0.058 = 0.592793 / 0.960595 = 0.617110.
    assert metric.algorithm == "qpcr.pfaffl_ratio"
    assert metric.value == pytest.approx(0.617110, abs=1e-6)
    d = metric.details
    assert d["delta_ct_target"] == pytest.approx(-0.783, abs=1e-9)
    assert d["delta_ct_references"] == {"U6": pytest.approx(-0.058, abs=1e-9)}
    # Var(ln RQ) = ln²1.95 · (0.696192 + 0.368216) + ln²2 · (0.056690 + 0.141527) = 0.569956;
    # se 0.754954 on 5.05 df (Welch-Satterthwaite): exp(ln 0.617110 ± t · 0.754954).
    assert d["ci_low"] == pytest.approx(0.0891, abs=1e-4)
    assert d["ci_high"] == pytest.approx(4.2742, abs=1e-4)
    assert d["efficiencies"]["TARGET_1"] == {
        "source": "validated",
        "percent": 95.0,
        "factor": 1.95,
        "in_miqe_range": True,
    }
    assert d["efficiencies"]["U6"]["factor"] == 2.0
    assert d["normalisation"] == "reference gene U6" and d["flags"] == []
    assert d["inputs"]["calibrator"]["TARGET_1"] == [18.717, 20.806, 19.559]
    assert len(metric.input_results) == 12  # the lot's six wells and the calibrator's six
    # The calibrator gets no ratio against itself.
    assert not QCMetric.objects.filter(run=run, lot=reference, code__startswith="mirna.").exists()

    # The run page: efficiency per target, RQ with its interval; one query for the section.
    with django_assert_num_queries(1):
        section = qpcr_services.run_section(run)
    assert [r["target"] for r in section["rows"]] == ["TARGET_1"]
    html = signed_in(analyst).get(reverse("assays:run_detail", args=[run.pk])).content.decode()
    assert 'id="qpcr-rq"' in html
    text = " ".join(strip_tags(html).split())
    assert "TARGET_1 0.6171 0.0891 – 4.274 reference gene U6" in text
    assert "TARGET_1: 95 % (E 1.95, validated)" in text and "U6: 100 % (E 2, validated)" in text


def test_pfaffl_with_efficiency_two_is_the_delta_delta_ct_of_the_same_run(
    analyst, lots, record_file_run
):
    lot, reference = lots
    current = AssayDefinition.objects.get(code="MIRNA-QPCR", is_current=True)
    assert current.qpcr["efficiency"] == {"source": "validated", "percent": 100.0}
    # Version 1's efficiencies (E = 2 for every gene), the reference lot as calibrator.
    _configure(analyst, calibrator_sample=reference.code)
    run = record_file_run(_export())

    metric = _rq(run, lot)
    # Livak & Schmittgen 2001: ΔΔCt = (20.477 − 18.50367) − (19.694 − 18.44567)
    # = 1.97333 − 1.24833 = 0.725, RQ = 2^−0.725 = 0.604997, and the same interval.
    ct = metric.details["inputs"]
    livak = qpcr.relative_quantity(
        ct["sample"]["TARGET_1"],
        ct["sample"]["U6"],
        ct["calibrator"]["TARGET_1"],
        ct["calibrator"]["U6"],
        efficiency=2.0,
    )
    assert metric.details["method"] == "Pfaffl 2001 (E = 2: 2^-ΔΔCt)"
    assert metric.value == pytest.approx(livak.rq) == pytest.approx(0.604997, abs=1e-6)
    assert metric.details["ddct"] == pytest.approx(livak.ddct) == pytest.approx(0.725, abs=1e-9)
    assert metric.details["ci_low"] == pytest.approx(livak.ci_low)
    assert metric.details["ci_high"] == pytest.approx(livak.ci_high)


# --- Adversarial ----------------------------------------------------------------------------


def test_an_undetermined_well_of_the_file_is_left_out_and_flagged(analyst, lots, record_file_run):
    lot, reference = lots
    _configure(
        analyst,
        efficiencies={"TARGET_1": {"source": "validated", "percent": 95.0}},
        calibrator_sample=reference.code,
    )
    run = record_file_run(_export(undetermined="A5"))

    metric = _rq(run, lot)
    # A5 undetermined: TARGET_1 of the lot is (19.224 + 22.058)/2 = 20.641; ΔCt_t = 19.694 −
    # 20.641 = −0.947; RQ = 1.95^−0.947 / 2^−0.058 = 0.531295 / 0.960595 = 0.553091.
    assert metric.value == pytest.approx(0.553091, abs=1e-6)
    assert metric.details["inputs"]["sample"]["TARGET_1"] == [19.224, None, 22.058]
    assert metric.details["flags"] == ["TARGET_1 sample: 1 undetermined replicate(s) left out"]


def test_a_missing_reference_ct_stores_no_value_but_the_reason(analyst, lots, record_run):
    lot, reference = lots
    rows = [
        {"sample": lot.code, "analyte": "ct", "value": v, "target": "miR-21"} for v in (22.0, 22.1)
    ] + [
        {"sample": lot.code, "analyte": "calibrator_ct", "value": v, "target": t}
        for t, v in (("miR-21", 25.0), ("U6", 19.0))
    ]
    run = record_run("MIRNA-QPCR", rows)

    metric = _rq(run, lot, "miR-21")
    assert metric.value is None
    assert metric.details["error"] == "reference U6 has no determined Ct in the sample"
    html = signed_in(analyst).get(reverse("assays:run_detail", args=[run.pk])).content.decode()
    assert "not computed" in html and "reference U6 has no determined Ct" in html


def test_a_standard_curve_from_the_files_wells_outside_miqe_is_flagged_and_shown(
    analyst, lots, record_file_run
):
    # U6 from a "standard curve" on the calibrator's U6 wells A7-A9 (17.822, 18.393, 19.122)
    # read as 10^3, 10^2 and 10^1 copies: slope (17.822 − 19.122)/(3 − 1) = −0.65,
    # E = 10^(1/0.65) = 34.5 (3355 %): far outside 90-110 %, and no ratio on it.
    lot, reference = lots
    standards = [{"wells": [f"A{7 + i}"], "log10_quantity": 3 - i} for i in range(3)]
    _configure(
        analyst,
        efficiencies={"U6": {"source": "standard_curve", "standards": standards}},
        calibrator_sample=reference.code,
    )
    run = record_file_run(_export())

    metric = _rq(run, lot)
    assert metric.value is None
    assert "amplification factor per cycle is above 1" in metric.details["error"]
    assert metric.details["flags"][0].startswith("U6 efficiency 3355.")
    curve = metric.details["efficiencies"]["U6"]["standard_curve"]
    assert curve["slope"] == pytest.approx(-0.65, abs=1e-9)
    assert [p["ct"] for p in curve["points"]] == [17.822, 18.393, 19.122]
    assert metric.input_files == [run.source_file_id]
    html = signed_in(analyst).get(reverse("assays:run_detail", args=[run.pk])).content.decode()
    assert "Standard curve of U6" in html and "outside 90–110 % (MIQE)" in html
    # Drawn too: the three wells and the fitted line, from the stored fit.
    chart = json.loads(
        strip_tags(
            html.split('id="chart-qpcr-curve-U6"', 1)[1].split("</script>")[0].split(">", 1)[1]
        )
    )
    wells, line = chart["data"]
    assert wells["name"] == "Standard wells" and line["name"].startswith("Fit: slope -0.650")


# --- The configuration: QC changes it as a new version, with the reason ----------------------


def test_a_configuration_change_is_a_new_assay_version_with_its_reason(analyst, technician):
    v1 = AssayDefinition.objects.get(code="MIRNA-QPCR", is_current=True)
    client = signed_in(analyst)
    url = reverse("assays:qpcr_configure", args=[v1.pk])
    assert "U6" in client.get(url).content.decode()
    config = {**v1.qpcr, "references": ["U6", "miR-16"]}

    response = client.post(url, {"qpcr": json.dumps(config), "reason": "Two references"})

    assert response.status_code == 302
    v1.refresh_from_db()
    v2 = AssayDefinition.objects.get(code="MIRNA-QPCR", is_current=True)
    assert not v1.is_current and v2.version == v1.version + 1
    assert v2.qpcr["references"] == ["U6", "miR-16"] and v1.qpcr["references"] == ["U6"]
    assert sorted(v2.analytes.values_list("code", flat=True)) == sorted(
        v1.analytes.values_list("code", flat=True)
    )
    assert (v2.suitability, v2.required_reagents) == (v1.suitability, v1.required_reagents)
    event = AuditEvent.objects.get(
        pgh_obj_model="assays.AssayDefinition", pgh_obj_id=str(v2.pk), pgh_label="insert"
    )
    assert "qPCR configuration changed: Two references" in event.pgh_context["reason"]
    page = client.get(reverse("assays:assay_detail", args=[v2.pk])).content.decode()
    assert "geometric mean of U6, miR-16" in page

    # Refusals, each on its field; nothing is versioned.
    for body, field, message in [
        ({"qpcr": "{not json", "reason": "x"}, "qpcr", "Not JSON"),
        ({"qpcr": json.dumps({"references": []}), "reason": "x"}, "qpcr", "spike-in"),
        ({"qpcr": json.dumps(v2.qpcr), "reason": "x"}, "qpcr", "unchanged"),
        ({"qpcr": json.dumps(v1.qpcr), "reason": ""}, "reason", "required"),
    ]:
        response = client.post(reverse("assays:qpcr_configure", args=[v2.pk]), body)
        assert response.status_code == 200
        assert message in " ".join(response.context["form"].errors[field])
    with pytest.raises(ValidationError, match="superseded"):
        qpcr_services.qpcr_configure(actor=analyst, assay=v1, config=v1.qpcr, reason="old")
    with pytest.raises(RoleRefused):
        qpcr_services.qpcr_configure(actor=technician, assay=v2, config=v1.qpcr, reason="x")
    assert signed_in(technician).get(url).status_code == 403
    assert AssayDefinition.objects.filter(code="MIRNA-QPCR").count() == 2
