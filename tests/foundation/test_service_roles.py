"""Every service that writes GMP records refuses the wrong role itself (21 CFR 11.10(g)).

The pages check the role before they show a form; these tests call each service directly, as a
script, a task or another service could, with each role that may not do it, and expect the
service's own refusal (lims.roles.RoleRefused) and nothing written. The right role gets past
the role check (what follows may still refuse for other reasons, which is not tested here).
"""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from assays import services as assays
from assays.inputs import ResultInput, WorksheetRow
from assays.nta_services import nta_dilution_record
from batches import services as batches
from lims.models import User
from lims.roles import RoleRefused
from release import deviations, specifications
from release.models import Deviation, Specification
from tests import factories
from tests.api.conftest import register_instrument
from tests.release.helpers import signer_for

pytestmark = pytest.mark.django_db

ROLES = ("technician", "analyst", "qa", "admin", "no_role")


@pytest.fixture
def world(personas, make_user):
    """One record of each kind a service acts on, made by the roles that may make them."""
    tech, admin, qa = personas["technician"], personas["admin"], personas["qa"]
    lot = factories.lot(tech)
    instrument = register_instrument(admin, assays=["BCA"])
    run = assays.run_record(
        assay_code="BCA",
        reagent_lots=factories.reagents_for("BCA"),
        results=factories.with_run_controls(
            "BCA", [ResultInput(sample=lot.code, analyte="protein", value=100.0, unit="ug/mL")]
        ),
        source="manual",
        started_at=timezone.now() - timedelta(hours=1),
        actor=tech,
    )
    deviation = deviations.deviation_open(
        actor=tech, kind="process", title="Pump stopped", description="5 min", lot=lot
    )
    key, _ = assays.instrument_key_issue(actor=admin, instrument=instrument)
    people = {**personas, "no_role": make_user(None, username="nora.norole")}
    return {
        "people": people,
        "lot": lot,
        "batch": factories.culture_batch(tech),
        "donor": factories.donor(tech),
        "instrument": instrument,
        "key": key,
        "run": run,
        "deviation": deviation,
        "position": factories.storage_positions(tech, 1, box="RR")[0],
        "qa": qa,
    }


def _today():
    return timezone.localdate()


# service name -> (call with (actor, world), roles that may)
SERVICES = {
    "donor_create": (
        lambda a, w: batches.donor_create(
            actor=a, code="D-ROLE", tissue_source="umbilical_cord", consent_reference="C"
        ),
        {"technician"},
    ),
    "reagent_lot_create": (
        lambda a, w: batches.reagent_lot_create(
            actor=a,
            category="medium",
            name="M",
            supplier="S",
            catalogue_number="C",
            lot_number="L-ROLE",
            expiry_date=_today() + timedelta(days=30),
            received_on=_today(),
        ),
        {"technician"},
    ),
    "passage_record": (
        lambda a, w: batches.passage_record(
            actor=a,
            batch=w["batch"],
            passage_number=4,
            passaged_on=_today(),
            cells_seeded=1_000_000,
            cells_harvested=3_000_000,
            viability_percent=95,
        ),
        {"technician"},
    ),
    "lot_set_status": (
        lambda a, w: batches.lot_set_status(actor=a, lot=w["lot"], to="in_testing", reason="r"),
        {"technician"},
    ),
    "storage_location_create": (
        lambda a, w: batches.storage_location_create(
            actor=a, freezer="F", rack="R", box="B", position="Z9"
        ),
        {"technician"},
    ),
    "record_update": (
        lambda a, w: batches.record_update(
            w["donor"], actor=a, changes={"consent_reference": "C-2"}, reason="typo"
        ),
        {"technician"},
    ),
    "record_void": (
        lambda a, w: batches.record_void(w["position"], actor=a, reason="never used"),
        {"technician"},
    ),
    "instrument_register": (
        lambda a, w: assays.instrument_register(
            actor=a,
            code="ROLE-1",
            instrument_type="T",
            make="M",
            model="X",
            serial_number="S",
            location="L",
            assay_codes=["BCA"],
        ),
        {"admin"},
    ),
    "instrument_set_status": (
        lambda a, w: assays.instrument_set_status(
            actor=a, instrument=w["instrument"], to="out_of_service", reason="broken"
        ),
        {"admin"},
    ),
    "instrument_key_issue": (
        lambda a, w: assays.instrument_key_issue(actor=a, instrument=w["instrument"]),
        {"admin"},
    ),
    "instrument_key_revoke": (
        lambda a, w: assays.instrument_key_revoke(actor=a, key=w["key"], reason="lost"),
        {"admin"},
    ),
    "run_record": (
        lambda a, w: assays.run_record(
            assay_code="BCA",
            reagent_lots=factories.reagents_for("BCA"),
            results=factories.with_run_controls(
                "BCA",
                [ResultInput(sample=w["lot"].code, analyte="protein", value=90.0, unit="ug/mL")],
            ),
            source="manual",
            started_at=timezone.now() - timedelta(hours=1),
            actor=a,
        ),
        {"technician", "analyst"},
    ),
    "worksheet_record": (
        lambda a, w: assays.worksheet_record(
            actor=a,
            assay_code="BCA",
            rows=[
                WorksheetRow(
                    sample=w["lot"].code,
                    results=factories.with_run_controls(
                        "BCA", [ResultInput(sample=w["lot"].code, analyte="protein", value=90.0)]
                    ),
                )
            ],
            started_at=timezone.now() - timedelta(hours=1),
            reagent_lots=factories.reagents_for("BCA"),
        ),
        {"technician", "analyst"},
    ),
    "instrument_file_receive": (
        lambda a, w: assays.instrument_file_receive(
            data=b"not parsed in this test",
            filename="x.csv",
            sample_identifier=w["lot"].code,
            assay_code="BCA",
            reagent_lots=factories.reagents_for("BCA"),
            instrument=w["instrument"],
            uploaded_by=a,
        ),
        {"technician", "analyst"},
    ),
    "run_review": (
        lambda a, w: assays.run_review(signer=signer_for(a, "review"), run=w["run"]),
        {"analyst"},
    ),
    "run_invalidate": (
        lambda a, w: assays.run_invalidate(actor=a, run=w["run"], reason="pipette error"),
        {"analyst", "qa"},
    ),
    "nta_dilution_record": (
        lambda a, w: nta_dilution_record(
            actor=a, run=w["run"], dilution_factor=10, reason="bench sheet"
        ),
        {"analyst"},
    ),
    "deviation_open": (
        lambda a, w: deviations.deviation_open(
            actor=a, kind="process", title="t", description="d", lot=w["lot"]
        ),
        {"technician", "analyst", "qa"},
    ),
    "deviation_investigate": (
        lambda a, w: deviations.deviation_investigate(
            actor=a, deviation=w["deviation"], root_cause="worn seal"
        ),
        {"qa"},
    ),
    "capa_add": (
        lambda a, w: deviations.capa_add(
            actor=a,
            deviation=w["deviation"],
            description="replace seal",
            owner="Eng",
            due_on=_today() + timedelta(days=7),
        ),
        {"qa"},
    ),
    "specification_draft_create": (
        lambda a, w: specifications.specification_draft_create(
            actor=a, product=Specification.Product.SOURCE_CELLS
        ),
        {"qa"},
    ),
}


def _cases():
    for name, (_, allowed) in SERVICES.items():
        for role in ROLES:
            yield pytest.param(name, role, role in allowed, id=f"{name}-{role}")


@pytest.mark.parametrize(("name", "role", "allowed"), list(_cases()))
def test_each_service_refuses_the_wrong_role_itself(world, name, role, allowed):
    call, _ = SERVICES[name]
    actor = world["people"][role]
    events_before = _event_count()
    if allowed:
        try:
            with transaction.atomic():
                call(actor, world)
        except RoleRefused as exc:  # pragma: no cover - the failure message is the point
            pytest.fail(f"{role} refused by {name}: {exc}")
        except Exception:  # other rules may refuse; only the role check is under test
            pass
    else:
        with pytest.raises(RoleRefused), transaction.atomic():
            call(actor, world)
        assert _event_count() == events_before, f"{name} wrote something for {role}"


def _event_count() -> int:
    from lims.models import AuditEvent

    return AuditEvent.objects.count()


def test_the_system_account_acts_for_machines(world):
    """Tasks act as the installation's account: an automatic OOS needs no person's role."""
    system = User.objects.get(username="system")
    deviation = deviations.deviation_open(
        actor=system, kind="oos", title="t", description="d", lot=world["lot"]
    )
    assert deviation.created_by == system
    assert Deviation.objects.filter(pk=deviation.pk).exists()
