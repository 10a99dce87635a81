"""System suitability of qPCR and standard-curve runs as catalogue data (issue 9, item 5).

A qPCR run counts only if its no-template control did not amplify and, where it ran a standard
curve, its amplification efficiency is 90-110 % (MIQE, Bustin et al., Clin Chem 2009;55:611;
Ph. Eur. 2.6.7 / 2.6.21). A 4PL/5PL standard-curve run (BCA) counts only if the curve converged
with its parameters determined and at least 75 % of the standards back-calculate within ±20 %
(±25 % at the ends). A run failing them is recorded whole and invalidated by the system: not an
OOS, the lot shows `run_invalid` with the reason until a valid run replaces it.
"""

import pytest

from assays import services as assay_services
from assays.models import Analyte, AssayDefinition, AssayRun, QCMetric, Result
from assays.qc import curves, suitability, worked_examples
from release.models import CriterionEvaluation, Deviation
from release.selectors import release_blockers
from tests import factories
from tests.assays_pages.conftest import signed_in
from tests.release.helpers import committed, lot_under_review, record_manual_run, review_runs

pytestmark = pytest.mark.django_db

NO_AMPLIFICATION = "no amplification"


def _record(actor, sample, assay_code, results):
    """A run of `assay_code` entered by hand with exactly these results (no controls added)."""
    with committed():
        return assay_services.run_record(
            assay_code=assay_code,
            reagent_lots=factories.reagents_for(assay_code, actor=actor),
            results=[assay_services.ResultInput(sample=sample, **r) for r in results],
            source=AssayRun.Source.MANUAL,
            started_at=factories.run_times(assay_code, hours_ago=0)[0],
            actor=actor,
        )


# --- The catalogue -----------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["MYCO", "MYCO-CB", "MIRNA-QPCR"])
def test_the_qpcr_assays_carry_the_ntc_and_efficiency_criteria(code):
    assay = AssayDefinition.objects.get(code=code, version=1)
    assert assay.suitability == suitability.QPCR
    ntc = assay.analytes.get(code="ntc")
    assert (ntc.result_type, ntc.allowed_values) == ("qualitative", suitability.NTC_CALLS)
    assert assay.analytes.get(code="efficiency").unit == "percent"
    rules = {r["analyte"]: r for r in assay.suitability}
    assert rules["ntc"]["required"] and not rules["efficiency"].get("required")
    assert "Bustin et al., Clin Chem 2009;55:611" in rules["ntc"]["reason"]
    assert "Ph. Eur. 2.6.7 and 2.6.21" in rules["ntc"]["reason"]


def test_the_bca_assay_carries_the_standard_curve_criteria():
    bca = AssayDefinition.objects.get(code="BCA", version=1)
    assert bca.suitability == suitability.STANDARD_CURVE
    assert set(bca.analytes.values_list("code", flat=True)) >= {
        "curve_converged",
        "standards_in_tolerance_pct",
    }
    assert all(r["required"] for r in bca.suitability)


def test_the_migration_is_idempotent():
    from django.apps import apps

    from assays.catalogue import set_control_suitability

    before = list(AssayDefinition.objects.order_by("pk").values_list("pk", "suitability"))
    analytes = Analyte.objects.count()
    set_control_suitability(apps)
    assert list(AssayDefinition.objects.order_by("pk").values_list("pk", "suitability")) == before
    assert Analyte.objects.count() == analytes


# --- The rules -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "failures"),
    [
        ({"ntc": [NO_AMPLIFICATION]}, []),
        ({"ntc": ["No Amplification"]}, []),  # the call, however it is capitalised
        ({"ntc": [NO_AMPLIFICATION], "efficiency": [100.0]}, []),
        ({"ntc": [NO_AMPLIFICATION], "efficiency": [90.0, 110.0]}, []),
        ({"ntc": ["amplification"]}, ["ntc amplification: the no-template control"]),
        # One NTC well of three amplified: the run is invalid.
        (
            {"ntc": [NO_AMPLIFICATION, "amplification", NO_AMPLIFICATION]},
            ["ntc amplification: the no-template control"],
        ),
        ({}, ["ntc missing: the no-template control"]),
        ({"ntc": [NO_AMPLIFICATION], "efficiency": [85.0]}, ["efficiency 85: amplification"]),
        ({"ntc": [NO_AMPLIFICATION], "efficiency": [112.0]}, ["efficiency 112: amplification"]),
        # Each target's efficiency is judged, not their mean (85 and 115 average 100).
        (
            {"ntc": [NO_AMPLIFICATION], "efficiency": [85.0, 100.0, 115.0]},
            ["efficiency 85, 115: amplification"],
        ),
        (
            {"ntc": ["amplification"], "efficiency": [80.5]},
            ["ntc amplification:", "efficiency 80.5:"],
        ),
    ],
)
def test_qpcr_validity_criteria(values, failures):
    found = suitability.check(suitability.QPCR, values)
    assert len(found) == len(failures), found
    for text, start in zip(found, failures, strict=True):
        assert text.startswith(start), text


@pytest.mark.parametrize(
    ("values", "failures"),
    [
        ({"curve_converged": [1.0], "standards_in_tolerance_pct": [100.0]}, []),
        ({"curve_converged": [1.0], "standards_in_tolerance_pct": [75.0]}, []),
        (
            {"curve_converged": [0.0], "standards_in_tolerance_pct": [100.0]},
            ["curve_converged 0: the 4PL/5PL standard curve must converge"],
        ),
        (
            {"curve_converged": [1.0], "standards_in_tolerance_pct": [60.0]},
            ["standards_in_tolerance_pct 60: at least 75 % of the standards"],
        ),
        (
            {},
            ["curve_converged missing:", "standards_in_tolerance_pct missing:"],
        ),
    ],
)
def test_standard_curve_validity_criteria(values, failures):
    found = suitability.check(suitability.STANDARD_CURVE, values)
    assert len(found) == len(failures), found
    for text, start in zip(found, failures, strict=True):
        assert text.startswith(start), text


def test_the_curve_statistics_come_from_the_curve_module():
    good = curves.fit_four_pl(
        worked_examples.CURVE_STANDARDS * 2,
        curves.four_pl(worked_examples.CURVE_STANDARDS * 2, 0.05, 1.0, 16.0, 2.5),
    )
    assert suitability.curve_values(good) == {
        "curve_converged": [1.0],
        "standards_in_tolerance_pct": [100.0],
    }
    # A step between two standards: the fit converges but determines nothing (curves.py).
    step = curves.fit_four_pl(worked_examples.STEP_CONC, worked_examples.STEP_RESPONSE)
    assert step.undetermined
    assert suitability.curve_values(step)["curve_converged"] == [0.0]


# --- Runs ----------------------------------------------------------------------------------------


def test_a_mycoplasma_run_whose_ntc_amplified_is_invalid_not_oos(technician):
    tested = lot_under_review(technician, leave_unreviewed=("MYCO",))
    lot, first = tested.lot, tested.runs["MYCO"]
    analyst = factories.UserFactory(role="analyst")
    assay_services.run_invalidate(actor=analyst, run=first, reason="Plate sealed badly")
    # "Detected" would be an OOS, but the no-template control amplified as well: the signal may
    # be contamination, so the run says nothing about the lot.
    bad = _record(
        technician,
        lot.code,
        "MYCO",
        [
            {"analyte": "mycoplasma", "text_value": "detected"},
            {"analyte": "ntc", "text_value": "amplification"},
        ],
    )

    bad.refresh_from_db()
    assert bad.status == AssayRun.Status.INVALIDATED
    assert bad.status_reason.startswith("System suitability failed: ntc amplification:")
    assert "MIQE" in bad.status_reason
    assert bad.results.count() == 2  # recorded whole
    assert not QCMetric.objects.filter(run=bad).exists()
    evaluation = CriterionEvaluation.objects.get(
        lot=lot, criterion__metric_code="mycoplasma.mycoplasma"
    )
    assert evaluation.status == "pending"
    assert not Deviation.objects.filter(lot=lot, kind="oos").exists()
    blockers = release_blockers(lot)
    invalid = next(b for b in blockers if b.code == "run_invalid" and b.object["id"] == bad.pk)
    assert "ntc amplification" in invalid.message

    page = signed_in(analyst).get(bad.get_absolute_url()).content.decode()
    assert "Invalidated: System suitability failed: ntc amplification" in page

    good = record_manual_run(technician, lot, "MYCO", [("mycoplasma", "not detected")])
    assert good.status == AssayRun.Status.RECORDED
    review_runs([good])
    assert release_blockers(lot) == []


def test_a_valid_ntc_is_not_a_metric_of_the_sample(technician):
    lot = factories.lot(technician)
    run = record_manual_run(technician, lot, "MYCO", [("mycoplasma", "not detected")])
    assert run.status == AssayRun.Status.RECORDED
    assert list(QCMetric.objects.filter(run=run).values_list("code", flat=True)) == [
        "mycoplasma.mycoplasma"
    ]


@pytest.mark.parametrize(
    ("efficiency", "status"),
    [(85.0, AssayRun.Status.INVALIDATED), (98.0, AssayRun.Status.RECORDED), (None, "recorded")],
)
def test_a_mycoplasma_run_is_judged_on_its_efficiency_only_where_it_has_one(
    technician, efficiency, status
):
    batch = factories.culture_batch(technician)
    results = [
        {"analyte": "mycoplasma", "text_value": "not detected"},
        {"analyte": "ntc", "text_value": NO_AMPLIFICATION},
    ]
    if efficiency is not None:
        results.append({"analyte": "efficiency", "value": efficiency, "unit": "percent"})
    run = _record(technician, batch.code, "MYCO-CB", results)

    run.refresh_from_db()
    assert run.status == status
    if status == AssayRun.Status.INVALIDATED:
        assert run.status_reason.startswith("System suitability failed: efficiency 85:")
        assert "90-110 %" in run.status_reason
    else:
        assert run.status_reason == ""


def test_a_mycoplasma_run_without_its_ntc_is_invalid(technician):
    lot = factories.lot(technician)
    run = _record(
        technician, lot.code, "MYCO", [{"analyte": "mycoplasma", "text_value": "not detected"}]
    )
    run.refresh_from_db()
    assert run.status == AssayRun.Status.INVALIDATED
    assert run.status_reason.startswith("System suitability failed: ntc missing:")


def test_a_mirna_run_fails_on_the_efficiency_of_any_target(technician):
    lot = factories.lot(technician)
    rows = [
        {"analyte": "ct", "value": 22.0, "target": "miR-21"},
        {"analyte": "ct", "value": 18.0, "target": "U6"},
        {"analyte": "ntc", "text_value": NO_AMPLIFICATION, "target": "miR-21"},
        {"analyte": "ntc", "text_value": NO_AMPLIFICATION, "target": "U6"},
        {"analyte": "efficiency", "value": 95.0, "target": "miR-21"},
        {"analyte": "efficiency", "value": 115.0, "target": "U6"},  # mean 105 would pass
    ]
    run = _record(technician, lot.code, "MIRNA-QPCR", rows)
    run.refresh_from_db()
    assert run.status == AssayRun.Status.INVALIDATED
    assert "efficiency 115:" in run.status_reason


def test_an_efficiency_above_100_percent_is_a_measurement(technician):
    lot = factories.lot(technician)
    run = _record(
        technician,
        lot.code,
        "MYCO",
        [
            {"analyte": "mycoplasma", "text_value": "not detected"},
            {"analyte": "ntc", "text_value": NO_AMPLIFICATION},
            {"analyte": "efficiency", "value": 104.5, "unit": "percent"},
        ],
    )
    assert run.status == AssayRun.Status.RECORDED
    assert Result.objects.get(run=run, analyte__code="efficiency").value == 104.5


@pytest.mark.parametrize(
    ("statistics", "reason"),
    [
        ([("curve_converged", 0.0), ("standards_in_tolerance_pct", 100.0)], "curve_converged 0:"),
        (
            [("curve_converged", 1.0), ("standards_in_tolerance_pct", 60.0)],
            "standards_in_tolerance_pct 60:",
        ),
    ],
)
def test_a_bca_run_whose_curve_fails_is_invalid_not_oos(technician, statistics, reason):
    tested = lot_under_review(technician, leave_unreviewed=("BCA",))
    lot = tested.lot
    assay_services.run_invalidate(
        actor=factories.UserFactory(role="analyst"), run=tested.runs["BCA"], reason="Plate map"
    )
    # 30 µg/mL would make the purity 5e11 / 30 = 1.7e10 particle/µg, an OOS (≥ 3e10).
    bad = record_manual_run(technician, lot, "BCA", [("protein", 30.0), *statistics])

    bad.refresh_from_db()
    assert bad.status == AssayRun.Status.INVALIDATED
    assert bad.status_reason.startswith(f"System suitability failed: {reason}")
    purity = CriterionEvaluation.objects.get(
        lot=lot, criterion__metric_code="purity.particles_per_ug"
    )
    assert purity.status == "pending"
    assert not Deviation.objects.filter(lot=lot, kind="oos").exists()
    assert "run_invalid" in [b.code for b in release_blockers(lot)]


# A BCA plate with its standards by the convention of assays.qc_selectors: absorbance results
# whose target is "standard" and whose replicate is the nominal concentration.
BCA_CURVE = dict(a=0.1, b=1.2, c=500.0, d=2.5)
BCA_STANDARDS = [25.0, 125.0, 250.0, 500.0, 750.0, 1000.0, 1500.0, 2000.0]


def _plate(lot, read_at=lambda conc: conc):
    rows = [
        {
            "analyte": "absorbance",
            "value": float(curves.four_pl(read_at(conc), **BCA_CURVE)) + noise,
            "target": "standard",
            "replicate": f"{conc:g} ug/mL",
        }
        for conc in BCA_STANDARDS
        for noise in (-0.002, 0.002)
    ]
    rows.append({"analyte": "absorbance", "value": 1.2, "source_sample": "LOT"})
    rows.append({"analyte": "protein", "value": 650.0})
    return rows


def test_a_plate_with_its_standards_is_judged_on_the_curve_they_give(technician):
    lot = factories.lot(technician)
    run = _record(technician, lot.code, "BCA", _plate(lot))
    assert run.status == AssayRun.Status.RECORDED  # no statistics entered: computed

    # Three standards of eight pipetted at 1.5 times their concentration.
    off = {125.0, 500.0, 1000.0}
    plate = _plate(lot, read_at=lambda c: c * 1.5 if c in off else c)
    standards = [r for r in plate if r.get("target") == "standard"]
    fit = curves.fit_four_pl(
        [float(r["replicate"].split()[0]) for r in standards], [r["value"] for r in standards]
    )
    share = 100.0 * fit.standards_within_tolerance()
    assert share < 75.0
    bad = _record(
        technician,
        lot.code,
        "BCA",
        plate
        # What the analyst typed does not overrule the standards.
        + [
            {"analyte": "curve_converged", "value": 1.0},
            {"analyte": "standards_in_tolerance_pct", "value": 100.0},
        ],
    )
    bad.refresh_from_db()
    assert bad.status == AssayRun.Status.INVALIDATED
    assert f"standards_in_tolerance_pct {share:.4g}:" in bad.status_reason


def test_a_plate_whose_standards_determine_no_curve_is_invalid(technician):
    lot = factories.lot(technician)
    step = [
        {
            "analyte": "absorbance",
            "value": y,
            "target": "standard",
            "replicate": f"{x:g} ug/mL",
        }
        for x, y in zip(worked_examples.STEP_CONC, worked_examples.STEP_RESPONSE, strict=True)
    ]
    run = _record(technician, lot.code, "BCA", [*step, {"analyte": "protein", "value": 1.0}])
    run.refresh_from_db()
    assert run.status == AssayRun.Status.INVALIDATED
    assert run.status_reason.startswith("System suitability failed: curve_converged 0:")


def test_a_protein_above_the_top_standard_is_stored_censored_never_extrapolated(technician):
    """A sample whose response lies above the highest standard is reported `> ULOQ` with the
    top standard as its number (curves.back_calculate flags it, the run page draws it so); it
    is stored with its qualifier and the mean carries the censoring (assays.metrics)."""
    lot = factories.lot(technician)
    plate = [r for r in _plate(lot) if r["analyte"] != "protein"]
    plate[-1]["value"] = 2.49  # the sample, above the top standard's response
    fit = curves.fit_four_pl(
        [float(r["replicate"].split()[0]) for r in plate[:-1]], [r["value"] for r in plate[:-1]]
    )
    (found,) = fit.back_calculate([2.49])
    assert (found.value, found.qualifier) == (None, curves.ULOQ_FLAG)

    top = max(BCA_STANDARDS)
    run = _record(
        technician,
        lot.code,
        "BCA",
        [*plate, {"analyte": "protein", "value": top, "qualifier": curves.ULOQ_FLAG}],
    )

    assert run.status == AssayRun.Status.RECORDED
    stored = Result.objects.get(run=run, analyte__code="protein")
    assert (stored.qualifier, stored.value, stored.unit) == (">ULOQ", top, "ug/mL")
    metric = QCMetric.objects.get(run=run, code="bca.protein")
    assert (metric.value, metric.details["qualifier"]) == (top, ">")
