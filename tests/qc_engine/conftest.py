"""Fixtures of the QC engine tests: runs recorded through the services, as instruments do.

Celery is eager (tests/conftest.py); work queued "on commit" runs when the test's
``django_capture_on_commit_callbacks(execute=True)`` block ends, as it would after a real commit.
"""

import base64
import json
import re
from pathlib import Path

import numpy as np
import pytest
from django.utils import timezone

NTA_FILE = Path(__file__).resolve().parents[1] / "data" / "nta" / "nanosight_nta32_beads.csv"


@pytest.fixture(autouse=True)
def _file_store(settings, tmp_path):
    """Original instrument files of these tests go to a temporary store."""
    settings.MEDIA_ROOT = str(tmp_path / "files")


@pytest.fixture
def record_run(analyst, django_capture_on_commit_callbacks):
    """Record a run by hand: ``record_run("BCA", [{"sample": ..., "analyte": ..., ...}])``,
    with the reagent lots the assay requires unless ``reagent_lots`` is given, and the passing
    run controls its validity criteria read that ``results`` lacks (factories.RUN_CONTROLS).

    Returns the run; its metrics (and the lot evaluation) have been computed on commit.
    """
    from assays import services
    from assays.services import ResultInput

    def record(assay_code, results, *, actor=None, started_at=None, **kwargs):
        from tests import factories

        kwargs.setdefault("reagent_lots", factories.reagents_for(assay_code, actor=actor))
        with django_capture_on_commit_callbacks(execute=True):
            return services.run_record(
                assay_code=assay_code,
                results=[
                    ResultInput(**r) for r in factories.with_run_controls(assay_code, results)
                ],
                source="manual",
                started_at=started_at or timezone.now(),
                actor=actor or analyst,
                **kwargs,
            )

    return record


@pytest.fixture
def receive_nta_file(analyst, admin_user, django_capture_on_commit_callbacks):
    """Send the real NanoSight export for a lot; returns the run parsed from it. The file says
    "Not recorded" for its dilution: the analyst records it (undiluted), so the run counts."""
    from assays import services
    from assays.nta_services import nta_dilution_record
    from tests.assays_pages.conftest import register_instrument

    instrument = register_instrument(admin_user)

    def receive(lot):
        with django_capture_on_commit_callbacks(execute=True):
            received = services.instrument_file_receive(
                data=NTA_FILE.read_bytes(),
                filename=NTA_FILE.name,
                sample_identifier=lot.code,
                assay_code="NTA",
                instrument=instrument,
                uploaded_by=analyst,
            )
        received.refresh_from_db()
        assert received.status == "parsed", received.error
        run = received.runs.get()
        with django_capture_on_commit_callbacks(execute=True):
            nta_dilution_record(
                actor=analyst, run=run, dilution_factor=1, reason="Measured undiluted (bench)"
            )
        return run

    return receive


@pytest.fixture
def lot(technician):
    from tests import factories

    return factories.lot(technician)


def lot_made_on(actor, day):
    """A lot manufactured on ``day`` (trend charts put lots at their manufacturing date), from
    a genealogy dated in order before it: bank, culture, harvest, isolation the day before."""
    from datetime import datetime, time, timedelta
    from decimal import Decimal

    from django.utils import timezone

    from batches import services
    from tests import factories

    isolated = timezone.make_aware(datetime.combine(day - timedelta(days=1), time(12)))
    bank = factories.cell_bank(actor, frozen_on=day - timedelta(days=40))
    batch = factories.culture_batch(actor, cell_bank=bank, started_on=day - timedelta(days=10))
    harvest = factories.harvest(actor, batch, at=isolated - timedelta(hours=4))
    return services.lot_create(
        actor=actor,
        isolation_runs=[factories.isolation_run(actor, [harvest], start=isolated)],
        manufactured_on=day,
        volume_ml=Decimal("5"),
    )


def lots_with_protein(technician, record_run, values, *, weeks_ago=0):
    """One lot a week, each with a protein result, the last ``weeks_ago`` + 1 weeks ago."""
    from datetime import timedelta

    today = timezone.localdate()
    lots = [
        lot_made_on(technician, today - timedelta(weeks=weeks_ago + len(values) - i))
        for i in range(len(values))
    ]
    record_run(
        "BCA",
        [
            {"sample": lot.code, "analyte": "protein", "value": v}
            for lot, v in zip(lots, values, strict=True)
        ],
    )
    return lots


def chart_figure(response, name: str) -> dict:
    """The figure of chart ``name`` from a page: the content of its json_script element."""
    html = response.content.decode()
    match = re.search(
        rf'<script id="chart-{re.escape(name)}" type="application/json">(.*?)</script>', html, re.S
    )
    assert match, f"no chart-{name} on the page"
    assert f'data-chart="chart-{name}"' in html, f"no element draws chart-{name}"
    return json.loads(match.group(1))


def array(value) -> np.ndarray | list:
    """A trace array as Plotly serialised it: a list, or a base64 typed array."""
    if isinstance(value, dict) and "bdata" in value:
        data = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        return data
    return value


def shapes_by_name(figure: dict) -> dict[str, dict]:
    return {s["name"]: s for s in figure["layout"].get("shapes", []) if "name" in s}
