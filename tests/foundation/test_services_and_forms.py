"""Rules of production records: the form refuses with a message next to the field, and the
service refuses the same input with the same message when a caller skips the form.

Also status transitions, identifiers under concurrency, labels, sign-in and settings, and a
lot's genealogy.
"""

import itertools
import os
import re
import subprocess
import sys
import threading
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pgtrigger
import pytest
from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from batches import services
from batches.genealogy import lot_genealogy
from batches.models import (
    CellBank,
    CultureBatch,
    Donor,
    ExosomeLot,
    IsolationRun,
    Passage,
    ReagentLot,
)
from lims.identifiers import next_identifier
from lims.transitions import InvalidTransition, move_status
from tests import factories
from tests.factories import PASSWORD

BACKEND = "django.contrib.auth.backends.ModelBackend"
REPO = Path(__file__).resolve().parents[2]


def refusal(service, **kwargs) -> dict[str, list[str]]:
    """The message_dict of the ValidationError a service raises (it must raise)."""
    with pytest.raises(ValidationError) as exc:
        service(**kwargs)
    if hasattr(exc.value, "error_dict"):
        return exc.value.message_dict
    return {"__all__": exc.value.messages}


def field_error(response, field: str) -> list[str]:
    """The errors the page shows next to `field`, checked in the HTML as well as the form."""
    assert response.status_code == 200, "the form was accepted"
    errors = response.context["form"].errors.get(field)
    assert errors, f"no error on {field}: {response.context['form'].errors.as_data()}"
    html = response.content.decode()
    # A field of several choices is a list of checkboxes in a <div> (lims.forms.CheckboxList).
    widget = re.search(rf'<(input|select|textarea|div)[^>]*id="id_{field}"[^>]*>', html)
    assert widget and "is-invalid" in widget.group(0), f"{field} is not marked invalid"
    after_widget = html[widget.end() :]
    for message in errors:
        feedback = f'<div class="invalid-feedback d-block">{escape(message)}</div>'
        assert feedback in after_widget.split('<div class="mb-3">')[0], message
    return list(errors)


def days(n: int) -> str:
    return (timezone.localdate() + timedelta(days=n)).isoformat()


def moment(hours: float) -> str:
    return (timezone.localtime() + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M")


# --- Dates out of order -----------------------------------------------------------------------

DATES_MESSAGE = "The harvest date cannot be before the seeding date."
RUN_MESSAGE = "The run cannot end before it starts."


def passage_fields(**overrides):
    fields = dict(
        number=1,
        seeded_on=timezone.localdate() - timedelta(days=2),
        harvested_on=timezone.localdate(),
        seeding_density_per_cm2=5000,
        cells_seeded=1_000_000,
        cells_harvested=3_000_000,
        viability_pct=95,
        confluence_pct=80,
    )
    fields.update(overrides)
    return fields


def post_passage(client, batch, **overrides):
    data = {k: ("" if v is None else str(v)) for k, v in passage_fields(**overrides).items()}
    return client.post(reverse("batches:passage_create", args=[batch.pk]), data)


def test_passage_harvested_before_it_was_seeded_is_refused(tech_client, technician):
    batch = factories.culture_batch(technician)
    seeded = timezone.localdate() - timedelta(days=1)
    early = seeded - timedelta(days=1)

    response = post_passage(tech_client, batch, seeded_on=seeded, harvested_on=early)
    assert field_error(response, "harvested_on") == [DATES_MESSAGE]

    errors = refusal(
        services.passage_record,
        actor=technician,
        batch=batch,
        **passage_fields(seeded_on=seeded, harvested_on=early),
    )
    assert DATES_MESSAGE in sum(errors.values(), [])
    assert not Passage.objects.filter(batch=batch).exists()


def isolation_data(harvest, **overrides):
    data = {
        "method": "tff_sec",
        "harvests": [harvest.pk],
        "input_volume_ml": "250",
        "output_volume_ml": "5",
        "operator": harvest.created_by_id,
        "equipment": "TFF-01",
        "started_at": moment(-3),
        "ended_at": moment(-2),
    }
    data.update(overrides)
    return data


def isolation_fields(actor, harvest, **overrides):
    start = timezone.now() - timedelta(hours=3)
    fields = dict(
        actor=actor,
        method="tff_sec",
        harvests=[harvest],
        input_volume_ml=Decimal("250"),
        output_volume_ml=Decimal("5"),
        operator=actor,
        equipment="TFF-01",
        started_at=start,
        ended_at=start + timedelta(hours=1),
    )
    fields.update(overrides)
    return fields


def test_isolation_run_ending_before_it_starts_is_refused(tech_client, technician):
    harvest = factories.harvest(technician)

    response = tech_client.post(
        reverse("batches:isolationrun_create"),
        isolation_data(harvest, started_at=moment(-2), ended_at=moment(-3)),
    )
    assert field_error(response, "ended_at") == [RUN_MESSAGE]

    start = timezone.now() - timedelta(hours=2)
    errors = refusal(
        services.isolation_run_create,
        **isolation_fields(
            technician, harvest, started_at=start, ended_at=start - timedelta(hours=1)
        ),
    )
    assert RUN_MESSAGE in sum(errors.values(), [])
    assert not IsolationRun.objects.exists()


def test_isolation_run_form_accepts_good_input(tech_client, technician):
    """The positive control of the refusals: the same form with a valid run is recorded."""
    harvest = factories.harvest(technician)
    reagent = factories.reagent_lot(technician)
    response = tech_client.post(
        reverse("batches:isolationrun_create"),
        isolation_data(harvest, reagent_lots=[reagent.pk], membrane_cutoff_kda="300"),
    )
    assert response.status_code == 302
    run = IsolationRun.objects.get()
    assert list(run.harvests.all()) == [harvest]
    assert list(run.reagent_lots.all()) == [reagent]
    assert run.parameters == {"membrane_cutoff_kda": 300.0}


# --- Values out of range ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("viability_pct", 101, "Ensure this value is less than or equal to 100."),
        ("viability_pct", -1, "Ensure this value is greater than or equal to 0."),
        ("confluence_pct", 120, "Ensure this value is less than or equal to 100."),
        ("cells_seeded", 0, "Ensure this value is greater than or equal to 1."),
        ("cells_harvested", -5, "Ensure this value is greater than or equal to 0."),
        ("seeding_density_per_cm2", -1, "Ensure this value is greater than or equal to 0."),
    ],
)
def test_passage_value_out_of_range_is_refused(tech_client, technician, field, value, message):
    batch = factories.culture_batch(technician)

    response = post_passage(tech_client, batch, **{field: value})
    assert field_error(response, field) == [message]

    errors = refusal(
        services.passage_record, actor=technician, batch=batch, **passage_fields(**{field: value})
    )
    assert errors[field] == [message]
    assert not Passage.objects.exists()


def test_negative_harvest_volume_is_refused(tech_client, technician):
    batch = factories.culture_batch(technician)
    message = "Ensure this value is greater than or equal to 0.01."

    response = tech_client.post(
        reverse("batches:harvest_create", args=[batch.pk]),
        {"harvested_at": moment(-1), "volume_ml": "-5", "medium": "serum_free"},
    )
    assert field_error(response, "volume_ml") == [message]

    errors = refusal(
        services.harvest_record,
        actor=technician,
        batch=batch,
        harvested_at=timezone.now(),
        volume_ml=Decimal("-5"),
        medium="serum_free",
    )
    assert errors["volume_ml"] == [message]
    batch.refresh_from_db()
    assert (batch.harvests.count(), batch.status) == (0, "in_culture")


def test_negative_isolation_volume_is_refused(tech_client, technician):
    harvest = factories.harvest(technician)
    message = "Ensure this value is greater than or equal to 0.01."

    response = tech_client.post(
        reverse("batches:isolationrun_create"), isolation_data(harvest, input_volume_ml="-1")
    )
    assert field_error(response, "input_volume_ml") == [message]

    errors = refusal(
        services.isolation_run_create,
        **isolation_fields(technician, harvest, input_volume_ml=Decimal("-1")),
    )
    assert errors["input_volume_ml"] == [message]


def test_negative_vial_count_of_a_cell_bank_is_refused(tech_client, technician):
    donor = factories.donor(technician)
    message = "Ensure this value is greater than or equal to 0."
    data = {
        "donor": donor.code,
        "bank_type": "master",
        "passage": "2",
        "vials": "-3",
        "frozen_on": days(-1),
        "storage": "LN2 tank 1",
    }

    response = tech_client.post(reverse("batches:cellbank_create"), data)
    assert field_error(response, "vials") == [message]

    errors = refusal(
        services.cell_bank_create,
        actor=technician,
        donor=donor,
        bank_type="master",
        passage=2,
        vials=-3,
        frozen_on=timezone.localdate(),
        storage="LN2 tank 1",
    )
    assert errors["vials"] == [message]
    assert not CellBank.objects.exists()


def test_negative_vial_volume_is_refused(tech_client, technician):
    lot = factories.lot(technician)
    message = "Ensure this value is greater than or equal to 0.1."

    response = tech_client.post(
        reverse("batches:aliquot_fill", args=[lot.pk]), {"count": "2", "volume_ul": "-10"}
    )
    assert field_error(response, "volume_ul") == [message]

    errors = refusal(
        services.aliquots_create,
        actor=technician,
        lot=lot,
        volume_ul=Decimal("-10"),
        locations=[None, None],
    )
    assert errors["volume_ul"] == [message]
    assert not lot.aliquots.exists()


# --- Storage positions ------------------------------------------------------------------------


@pytest.fixture
def filled(technician):
    """A lot with one vial in position A01 of box B1, and positions A02-A04 free."""
    lot = factories.lot(technician)
    positions = factories.storage_positions(technician, 4)
    (vial,) = services.aliquots_create(
        actor=technician, lot=lot, volume_ul=Decimal("100"), locations=positions[:1]
    )
    return {"lot": lot, "vial": vial, "occupied": positions[0], "free": positions[1:]}


def test_filling_a_vial_into_an_occupied_position_is_refused(tech_client, technician, filled):
    lot, occupied = filled["lot"], filled["occupied"]

    # The fill form refuses it next to the field, as the move form and the service say it.
    response = tech_client.post(
        reverse("batches:aliquot_fill", args=[lot.pk]),
        {"count": "1", "volume_ul": "100", "first_location": str(occupied)},
    )
    assert field_error(response, "first_location") == [
        f"Storage position {occupied} is already occupied by vial {filled['vial']}."
    ]

    errors = refusal(
        services.aliquots_create,
        actor=technician,
        lot=lot,
        volume_ul=Decimal("100"),
        locations=[filled["free"][0], occupied],
    )
    assert errors["locations"] == [
        f"Storage position already occupied: {occupied} ({filled['vial']})."
    ]
    assert lot.aliquots.count() == 1


def test_filling_more_vials_than_free_positions_is_refused(tech_client, filled):
    response = tech_client.post(
        reverse("batches:aliquot_fill", args=[filled["lot"].pk]),
        {"count": "5", "volume_ul": "100", "first_location": str(filled["free"][0])},
    )
    assert field_error(response, "count") == ["Only 3 free positions from A02 in box B1."]


def test_moving_a_vial_into_an_occupied_position_is_refused(tech_client, technician, filled):
    (other,) = services.aliquots_create(
        actor=technician, lot=filled["lot"], volume_ul=Decimal("100"), locations=[None]
    )
    occupied = filled["occupied"]
    message = f"Storage position {occupied} is already occupied by vial {filled['vial']}."

    response = tech_client.post(
        reverse("batches:aliquot_move", args=[other.pk]),
        {"to_location": str(occupied), "reason": "Re-boxing"},
    )
    assert field_error(response, "to_location") == [message]

    errors = refusal(
        services.aliquot_move,
        actor=technician,
        aliquot=other,
        to_location=occupied,
        reason="Re-boxing",
    )
    assert errors["location"] == [message]
    other.refresh_from_db()
    assert other.location is None


def test_a_vial_moves_to_a_free_position_and_the_move_is_recorded(tech_client, filled):
    vial, target = filled["vial"], filled["free"][2]
    response = tech_client.post(
        reverse("batches:aliquot_move", args=[vial.pk]),
        {"to_location": str(target), "reason": "Box B1 reorganised"},
    )
    assert response.status_code == 302
    vial.refresh_from_db()
    assert vial.location == target
    move = vial.moves.latest("created_at")
    assert (move.from_location, move.to_location, move.reason) == (
        filled["occupied"],
        target,
        "Box B1 reorganised",
    )


# --- Expired reagent lots ---------------------------------------------------------------------


def test_expired_reagent_lot_is_refused_on_batch_creation(tech_client, technician):
    bank = factories.cell_bank(technician)
    expired = factories.reagent_lot(technician, expiry_days=-1, lot_number="OLD-1")
    good = factories.reagent_lot(technician)

    response = tech_client.post(
        reverse("batches:culturebatch_create"),
        {"cell_bank": bank.code, "started_on": days(0), "reagent_lots": [good.pk, expired.pk]},
    )
    (message,) = field_error(response, "reagent_lots")
    assert message.startswith("Expired reagent lot cannot be used: MSC medium lot OLD-1 expired")

    errors = refusal(
        services.culture_batch_create,
        actor=technician,
        cell_bank=bank,
        started_on=timezone.localdate(),
        reagent_lots=[good, expired],
    )
    assert errors["reagent_lots"] == [message]
    assert not CultureBatch.objects.exists()


def test_a_reagent_lot_is_usable_until_its_expiry_date(tech_client, technician):
    bank = factories.cell_bank(technician)
    last_day = factories.reagent_lot(technician, expiry_days=0)
    response = tech_client.post(
        reverse("batches:culturebatch_create"),
        {"cell_bank": bank.code, "started_on": days(0), "reagent_lots": [last_day.pk]},
    )
    assert response.status_code == 302
    assert list(CultureBatch.objects.get().reagent_lots.all()) == [last_day]


def test_expired_reagent_lot_is_refused_for_an_isolation_run(technician):
    harvest = factories.harvest(technician)
    expired = factories.reagent_lot(technician, expiry_days=-30)
    errors = refusal(
        services.isolation_run_create,
        **isolation_fields(technician, harvest, reagent_lots=[expired]),
    )
    assert errors["reagent_lots"][0].startswith("Expired reagent lot cannot be used")


# --- Duplicates -------------------------------------------------------------------------------


def test_duplicate_donor_code_is_refused(tech_client, technician):
    factories.donor(technician, code="D-0042")
    message = "Donor with this Code already exists."

    response = tech_client.post(
        reverse("batches:donor_create"),
        {"code": "D-0042", "tissue_source": "adipose", "consent_reference": "C-7"},
    )
    assert field_error(response, "code") == [message]

    errors = refusal(
        services.donor_create,
        actor=technician,
        code=" D-0042 ",
        tissue_source="adipose",
        consent_reference="C-7",
    )
    assert errors["code"] == [message]
    assert Donor.objects.count() == 1


def test_duplicate_supplier_lot_is_refused(tech_client, technician):
    factories.reagent_lot(technician, supplier="Gibco", catalogue_number="A1", lot_number="77")
    message = "This supplier lot is already registered."
    data = {
        "category": "medium",
        "name": "Another name",
        "supplier": "Gibco",
        "catalogue_number": "A1",
        "lot_number": "77",
        "expiry_date": days(100),
        "received_on": days(0),
    }

    response = tech_client.post(reverse("batches:reagentlot_create"), data)
    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == [message]
    assert escape(message) in response.content.decode()

    fields = {k: v for k, v in data.items() if k not in ("expiry_date", "received_on")}
    errors = refusal(
        services.reagent_lot_create,
        actor=technician,
        expiry_date=timezone.localdate(),
        **fields,
    )
    assert errors["__all__"] == [message]
    assert ReagentLot.objects.count() == 1


# --- A released lot is locked -----------------------------------------------------------------


@pytest.fixture
def released_lot(technician, qa_user, settings, tmp_path):
    """A lot released the real way: passing results, under review, QA's signed disposition."""
    from tests.release.helpers import dispose, lot_under_review

    settings.MEDIA_ROOT = str(tmp_path)  # the certificate of analysis is filed here
    lot = lot_under_review(technician).lot
    dispose(qa_user, lot)
    lot.refresh_from_db()
    assert lot.status == "released"
    return lot


def test_a_released_lot_refuses_new_vials(tech_client, technician, released_lot):
    lot = released_lot
    message = f"Lot {lot} is released and locked."

    response = tech_client.post(
        reverse("batches:aliquot_fill", args=[lot.pk]), {"count": "2", "volume_ul": "100"}
    )
    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == [message]

    errors = refusal(
        services.aliquots_create, actor=technician, lot=lot, volume_ul=100, locations=[None]
    )
    assert errors == {"__all__": [message]}
    assert not lot.aliquots.exists()
    assert "Fill vials" not in tech_client.get(lot.get_absolute_url()).content.decode()


# --- Status transitions -----------------------------------------------------------------------


def test_a_lot_moves_to_review_but_is_released_only_by_a_signed_disposition(technician):
    lot = factories.lot(technician)
    for to in ("in_testing", "under_review"):
        services.lot_set_status(actor=technician, lot=lot, to=to, reason="Results in")
        assert lot.status == to
    assert lot.status_reason == "Results in"

    for final in ("released", "rejected"):
        errors = refusal(
            services.lot_set_status, actor=technician, lot=lot, to=final, reason="Looks fine"
        )
        assert errors == {"to": ["A lot is released or rejected only by a signed QA disposition."]}
    lot.refresh_from_db()
    assert lot.status == "under_review"


def test_a_batch_is_closed_only_after_harvest(technician):
    batch = factories.culture_batch(technician)
    with pytest.raises(InvalidTransition, match="cannot go from 'In culture' to 'closed'"):
        services.move_culture_batch(actor=technician, batch=batch, to="closed", reason="Done")
    factories.harvest(technician, batch)
    batch.refresh_from_db()
    assert batch.status == "harvested"
    services.move_culture_batch(actor=technician, batch=batch, to="closed", reason="Done")
    assert batch.status == "closed"


def test_a_used_vial_leaves_its_position_free(technician, qa_user, filled):
    factories.finalize_lot(qa_user, filled["lot"], "released")  # only a released lot's vials
    vial = services.aliquot_set_status(
        actor=technician, aliquot=filled["vial"], to="used", reason="Sent to potency assay"
    )
    assert (vial.status, vial.location) == ("used", None)
    with pytest.raises(InvalidTransition):
        services.aliquot_set_status(actor=technician, aliquot=vial, to="destroyed", reason="Oops")


def test_a_status_move_needs_a_reason(technician):
    lot = factories.lot(technician)
    with pytest.raises(ValidationError) as exc:
        move_status(lot, to="in_testing", actor=technician, reason="  ")
    assert "reason" in exc.value.message_dict
    lot.refresh_from_db()
    assert lot.status == "in_process"


def _records_with_status(technician):
    lot = factories.lot(technician)
    (vial,) = services.aliquots_create(
        actor=technician, lot=lot, volume_ul=Decimal("1"), locations=[None]
    )
    return [factories.culture_batch(technician), lot, vial]


# Releasing or rejecting a lot also needs a signed QA disposition (release.services): without
# one the database refuses the move even where the transition table allows it.
NEEDS_DISPOSITION = {(ExosomeLot, "released"), (ExosomeLot, "rejected")}


class _Undo(Exception):
    """Roll back a move that was accepted, so the next pair starts from a known state."""


def _force_status(record, status):
    """Put a record in a state for the test, past its triggers (FSM, locks of final states)."""
    model = type(record)
    with pgtrigger.ignore(*[f"{model._meta.label}:{t.name}" for t in model._meta.triggers]):
        model.objects.filter(pk=record.pk).update(status=status)


def test_every_status_move_is_allowed_exactly_when_the_transition_table_says(technician):
    """For every model with a status and every (from, to) pair: move_status and the database
    triggers both accept the move if and only if the model's TRANSITIONS allow it (and, for a
    lot's final decision, only with a signed disposition)."""
    for record in _records_with_status(technician):
        model = type(record)
        statuses = list(model.Status.values)
        for old, new in itertools.permutations(statuses, 2):
            in_table = new in model.TRANSITIONS.get(old, set())
            allowed = in_table and (model, new) not in NEEDS_DISPOSITION
            _force_status(record, old)

            try:
                with transaction.atomic():
                    move_status(record, to=new, actor=technician, reason="test")
                    raise _Undo
            except InvalidTransition:
                assert not in_table, f"{model.__name__} {old} -> {new} was refused"
            except DatabaseError as exc:  # the table allows it, the disposition check does not
                assert in_table and not allowed, f"{model.__name__} {old} -> {new}: {exc}"
                assert "only by a signed QA disposition" in str(exc)
            except _Undo:
                assert allowed, f"{model.__name__} {old} -> {new} was allowed"

            try:
                with transaction.atomic():
                    model.objects.filter(pk=record.pk).update(status=new)
                    raise _Undo
            except DatabaseError:
                assert not allowed, f"the database refused {model.__name__} {old} -> {new}"
            except _Undo:
                assert allowed, f"the database let {model.__name__} {old} -> {new} through"


def test_the_database_refuses_a_status_change_that_skips_the_service(technician):
    lot = factories.lot(technician)
    _force_status(lot, "released")
    with pytest.raises(DatabaseError, match="pgtrigger"), transaction.atomic():
        ExosomeLot.objects.filter(pk=lot.pk).update(status="in_process")
    batch = factories.culture_batch(technician)
    with pytest.raises(DatabaseError, match="pgtrigger"), transaction.atomic():
        CultureBatch.objects.filter(pk=batch.pk).update(status="closed")
    lot.refresh_from_db()
    batch.refresh_from_db()
    assert (lot.status, batch.status) == ("released", "in_culture")


def test_the_status_page_offers_only_allowed_moves(tech_client, technician):
    lot = factories.lot(technician)
    _force_status(lot, "released")
    response = tech_client.get(reverse("batches:status_change", args=["exosomelot", lot.pk]))
    assert response.context["form"].fields["to"].choices == []
    response = tech_client.post(
        reverse("batches:status_change", args=["exosomelot", lot.pk]),
        {"to": "in_testing", "reason": "Reopen"},
    )
    assert "to" in response.context["form"].errors
    lot.refresh_from_db()
    assert lot.status == "released"


# --- Identifiers ------------------------------------------------------------------------------


def _in_threads(n, work):
    """Run work(i) in n threads released at once; each closes its own connection."""
    barrier = threading.Barrier(n, timeout=30)
    results, errors = [None] * n, []

    def run(i):
        try:
            barrier.wait()
            results[i] = work(i)
        except Exception as exc:  # reported below, with the thread's index
            errors.append((i, exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    return results


def _numbers(codes, prefix):
    year = timezone.now().year
    pattern = re.compile(rf"^{prefix}-{year}-(\d{{4}})$")
    matches = [pattern.match(code) for code in codes]
    assert all(matches), codes
    return sorted(int(m.group(1)) for m in matches)


@pytest.mark.django_db(transaction=True)
def test_batches_created_at_the_same_moment_get_unique_sequential_codes(technician):
    bank = factories.cell_bank(technician)
    started = timezone.localdate()

    batches = _in_threads(
        8,
        lambda i: services.culture_batch_create(
            actor=technician, cell_bank=bank, started_on=started
        ),
    )

    numbers = _numbers([b.code for b in batches], "MSC")
    assert numbers == list(range(numbers[0], numbers[0] + 8))
    assert CultureBatch.objects.count() == 8


@pytest.mark.django_db(transaction=True)
def test_concurrent_identifier_requests_never_repeat_a_number():
    codes = _in_threads(8, lambda i: [next_identifier("exosome_lot") for _ in range(5)])
    numbers = _numbers(sum(codes, []), "EXO")
    assert numbers == list(range(numbers[0], numbers[0] + 40))


def test_a_rolled_back_creation_leaves_a_gap_not_a_duplicate(technician):
    bank = factories.cell_bank(technician)
    first = services.culture_batch_create(
        actor=technician, cell_bank=bank, started_on=timezone.localdate()
    )
    expired = factories.reagent_lot(technician, expiry_days=-1)
    with pytest.raises(ValidationError):
        services.culture_batch_create(
            actor=technician,
            cell_bank=bank,
            started_on=timezone.localdate(),
            reagent_lots=[expired],
        )
    second = services.culture_batch_create(
        actor=technician, cell_bank=bank, started_on=timezone.localdate()
    )
    assert _numbers([second.code], "MSC")[0] > _numbers([first.code], "MSC")[0]


# --- Labels -----------------------------------------------------------------------------------


@pytest.fixture
def labelled_lot(technician):
    lot = factories.lot(technician)
    vials = services.aliquots_create(
        actor=technician,
        lot=lot,
        volume_ul=Decimal("250"),
        locations=[*factories.storage_positions(technician, 2), None],
    )
    return lot, vials


def test_zpl_labels_have_one_label_and_barcode_per_vial(tech_client, labelled_lot):
    lot, vials = labelled_lot
    response = tech_client.get(reverse("batches:lot_labels", args=[lot.pk]), {"format": "zpl"})
    zpl = response.content.decode()
    assert response["Content-Type"].startswith("text/plain")
    assert f'filename="{lot.code}-labels.zpl"' in response["Content-Disposition"]
    assert zpl.count("^XA") == zpl.count("^XZ") == len(vials) == 3
    for label, vial in zip(zpl.split("^XZ")[:-1], vials, strict=True):
        assert f"^BCN,70,N,N,N^FD{vial.barcode}^FS" in label
        assert f"Lot {lot.code}" in label and "250.0 uL" in label


def test_pdf_labels_are_a_pdf(tech_client, labelled_lot):
    lot, _ = labelled_lot
    response = tech_client.get(reverse("batches:lot_labels", args=[lot.pk]), {"format": "pdf"})
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")


def test_label_sheet_has_an_svg_barcode_per_vial(tech_client, labelled_lot):
    lot, vials = labelled_lot
    html = tech_client.get(reverse("batches:lot_labels", args=[lot.pk])).content.decode()
    sheet = html[html.index('<div class="label-sheet">') :]
    assert sheet.count("<svg") == len(vials)
    for vial in vials:
        assert f'<div class="id">{vial.barcode}</div>' in sheet


# --- Sign-in ----------------------------------------------------------------------------------


def test_an_account_is_locked_after_repeated_failed_sign_ins(client, technician):
    login = reverse("login")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        response = client.post(login, {"username": "tess.tech", "password": "wrong-password"})
        assert "_auth_user_id" not in client.session

    response = client.post(login, {"username": "tess.tech", "password": PASSWORD})
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_a_correct_password_signs_in_below_the_failure_limit(client, technician):
    login = reverse("login")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        client.post(login, {"username": "tess.tech", "password": "wrong-password"})
    response = client.post(login, {"username": "tess.tech", "password": PASSWORD})
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(technician.pk)


def test_a_lockout_is_per_account_not_per_terminal(client, technician, analyst):
    login = reverse("login")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(login, {"username": "tess.tech", "password": "wrong-password"})
    response = client.post(login, {"username": "alan.analyst", "password": PASSWORD})
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(analyst.pk)


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("Xk3-short", "This password is too short. It must contain at least 12 characters."),
        ("qwerty123456", "This password is too common."),
        ("847362918273645", "This password is entirely numeric."),
    ],
)
def test_weak_passwords_are_refused(technician, password, message):
    with pytest.raises(ValidationError) as exc:
        validate_password(password, user=technician)
    assert message in exc.value.messages


def test_a_long_uncommon_password_is_accepted(technician):
    validate_password("amber-kettle-orbit-71", user=technician)


def test_sessions_end_after_30_idle_minutes():
    assert settings.SESSION_COOKIE_AGE == 1800
    assert settings.SESSION_SAVE_EVERY_REQUEST is True
    assert settings.SESSION_EXPIRE_AT_BROWSER_CLOSE is True


def test_each_request_restarts_the_idle_timer(client, technician):
    client.force_login(technician, backend=BACKEND)
    key = client.session.session_key
    Session.objects.filter(pk=key).update(expire_date=timezone.now() + timedelta(minutes=1))

    client.get(reverse("home"))

    remaining = Session.objects.get(pk=key).expire_date - timezone.now()
    assert timedelta(minutes=29) < remaining <= timedelta(minutes=30)


# --- Production settings fail fast ------------------------------------------------------------


def _import_settings(**env) -> subprocess.CompletedProcess:
    clean = {
        k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DJANGO_SETTINGS_MODULE")
    }
    clean.update(env, PYTHONPATH=str(REPO))
    return subprocess.run(
        [sys.executable, "-c", "import lims.settings"],
        cwd=REPO,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


PRODUCTION = {
    "DEBUG": "False",
    "ALLOWED_HOSTS": "lims.example.org",
    "DATABASE_URL": "postgres://lims:secret@db.example.org:5432/lims",
}


def test_production_settings_refuse_to_start_without_a_secret_key():
    dotenv = REPO / ".env"
    if dotenv.exists() and re.search(r"^SECRET_KEY=\S", dotenv.read_text(), re.M):
        pytest.skip(".env sets SECRET_KEY, which the settings read when the variable is unset")
    result = _import_settings(**PRODUCTION)
    assert result.returncode != 0
    assert result.stderr.splitlines()[-1] == (
        "django.core.exceptions.ImproperlyConfigured: Production settings (DEBUG=False) need "
        "these environment variables: SECRET_KEY. See .env.example."
    )


def test_production_settings_start_with_every_variable_set():
    result = _import_settings(**PRODUCTION, SECRET_KEY="x" * 50)
    assert result.returncode == 0, result.stderr


# --- Genealogy --------------------------------------------------------------------------------


def test_a_lot_from_two_isolation_runs_lists_both_batches_and_their_sources(
    tech_client, technician
):
    serum = factories.reagent_lot(technician, name="Platelet lysate", lot_number="HPL-1")
    media = [factories.reagent_lot(technician, lot_number=f"MED-{i}") for i in (1, 2)]
    column = factories.reagent_lot(technician, name="SEC column", lot_number="COL-1")
    master = factories.cell_bank(
        technician, bank_type="master", passage=2, frozen_on=timezone.localdate() - timedelta(60)
    )
    working = factories.cell_bank(
        technician, donor=master.donor, bank_type="working", parent_bank=master
    )
    other_bank = factories.cell_bank(technician)
    batches = [
        factories.culture_batch(technician, cell_bank=working, reagent_lots=[media[0], serum]),
        factories.culture_batch(technician, cell_bank=other_bank, reagent_lots=[media[1], serum]),
    ]
    runs = [
        factories.isolation_run(technician, [factories.harvest(technician, b)]) for b in batches
    ]
    second_harvest = factories.harvest(technician, batches[0])
    runs.append(
        services.isolation_run_create(
            **isolation_fields(technician, second_harvest, reagent_lots=[column])
        )
    )
    lot = factories.lot(technician, runs=[runs[0], runs[2], runs[1]])
    unrelated = factories.lot(technician)

    tree = lot_genealogy(lot)

    assert set(tree.isolation_runs) == set(runs)
    assert tree.culture_batches == sorted(batches, key=lambda b: b.code)
    assert set(tree.cell_banks) == {master, working, other_bank}
    assert set(tree.donors) == {master.donor, other_bank.donor}
    assert set(tree.reagent_lots) == {serum, column, *media}
    assert unrelated.isolation_runs.get() not in tree.isolation_runs

    page = tech_client.get(lot.get_absolute_url()).content.decode()
    for record in [*batches, master, working, other_bank, master.donor, column, serum]:
        assert f'href="{record.get_absolute_url()}"' in page
