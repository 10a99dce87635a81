"""Every production record is corrected and voided from the browser (issue 12 item 1):
isolation runs, culture batches, harvests, lots and vials as well as donors, banks, reagents,
positions and passages.

A correction changes only the fields a correction may change (never a code, a status or what
the record was made from), with a reason kept in the audit trail, and keeps the records adding
up; a void has a reason and is refused while something made from the record still stands, or
once the material has left (a shipped vial) or QA decides on it (a lot in testing). Only
technicians do either; every refusal leaves the record as it was.
"""

from datetime import datetime, time, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from batches import services
from batches.correction_forms import CORRECTION_FORMS
from batches.forms import IsolationRunForm
from batches.models import (
    Aliquot,
    AliquotMove,
    CultureBatch,
    ExosomeLot,
    Harvest,
    IsolationRun,
    Passage,
)
from lims.models import AuditEvent
from tests import factories
from tests.foundation.test_services_and_forms import BACKEND, field_error, refusal

pytestmark = pytest.mark.django_db

NEW_KINDS = ("isolationrun", "culturebatch", "harvest", "exosomelot", "aliquot")


def ago(days: int):
    return timezone.localdate() - timedelta(days=days)


def last_update(obj):
    return AuditEvent.objects.tracks(obj).filter(pgh_label="update").order_by("-pgh_id").first()


@pytest.fixture
def chain(technician):
    """A culture batch with a passage, its harvest, a run from it, a lot and two vials."""
    batch = factories.culture_batch(technician, started_on=ago(10))
    passage = services.passage_record(
        actor=technician,
        batch=batch,
        number=1,
        seeded_on=ago(9),
        seeding_density_per_cm2=5000,
        cells_seeded=1_000_000,
    )
    harvest = factories.harvest(technician, batch)
    run = factories.isolation_run(technician, [harvest])
    lot = factories.lot(technician, runs=[run])
    positions = factories.storage_positions(technician, 2)
    vials = services.aliquots_create(
        actor=technician, lot=lot, volume_ul=Decimal("1000"), locations=positions
    )
    return {
        "culturebatch": batch,
        "passage": passage,
        "harvest": harvest,
        "isolationrun": run,
        "exosomelot": lot,
        "aliquot": vials[0],
        "vials": vials,
        "positions": positions,
    }


def correct_url(kind, record):
    return reverse("batches:record_correct", args=[kind, record.pk])


def void_url(kind, record):
    return reverse("batches:record_void", args=[kind, record.pk])


def refused_correction(actor, record, **changes):
    return refusal(
        lambda **kwargs: services.record_update(record, **kwargs),
        actor=actor,
        changes=changes,
        reason="Correction",
    )


def refused_void(actor, record):
    return refusal(
        lambda **kwargs: services.record_void(record, **kwargs), actor=actor, reason="Mistake"
    )


def stored(record):
    return type(record).objects.get(pk=record.pk)


# --- The pages exist, for technicians only -------------------------------------------------


@pytest.mark.parametrize("kind", NEW_KINDS)
def test_correction_and_void_pages_answer_for_every_record(tech_client, chain, kind):
    # Before: /isolationrun/<pk>/correct/ and the others answered 404.
    record = chain[kind]
    for url in (correct_url(kind, record), void_url(kind, record)):
        response = tech_client.get(url)
        assert response.status_code == 200, url
    page = tech_client.get(correct_url(kind, record)).content.decode()
    assert 'name="reason"' in page and "Save correction" in page


@pytest.mark.parametrize("kind", NEW_KINDS)
def test_other_roles_get_403_and_write_nothing(client, personas, make_user, chain, kind):
    record = chain[kind]
    for url in (correct_url(kind, record), void_url(kind, record)):
        response = client.post(url, {"reason": "Registered twice"})  # not signed in
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    client.force_login(make_user(None, username="nora.norole"), backend=BACKEND)
    assert client.post(void_url(kind, record), {"reason": "Registered twice"}).status_code == 403
    for role in ("analyst", "qa", "admin"):
        client.force_login(personas[role], backend=BACKEND)
        for url, data in (
            (correct_url(kind, record), {"notes": "x", "reason": "r"}),
            (void_url(kind, record), {"reason": "Registered twice"}),
        ):
            assert client.get(url).status_code == 403, (role, url)
            assert client.post(url, data).status_code == 403, (role, url)
        with pytest.raises(PermissionDenied):
            services.record_void(record, actor=personas[role], reason="Registered twice")
    assert not stored(record).is_voided
    assert last_update(record) is None or last_update(record).reason != "r"


def test_an_unknown_kind_of_record_is_404(tech_client, chain):
    response = tech_client.get(reverse("batches:record_correct", args=["lotsource", 1]))
    assert response.status_code == 404


# --- What a correction may change -----------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "forbidden"),
    [
        ("isolationrun", {"code", "harvests", "reagent_lots", "input_volume_ml"}),
        ("culturebatch", {"code", "status", "status_reason", "reagent_lots"}),
        ("harvest", {"batch"}),
        ("exosomelot", {"code", "status", "status_reason", "isolation_runs"}),
        ("aliquot", {"barcode", "number", "lot", "status", "location"}),
    ],
)
def test_codes_status_and_origins_are_not_in_the_correction_forms(chain, kind, forbidden):
    model, form_class = CORRECTION_FORMS[kind]
    form = form_class(instance=chain[kind])
    assert not forbidden & set(form.fields), forbidden & set(form.fields)
    assert set(form.fields) - {"g_force", "duration_min", "membrane_cutoff_kda", "flow_rate_ml_min"}
    assert set(form.fields) <= set(services.CORRECTABLE_FIELDS[model]) | {
        "g_force",
        "duration_min",
        "membrane_cutoff_kda",
        "flow_rate_ml_min",
    }


@pytest.mark.parametrize(
    ("kind", "changes", "field", "says"),
    [
        ("isolationrun", {"code": "RUN-X"}, "code", "identifies the record"),
        ("exosomelot", {"code": "LOT-X"}, "code", "identifies the record"),
        ("aliquot", {"barcode": "LOT-X-001"}, "barcode", "identifies the record"),
        ("exosomelot", {"status": "released"}, "status", "its own moves"),
        ("culturebatch", {"status": "closed"}, "status", "its own moves"),
        ("aliquot", {"status": "shipped"}, "status", "its own moves"),
        ("culturebatch", {"voided_at": "2026-01-01"}, "voided_at", "voided with its own reason"),
        ("aliquot", {"location": None}, "location", "by a move"),
        ("aliquot", {"lot": None}, "lot", "stays with the lot"),
        ("harvest", {"batch": None}, "batch", "stays with the culture batch"),
        ("isolationrun", {"input_volume_ml": Decimal("200")}, "input_volume_ml", "took"),
        ("isolationrun", {"created_by": None}, "created_by", "not corrected"),
    ],
)
def test_the_service_refuses_what_a_correction_does_not_change(
    technician, chain, kind, changes, field, says
):
    record = chain[kind]
    before = {name: getattr(stored(record), name) for name in changes}
    trail = AuditEvent.objects.tracks(record).count()
    errors = refused_correction(technician, record, **changes)
    assert says in errors[field][0], errors
    assert {name: getattr(stored(record), name) for name in changes} == before
    assert AuditEvent.objects.tracks(record).count() == trail


def test_a_donor_code_and_a_supplier_lot_number_are_not_corrected(technician):
    donor = factories.donor(technician)
    reagent = factories.reagent_lot(technician)
    assert "not corrected" in refused_correction(technician, donor, code="D-X")["code"][0]
    assert (
        "not corrected"
        in (refused_correction(technician, reagent, lot_number="L-X")["lot_number"][0])
    )
    assert "code" not in CORRECTION_FORMS["donor"][1](instance=donor).fields
    assert "lot_number" not in CORRECTION_FORMS["reagentlot"][1](instance=reagent).fields
    assert stored(reagent).lot_number == reagent.lot_number


def test_a_correction_with_nothing_changed_or_no_reason_is_refused(technician, chain):
    run = chain["isolationrun"]
    with pytest.raises(ValidationError, match="Nothing was changed"):
        services.record_update(run, actor=technician, changes={}, reason="Typo")
    errors = refusal(
        lambda **kw: services.record_update(run, **kw),
        actor=technician,
        changes={"equipment": "TFF-02"},
        reason="  ",
    )
    assert "reason" in errors
    assert stored(run).equipment == "TFF-01"


# --- Corrections through the pages, into the audit trail -----------------------------------


def test_an_isolation_run_is_corrected_with_its_parameters_and_reason(tech_client, chain):
    run = chain["isolationrun"]
    url = correct_url("isolationrun", run)
    page = tech_client.get(url).content.decode()
    assert 'name="flow_rate_ml_min"' in page and 'value="50' in page
    local = timezone.localtime
    data = {
        "method": "tff",
        "output_volume_ml": "5.000",
        "operator": run.operator_id,
        "equipment": "TFF-02",
        "started_at": local(run.started_at).strftime("%Y-%m-%dT%H:%M"),
        "ended_at": local(run.ended_at).strftime("%Y-%m-%dT%H:%M"),
        "flow_rate_ml_min": "55",
        "reason": "Wrong skid and flow recorded",
    }
    response = tech_client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    run = stored(run)
    assert (run.method, run.equipment) == ("tff", "TFF-02")
    assert run.parameters == {"flow_rate_ml_min": 55}
    event = last_update(run)
    assert event.reason == "Wrong skid and flow recorded"
    # The times shown to the minute were not taken as changed (their seconds are kept).
    assert set(event.pgh_diff) == {"method", "equipment", "parameters"}


@pytest.mark.parametrize(
    ("kind", "data", "field", "value"),
    [
        ("culturebatch", {"notes": "Flask 3 of 4"}, "notes", "Flask 3 of 4"),
        ("harvest", {"volume_ml": "260", "medium": "serum_free"}, "volume_ml", Decimal("260")),
        ("exosomelot", {"volume_ml": "4.5"}, "volume_ml", Decimal("4.5")),
        ("aliquot", {"volume_ul": "900"}, "volume_ul", Decimal("900")),
    ],
)
def test_a_correction_through_the_page_keeps_the_reason(
    tech_client, technician, chain, kind, data, field, value
):
    record = chain[kind]
    form = CORRECTION_FORMS[kind][1](instance=record)
    posted = {}
    for name in form.fields:
        initial = form[name].value()
        posted[name] = "" if initial is None else initial
    posted.update(data, reason="Transcription error on the batch record")
    response = tech_client.post(correct_url(kind, record), posted)
    assert response.status_code == 302, response.context["form"].errors
    assert getattr(stored(record), field) == value
    event = last_update(record)
    assert event.reason == "Transcription error on the batch record"
    assert event.username == technician.username
    assert field in event.pgh_diff


def test_a_refused_correction_shows_next_to_its_field_and_writes_nothing(tech_client, chain):
    harvest = chain["harvest"]  # 250 mL, all taken by the run
    data = {
        "harvested_at": timezone.localtime(harvest.harvested_at).strftime("%Y-%m-%dT%H:%M"),
        "volume_ml": "100",
        "medium": harvest.medium,
        "notes": "",
        "reason": "Typo",
    }
    response = tech_client.post(correct_url("harvest", harvest), data)
    assert "already took 250 mL" in field_error(response, "volume_ml")[0]
    assert stored(harvest).volume_ml == Decimal("250")


# --- Corrections keep the records adding up ---------------------------------------------------


def test_dates_cannot_move_into_the_future(technician, chain):
    tomorrow = timezone.localdate() + timedelta(days=1)
    later = timezone.now() + timedelta(days=1)
    cases = [
        (chain["culturebatch"], {"started_on": tomorrow}, "started_on"),
        (chain["passage"], {"seeded_on": tomorrow}, "seeded_on"),
        (chain["harvest"], {"harvested_at": later}, "harvested_at"),
        (chain["isolationrun"], {"ended_at": later}, "ended_at"),
        (chain["exosomelot"], {"manufactured_on": tomorrow}, "manufactured_on"),
    ]
    for record, changes, field in cases:
        errors = refused_correction(technician, record, **changes)
        assert any("future" in message for message in errors.get(field, [])), (record, errors)
        assert getattr(stored(record), field) == getattr(record, field)


def test_dates_cannot_move_before_what_the_record_was_made_from(technician, chain):
    batch, passage, harvest = chain["culturebatch"], chain["passage"], chain["harvest"]
    run, lot = chain["isolationrun"], chain["exosomelot"]
    bank = batch.cell_bank

    assert "frozen" in refused_correction(technician, batch, started_on=ago(40))["started_on"][0]
    assert (
        "before its batch"
        in (refused_correction(technician, passage, seeded_on=ago(11))["seeded_on"][0])
    )
    early = timezone.make_aware(datetime.combine(ago(11), time(12)))
    assert (
        "precede the start"
        in (refused_correction(technician, harvest, harvested_at=early)["harvested_at"][0])
    )
    assert (
        "cannot start before the harvest"
        in (
            refused_correction(
                technician, run, started_at=harvest.harvested_at - timedelta(hours=1)
            )["started_at"][0]
        )
    )
    assert (
        "before its isolation run"
        in (refused_correction(technician, lot, manufactured_on=ago(1))["manufactured_on"][0])
    )
    # ... nor after what was made from it: a batch starting after its first passage or harvest.
    assert "seeded on" in refused_correction(technician, batch, started_on=ago(8))["started_on"][0]
    assert stored(batch).started_on == ago(10)
    assert stored(bank).frozen_on == bank.frozen_on


def test_a_reagent_lot_expiring_before_it_was_used_is_refused(technician):
    medium = factories.reagent_lot(technician)
    batch = factories.culture_batch(technician, started_on=ago(5), reagent_lots=[medium])
    errors = refused_correction(technician, medium, expiry_date=ago(6))
    assert f"Culture batch {batch} used this lot" in errors["expiry_date"][0]
    # ... and a batch cannot move its start to after one of its lots expired.
    short = factories.reagent_lot(technician, expiry_days=-1)
    other = factories.culture_batch(technician, started_on=ago(3), reagent_lots=[short])
    errors = refused_correction(technician, other, started_on=timezone.localdate())
    assert "Expired reagent lot" in errors["started_on"][0]
    services.record_update(other, actor=technician, changes={"started_on": ago(2)}, reason="r")
    assert stored(other).started_on == ago(2)
    assert stored(medium).expiry_date == medium.expiry_date


def test_volumes_keep_adding_up(technician, chain):
    run, lot, vial = chain["isolationrun"], chain["exosomelot"], chain["aliquot"]
    # The lot (5 mL) holds two 1 mL vials; 3 mL is left.
    assert (
        "cannot exceed"
        in refused_correction(technician, run, output_volume_ml=Decimal("300"))["output_volume_ml"][
            0
        ]
    )
    assert (
        "made from this run's output"
        in (
            refused_correction(technician, run, output_volume_ml=Decimal("4"))["output_volume_ml"][
                0
            ]
        )
    )
    assert "2 mL" in refused_correction(technician, lot, volume_ml=Decimal("1.5"))["volume_ml"][0]
    assert (
        "would hold 5.1 mL"
        in (refused_correction(technician, vial, volume_ul=Decimal("4100"))["volume_ul"][0])
    )
    services.record_update(
        vial, actor=technician, changes={"volume_ul": Decimal("4000")}, reason="Refilled"
    )
    assert stored(vial).volume_ul == Decimal("4000")
    assert stored(lot).volume_ml == Decimal("5")
    assert stored(run).output_volume_ml == Decimal("5")


def test_the_cell_bank_of_a_batch_cannot_be_corrected_to_a_voided_one(technician, chain):
    batch = chain["culturebatch"]
    spare = factories.cell_bank(technician, frozen_on=ago(30))
    services.record_void(spare, actor=technician, reason="Registered twice")
    errors = refused_correction(technician, batch, cell_bank=spare)
    assert "voided" in errors["cell_bank"][0]
    assert stored(batch).cell_bank_id != spare.pk


# --- What a void refuses ----------------------------------------------------------------------


def test_nothing_is_voided_while_something_made_from_it_stands(technician, chain):
    expectations = {
        "culturebatch": "harvest(s) not voided",
        "harvest": f"Isolation run {chain['isolationrun']} processed this harvest",
        "isolationrun": f"Lot {chain['exosomelot']} was made from run",
        "exosomelot": "2 vial(s) not voided",
    }
    for kind, says in expectations.items():
        errors = refused_void(technician, chain[kind])
        assert says in errors["__all__"][0], (kind, errors)
        assert not stored(chain[kind]).is_voided


def test_voiding_from_the_vials_up_leaves_nothing_inconsistent(tech_client, technician, chain):
    lot, run, harvest = chain["exosomelot"], chain["isolationrun"], chain["harvest"]
    for vial in chain["vials"]:
        response = tech_client.post(void_url("aliquot", vial), {"reason": "Filled by mistake"})
        assert response.status_code == 302
    vial = stored(chain["aliquot"])
    assert vial.is_voided and vial.location is None  # its position is free again
    move = AliquotMove.objects.filter(aliquot=vial).order_by("-pk").first()
    assert move.to_location is None and move.reason == "Voided: Filled by mistake"
    assert stored(lot).remaining_volume_ml == Decimal("5")

    for kind, record in (("exosomelot", lot), ("isolationrun", run), ("harvest", harvest)):
        response = tech_client.post(void_url(kind, record), {"reason": "Entered on the wrong day"})
        assert response.status_code == 302, kind
        assert stored(record).is_voided
    assert stored(harvest).is_voided
    assert Harvest.objects.get(pk=harvest.pk).batch.harvests.filter(voided_at=None).count() == 0
    response = tech_client.post(void_url("culturebatch", chain["culturebatch"]), {"reason": "Dup"})
    assert response.status_code == 302
    batch = stored(chain["culturebatch"])
    assert batch.is_voided and batch.void_reason == "Dup"
    assert AuditEvent.objects.tracks(batch).order_by("-pgh_id").first().reason == "Dup"


def test_a_voided_record_takes_nothing_more(technician, chain):
    vial, batch = chain["aliquot"], chain["culturebatch"]
    services.record_void(vial, actor=technician, reason="Filled by mistake")
    with pytest.raises(ValidationError, match="voided"):
        services.record_update(vial, actor=technician, changes={"volume_ul": 900}, reason="r")
    with pytest.raises(ValidationError, match="already voided"):
        services.record_void(vial, actor=technician, reason="again")
    with pytest.raises(ValidationError, match="voided"):
        services.aliquot_set_status(actor=technician, aliquot=vial, to="destroyed", reason="r")
    with pytest.raises(ValidationError, match="voided"):
        services.aliquot_move(
            actor=technician, aliquot=vial, to_location=chain["positions"][0], reason="r"
        )
    assert stored(vial).status == Aliquot.Status.QUARANTINE

    # A voided harvest feeds no isolation run; a voided batch takes no passage or harvest.
    spare = factories.harvest(technician, batch)
    services.record_void(spare, actor=technician, reason="Duplicate entry")
    errors = refusal(
        services.isolation_run_create,
        actor=technician,
        method="tff",
        harvests=[spare],
        input_volume_ml=Decimal("10"),
        output_volume_ml=Decimal("1"),
        operator=technician,
        equipment="TFF-01",
        started_at=timezone.now() - timedelta(minutes=30),
        ended_at=timezone.now() - timedelta(minutes=10),
    )
    assert "voided" in errors["harvests"][0]
    assert spare not in IsolationRunForm().fields["harvests"].queryset
    empty = factories.culture_batch(technician)
    services.record_void(empty, actor=technician, reason="Started twice")
    with pytest.raises(ValidationError, match="voided"):
        factories.harvest(technician, empty)
    with pytest.raises(ValidationError, match="voided"):
        services.move_culture_batch(actor=technician, batch=empty, to="discarded", reason="r")
    assert not Harvest.objects.filter(batch=empty).exists()
    assert stored(empty).status == CultureBatch.Status.IN_CULTURE


def test_a_lot_under_testing_is_rejected_not_voided(technician):
    lot = factories.lot(technician)
    services.lot_set_status(actor=technician, lot=lot, to="in_testing", reason="QC started")
    errors = refused_void(technician, lot)
    assert "rejected by QA's signed disposition" in errors["__all__"][0]
    assert not stored(lot).is_voided


def test_a_shipped_or_destroyed_vial_is_not_voided(technician, qa_user):
    lot = factories.lot(technician)
    vial, other = services.aliquots_create(
        actor=technician, lot=lot, volume_ul=Decimal("100"), locations=[None, None]
    )
    factories.finalize_lot(qa_user, lot, "released")
    # Released: the lot and its vials are locked, whatever their status.
    assert "locked" in refused_void(technician, stored(vial))["__all__"][0]

    unreleased = factories.lot(technician)
    (kept,) = services.aliquots_create(
        actor=technician, lot=unreleased, volume_ul=Decimal("100"), locations=[None]
    )
    services.aliquot_set_status(actor=technician, aliquot=kept, to="destroyed", reason="Dropped")
    errors = refused_void(technician, kept)
    assert "is destroyed: only a vial still in quarantine is voided" in errors["__all__"][0]
    assert not stored(kept).is_voided


def test_a_shipped_vial_is_not_voided(technician):
    lot = factories.lot(technician)
    (vial,) = services.aliquots_create(
        actor=technician, lot=lot, volume_ul=Decimal("100"), locations=[None]
    )
    # Shipped: written as the ship move writes it (the lot's release is tested elsewhere).
    Aliquot.objects.filter(pk=vial.pk).update(status="available")
    Aliquot.objects.filter(pk=vial.pk).update(status="shipped")
    errors = refused_void(technician, stored(vial))
    assert "is shipped" in errors["__all__"][0]
    assert not stored(vial).is_voided


def test_what_a_released_lot_was_made_from_is_locked(technician, qa_user, chain):
    for vial in chain["vials"]:
        services.record_void(vial, actor=technician, reason="Mistake")
    factories.finalize_lot(qa_user, chain["exosomelot"], "released")
    lot = chain["exosomelot"]
    for kind, changes in (
        ("isolationrun", {"equipment": "TFF-09"}),
        ("harvest", {"notes": "late note"}),
        ("culturebatch", {"notes": "late note"}),
        ("passage", {"viability_pct": 80}),
    ):
        errors = refused_correction(technician, chain[kind], **changes)
        assert f"Lot {lot} made from" in errors["__all__"][0], kind
    errors = refused_void(technician, chain["isolationrun"])
    assert "released" in errors["__all__"][0]
    assert stored(chain["isolationrun"]).equipment == "TFF-01"


# --- The pages show it ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["isolationrun", "culturebatch", "exosomelot", "aliquot"])
def test_each_detail_page_offers_correct_and_void(tech_client, chain, kind):
    record = chain[kind]
    page = tech_client.get(record.get_absolute_url()).content.decode()
    assert f'href="{correct_url(kind, record)}"' in page
    assert f'href="{void_url(kind, record)}"' in page


def test_harvests_and_passages_are_corrected_and_voided_from_their_batch(tech_client, chain):
    batch = chain["culturebatch"]
    page = tech_client.get(batch.get_absolute_url()).content.decode()
    for kind in ("harvest", "passage"):
        assert f'href="{correct_url(kind, chain[kind])}"' in page
        assert f'href="{void_url(kind, chain[kind])}"' in page


def test_a_voided_record_shows_as_voided_without_buttons(tech_client, analyst, technician):
    lot = factories.lot(technician)
    response = tech_client.post(void_url("exosomelot", lot), {"reason": "Registered twice"})
    assert response.status_code == 302 and response["Location"] == lot.get_absolute_url()
    page = tech_client.get(lot.get_absolute_url()).content.decode()
    assert "voided-record" in page and "Registered twice" in page and "Tess Tech" in page
    assert f'href="{correct_url("exosomelot", lot)}"' not in page
    assert reverse("batches:aliquot_fill", args=[lot.pk]) not in page

    batch = factories.culture_batch(technician)
    harvest = factories.harvest(technician, batch)
    services.record_void(harvest, actor=technician, reason="Wrong batch")
    page = tech_client.get(batch.get_absolute_url()).content.decode()
    assert 'title="Voided: Wrong batch"' in page
    assert f'href="{correct_url("harvest", harvest)}"' not in page


def test_a_refused_void_shows_its_reason_on_the_page(tech_client, chain):
    response = tech_client.post(void_url("isolationrun", chain["isolationrun"]), {"reason": "x"})
    assert response.status_code == 200
    assert "void the lot first" in response.content.decode()
    assert not IsolationRun.objects.get(pk=chain["isolationrun"].pk).is_voided
    assert not ExosomeLot.objects.get(pk=chain["exosomelot"].pk).is_voided
    assert Passage.objects.filter(pk=chain["passage"].pk, voided_at=None).exists()
