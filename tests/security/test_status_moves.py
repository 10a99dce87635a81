"""Every status move by the right person (21 CFR 11.10(g)), and a lot's quarantine lifted only
by QA's e-signature (11.200; 21 CFR 211.22(a)).

Finding (issue 11): a technician lifted a QA-signed quarantine with
`POST /exosomelot/<id>/status/` and `to=under_review`: 302, the lot out of quarantine with no
signature. Each service now checks its table of moves (batches.services.*_MOVES,
assays.services.INSTRUMENT_MOVES) under the row lock, and the status page offers only what the
table lets the user do.
"""

import pgtrigger
import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from assays import services as assay_services
from batches import services
from batches.models import (
    ALIQUOT_FOLLOWS_LOT,
    Aliquot,
    CultureBatch,
    ExosomeLot,
)
from lims.models import Signature
from lims.roles import RoleRefused
from lims.signatures import is_valid, signatures_of
from lims.transitions import moves_for
from tests import factories
from tests.api.conftest import register_instrument
from tests.factories import PASSWORD
from tests.release.helpers import dispose, signer_for

pytestmark = pytest.mark.django_db

BACKEND = "django.contrib.auth.backends.ModelBackend"
ROLES = ("technician", "analyst", "qa", "admin", "no_role")


@pytest.fixture
def people(personas, make_user):
    return {**personas, "no_role": make_user(None, username="nora.norole")}


def _force_status(record, status):
    """Put a record in a state for the test, past its triggers (FSM, locks of final states)."""
    model = type(record)
    with pgtrigger.ignore(*[f"{model._meta.label}:{t.name}" for t in model._meta.triggers]):
        model.objects.filter(pk=record.pk).update(status=status)
    record.refresh_from_db()


# --- The tables cover every move ---------------------------------------------------------------

# Moves of the transition tables that are never a status change: the lot's final decision is
# QA's signed disposition (release.services), a vial is available or rejected with its lot.
RESERVED = {
    ExosomeLot: {
        (old, new)
        for old, targets in ExosomeLot.TRANSITIONS.items()
        for new in targets & {"released", "rejected"}
    },
    Aliquot: {("quarantine", new) for new in ALIQUOT_FOLLOWS_LOT},
}
TABLES = {
    CultureBatch: services.CULTURE_BATCH_MOVES,
    ExosomeLot: services.LOT_MOVES,
    Aliquot: services.ALIQUOT_MOVES,
}


def test_every_move_of_a_transition_table_has_its_people():
    from assays.models import Instrument

    for model, moves in [*TABLES.items(), (Instrument, assay_services.INSTRUMENT_MOVES)]:
        pairs = {(old, new) for old, targets in model.TRANSITIONS.items() for new in targets}
        assert set(moves) <= pairs, model.__name__
        assert pairs - set(moves) == RESERVED.get(model, set()), model.__name__


# --- Each move, each role, through the service ----------------------------------------------

ROLE_OF = {"technicians": "technician", "QA": "qa", "administrators": "admin"}
MOVES = [
    (model.__name__, old, new, ROLE_OF[rule.who], rule.signed)
    for model, table in TABLES.items()
    for (old, new), rule in table.items()
] + [
    ("Instrument", old, new, ROLE_OF[rule.who], rule.signed)
    for (old, new), rule in assay_services.INSTRUMENT_MOVES.items()
]


def _record(kind: str, old: str, technician, admin):
    """A record of `kind` in status `old` (and, for a vial, its lot where the move needs it)."""
    if kind == "CultureBatch":
        record = factories.culture_batch(technician)
    elif kind == "ExosomeLot":
        record = factories.lot(technician)
    elif kind == "Aliquot":
        lot = factories.lot(technician)
        (record,) = services.aliquots_create(
            actor=technician, lot=lot, volume_ul=1, locations=[None]
        )
        # Use and shipping need a released lot, a retain sample a rejected one.
        lot_status = {"available": "released", "rejected": "rejected", "retain": "rejected"}
        _force_status(lot, lot_status.get(old, "in_testing"))
    else:
        record = register_instrument(admin, assays=["BCA"])
    _force_status(record, old)
    return record


def _plain_move(kind, record, actor, new):
    if kind == "CultureBatch":
        return services.move_culture_batch(actor=actor, batch=record, to=new, reason="Because")
    if kind == "ExosomeLot":
        return services.lot_set_status(actor=actor, lot=record, to=new, reason="Because")
    if kind == "Aliquot":
        return services.aliquot_set_status(actor=actor, aliquot=record, to=new, reason="Because")
    return assay_services.instrument_set_status(
        actor=actor, instrument=record, to=new, reason="Because"
    )


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    ("kind", "old", "new", "who", "signed"), MOVES, ids=[f"{m[0]}:{m[1]}->{m[2]}" for m in MOVES]
)
def test_each_move_is_made_only_by_its_role(people, kind, old, new, who, signed, role):
    record = _record(kind, old, people["technician"], people["admin"])
    actor = people[role]

    if signed:
        # A plain status change never makes a signed move, whoever asks.
        with pytest.raises(ValidationError):
            _plain_move(kind, record, actor, new)
        record.refresh_from_db()
        assert record.status == old
        signer = signer_for(actor, signed)
        if role != who:
            with pytest.raises(RoleRefused):
                services.lot_lift_quarantine(signer=signer, lot=record, to=new, reason="Cleared")
        else:
            services.lot_lift_quarantine(signer=signer, lot=record, to=new, reason="Cleared")
    elif role != who:
        with pytest.raises(RoleRefused):
            _plain_move(kind, record, actor, new)
    else:
        _plain_move(kind, record, actor, new)

    record.refresh_from_db()
    assert record.status == (new if role == who else old)


# --- Lifting a quarantine -----------------------------------------------------------------------


@pytest.fixture
def quarantined(technician, qa_user):
    """A lot QA quarantined with a signed disposition (meaning: responsibility)."""
    lot = factories.lot(technician)
    dispose(qa_user, lot, "quarantined", reason="Sterility sample broken in transit")
    lot.refresh_from_db()
    assert lot.status == "quarantined"
    return lot


def _client(user) -> Client:
    client = Client()
    client.force_login(user, backend=BACKEND)
    return client


def _status_url(lot):
    return reverse("batches:status_change", args=["exosomelot", lot.pk])


def test_a_technician_cannot_lift_a_qa_signed_quarantine(technician, quarantined):
    client = _client(technician)

    response = client.post(_status_url(quarantined), {"to": "under_review", "reason": "Done"})

    assert response.status_code == 403
    quarantined.refresh_from_db()
    assert quarantined.status == "quarantined"
    assert client.get(_status_url(quarantined)).status_code == 403
    page = client.get(quarantined.get_absolute_url()).content.decode()
    assert _status_url(quarantined) not in page
    with pytest.raises(RoleRefused, match="Only QA may move exosome lot"):
        services.lot_set_status(actor=technician, lot=quarantined, to="under_review", reason="Done")


@pytest.mark.parametrize("role", ["analyst", "admin", "no_role"])
def test_nobody_else_reaches_the_lift_either(people, quarantined, role):
    client = _client(people[role])
    for to in ("in_testing", "under_review"):
        response = client.post(_status_url(quarantined), {"to": to, "reason": "Done"})
        assert response.status_code == 403
    quarantined.refresh_from_db()
    assert quarantined.status == "quarantined"


def test_qa_lifts_a_quarantine_with_a_signature_meaning_approval(qa_user, quarantined):
    client = _client(qa_user)
    page = client.get(quarantined.get_absolute_url()).content.decode()
    assert "Lift quarantine" in page

    form = client.get(_status_url(quarantined)).context["form"]
    assert [value for value, _ in form.fields["to"].choices] == ["in_testing", "under_review"]
    assert {"username", "password", "comment"} <= set(form.fields)

    data = {"to": "under_review", "reason": "Retest of sterility passed", "username": "quinn.qa"}
    refused = client.post(_status_url(quarantined), {**data, "password": "not-my-password"})
    assert refused.status_code == 200
    assert refused.context["form"].errors["password"] == ["User ID or password is not correct."]
    quarantined.refresh_from_db()
    assert quarantined.status == "quarantined"

    response = client.post(_status_url(quarantined), {**data, "password": PASSWORD})

    assert response.status_code == 302
    quarantined.refresh_from_db()
    assert (quarantined.status, quarantined.status_reason) == (
        "under_review",
        "Retest of sterility passed",
    )
    signature = signatures_of(quarantined).last()
    assert (signature.signer, signature.meaning) == (qa_user, Signature.Meaning.APPROVAL)
    assert is_valid(
        signature,
        services.quarantine_lift_content(
            quarantined, to="under_review", reason="Retest of sterility passed"
        ),
    )


def test_the_lift_refuses_what_it_is_not(qa_user, technician, quarantined):
    approval = signer_for(qa_user, "approval")
    with pytest.raises(ValidationError, match="meaning approval"):
        services.lot_lift_quarantine(
            signer=signer_for(qa_user, "review"), lot=quarantined, to="in_testing", reason="R"
        )
    for to in ("released", "rejected", "quarantined"):
        with pytest.raises(ValidationError):
            services.lot_lift_quarantine(signer=approval, lot=quarantined, to=to, reason="R")
    with pytest.raises(ValidationError, match="reason"):
        services.lot_lift_quarantine(signer=approval, lot=quarantined, to="in_testing", reason=" ")
    other = factories.lot(technician)
    with pytest.raises(ValidationError, match="not in quarantine"):
        services.lot_lift_quarantine(signer=approval, lot=other, to="in_testing", reason="R")
    # QA's plain status change does not lift it either: the move is signed.
    with pytest.raises(RoleRefused):
        services.lot_set_status(actor=qa_user, lot=quarantined, to="in_testing", reason="R")
    quarantined.refresh_from_db()
    assert quarantined.status == "quarantined"
    assert not signatures_of(quarantined).filter(meaning="approval").exists()


# --- The page offers only the user's moves ----------------------------------------------------


def test_the_status_page_offers_each_role_only_its_moves(people, technician):
    lot = factories.lot(technician)
    services.lot_set_status(actor=technician, lot=lot, to="in_testing", reason="QC")

    form = _client(technician).get(_status_url(lot)).context["form"]
    assert [value for value, _ in form.fields["to"].choices] == ["quarantined", "under_review"]
    assert "password" not in form.fields
    for role in ("analyst", "qa", "admin", "no_role"):
        assert moves_for(lot, services.LOT_MOVES, people[role]) == []
        assert _client(people[role]).get(_status_url(lot)).status_code == 403, role
