"""Lots with release-test results, recorded by hand through `assays.services.run_record` as an
analyst does at the bench, with one run per assay of the seeded drug-substance specification.

Every value in PASSING meets its default criterion (release/default_specifications.py):
concentration 3e11/mL ≥ 1e10, 95 % between 50 and 400 nm > 90 %, mode 120 nm < 200 nm,
purity 3e11 / 5 µg = 6e10 particles/µg ≥ 3e10, markers as MISEV2018 expects, endotoxin
0.1 EU/mL < 0.5, no growth, mycoplasma not detected, TNF-α inhibition
100·(1 − (400 − 50)/(1000 − 50)) = 63 % ≥ 20 %, IL-10 fold induction 300/100 = 3 ≥ 1.5.
"""

from tests import factories
from tests.release.helpers import SOURCE_CELLS_PASSING, review_runs

PASSING: dict[str, dict[str, float | str]] = {
    "NTA": {"concentration": 3e11, "mode_size": 120.0, "fraction_50_400": 95.0},
    "BCA": {"protein": 5.0, "curve_converged": 1.0, "standards_in_tolerance_pct": 95.0},
    "EV-MARKERS": {
        "CD9": "positive",
        "CD63": "positive",
        "CD81": "positive",
        "TSG101": "positive",
        "calnexin": "negative",
    },
    "TEM": {"morphology": "conforms"},
    "ENDOTOXIN": {"endotoxin": 0.1, "spike_recovery": 95.0},  # with its PPC (USP <85>)
    "STERILITY": {"sterility": "no growth"},
    "MYCO": {"mycoplasma": "not detected", "ntc": "no amplification"},  # with its NTC (MIQE)
    "POTENCY-MAC": {
        "tnf_ev": 400.0,
        "tnf_lps": 1000.0,
        "tnf_unstimulated": 50.0,
        "il10_ev": 300.0,
        "il10_lps": 100.0,
    },
}


def record_release_tests(lot, actor, capture, *, change=None):
    """Record every release test of `lot` by hand; `change` = {(assay, analyte): value}.

    `capture` is pytest-django's django_capture_on_commit_callbacks: the runs' metrics and
    the lot's evaluation are computed when each run's transaction "commits", as in production.
    Returns the runs by assay code.
    """
    from assays import services

    change = change or {}
    runs = {}
    for assay, values in PASSING.items():
        results = []
        for analyte, value in values.items():
            value = change.get((assay, analyte), value)
            if isinstance(value, str):
                results.append(services.ResultInput(lot.code, analyte, text_value=value))
            else:
                results.append(services.ResultInput(lot.code, analyte, value=value))
        with capture(execute=True):
            runs[assay] = services.run_record(
                assay_code=assay,
                reagent_lots=factories.reagents_for(assay),
                results=results,
                source="manual",
                started_at=factories.run_times(assay, hours_ago=2)[0],
                ended_at=factories.run_times(assay, hours_ago=2)[1],
                actor=actor,
            )
    return runs


def record_source_cell_tests(lot, actor, capture, *, change=None):
    """Passing source-cell tests of the culture batch the lot was made from (release is gated
    on the lot's genealogy: release.selectors.source_batch_blockers); `change` = {(assay,
    analyte): value}."""
    from assays import services
    from batches.models import CultureBatch

    runs = []
    for batch in CultureBatch.objects.filter(harvests__isolations__lots=lot).distinct():
        for assay, pairs in SOURCE_CELLS_PASSING.items():
            pairs = [(a, (change or {}).get((assay, a), v)) for a, v in pairs]
            results = [
                services.ResultInput(batch.code, analyte, text_value=value)
                if isinstance(value, str)
                else services.ResultInput(batch.code, analyte, value=value)
                for analyte, value in pairs
            ]
            with capture(execute=True):
                runs.append(
                    services.run_record(
                        assay_code=assay,
                        reagent_lots=factories.reagents_for(assay),
                        results=results,
                        source="manual",
                        started_at=factories.run_times(assay, hours_ago=2)[0],
                        ended_at=factories.run_times(assay, hours_ago=2)[1],
                        actor=actor,
                    )
                )
    return runs


def lot_under_review(technician, analyst, capture, *, change=None, source_change=None):
    """A lot made by `technician`, tested by `analyst` (its source cells included), and put
    under review for QA."""
    from batches import services

    lot = factories.lot(technician)
    services.lot_set_status(actor=technician, lot=lot, to="in_testing", reason="Samples to QC")
    runs = record_release_tests(lot, analyst, capture, change=change)
    source_runs = record_source_cell_tests(lot, analyst, capture, change=source_change)
    review_runs([*runs.values(), *source_runs])  # by a second analyst, e-signed
    for run in runs.values():
        run.refresh_from_db()
    lot.refresh_from_db()
    if lot.status != "under_review":  # moved there by itself once every run is reviewed
        services.lot_set_status(
            actor=technician, lot=lot, to="under_review", reason="Testing complete"
        )
        lot.refresh_from_db()
    lot.runs = runs
    return lot
