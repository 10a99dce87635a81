"""factory_boy factories. Production records are built through the services, like real ones."""

import itertools
from datetime import timedelta
from decimal import Decimal

import factory
from django.contrib.auth.models import Group
from django.utils import timezone

from batches import services
from lims.models import User

PASSWORD = "correct-horse-battery-staple-42"
_serial = itertools.count(1)


class UserFactory(factory.django.DjangoModelFactory):
    """A user; `UserFactory(role="qa")` puts them in that role's group."""

    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = "Test"
    last_name = factory.Sequence(lambda n: f"Person{n}")

    @factory.post_generation
    def role(obj, create, extracted, **kwargs):
        obj.set_password(PASSWORD)
        obj.save()
        if extracted:
            obj.groups.add(Group.objects.get(name=extracted))


def reagent_lot(actor, *, expiry_days=180, lot_number=None, **overrides):
    n = next(_serial)
    fields = dict(
        category="medium",
        name="MSC medium",
        supplier="Acme Bio",
        catalogue_number="MED-1",
        lot_number=lot_number or f"L{n}",
        expiry_date=timezone.localdate() + timedelta(days=expiry_days),
        received_on=timezone.localdate() - timedelta(days=1),
    )
    fields.update(overrides)
    return services.reagent_lot_create(actor=actor, **fields)


# Valid QC reagent lots of the categories assays require (AssayDefinition.required_reagents).
QC_REAGENT_SUPPLIER = "Acme QC"
QC_REAGENT_NAMES = {
    "lal_reagent": "Kinetic LAL reagent",
    "bca_kit": "BCA protein assay kit",
    "qpcr_master_mix": "qPCR master mix",
}


def qc_reagent_lot(category, *, actor=None):
    """A valid lot of `category` from the QC stores: reused when one exists, else received."""
    from batches.models import ReagentLot

    found = ReagentLot.objects.filter(
        category=category,
        supplier=QC_REAGENT_SUPPLIER,
        voided_at__isnull=True,
        expiry_date__gte=timezone.localdate() + timedelta(days=30),
    ).first()
    if found is not None:
        return found
    from lims.roles import can_record_production

    if actor is None or not can_record_production(actor):
        # Reagents are received by technicians; an analyst's or an instrument's run uses
        # what the stores received.
        actor = User.objects.filter(username="qc-stores").first() or UserFactory(
            username="qc-stores", role="technician"
        )
    return reagent_lot(
        actor,
        category=category,
        name=QC_REAGENT_NAMES.get(category, category),
        supplier=QC_REAGENT_SUPPLIER,
        catalogue_number=f"QC-{category}",
    )


def run_times(assay_code, *, hours_ago=1.0):
    """(started_at, ended_at) of a run of `assay_code` that ended `hours_ago` hours ago and
    lasted as long as the assay takes (sterility by culture: 14 days, USP <71>); ended_at is
    None for an assay with no minimum duration."""
    from assays.models import AssayDefinition

    assay = AssayDefinition.objects.filter(code=assay_code, is_current=True).first()
    ended = timezone.now() - timedelta(hours=hours_ago)
    if assay is None or not assay.minimum_days:
        return ended, None
    return ended - timedelta(days=assay.minimum_days, hours=1), ended


def reagents_for(assay_code, *, actor=None):
    """Valid reagent lots of every category the current version of `assay_code` requires."""
    from assays.models import AssayDefinition

    assay = AssayDefinition.objects.filter(code=assay_code, is_current=True).first()
    needed = assay.required_reagents if assay else []
    return [qc_reagent_lot(category, actor=actor) for category in needed]


def reagent_ids_for(assay_code, *, actor=None) -> list[int]:
    """The ids of `reagents_for`, as an API body names them."""
    return [lot.pk for lot in reagents_for(assay_code, actor=actor)]


# The run controls that the validity criteria of each assay require (AssayDefinition.suitability,
# assays.qc.suitability), passing, as the bench records them next to the result: a LAL run's
# positive product control, a qPCR run's no-template control, a 4PL/5PL run's curve statistics.
RUN_CONTROLS: dict[str, list[tuple[str, float | str]]] = {
    "ENDOTOXIN": [("spike_recovery", 95.0)],
    "MYCO": [("ntc", "no amplification")],
    "MYCO-CB": [("ntc", "no amplification")],
    "MIRNA-QPCR": [("ntc", "no amplification")],
    "BCA": [("curve_converged", 1.0), ("standards_in_tolerance_pct", 100.0)],
}


def run_controls(assay_code, sample, given=()) -> list[dict]:
    """The passing run controls of `assay_code` for `sample` (a code) as result bodies
    ({"sample", "analyte", "value" | "text_value"}: ResultInput's fields, and an API body's),
    leaving out the analytes in `given`."""
    return [
        {"sample": sample, "analyte": analyte}
        | ({"text_value": value} if isinstance(value, str) else {"value": value})
        for analyte, value in RUN_CONTROLS.get(assay_code, [])
        if analyte not in given
    ]


def with_run_controls(assay_code, results):
    """`results` (ResultInput objects or result bodies of one sample) with the passing run
    controls of `assay_code` that they lack, in the same form."""
    from assays.inputs import ResultInput

    results = list(results)
    if not results:
        return results
    first = results[0]
    as_input = isinstance(first, ResultInput)
    sample = first.sample if as_input else first["sample"]
    given = {r.analyte if as_input else r["analyte"] for r in results}
    extra = run_controls(assay_code, sample, given)
    return results + [ResultInput(**c) if as_input else c for c in extra]


def donor(actor, code=None):
    n = next(_serial)
    return services.donor_create(
        actor=actor, code=code or f"D-{n}", tissue_source="umbilical_cord", consent_reference="C-1"
    )


def cell_bank(actor, **overrides):
    fields = dict(
        donor=donor(actor),
        bank_type="working",
        passage=3,
        vials=20,
        frozen_on=timezone.localdate() - timedelta(days=30),
        storage="LN2 tank 1",
    )
    fields.update(overrides)
    return services.cell_bank_create(actor=actor, **fields)


def culture_batch(actor, **overrides):
    fields = dict(cell_bank=cell_bank(actor), started_on=timezone.localdate() - timedelta(days=10))
    fields.update(overrides)
    return services.culture_batch_create(actor=actor, **fields)


def harvest(actor, batch=None, *, at=None):
    batch = batch or culture_batch(actor)
    return services.harvest_record(
        actor=actor,
        batch=batch,
        harvested_at=at or timezone.now() - timedelta(hours=4),
        volume_ml=Decimal("250"),
        medium="serum_free",
    )


def isolation_run(actor, harvests=None, *, start=None):
    harvests = harvests or [harvest(actor)]
    start = start or timezone.now() - timedelta(hours=1)
    return services.isolation_run_create(
        actor=actor,
        method="tff_sec",
        harvests=harvests,
        input_volume_ml=Decimal("250"),
        output_volume_ml=Decimal("5"),
        operator=actor,
        equipment="TFF-01",
        started_at=start,
        ended_at=start + timedelta(minutes=50),
        parameters={"flow_rate_ml_min": 50},
    )


def lot(actor, runs=None):
    return services.lot_create(
        actor=actor,
        isolation_runs=runs or [isolation_run(actor)],
        manufactured_on=timezone.localdate(),
        volume_ml=Decimal("5"),
    )


def storage_positions(actor, n, box="B1"):
    return [
        services.storage_location_create(
            actor=actor, freezer="ULT-1", rack="R1", box=box, position=f"A{i + 1:02d}"
        )
        for i in range(n)
    ]


def finalize_lot(qa, lot, to: str, decided_at=None):
    """Put a lot in a final state (released / rejected) for tests that need a locked lot
    (`decided_at`: when, if not now).

    Production only gets there through a signed QA disposition (release.services.lot_dispose,
    tested in tests/release); here the signature and the disposition are written directly so
    that a test about something else does not have to produce a whole passing lot.
    """
    from django.utils import timezone

    from batches.models import ExosomeLot
    from lims.models import Signature
    from release.models import Disposition

    if to == "released":
        for status in ("in_testing", "under_review"):
            lot.refresh_from_db()  # its results may have moved it already (release.lot_progress)
            if lot.status not in (status, "under_review"):
                services.lot_set_status(actor=lot.created_by, lot=lot, to=status, reason="QC")
    signature = Signature.objects.create(
        signer=qa,
        printed_name=qa.get_full_name() or qa.username,
        meaning="approval",
        signed_at=timezone.now(),
        record_type="batches.ExosomeLot",
        record_id=str(lot.pk),
        content_sha256="0" * 64,
        content={"lot": lot.code, "decision": to},
    )
    Disposition.objects.create(
        lot=lot, decision=to, signature=signature, decided_at=decided_at or timezone.now()
    )
    ExosomeLot.objects.filter(pk=lot.pk).update(status=to)
    lot.refresh_from_db()
    services.aliquots_follow_lot(actor=qa, lot=lot, reason=f"Lot {lot} {to}")  # as lot_dispose
    return lot


# --- Training (lims.training) ------------------------------------------------------------------
# Qualification is enforced only where a TrainingRequirement names the subject and step, so the
# tests that do not declare one need no training. These declare and give it.


def training_qa():
    return User.objects.filter(username="training-qa").first() or UserFactory(
        username="training-qa", role="qa"
    )


def training_required(subject, *steps, sop_code=None, effective_days_ago=365, grace_days=30):
    """Declare that `steps` (all four when none) on `subject` need SOP `sop_code` (issued as
    version 1 when it does not exist yet); returns the SOP's current version."""
    from lims import training
    from lims.models import Sop, Step

    qa = training_qa()
    sop_code = sop_code or f"SOP-{subject}"
    sop = Sop.objects.filter(code=sop_code).order_by("-version").first()
    if sop is None:
        sop = training.sop_issue(
            actor=qa,
            code=sop_code,
            title=f"Procedure for {subject}",
            effective_on=timezone.localdate() - timedelta(days=effective_days_ago),
            grace_days=grace_days,
        )
    for step in steps or Step.values:
        training.training_requirement_add(actor=qa, subject=subject, step=step, sop_code=sop_code)
    return sop


def qualify(user, subject, *, trained_days_ago=30, valid_days=365, version=None):
    """Train `user` on the current version (or `version`) of every SOP `subject` requires, as
    QA records it (the record without its signature: lims.training.training_record signs)."""
    from lims.models import Sop, TrainingRecord, TrainingRequirement

    trained_on = timezone.localdate() - timedelta(days=trained_days_ago)
    codes = set(
        TrainingRequirement.objects.filter(subject=subject).values_list("sop_code", flat=True)
    )
    for code in sorted(codes):
        sops = Sop.objects.filter(code=code).order_by("-version")
        sop = sops.get(version=version) if version else sops.first()
        TrainingRecord.objects.create(
            trainee=user,
            sop=sop,
            trained_on=trained_on,
            trainer=training_qa(),
            expires_on=trained_on + timedelta(days=valid_days),
            created_by=training_qa(),
        )
