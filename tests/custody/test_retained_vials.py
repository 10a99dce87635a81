"""Retained samples are vials picked one by one (batches.custody, batches.vial_holds): setting
a lot's retains aside never counts or picks a vial reserved for a stability study, drawn from by
a test, or already gone; a stability study never reserves a retained vial; a retained vial is
held (no use, shipping or move out of storage) until a withdrawal takes it out. The refusals
come from the services, and the page shows them next to the field."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import DatabaseError, IntegrityError, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from assays import services as assay_services
from assays.services import ResultInput
from batches import custody, vial_holds
from batches import services as batch_services
from batches.models import Aliquot, RetainedSet, RetainedVial
from lims.models import Signature
from release import specifications, stability
from release.models import Specification, StabilityVial
from tests import factories
from tests.release.helpers import signer_for

pytestmark = pytest.mark.django_db

BACKEND = "django.contrib.auth.backends.ModelBackend"
EXPIRY = date(2028, 6, 30)


@pytest.fixture(autouse=True)
def _fast_hashes(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def lot(technician):
    """A lot of five vials in storage (numbers 1 to 5), still in process."""
    lot = factories.lot(technician)
    batch_services.aliquots_create(
        actor=technician,
        lot=lot,
        volume_ul=Decimal("500"),
        locations=factories.storage_positions(technician, 5),
    )
    return lot


def _under_review(technician, lot):
    for to in ("in_testing", "under_review"):
        lot.refresh_from_db()
        if lot.status != to and lot.status != "under_review":
            batch_services.lot_set_status(actor=technician, lot=lot, to=to, reason="Test")
    lot.refresh_from_db()
    return lot


def _protocol(qa_user, lot):
    """An approved protocol on `lot`: one condition, two time points, one vial a pull (two
    vials a study)."""
    spec = specifications.specification_draft_create(
        actor=qa_user, product=Specification.Product.STABILITY
    )
    specifications.criterion_save(
        actor=qa_user,
        specification=spec,
        test="Particle concentration",
        metric_code="nta.concentration",
        comparator="gte",
        lower=1e10,
        unit="particle/mL",
    )
    specifications.specification_approve(
        signer=signer_for(qa_user, Signature.Meaning.APPROVAL), specification=spec
    )
    protocol = stability.protocol_create(
        actor=qa_user,
        code="STP-R",
        title="Retains and stability",
        specification=spec,
        lots=[lot],
        conditions=["-80C"],
        time_points=[0, 1],
        shelf_life_condition="-80C",
    )
    return stability.protocol_approve(
        signer=signer_for(qa_user, Signature.Meaning.APPROVAL), protocol=protocol
    )


def _start(qa_user, protocol, lot):
    return stability.study_start(
        actor=qa_user, protocol=protocol, lot=lot, started_on=timezone.localdate()
    )


def _set_aside(qa_user, lot, vials):
    return custody.retain_set_aside(
        actor=qa_user, lot=lot, vials=vials, location="RET-80 / shelf 1 / R1", lot_expiry=EXPIRY
    )


def _numbers(retained: RetainedSet) -> list[int]:
    return sorted(retained.retained_vials.values_list("aliquot__number", flat=True))


def test_retains_skip_the_vials_a_stability_study_reserved(lot, technician, qa_user):
    study = _start(qa_user, _protocol(qa_user, lot), lot)
    reserved = set(
        StabilityVial.objects.filter(pull__study=study).values_list("aliquot__number", flat=True)
    )
    assert reserved == {1, 2}
    lot = _under_review(technician, lot)
    # Asking for more than the free three: refused, required against free, and why.
    with pytest.raises(ValidationError) as refused:
        _set_aside(qa_user, lot, 4)
    (message,) = refused.value.message_dict["vials"]
    assert message.startswith(
        f"4 retained vial(s) required, but lot {lot} has only 3 free of its 5 vial(s) (2 held"
    )
    assert f"reserved for stability study {study.code}" in message
    assert not RetainedSet.objects.exists()
    retained = _set_aside(qa_user, lot, 3)
    assert _numbers(retained) == [3, 4, 5]
    # No vial is both reserved and retained.
    assert not RetainedVial.objects.filter(aliquot__stability__isnull=False).exists()


def test_a_stability_study_does_not_reserve_retained_vials(lot, technician, qa_user):
    protocol = _protocol(qa_user, lot)
    lot = _under_review(technician, lot)
    retained = _set_aside(qa_user, lot, 4)
    assert _numbers(retained) == [1, 2, 3, 4]
    with pytest.raises(ValidationError) as refused:
        _start(qa_user, protocol, lot)
    assert refused.value.message_dict["lot"] == [
        f"The study needs 2 vials of lot {lot} in storage (2 pulls × 1); only 1 are free "
        "(4 kept as retained samples)."
    ]
    assert not StabilityVial.objects.exists()
    # A withdrawal takes the lowest-numbered retained vial out: it is held no more, and the
    # study may now reserve it with the last free one.
    custody.retain_withdraw(actor=qa_user, retained=retained, vials=1, reason="Complaint C-7")
    assert _numbers(retained) == [1, 2, 3, 4]
    still = retained.retained_vials.filter(withdrawal__isnull=True)
    assert sorted(still.values_list("aliquot__number", flat=True)) == [2, 3, 4]
    study = _start(qa_user, protocol, lot)
    assert sorted(
        StabilityVial.objects.filter(pull__study=study).values_list("aliquot__number", flat=True)
    ) == [1, 5]


def test_a_retained_vial_is_held_until_withdrawn(lot, technician, qa_user):
    lot = _under_review(technician, lot)
    retained = _set_aside(qa_user, lot, 2)
    lot = factories.finalize_lot(qa_user, lot, "released")
    first, second = Aliquot.objects.filter(lot=lot, number__in=[1, 2]).order_by("number")
    for to in ("used", "shipped"):
        with pytest.raises(ValidationError) as refused:
            batch_services.aliquot_set_status(
                actor=technician, aliquot=first, to=to, reason="Clinic"
            )
        assert (
            f"is kept as a retained sample of lot {lot} (until 2029-06-30)"
            in refused.value.message_dict["to"][0]
        )
    with pytest.raises(ValidationError) as refused:
        batch_services.aliquot_move(
            actor=technician, aliquot=second, to_location=None, reason="Out"
        )
    assert "retained sample" in refused.value.message_dict["to_location"][0]
    custody.retain_withdraw(actor=qa_user, retained=retained, vials=1, reason="Complaint C-8")
    assert vial_holds.holds([first.pk, second.pk]) == {
        second.pk: f"kept as a retained sample of lot {lot} (until 2029-06-30)"
    }
    used = batch_services.aliquot_set_status(
        actor=technician, aliquot=first, to="used", reason="Complaint C-8 retest"
    )
    assert used.status == "used"


def test_retains_never_pick_a_vial_a_test_drew_from_or_one_used(lot, technician, qa_user):
    tested = Aliquot.objects.get(lot=lot, number=1)
    assay_services.run_record(
        actor=technician,
        assay_code="NTA",
        source="manual",
        started_at=timezone.now(),
        results=[ResultInput(sample=tested.barcode, analyte="mean_size", value=118, unit="nm")],
    )
    lot = _under_review(technician, lot)
    lot = factories.finalize_lot(qa_user, lot, "released")
    shipped = Aliquot.objects.get(lot=lot, number=5)
    batch_services.aliquot_set_status(actor=technician, aliquot=shipped, to="shipped", reason="S")
    with pytest.raises(ValidationError) as refused:
        _set_aside(qa_user, lot, 4)
    assert refused.value.message_dict["vials"] == [
        f"4 retained vial(s) required, but lot {lot} has only 3 free of its 5 vial(s) "
        "(1 drawn from by a test; 1 used, shipped, destroyed or rejected)."
    ]
    assert _numbers(_set_aside(qa_user, lot, 3)) == [2, 3, 4]


def test_the_database_retains_a_vial_once_and_never_puts_a_withdrawn_one_back(
    lot, technician, qa_user
):
    lot = _under_review(technician, lot)
    retained = _set_aside(qa_user, lot, 2)
    vial = retained.retained_vials.order_by("aliquot__number").first()
    with pytest.raises(IntegrityError), transaction.atomic():
        RetainedVial.objects.create(retained_set=retained, aliquot=vial.aliquot)
    with pytest.raises(DatabaseError), transaction.atomic():
        RetainedVial.objects.filter(pk=vial.pk).update(aliquot=Aliquot.objects.get(number=5))
    custody.retain_withdraw(actor=qa_user, retained=retained, vials=1, reason="Complaint C-9")
    with pytest.raises(DatabaseError), transaction.atomic():
        RetainedVial.objects.filter(pk=vial.pk).update(withdrawal=None)
    with pytest.raises(DatabaseError), transaction.atomic():
        RetainedVial.objects.filter(pk=vial.pk).delete()


def test_the_page_shows_the_shortage_next_to_the_vials_field(lot, technician, qa_user):
    _start(qa_user, _protocol(qa_user, lot), lot)
    lot = _under_review(technician, lot)
    client = Client()
    client.force_login(qa_user, backend=BACKEND)
    response = client.post(
        reverse("custody:retain_create"),
        {
            "lot": lot.code,
            "vials": 5,
            "location": "RET-80 / shelf 1 / R1",
            "lot_expiry": EXPIRY.isoformat(),
            "set_aside_on": timezone.localdate().isoformat(),
        },
    )
    assert response.status_code == 200
    form = response.context["form"]
    (message,) = form.errors["vials"]
    assert message.startswith(f"5 retained vial(s) required, but lot {lot} has only 3 free")
    assert set(form.errors) == {"vials"}
    html = response.content.decode()
    field = html.index('name="vials"')
    # Rendered with the field (its invalid-feedback), not only in a banner at the top.
    feedback = html.index("invalid-feedback", field)
    assert html.index("5 retained vial(s) required", feedback) < html.index('name="location"')
    assert not RetainedSet.objects.exists()
    response = client.post(
        reverse("custody:retain_create"),
        {
            "lot": lot.code,
            "vials": 3,
            "location": "RET-80 / shelf 1 / R1",
            "lot_expiry": EXPIRY.isoformat(),
            "set_aside_on": (timezone.localdate() - timedelta(days=0)).isoformat(),
        },
    )
    retained = RetainedSet.objects.get()
    assert response.status_code == 302 and response["Location"] == retained.get_absolute_url()
    page = client.get(retained.get_absolute_url()).content.decode()
    for vial in Aliquot.objects.filter(lot=lot, number__in=[3, 4, 5]):
        assert vial.barcode in page
