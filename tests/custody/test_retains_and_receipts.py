"""Retained samples (EU GMP Annex 19, 21 CFR 211.170) and samples received from outside with
their condition, temperature record and chain of custody (batches.custody)."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import DatabaseError, transaction
from django.utils import timezone

from assays import services as assay_services
from assays.services import ResultInput
from batches import custody
from batches import services as batch_services
from batches.models import RetainWithdrawal
from lims.roles import RoleRefused
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def lot_under_review(technician):
    lot = factories.lot(technician)
    batch_services.aliquots_create(
        actor=technician, lot=lot, volume_ul=Decimal("100"), locations=[None] * 4
    )
    for to in ("in_testing", "under_review"):
        batch_services.lot_set_status(actor=technician, lot=lot, to=to, reason="Test")
    return lot


def test_retain_until_is_expiry_plus_one_year():
    assert custody.retain_until(date(2027, 6, 30)) == date(2028, 6, 30)
    assert custody.retain_until(date(2028, 2, 29)) == date(2029, 3, 1)


def test_qa_sets_retains_aside_and_withdraws_only_with_a_reason(qa_user, lot_under_review):
    retained = custody.retain_set_aside(
        actor=qa_user,
        lot=lot_under_review,
        vials=3,
        location="RET-80 / shelf 2 / box R7",
        lot_expiry=date(2028, 1, 31),
    )
    assert retained.retain_until == date(2029, 1, 31)
    with pytest.raises(ValidationError) as refused:
        custody.retain_withdraw(actor=qa_user, retained=retained, vials=1, reason="  ")
    assert "reason" in refused.value.message_dict
    custody.retain_withdraw(actor=qa_user, retained=retained, vials=2, reason="Complaint C-12")
    with pytest.raises(ValidationError) as refused:
        custody.retain_withdraw(actor=qa_user, retained=retained, vials=2, reason="More")
    assert refused.value.message_dict["vials"] == ["Only 1 retained vial(s) remain."]
    assert custody.retained_remaining(retained) == 1
    with pytest.raises(DatabaseError), transaction.atomic():
        RetainWithdrawal.objects.update(vials=1)


def test_retains_refused_for_the_wrong_role_lot_status_or_count(technician, qa_user):
    lot = factories.lot(technician)
    with pytest.raises(RoleRefused):
        custody.retain_set_aside(
            actor=technician, lot=lot, vials=1, location="X", lot_expiry=date(2028, 1, 1)
        )
    with pytest.raises(ValidationError) as refused:
        custody.retain_set_aside(
            actor=qa_user,
            lot=lot,
            vials=9,
            location="X",
            lot_expiry=lot.manufactured_on,
            set_aside_on=timezone.localdate() + timedelta(days=1),
        )
    assert set(refused.value.message_dict) == {"lot", "vials", "lot_expiry", "set_aside_on"}


def receive(actor, **overrides):
    now = timezone.now()
    fields = dict(
        sender_kind="cmo",
        sender_name="Acme CDMO",
        description="2 x 1 mL EXO drug substance",
        containers=2,
        courier="World Courier AWB 123",
        shipped_at=now - timedelta(days=1),
        received_at=now - timedelta(hours=1),
        condition="intact",
        shipping_condition="frozen",
        temperature_min_c=Decimal("-78.5"),
        temperature_max_c=Decimal("-70.2"),
        logger_id="TL-9",
    )
    fields.update(overrides)
    return custody.sample_receive(actor=actor, **fields)


def test_a_received_sample_has_its_chain_of_custody_and_is_tested_as_its_lot(technician):
    lot = factories.lot(technician)
    receipt = receive(technician, lot=lot)
    assert receipt.code.startswith("RCV-")
    custody.custody_transfer(
        actor=technician, receipt=receipt, to_party="QC freezer F-2", at=timezone.now()
    )
    assert [(c.from_party, c.to_party) for c in receipt.custody.all()] == [
        ("Acme CDMO", "World Courier AWB 123"),
        ("World Courier AWB 123", "Tess Tech"),
        ("Tess Tech", "QC freezer F-2"),
    ]
    run = assay_services.run_record(
        actor=technician,
        assay_code="NTA",
        source="manual",
        started_at=timezone.now(),
        results=[ResultInput(sample=receipt.code, analyte="mean_size", value=118, unit="nm")],
    )
    (sample,) = run.samples.all()
    assert (sample.label, sample.lot) == (receipt.code, lot)


def test_a_sample_out_of_its_temperature_range_is_recorded_but_not_tested(technician):
    lot = factories.lot(technician)
    with pytest.raises(ValidationError) as refused:
        receive(technician, lot=lot, temperature_max_c=Decimal("-20"))
    assert "condition_notes" in refused.value.message_dict
    receipt = receive(
        technician, lot=lot, temperature_max_c=Decimal("-20"), condition_notes="Dry ice gone"
    )
    assert receipt.excursion
    with pytest.raises(ValidationError) as refused:
        assay_services.run_record(
            actor=technician,
            assay_code="NTA",
            source="manual",
            started_at=timezone.now(),
            results=[ResultInput(sample=receipt.code, analyte="mean_size", value=118, unit="nm")],
        )
    assert "left its temperature range" in refused.value.message_dict["sample"][0]


def test_receipt_refuses_future_back_dated_and_out_of_order(technician, qa_user):
    now = timezone.now()
    with pytest.raises(ValidationError) as refused:
        receive(
            technician, received_at=now + timedelta(hours=1), shipped_at=now + timedelta(hours=2)
        )
    assert set(refused.value.message_dict) == {"received_at", "shipped_at"}
    with pytest.raises(ValidationError) as refused:
        receive(technician, received_at=now - timedelta(days=5), shipped_at=now - timedelta(days=6))
    assert "say why it is logged late" in refused.value.message_dict["late_reason"][0]
    assert receive(
        technician,
        received_at=now - timedelta(days=5),
        shipped_at=now - timedelta(days=6),
        late_reason="Logged from the paper form after the system outage",
    ).late_reason
    with pytest.raises(RoleRefused):
        receive(qa_user)
    receipt = receive(technician)
    with pytest.raises(ValidationError) as refused:
        custody.custody_transfer(
            actor=technician, receipt=receipt, to_party="F-2", at=now - timedelta(days=2)
        )
    assert "cannot be before it" in refused.value.message_dict["at"][0]
