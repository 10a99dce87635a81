"""Demo data of stability studies and the annual product quality review (called from
release.demo with one line): a stability specification and protocol approved by QA, a running
study on the passing demo lot with its T0 pulls due today, and the signed APQR of the year."""

from django.utils import timezone

from assays import services as qc
from assays.inputs import ResultInput
from lims.models import Signature
from lims.roles import ANALYST, QA
from release import apqr, specifications, stability
from release.models import Specification


def seed_stability(users, lots, signer_for) -> None:
    qa, analyst = users[QA], users[ANALYST]
    lot = lots[1]  # the passing lot: six vials in storage, never tested
    spec = specifications.specification_draft_create(
        actor=qa, product=Specification.Product.STABILITY, title="MSC-sEV stability"
    )
    for position, (test, code, comparator, lower, upper, unit) in enumerate(
        [
            ("Particle concentration", "nta.concentration", "gte", 1.0e10, None, "particle/mL"),
            ("Size: mode", "nta.mode_size", "lt", None, 200.0, "nm"),
        ]
    ):
        specifications.criterion_save(
            actor=qa,
            specification=spec,
            position=position,
            test=test,
            method="NTA",
            metric_code=code,
            comparator=comparator,
            lower=lower,
            upper=upper,
            unit=unit,
            reference="ICH Q5C §6; site stability specification",
        )
    specifications.specification_approve(
        signer=signer_for(qa, Signature.Meaning.APPROVAL), specification=spec
    )
    specifications.specification_make_effective(actor=qa, specification=spec)
    protocol = stability.protocol_create(
        actor=qa,
        code="STP-001",
        title="Real-time stability of MSC-sEV drug substance",
        specification=spec,
        lots=[lot],
        conditions=["-80C", "2-8C"],
        time_points=[0, 1, 3],
        shelf_life_condition="-80C",
    )
    stability.protocol_approve(signer=signer_for(qa, Signature.Meaning.APPROVAL), protocol=protocol)
    study = stability.study_start(
        actor=analyst, protocol=protocol, lot=lot, started_on=timezone.localdate()
    )
    # T0 at −80 °C pulled and tested on its vial; T0 at 2–8 °C is due today.
    pull = study.pulls.get(condition="-80C", time_point=0)
    stability.pull_record(actor=analyst, pull=pull, pulled_at=timezone.now())
    vial = pull.vials.get().aliquot
    qc.run_record(
        assay_code="NTA",
        source="manual",
        started_at=timezone.now(),
        actor=analyst,
        results=[
            ResultInput(
                sample=vial.barcode,
                analyte="concentration",
                value=v,
                unit="particle/mL",
                replicate=str(i),
            )
            for i, v in enumerate((2.3e11, 2.4e11, 2.35e11), start=1)
        ]
        + [ResultInput(sample=vial.barcode, analyte="mode_size", value=115.0, unit="nm")],
    )
    seed_apqr(users, lots, signer_for)


def seed_apqr(users, lots, signer_for) -> None:
    """QA signs the annual product quality review of the demo year (the year the demo lots
    were made); its PDF is stored under its SHA-256 like a certificate."""
    year = max(lot.manufactured_on for lot in lots).year
    apqr.apqr_sign(
        signer=signer_for(users[QA], Signature.Meaning.APPROVAL),
        product=Specification.Product.DRUG_SUBSTANCE,
        year=year,
        conclusion=(
            "Demo year reviewed: lots, deviations and OOS investigations with their CAPA, release "
            "trends and the real-time stability study (T0 within specification). No adverse trend "
            "calls for action beyond the investigations already open."
        ),
    )
