"""Who did it, truthfully (release gate, item 9; ALCOA+ attributable, 21 CFR 11.10(e)).

The audit trail names the person who acted and, separately, the instrument that measured; work
the installation does by itself (metrics, evaluation) is "system" with its task named, even when
a task runs eagerly inside a person's request.
"""

import csv
import io

import pytest
from django.urls import reverse

from assays import services as assay_services
from assays.models import AssayRun
from lims.models import AuditEvent
from tests import factories
from tests.api.conftest import register_instrument
from tests.release.helpers import committed

pytestmark = pytest.mark.django_db


def _events(run, label):
    return AuditEvent.objects.filter(
        pgh_obj_model="assays.AssayRun", pgh_obj_id=str(run.pk), pgh_label=label
    ).order_by("pgh_created_at")


def test_results_typed_by_an_analyst_who_picked_an_instrument_are_the_analysts(
    analyst, admin_user, client
):
    instrument = register_instrument(admin_user, assays=["BCA"])
    lot = factories.lot(factories.UserFactory(role="technician"))
    with committed():
        run = assay_services.run_record(
            assay_code="BCA",
            reagent_lots=factories.reagents_for("BCA"),
            results=factories.with_run_controls(
                "BCA", [assay_services.ResultInput(sample=lot.code, analyte="protein", value=90.0)]
            ),
            source="manual",
            started_at=lot.created_at,
            instrument=instrument,
            actor=analyst,
        )

    created = _events(run, "insert").get()
    assert created.actor == "alan.analyst"
    assert created.measured_by == f"instrument {instrument.code}"

    # The metrics that followed are the system's, with the task named, not the analyst's.
    computed = _events(run, "update").filter(pgh_context__reason="QC metrics computed").get()
    assert computed.actor == "system (assays.tasks.compute_run_metrics)"

    # The trail shows both, in their own columns, and the CSV export carries them.
    client.force_login(admin_user)
    page = client.get(reverse("audit_trail"), {"model": "assays.AssayRun"}).content.decode()
    assert "<th>Who</th><th>Instrument</th>" in page
    # People by name, the user ID in the title (21 CFR 11.50: the printed name of the signer).
    assert (
        f'<td title="alan.analyst">Alan Analyst</td><td>instrument {instrument.code}</td>' in page
    )
    export = client.get(reverse("audit_trail_csv"), {"model": "assays.AssayRun"})
    rows = list(csv.DictReader(io.StringIO(b"".join(export.streaming_content).decode())))
    mine = [r for r in rows if r["record_id"] == str(run.pk) and r["action"] == "created"]
    assert [(r["user"], r["instrument"]) for r in mine] == [("alan.analyst", instrument.code)]
    assert any(r["task"] == "assays.tasks.compute_run_metrics" for r in rows)


def test_an_invalid_run_is_invalidated_by_the_system_with_its_reason(technician):
    lot = factories.lot(technician)
    run = assay_services.run_record(
        assay_code="ENDOTOXIN",
        reagent_lots=factories.reagents_for("ENDOTOXIN"),
        results=[
            assay_services.ResultInput(sample=lot.code, analyte="endotoxin", value=0.1),
            assay_services.ResultInput(sample=lot.code, analyte="spike_recovery", value=20.0),
        ],
        source="manual",
        started_at=lot.created_at,
        actor=technician,
    )
    assert run.status == AssayRun.Status.INVALIDATED
    (moved,) = [e for e in _events(run, "update") if "status" in (e.pgh_diff or {})]
    assert moved.actor == "system"
    assert moved.reason.startswith("System suitability failed")
