"""Vials follow their lot (release gate, item 10): quarantine until the disposition, available
once the lot is released, rejected (destroy or retain only) once it is rejected. Use, shipping
and moves out of the freezer are refused unless the lot is released."""

import pytest
from django.core.exceptions import ValidationError
from django.db import DatabaseError, transaction

from batches import services as batch_services
from batches.models import Aliquot
from lims.transitions import InvalidTransition
from tests import factories
from tests.release.helpers import dispose

pytestmark = pytest.mark.django_db


def _fill(technician, lot, count=2):
    positions = factories.storage_positions(technician, count)
    return batch_services.aliquots_create(
        actor=technician, lot=lot, volume_ul=100, locations=positions
    )


def _refused(service, **kwargs) -> dict:
    with pytest.raises(ValidationError) as refused:
        service(**kwargs)
    return refused.value.message_dict


def _statuses(lot) -> list[str]:
    return list(Aliquot.objects.filter(lot=lot).order_by("number").values_list("status", flat=True))


@pytest.fixture
def rejected(passing, qa_approver, technician):
    lot = passing.lot
    vials = _fill(technician, lot)
    dispose(qa_approver, lot, "rejected", reason="Potency trend out of the validated range")
    lot.refresh_from_db()
    return lot, vials


@pytest.fixture
def released(passing, qa_approver, technician):
    lot = passing.lot
    vials = _fill(technician, lot)
    dispose(qa_approver, lot)
    lot.refresh_from_db()
    return lot, vials


# --- Unreleased lot: quarantine ---------------------------------------------------------------


def test_new_vials_of_an_unreleased_lot_are_in_quarantine(passing, technician):
    vials = _fill(technician, passing.lot)
    assert [v.status for v in vials] == ["quarantine", "quarantine"]
    assert _statuses(passing.lot) == ["quarantine", "quarantine"]


@pytest.mark.parametrize("to", ["used", "shipped"])
def test_a_quarantined_vial_cannot_be_used_or_shipped(passing, technician, to):
    (vial, _) = _fill(technician, passing.lot)
    errors = _refused(
        batch_services.aliquot_set_status, actor=technician, aliquot=vial, to=to, reason="Go"
    )
    assert errors == {
        "to": [
            f"Vial {vial} is in quarantine: lot {passing.lot} is under review, and a vial is "
            f"{to} only once its lot is released."
        ]
    }
    vial.refresh_from_db()
    assert vial.status == "quarantine" and vial.location is not None


def test_a_quarantined_vial_cannot_leave_the_freezer_but_can_be_reboxed(passing, technician):
    (vial, _) = _fill(technician, passing.lot)
    errors = _refused(
        batch_services.aliquot_move, actor=technician, aliquot=vial, to_location=None, reason="Out"
    )
    assert "moved out of storage only once its lot is released" in errors["to_location"][0]
    vial.refresh_from_db()
    assert vial.location is not None

    (free,) = factories.storage_positions(technician, 1, box="B9")
    batch_services.aliquot_move(actor=technician, aliquot=vial, to_location=free, reason="Re-box")
    vial.refresh_from_db()
    assert vial.location == free


@pytest.mark.parametrize("to", ["available", "rejected", "quarantine"])
def test_nobody_makes_a_vial_available_or_rejected_by_hand(passing, technician, to):
    (vial, _) = _fill(technician, passing.lot)
    errors = _refused(
        batch_services.aliquot_set_status, actor=technician, aliquot=vial, to=to, reason="Hand"
    )
    assert errors["to"] == [
        "A vial is available, rejected or in quarantine as its lot's disposition says."
    ]


def test_a_quarantined_lot_keeps_its_vials_in_quarantine(passing, qa_approver, technician):
    lot = passing.lot
    _fill(technician, lot)
    dispose(qa_approver, lot, "quarantined", reason="Pending a supplier investigation")
    lot.refresh_from_db()
    assert lot.status == "quarantined"
    assert _statuses(lot) == ["quarantine", "quarantine"]


def test_the_database_refuses_a_quarantined_vial_going_straight_to_used(passing, technician):
    (vial, _) = _fill(technician, passing.lot)
    with pytest.raises(DatabaseError, match="pgtrigger"), transaction.atomic():
        Aliquot.objects.filter(pk=vial.pk).update(status="used")


# --- Released lot: available ------------------------------------------------------------------


def test_releasing_the_lot_makes_its_vials_available_in_the_same_transaction(released):
    lot, vials = released
    assert _statuses(lot) == ["available", "available"]
    vial = Aliquot.objects.get(pk=vials[0].pk)
    assert vial.status_reason == f"Lot {lot} approved for release"


def test_a_released_lots_vials_are_used_shipped_and_moved_out(released, technician):
    lot, (first, second) = released
    used = batch_services.aliquot_set_status(
        actor=technician, aliquot=first, to="used", reason="Potency assay"
    )
    assert (used.status, used.location) == ("used", None)
    shipped = batch_services.aliquot_set_status(
        actor=technician, aliquot=second, to="shipped", reason="Shipped to site 04"
    )
    assert (shipped.status, shipped.location) == ("shipped", None)


def test_a_released_lots_vial_leaves_the_freezer(released, technician):
    _, (vial, _) = released
    batch_services.aliquot_move(actor=technician, aliquot=vial, to_location=None, reason="Thaw")
    vial.refresh_from_db()
    assert vial.location is None and vial.status == "available"


def test_a_released_lots_vial_is_not_a_retain_sample(released, technician):
    _, (vial, _) = released
    errors = _refused(
        batch_services.aliquot_set_status, actor=technician, aliquot=vial, to="retain", reason="R"
    )
    assert errors == {"to": ["Only a vial of a rejected lot is kept as a retain sample."]}


# --- Rejected lot: rejected, destroy or retain only -------------------------------------------


def test_rejecting_the_lot_rejects_its_vials(rejected):
    lot, _ = rejected
    assert _statuses(lot) == ["rejected", "rejected"]


@pytest.mark.parametrize("to", ["used", "shipped"])
def test_a_rejected_lots_vial_cannot_be_used_or_shipped(rejected, technician, to):
    lot, (vial, _) = rejected
    errors = _refused(
        batch_services.aliquot_set_status, actor=technician, aliquot=vial, to=to, reason="Go"
    )
    assert errors == {
        "to": [
            f"Vial {vial} belongs to rejected lot {lot}: it can only be destroyed or kept as a "
            f"retain sample, not {to}."
        ]
    }
    vial.refresh_from_db()
    assert vial.status == "rejected" and vial.location is not None


def test_a_rejected_lots_vial_cannot_leave_the_freezer(rejected, technician):
    lot, (vial, _) = rejected
    errors = _refused(
        batch_services.aliquot_move, actor=technician, aliquot=vial, to_location=None, reason="Out"
    )
    assert errors["to_location"] == [
        f"Vial {vial} belongs to rejected lot {lot}: it can only be destroyed or kept as a "
        "retain sample, not moved out of storage."
    ]


def test_a_rejected_lots_vials_are_destroyed_or_kept_as_retain(rejected, technician):
    _, (first, second) = rejected
    kept = batch_services.aliquot_set_status(
        actor=technician, aliquot=first, to="retain", reason="Retain sample per SOP-QA-012"
    )
    assert kept.status == "retain" and kept.location is not None
    gone = batch_services.aliquot_set_status(
        actor=technician, aliquot=second, to="destroyed", reason="Destroyed"
    )
    assert (gone.status, gone.location) == ("destroyed", None)
    with pytest.raises((ValidationError, InvalidTransition)):
        batch_services.aliquot_set_status(actor=technician, aliquot=kept, to="used", reason="Go")


def test_the_status_page_offers_a_rejected_vial_only_retain_or_destroy(
    client, technician, rejected
):
    from django.urls import reverse

    _, (vial, _) = rejected
    client.force_login(technician)
    response = client.get(reverse("batches:status_change", args=["aliquot", vial.pk]))
    offered = [value for value, _ in response.context["form"].fields["to"].choices if value]
    assert offered == ["destroyed", "retain"]
