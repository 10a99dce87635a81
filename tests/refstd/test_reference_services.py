"""Reference standards: registration, QA qualification, and the runs that may use one."""

from datetime import timedelta

import pgtrigger
import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from assays import services
from assays.metrics import compute_run_metrics
from assays.models import QCMetric, ReferenceStandard
from assays.reference_demo import relative_potency_results
from assays.reference_services import reference_qualify, reference_register, reference_withdraw
from lims.roles import RoleRefused
from tests import factories
from tests.release.helpers import signer_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def lot(technician):
    return factories.lot(technician)


def register(actor, lot, *, code="RS-T-01", material="EV-RS", assays=("POTENCY-RP",), **kw):
    fields = dict(
        code=code,
        material=material,
        name="Reference EV lot",
        kind=ReferenceStandard.Kind.IN_HOUSE,
        source_lot=lot,
        assay_codes=list(assays),
        assigned_values=[{"analyte": "potency", "value": 100, "unit": "percent"}],
        expiry_date=timezone.localdate() + timedelta(days=90),
        storage="-80 °C ULT-2",
        qualification_report="QR-1",
    )
    fields.update(kw)
    return reference_register(actor=actor, **fields)


@pytest.fixture
def qualified(analyst, qa_user, lot):
    reference = register(analyst, lot)
    return reference_qualify(signer=signer_for(qa_user, "approval"), reference=reference)


def record(analyst, lot, reference, *, started_at=None, **kw):
    return services.run_record(
        actor=analyst,
        assay_code="POTENCY-RP",
        source="manual",
        results=relative_potency_results(lot.code),
        started_at=started_at or timezone.now(),
        reference_standard=reference,
        **kw,
    )


def refusal(exc_info) -> str:
    return " ".join(exc_info.value.message_dict["reference_standard"])


def test_qualified_reference_run_reports_relative_potency_and_inhibition(analyst, lot, qualified):
    assert qualified.status == "qualified" and qualified.qualification_signature.meaning == (
        "approval"
    )
    run = record(analyst, lot, qualified)
    assert run.reference_use.reference == qualified
    compute_run_metrics(run.pk)  # on commit in production (assays.receivers)
    metrics = {m.code: m for m in QCMetric.objects.filter(run=run)}
    rp = metrics["potency.relative_potency"]
    assert rp.value == pytest.approx(125.0, abs=0.5) and rp.unit == "percent"
    assert rp.details["reportable"] and rp.details["reference_standard"] == "RS-T-01"
    assert rp.details["potency_low"] < rp.value < rp.details["potency_high"]
    assert metrics["potency.tnf_inhibition"].value == pytest.approx(53.33, abs=0.01)


def test_run_without_reference_refused(analyst, lot):
    with pytest.raises(ValidationError) as exc:
        record(analyst, lot, None)
    assert "name the qualified reference" in refusal(exc)


def test_unqualified_reference_refused(analyst, lot):
    with pytest.raises(ValidationError) as exc:
        record(analyst, lot, register(analyst, lot))
    assert "not qualified" in refusal(exc)


def test_expired_reference_refused(analyst, lot, qualified):
    # Time passes: the reference's expiry is behind us (its content is otherwise read-only).
    with pgtrigger.ignore("assays.ReferenceStandard:reference_content_never_changes"):
        ReferenceStandard.objects.filter(pk=qualified.pk).update(
            expiry_date=timezone.localdate() - timedelta(days=1)
        )
    qualified.refresh_from_db()
    with pytest.raises(ValidationError) as exc:
        record(analyst, lot, qualified)
    assert "expired on" in refusal(exc)


def test_reference_of_another_assay_refused(analyst, qa_user, lot):
    other = register(analyst, lot, code="RS-OTHER", assays=["POTENCY-MAC"])
    reference_qualify(signer=signer_for(qa_user, "approval"), reference=other)
    with pytest.raises(ValidationError) as exc:
        record(analyst, lot, other)
    assert "not a reference of assay POTENCY-RP" in refusal(exc)


def test_reference_of_another_material_refused(analyst, qa_user, lot):
    other = register(analyst, lot, code="RS-BSA", material="BSA")
    reference_qualify(signer=signer_for(qa_user, "approval"), reference=other)
    with pytest.raises(ValidationError) as exc:
        record(analyst, lot, other)
    assert "needs EV-RS" in refusal(exc)


def test_run_started_before_the_qualification_refused(analyst, lot, qualified):
    """A back-dated run cannot borrow a qualification signed after it started."""
    with pytest.raises(ValidationError) as exc:
        record(analyst, lot, qualified, started_at=timezone.now() - timedelta(hours=3))
    assert "before RS-T-01 (EV-RS) was qualified" in refusal(exc)


def test_withdrawn_reference_refused(analyst, qa_user, lot, qualified):
    reference_withdraw(actor=qa_user, reference=qualified, reason="Vials used up")
    with pytest.raises(ValidationError) as exc:
        record(analyst, lot, qualified)
    assert "withdrawn: Vials used up" in refusal(exc)


def test_assay_without_reference_refuses_one(analyst, lot, qualified):
    with pytest.raises(ValidationError) as exc:
        services.check_run_context(
            assay=services.current_assay("NTA"),
            started_at=timezone.now(),
            reference_standard=qualified,
        )
    assert "not reported against a reference" in refusal(exc)


def test_qualification_only_by_qa_with_approval_and_not_by_the_registrant(
    analyst, qa_user, make_user, lot
):
    reference = register(qa_user, lot)
    with pytest.raises(RoleRefused):
        reference_qualify(signer=signer_for(analyst, "approval"), reference=reference)
    with pytest.raises(ValidationError, match="meaning approval"):
        reference_qualify(signer=signer_for(qa_user, "review"), reference=reference)
    with pytest.raises(ValidationError, match="registered a reference does not qualify"):
        reference_qualify(signer=signer_for(qa_user, "approval"), reference=reference)
    other_qa = make_user("qa")
    done = reference_qualify(signer=signer_for(other_qa, "approval"), reference=reference)
    # Qualified at the signature's server time: the service takes no date to back-date it to.
    assert done.qualified_at == done.qualification_signature.signed_at
    with pytest.raises(ValidationError, match="is qualified"):
        reference_qualify(signer=signer_for(other_qa, "approval"), reference=reference)


def test_expired_reference_cannot_be_qualified(analyst, qa_user, lot):
    reference = register(analyst, lot)
    with pgtrigger.ignore("assays.ReferenceStandard:reference_content_never_changes"):
        ReferenceStandard.objects.filter(pk=reference.pk).update(
            expiry_date=timezone.localdate() - timedelta(days=1)
        )
    with pytest.raises(ValidationError, match="expired on"):
        reference_qualify(signer=signer_for(qa_user, "approval"), reference=reference)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"expiry_date": timezone.localdate()}, "expiry_date"),
        ({"assay_codes": [" "]}, "assay_codes"),
        ({"assigned_values": [{"analyte": "potency", "value": -1}]}, "assigned_values"),
        ({"assigned_values": []}, "assigned_values"),
        ({"kind": "purchased", "source_lot": None}, "__all__"),
    ],
)
def test_register_refuses_bad_input(analyst, lot, changes, field):
    with pytest.raises(ValidationError) as exc:
        register(analyst, lot, **changes)
    assert field in exc.value.message_dict


def test_register_refused_to_technician(technician, lot):
    with pytest.raises(RoleRefused):
        register(technician, lot)


def test_qualified_content_never_changes(qualified):
    from django.db import DatabaseError, transaction

    with pytest.raises(DatabaseError), transaction.atomic():
        ReferenceStandard.objects.filter(pk=qualified.pk).update(storage="elsewhere")
