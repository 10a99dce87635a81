"""Luminex xPONENT multiplex concentrations (issue 10): one 5PL per analyte on Net MFI, each
sample read on its analyte's own curve inside its own standards only, × dilution, "<LLOQ" /
">ULOQ" otherwise; per-sample results under the file's sample names; the run page's curves.

The repository's real xPONENT export (four unknowns; its protocol ran with analysis off and no
plate definition, so it prints no standards and no concentrations of its own to compare with)
is given standard wells in xPONENT's layout (tests/luminex_files.py) whose Net MFI is a known
5PL of each standard's concentration. The fit must then find those parameters again, and the
unknowns' concentrations are the closed-form inverse written out by hand below:

    x = c · (((a − d) / (y − d))^(1/g) − 1)^(1/b)      (Gottschalk & Dunn, Anal Biochem 2005)

e.g. alpha, Unknown1, y = 10921.5 with a = 25, b = 1.1, c = 3000, d = 32000, g = 0.7:
(a − d)/(y − d) = −31975 / −21078.5 = 1.516948; ^(1/0.7) = 1.813589; − 1 = 0.813589;
^(1/1.1) = 0.828956; × 3000 = 2486.87 pg/mL.
"""

import math

import pytest

from assays import ingest, plate_files, services
from assays.catalogue import MULTIPLEX_LAYOUT
from assays.models import AssayRun, InstrumentFile, PlateAnalysis, Result
from assays.parsers import asm
from assays.parsers.file_samples import records_from_asm
from assays.qc import curves, plate
from tests import factories
from tests.assays_pages.conftest import register_instrument, signed_in
from tests.luminex_files import ANALYTES, Well, with_wells

# The 5PL each analyte's standards were made from; bravo's kit starts at twice alpha's top.
TRUE = {"alpha": (25.0, 1.1, 3000.0, 32000.0, 0.7), "bravo": (30.0, 1.3, 2000.0, 40000.0, 0.8)}
TOP = {"alpha": 10000.0, "bravo": 20000.0}
LEVELS = 7  # 1:4 from the top standard, in duplicate
UNKNOWNS = {  # the real file's Net MFI (alpha, bravo)
    "Unknown1": (10921.5, 37214.0),
    "Unknown2": (8244.0, 35052.0),
    "Unknown3": (5603.0, 33948.0),
    "Unknown4": (3071.0, 28980.0),
}


def five_pl(x, a, b, c, d, g):
    return d + (a - d) / (1 + (x / c) ** b) ** g


def by_hand(y, a, b, c, d, g):
    return c * (((a - d) / (y - d)) ** (1 / g) - 1) ** (1 / b)


def nominal(analyte: str, level: int) -> float:
    return TOP[analyte] / 4**level


def test_file() -> bytes:
    wells = [
        Well(
            f"{'ABCDEFG'[level]}{column}",
            f"Standard{level + 1}",
            {a: five_pl(nominal(a, level), *TRUE[a]) for a in ANALYTES},
        )
        for level in range(LEVELS)
        for column in (2, 3)
    ]
    wells += [Well(w, "Background0", dict.fromkeys(ANALYTES, 0.0)) for w in ("H2", "H3")]
    return with_wells(wells)


test_file.__test__ = False  # a builder, not a test

LAYOUT = {
    "name": "the example's unknowns in A1-D1, standards in columns 2-3",
    "reports": "cytokine",
    "fit": "5pl",
    "response": "mfi",
    "unit": "pg/mL",
    "groups": [
        {
            "role": "standard",
            "name": f"Standard{level + 1}",
            "concentrations": {a: nominal(a, level) for a in ANALYTES},
            "wells": f"{'ABCDEFG'[level]}2:{'ABCDEFG'[level]}3",
        }
        for level in range(LEVELS)
    ]
    + [{"role": "blank", "name": "Background", "wells": "H2:H3"}]
    + [
        {"role": "sample", "name": name, "wells": [f"{'ABCD'[i]}1"]}
        for i, name in enumerate(UNKNOWNS)
    ],
}


def _outcomes():
    records = records_from_asm(asm.convert(test_file(), "luminex.csv"))
    readings = plate_files.multiplex_readings(records)
    return plate.compute_multiplex(plate.PlateLayout.from_dict(LAYOUT), readings)


def test_each_analyte_is_fitted_on_its_own_standards_and_read_by_hand():
    outcomes = _outcomes()

    assert set(outcomes) == {"alpha", "bravo"}
    for column, (analyte, outcome) in enumerate(outcomes.items()):
        assert outcome.failures == []
        assert outcome.curve is not None
        assert outcome.curve.standards_range == pytest.approx(
            (nominal(analyte, LEVELS - 1), TOP[analyte])
        )
        a, b, c, d, g = TRUE[analyte]
        assert outcome.curve.parameters == pytest.approx(
            {"a": a, "b": b, "c": c, "d": d, "g": g}, rel=1e-4
        )
        found = {s.name: s.found for s in outcome.samples}
        for name, mfi in UNKNOWNS.items():
            expected = by_hand(mfi[column], *TRUE[analyte])
            if expected > TOP[analyte]:
                assert found[name] == curves.BackCalc(None, curves.ULOQ_FLAG)
            else:
                assert found[name].value == pytest.approx(expected, rel=1e-5)
    assert outcomes["alpha"].samples[0].found.value == pytest.approx(2486.87, abs=0.01)
    # bravo: Unknown1's 37214 is above the top standard's 36494.55 (25183 pg/mL > 20000).
    assert outcomes["bravo"].samples[0].found.qualifier == curves.ULOQ_FLAG
    assert outcomes["bravo"].samples[3].found.value == pytest.approx(5815.75, abs=0.01)


def test_below_the_lowest_standard_is_lloq_times_the_dilution_never_extrapolated():
    layout = plate.PlateLayout.from_dict(
        {
            **LAYOUT,
            "groups": [
                *LAYOUT["groups"][:-4],
                {"role": "sample", "name": "EXO", "wells": "A1", "dilution": 4},
            ],
        }
    )
    readings = {
        a: {
            **{
                w: five_pl(nominal(a, level), *TRUE[a])
                for level in range(LEVELS)
                for w in (f"{'ABCDEFG'[level]}2", f"{'ABCDEFG'[level]}3")
            },
            # alpha: inside the range, bravo: below its lowest standard's 42.84.
            "A1": 10921.5 if a == "alpha" else 40.0,
        }
        for a in ANALYTES
    }
    outcomes = plate.compute_multiplex(layout, readings)
    computation = ingest.PlateComputation(
        outcome=outcomes["alpha"],
        layout_origin="test",
        readings=readings,
        wavelengths_nm=[],
        reports="cytokine",
        by_analyte=outcomes,
        layout=layout,
    )

    items = {i.target: i for i in ingest.plate_result_inputs(computation, {"EXO": "EXO-1"})}

    assert items["alpha"].value == pytest.approx(4 * by_hand(10921.5, *TRUE["alpha"]), rel=1e-5)
    assert items["alpha"].qualifier == ""
    lowest = nominal("bravo", LEVELS - 1)  # 20000 / 4^6 = 4.8828 pg/mL
    assert (items["bravo"].value, items["bravo"].qualifier) == (
        pytest.approx(4 * lowest),
        curves.LLOQ_FLAG,
    )
    assert {i.analyte for i in items.values()} == {"cytokine"}


def test_a_standard_without_the_analytes_concentration_fails_that_analyte_only():
    groups = [dict(g) for g in LAYOUT["groups"]]
    groups[0] = {**groups[0], "concentrations": {"alpha": TOP["alpha"]}}
    outcomes = plate.compute_multiplex(
        plate.PlateLayout.from_dict({**LAYOUT, "groups": groups}),
        plate_files.multiplex_readings(records_from_asm(asm.convert(test_file(), "l.csv"))),
    )

    assert outcomes["alpha"].failures == []
    assert outcomes["bravo"].curve is None
    assert "no concentration of bravo for standard Standard1" in outcomes["bravo"].failures[0]


def test_the_catalogue_template_is_a_usable_layout():
    layout = plate.PlateLayout.from_dict(MULTIPLEX_LAYOUT)

    assert (layout.fit, layout.response, layout.unit, layout.blank_subtract) == (
        "5pl",
        "mfi",
        "pg/mL",
        False,
    )
    assert len([g for g in layout.groups if g.role == "sample"]) == 40
    assert math.isclose(layout.groups[6].concentration, 10000 / 4**6)


@pytest.mark.django_db
def test_uploaded_export_gives_each_lot_its_cytokines_under_the_files_names(
    technician, admin_user, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.MEDIA_ROOT = tmp_path / "files"
    lots = {"Unknown1": factories.lot(technician), "Unknown4": factories.lot(technician)}
    instrument = register_instrument(admin_user, code="LUMINEX-01", assay_codes=("POTENCY-MAC",))

    # As for any plate: the wells of samples not in this study are left out of the layout.
    layout = {
        **LAYOUT,
        "groups": [g for g in LAYOUT["groups"] if g["role"] != "sample" or g["name"] in lots],
    }
    with django_capture_on_commit_callbacks(execute=True):
        record = services.instrument_file_receive(
            data=test_file(),
            filename="luminex_xponent_with_standards.csv",
            assay_code="POTENCY-MAC",
            instrument=instrument,
            sample_map={name: lot.code for name, lot in lots.items()},
            uploaded_by=technician,
            reagent_lots=factories.reagents_for("POTENCY-MAC"),
            plate_layout=layout,
        )

    record.refresh_from_db()
    assert record.status == InstrumentFile.Status.PARSED, record.error
    run = AssayRun.objects.get(source_file=record)
    assert run.status == "recorded", run.status_reason
    for name, lot in lots.items():
        results = Result.objects.filter(run=run, sample__lot=lot).select_related("analyte")
        cytokines = {r.target: r for r in results if r.analyte.code == "cytokine"}
        assert set(cytokines) == {"alpha", "bravo"}
        assert {r.source_sample for r in results} == {name}
        for column, analyte in enumerate(ANALYTES):
            expected = by_hand(UNKNOWNS[name][column], *TRUE[analyte])
            result = cytokines[analyte]
            assert result.unit == "pg/mL" and "computed from plate" in result.flags
            if expected > TOP[analyte]:  # Unknown1's bravo: the top standard, flagged
                assert (result.qualifier, result.value) == (">ULOQ", TOP[analyte])
            else:
                assert result.qualifier == "" and result.value == pytest.approx(expected, rel=1e-5)
        # The well's MFI is kept beside the concentrations.
        mfi = {r.target: r.value for r in results if r.analyte.code == "net_mfi"}
        assert mfi == dict(zip(ANALYTES, UNKNOWNS[name], strict=True))
    analysis = PlateAnalysis.objects.get(run=run)
    assert set(analysis.parameters) == {"alpha", "bravo"}
    assert analysis.parameters["bravo"]["c"] == pytest.approx(2000, rel=1e-4)
    assert analysis.layout["response"] == "mfi"
    assert analysis.layout["groups"][0]["concentrations"] == {"alpha": 10000.0, "bravo": 20000.0}

    page = signed_in(technician).get(f"/qc/runs/{run.pk}/").content.decode()
    for i, analyte in enumerate(ANALYTES):
        assert f'data-chart="chart-chart-plate-curve-{i}"' in page
        assert f'aria-label="{analyte} samples"' in page
    assert "&gt;ULOQ" in page
