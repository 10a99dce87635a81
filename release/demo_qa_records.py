"""Demo training matrix, retained samples and a received sample (called by release.demo).

The training matrix has every demo person qualified for what the other demo steps ask of them,
one lapsed qualification (the technician's TEM training: SOP-QC-004 v2 took effect 45 days
ago with a 30-day grace period) and one expiring soon (QA's release training)."""

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from batches import custody
from batches import services as batch_services
from batches.models import ExosomeLot
from lims import training
from lims.models import Sop, Step
from lims.roles import ANALYST, QA, TECHNICIAN


def seed_training_and_custody(users, lots, signer_for) -> None:
    tech, analyst, qa = users[TECHNICIAN], users[ANALYST], users[QA]
    today = timezone.localdate()

    def days_ago(n):
        return today - timedelta(days=n)

    nta = training.sop_issue(
        actor=qa,
        code="SOP-QC-001",
        title="Nanoparticle tracking analysis",
        effective_on=days_ago(400),
    )
    training.sop_issue(
        actor=qa, code="SOP-QC-004", title="TEM morphology", effective_on=days_ago(400)
    )
    tem_v2 = training.sop_issue(
        actor=qa,
        code="SOP-QC-004",
        title="TEM morphology (negative staining revised)",
        effective_on=days_ago(45),
        grace_days=30,
    )
    release_sop = training.sop_issue(
        actor=qa, code="SOP-QA-010", title="Lot disposition", effective_on=days_ago(400)
    )
    for subject, code in (("NTA", "SOP-QC-001"), ("TEM", "SOP-QC-004")):
        for step in (Step.PERFORM, Step.ENTER, Step.REVIEW):
            training.training_requirement_add(actor=qa, subject=subject, step=step, sop_code=code)
    training.training_requirement_add(
        actor=qa, subject=training.RELEASE, step=Step.SIGN, sop_code="SOP-QA-010"
    )
    tem_v1 = Sop.objects.get(code="SOP-QC-004", version=1)
    signer = signer_for(qa, "approval")
    for trainee, sop, trained, trainer, valid in (
        (tech, nta, 200, analyst, 365),
        (analyst, nta, 200, qa, 365),
        (tech, tem_v1, 300, analyst, 730),  # lapsed: not retrained on v2 within its grace
        (analyst, tem_v2, 40, qa, 365),
        (qa, release_sop, 345, analyst, 365),  # expires in 20 days
    ):
        training.training_record(
            signer=signer,
            trainee=trainee,
            sop=sop,
            trained_on=days_ago(trained),
            trainer=trainer,
            expires_on=days_ago(trained) + timedelta(days=valid),
        )

    # Statuses as the demo's results left them (release.lot_progress moves lots forward).
    lots = list(ExosomeLot.objects.filter(pk__in=[lot.pk for lot in lots]).order_by("pk"))
    under_review = next(lot for lot in lots if lot.status == "under_review")
    # Its six stored vials are reserved for the stability study (release.stability_demo): two
    # more are filled as retention samples, kept in the retain freezer (no LIMS position).
    batch_services.aliquots_create(
        actor=tech, lot=under_review, volume_ul=Decimal("500"), locations=[None, None]
    )
    retained = custody.retain_set_aside(
        actor=qa,
        lot=under_review,
        vials=2,
        location="ULT-80-02 retain freezer / shelf 1 / box R01",
        lot_expiry=under_review.manufactured_on + timedelta(days=730),
    )
    custody.retain_withdraw(
        actor=qa, retained=retained, vials=1, reason="Demo: identity retest for complaint C-001"
    )

    in_testing = next(lot for lot in lots if lot.status == "in_testing")
    now = timezone.now()
    receipt = custody.sample_receive(
        actor=tech,
        sender_kind="cmo",
        sender_name="Acme CDMO, Leiden",
        description=f"2 x 0.5 mL {in_testing} QC samples",
        lot=in_testing,
        containers=2,
        courier="World Courier, AWB 7781-2290",
        shipped_at=now - timedelta(days=1, hours=3),
        received_at=now - timedelta(hours=2),
        condition="intact",
        shipping_condition="frozen",
        temperature_min_c=Decimal("-78.4"),
        temperature_max_c=Decimal("-71.9"),
        logger_id="TL-0042",
    )
    custody.custody_transfer(
        actor=tech, receipt=receipt, to_party="QC freezer ULT-80-01", at=now - timedelta(hours=1)
    )
