"""QC metrics appear by themselves once a run is recorded, once, with the right values.

Runs are recorded through assays.services (by hand or from the real NanoSight file); Celery is
eager and the on-commit hooks run at the end of each recording, as after a real commit.
"""

import math

import pytest

from assays import metrics, tasks
from assays.models import QCMetric
from assays.qc import worked_examples

pytestmark = pytest.mark.django_db


def _values(**codes):
    return {code: m.value for code, m in codes.items()}


def _current(lot=None, culture_batch=None) -> dict[str, QCMetric]:
    return metrics.current_metrics(lot=lot, culture_batch=culture_batch)


def _protein_run(record_run, lot, values=(100.0, 110.0, 120.0)):
    return record_run(
        "BCA",
        [
            {"sample": lot.code, "analyte": "protein", "value": v, "replicate": str(i)}
            for i, v in enumerate(values, start=1)
        ],
    )


def test_metrics_appear_after_a_run_is_recorded_and_recording_again_adds_nothing(record_run, lot):
    run = _protein_run(record_run, lot)

    run.refresh_from_db()
    assert run.metrics_computed_at is not None
    (metric,) = QCMetric.objects.filter(run=run)
    assert (metric.code, metric.value, metric.unit) == ("bca.protein", 110.0, "ug/mL")
    assert (metric.algorithm, metric.algorithm_version) == ("summary.mean", "1.0")
    assert metric.lot == lot and len(metric.input_results) == 3
    assert metric.details["n"] == 3 and metric.details["sd"] == pytest.approx(10.0)

    # The task delivered twice, a periodic catch-up, a recompute: nothing new.
    assert tasks.compute_run_metrics(run.pk) == 0
    assert metrics.compute_run_metrics(run.pk) == 0
    assert metrics.compute_lot_metrics(lot.pk) == 0
    assert QCMetric.objects.count() == 1


def test_metrics_of_the_real_nanosight_file_appear_once(receive_nta_file, lot):
    from assays import services

    run = receive_nta_file(lot)

    current = _current(lot=lot)
    assert {
        "nta.concentration",
        "nta.mean_size",
        "nta.mode_size",
        "nta.sd_size",
        "nta.d10",
        "nta.d50",
        "nta.d90",
        "nta.fraction_50_400",
    } <= set(current)
    mean = current["nta.mean_size"]
    # The file's "Average" of the 12 per-video means is 100.5 nm, "Standard Error" 1.2.
    assert mean.value == pytest.approx(100.5, abs=0.1)
    assert mean.details["standard_error"] == pytest.approx(1.2, abs=0.05)
    assert mean.details["n"] == 12 and mean.unit == "nm"
    fraction = current["nta.fraction_50_400"]
    assert fraction.input_files == [run.source_file_id]
    assert 95.0 < fraction.value <= 100.0
    count = QCMetric.objects.count()

    services.instrument_file_parse(run.source_file_id)  # a redelivered parse: no second run
    tasks.compute_run_metrics(run.pk)
    assert QCMetric.objects.count() == count
    assert run.source_file.runs.count() == 1


def test_a_new_algorithm_version_adds_metrics_and_keeps_the_old(record_run, lot, monkeypatch):
    run = _protein_run(record_run, lot)
    old = QCMetric.objects.get(run=run)

    monkeypatch.setitem(metrics.VERSIONS, metrics.MEAN, "1.1")
    assert metrics.compute_run_metrics(run.pk) == 1
    assert metrics.compute_run_metrics(run.pk) == 0

    versions = QCMetric.objects.filter(run=run, code="bca.protein")
    assert sorted(versions.values_list("algorithm_version", flat=True)) == ["1.0", "1.1"]
    assert QCMetric.objects.get(pk=old.pk).value == 110.0  # never updated
    assert _current(lot=lot)["bca.protein"].algorithm_version == "1.1"


def test_potency_metrics_follow_the_worked_formulas(record_run, lot):
    values = {
        "tnf_ev": 550.0,
        "tnf_lps": 1000.0,
        "tnf_unstimulated": 100.0,
        "il10_ev": 300.0,
        "il10_lps": 200.0,
        "CD206_pct": 40.0,
        "CD86_pct": 20.0,
    }
    record_run(
        "POTENCY-MAC", [{"sample": lot.code, "analyte": a, "value": v} for a, v in values.items()]
    )

    current = _current(lot=lot)
    assert current["potency.tnf_inhibition"].value == pytest.approx(50.0)
    assert current["potency.tnf_inhibition"].unit == "percent"
    assert current["potency.il10_fold_induction"].value == pytest.approx(1.5)
    assert current["potency.m2_m1_index"].value == pytest.approx(2.0)


def _ct_rows(lot, analyte, target, centre):
    return [
        {"sample": lot.code, "analyte": analyte, "value": centre + d, "target": target}
        for d in (-0.1, 0.0, 0.1)
    ]


def test_mirna_relative_quantity_is_2_to_the_minus_ddct_against_u6(record_run, lot):
    # ΔCt(sample) = 22 − 18 = 4, ΔCt(calibrator) = 25 − 19 = 6: ΔΔCt = −2, RQ = 4.
    record_run(
        "MIRNA-QPCR",
        _ct_rows(lot, "ct", "miR-21", 22.0)
        + _ct_rows(lot, "ct", "U6", 18.0)
        + _ct_rows(lot, "calibrator_ct", "miR-21", 25.0)
        + _ct_rows(lot, "calibrator_ct", "U6", 19.0),
    )

    rq = _current(lot=lot)["mirna.miR-21.rq"]
    assert rq.value == pytest.approx(worked_examples._rq().rq) == pytest.approx(4.0)
    assert rq.details["ddct"] == pytest.approx(-2.0)
    assert rq.details["reference"] == "U6"
    assert rq.details["ci_low"] < 4.0 < rq.details["ci_high"]
    assert len(rq.input_results) == 12
    assert "mirna.U6.rq" not in _current(lot=lot)


ISCT_PANEL = {
    "CD73_pct": 98.5,
    "CD90_pct": 99.1,
    "CD105_pct": 97.0,
    "CD45_pct": 0.4,
    "CD34_pct": 0.6,
    "CD14_pct": 1.1,
    "CD79a_pct": 0.3,
    "HLA-DR_pct": 0.9,
}


@pytest.mark.parametrize(
    ("changes", "passed", "failed"),
    [({}, True, []), ({"CD105_pct": 80.0, "HLA-DR_pct": 5.0}, False, ["CD105", "HLA-DR"])],
)
def test_identity_verdict_follows_the_isct_panel(record_run, technician, changes, passed, failed):
    from tests import factories

    batch = factories.culture_batch(technician)
    panel = {**ISCT_PANEL, **changes}
    record_run(
        "ISCT-FLOW", [{"sample": batch.code, "analyte": a, "value": v} for a, v in panel.items()]
    )

    current = _current(culture_batch=batch)
    verdict = current["identity.isct"]
    assert verdict.value == (1.0 if passed else 0.0)
    assert verdict.details["passed"] is passed
    assert sorted(verdict.details["failed"]) == failed
    assert current["identity.CD105_pct"].value == panel["CD105_pct"]


def test_purity_is_computed_for_the_lot_once_nta_and_bca_are_in(receive_nta_file, record_run, lot):
    receive_nta_file(lot)
    assert "purity.particles_per_ug" not in _current(lot=lot)

    _protein_run(record_run, lot, values=(50.0, 50.0))

    current = _current(lot=lot)
    purity = current["purity.particles_per_ug"]
    expected = current["nta.concentration"].value / 50.0
    assert purity.value == pytest.approx(expected)
    assert purity.unit == "particle/ug" and purity.run is None and purity.lot == lot
    assert purity.details == {
        "concentration_metric": current["nta.concentration"].pk,
        "protein_metric": current["bca.protein"].pk,
    }
    assert math.isfinite(purity.value) and purity.value > 1e6
    assert metrics.compute_lot_metrics(lot.pk) == 0
