"""The audit trail (21 CFR 11.10(e), Annex 11 §9): complete, attributed and append-only.

Every write path leaves an event with the old and new values and who / why; the event tables
refuse UPDATE, DELETE and TRUNCATE; GMP records and accounts are never deleted.
"""

import csv
import io
from datetime import timedelta

import pytest
from django.apps import apps
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction
from django.urls import reverse
from django.utils import timezone

from batches import models as batch_models
from batches import services
from batches.models import Donor, DonorEvent, ReagentLot
from lims.audit import audit_context
from lims.models import AuditEvent, User, UserEvent
from tests import factories

BACKEND = "django.contrib.auth.backends.ModelBackend"


def last_update(obj) -> AuditEvent:
    return AuditEvent.objects.tracks(obj).filter(pgh_label="update").order_by("-pgh_id").first()


def refused(sql_or_callable, match="pgtrigger"):
    """Run a write that the database must refuse, in a savepoint so the test can go on."""
    with pytest.raises(DatabaseError, match=match), transaction.atomic():
        if callable(sql_or_callable):
            sql_or_callable()
        else:
            with connection.cursor() as cursor:
                cursor.execute(sql_or_callable)


# --- Every write path is recorded -------------------------------------------------------------


def test_creation_through_a_service_is_recorded_with_its_author(technician):
    donor = factories.donor(technician, code="D-NEW")

    (event,) = AuditEvent.objects.tracks(donor)
    assert event.pgh_label == "insert"
    assert event.pgh_data["code"] == "D-NEW"
    assert (event.user_id, event.username, event.reason) == (
        technician.pk,
        "tess.tech",
        "Created",
    )


def test_save_records_old_and_new_values_with_the_context(technician):
    donor = factories.donor(technician)
    donor.consent_reference = "C-2"
    with audit_context(actor=technician, reason="Consent reference mistyped"):
        donor.save()

    event = last_update(donor)
    assert event.pgh_diff == {"consent_reference": ["C-1", "C-2"]}
    assert (event.username, event.reason) == ("tess.tech", "Consent reference mistyped")
    # The generated event model holds the full row as it was after the change.
    assert DonorEvent.objects.filter(pgh_obj=donor).latest("pgh_id").consent_reference == "C-2"


def test_bulk_update_records_one_event_per_row(technician, analyst):
    lots = [factories.reagent_lot(technician) for _ in range(3)]
    for lot in lots:
        lot.name = "Renamed medium"
    with audit_context(actor=analyst, reason="Supplier renamed the product"):
        ReagentLot.objects.bulk_update(lots, ["name"])

    for lot in lots:
        event = last_update(lot)
        assert event.pgh_diff == {"name": ["MSC medium", "Renamed medium"]}
        assert (event.username, event.reason) == ("alan.analyst", "Supplier renamed the product")


def test_queryset_update_is_recorded(technician):
    lot = factories.reagent_lot(technician)
    old = lot.expiry_date
    new = old + timedelta(days=30)
    with audit_context(actor=technician, reason="Shelf life extended by supplier"):
        ReagentLot.objects.filter(pk=lot.pk).update(expiry_date=new)

    event = last_update(lot)
    assert event.pgh_diff == {"expiry_date": [old.isoformat(), new.isoformat()]}
    assert event.reason == "Shelf life extended by supplier"


def test_raw_sql_update_is_recorded(technician):
    donor = factories.donor(technician)
    with audit_context(actor=technician, reason="Data fix script"):
        with connection.cursor() as cursor:
            cursor.execute("UPDATE batches_donor SET notes = %s WHERE id = %s", ["fixed", donor.pk])

    event = last_update(donor)
    assert event.pgh_diff == {"notes": ["", "fixed"]}
    assert (event.username, event.reason) == ("tess.tech", "Data fix script")


def test_raw_sql_update_without_context_is_still_recorded(technician):
    donor = factories.donor(technician)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE batches_donor SET notes = 'psql' WHERE id = %s", [donor.pk])

    event = last_update(donor)
    assert event.pgh_diff == {"notes": ["", "psql"]}
    assert event.actor == "system"


def test_a_correction_through_the_service_stores_its_reason(technician):
    donor = factories.donor(technician)
    services.record_update(
        donor, actor=technician, changes={"tissue_source": "adipose"}, reason="Wrong tissue"
    )

    event = last_update(donor)
    assert event.pgh_diff == {"tissue_source": ["umbilical_cord", "adipose"]}
    assert (event.username, event.reason, event.action) == ("tess.tech", "Wrong tissue", "changed")


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_correction_without_a_reason_is_refused(technician, reason):
    donor = factories.donor(technician)
    with pytest.raises(ValidationError) as exc:
        services.record_update(
            donor, actor=technician, changes={"tissue_source": "adipose"}, reason=reason
        )
    assert "reason" in exc.value.message_dict
    donor.refresh_from_db()
    assert donor.tissue_source == "umbilical_cord"
    assert last_update(donor) is None


# --- The trail is append-only -----------------------------------------------------------------


def _event_models():
    return [m for m in apps.get_models() if getattr(m, "pgh_tracked_model", None) is not None]


def test_audit_events_cannot_be_changed_deleted_or_truncated(technician):
    donor = factories.donor(technician)
    event = DonorEvent.objects.get(pgh_obj=donor)

    refused(lambda: DonorEvent.objects.filter(pk=event.pk).update(code="FORGED"))
    refused(lambda: DonorEvent.objects.filter(pk=event.pk).delete())
    refused(f"UPDATE batches_donorevent SET code = 'FORGED' WHERE pgh_id = {event.pk}")
    refused(f"DELETE FROM batches_donorevent WHERE pgh_id = {event.pk}")
    refused("TRUNCATE batches_donorevent", match="append-only")
    refused("TRUNCATE lims_userevent CASCADE", match="append-only")
    refused(lambda: UserEvent.objects.filter(pgh_obj=technician).update(username="x"))

    assert DonorEvent.objects.get(pgh_obj=donor).code == donor.code


def test_every_event_table_refuses_truncate(db):
    for model in _event_models():
        refused(f'TRUNCATE "{model._meta.db_table}"', match="append-only")


def test_every_event_table_has_its_append_only_triggers_installed(db):
    with connection.cursor() as cursor:
        cursor.execute("SELECT tgrelid::regclass::text, tgname FROM pg_trigger")
        installed = set(cursor.fetchall())
    for model in _event_models():
        for trigger in model._meta.triggers:
            assert (model._meta.db_table, trigger.get_pgid(model)) in installed


# --- Records and accounts are never deleted ---------------------------------------------------


def test_a_gmp_record_cannot_be_deleted(technician):
    donor = factories.donor(technician)
    refused(donor.delete)
    refused(lambda: Donor.objects.filter(pk=donor.pk).delete())
    refused(f"DELETE FROM batches_donor WHERE id = {donor.pk}")
    assert Donor.objects.filter(pk=donor.pk).exists()


def test_every_gmp_record_is_protected_from_delete_in_the_database(db):
    with connection.cursor() as cursor:
        cursor.execute("SELECT tgrelid::regclass::text, tgname FROM pg_trigger")
        installed = set(cursor.fetchall())
    tracked = [m for m in apps.get_app_config("batches").get_models() if m in _tracked_models()]
    for model in [*tracked, User]:
        protect = [t for t in model._meta.triggers if t.name.endswith("never_deleted")]
        assert protect, f"{model.__name__} has no never-deleted trigger"
        assert (model._meta.db_table, protect[0].get_pgid(model)) in installed


def test_a_user_cannot_be_deleted(technician):
    refused(technician.delete)
    refused(f"DELETE FROM lims_user WHERE id = {technician.pk}")
    assert User.objects.filter(pk=technician.pk).exists()


def test_a_username_cannot_be_changed(technician):
    technician.username = "someone.else"
    refused(technician.save)
    refused(lambda: User.objects.filter(pk=technician.pk).update(username="someone.else"))
    # Other account fields can change (and the change is audited).
    User.objects.filter(pk=technician.pk).update(is_active=False)
    assert UserEvent.objects.filter(pgh_obj=technician, pgh_label="update").exists()


# --- Everything is tracked ------------------------------------------------------------------


def _tracked_models():
    return {m.pgh_tracked_model for m in _event_models()}


def test_every_production_model_and_the_user_are_tracked():
    production = [
        m
        for m in apps.get_app_config("batches").get_models()
        if m.__module__ == batch_models.__name__ and getattr(m, "pgh_tracked_model", None) is None
    ]
    assert len(production) >= 15
    untracked = [m.__name__ for m in [*production, User] if m not in _tracked_models()]
    assert not untracked


def test_the_password_hash_is_not_copied_into_the_trail(technician):
    event = UserEvent.objects.filter(pgh_obj=technician).latest("pgh_id")
    assert not hasattr(event, "password")


# --- The audit trail page and its CSV ----------------------------------------------------------


@pytest.fixture
def trail(technician, analyst):
    """Events by two people on two kinds of record (the analyst also works as a technician:
    corrections of production records are technicians')."""
    donor = factories.donor(technician, code="D-TRAIL")
    analyst.groups.add(Group.objects.get(name="technician"))
    analyst = User.objects.get(pk=analyst.pk)  # roles are cached per instance
    services.record_update(donor, actor=analyst, changes={"notes": "seen"}, reason="Review comment")
    lot = factories.reagent_lot(technician)
    return {"donor": donor, "lot": lot}


def _listed(client, **params):
    response = client.get(reverse("audit_trail"), params)
    assert response.status_code == 200
    return list(response.context["object_list"])


def test_audit_trail_page_filters_by_user_model_record_and_dates(client, qa_user, trail):
    client.force_login(qa_user, backend=BACKEND)
    donor, lot = trail["donor"], trail["lot"]
    today = timezone.localdate()

    by_analyst = _listed(client, username="alan.analyst")
    assert [(e.pgh_obj_model, e.pgh_obj_id, e.reason) for e in by_analyst] == [
        ("batches.Donor", str(donor.pk), "Review comment")
    ]

    donors = _listed(client, model="batches.Donor")
    assert {e.pgh_obj_model for e in donors} == {"batches.Donor"}
    assert len(donors) == 2

    lots = _listed(client, model="batches.ReagentLot", record=str(lot.pk))
    assert [(e.pgh_label, e.pgh_obj_id) for e in lots] == [("insert", str(lot.pk))]

    assert len(_listed(client, since=today.isoformat(), until=today.isoformat())) == len(
        _listed(client)
    )
    assert _listed(client, since=(today + timedelta(days=1)).isoformat()) == []
    assert _listed(client, until=(today - timedelta(days=1)).isoformat()) == []

    response = client.get(reverse("audit_trail"), {"username": "alan.analyst"})
    page = response.content.decode()
    assert "Review comment" in page and "seen" in page


def test_audit_trail_csv_exports_the_filtered_rows(client, analyst, trail):
    client.force_login(analyst, backend=BACKEND)
    response = client.get(reverse("audit_trail_csv"), {"model": "batches.Donor"})

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv"
    assert "audit-trail.csv" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == [
        "time_utc",
        "model",
        "record_id",
        "action",
        "user",
        "instrument",
        "reason",
        "changes",
        "task",
    ]
    body = [row[1:7] for row in rows[1:]]
    pk = str(trail["donor"].pk)
    assert body == [
        ["batches.Donor", pk, "changed", "alan.analyst", "", "Review comment"],
        ["batches.Donor", pk, "created", "tess.tech", "", "Created"],
    ]
    assert rows[1][7] == '{"notes": ["", "seen"]}'
    assert rows[1][0].endswith("+00:00")


def test_each_step_of_one_request_keeps_its_own_reason(client, technician):
    """A harvest recorded on the web page also moves its batch to 'harvested': the harvest's
    event says it was created, the batch's event says why it moved, both by the signed-in user
    and with the page's URL."""
    batch = factories.culture_batch(technician)
    client.force_login(technician, backend=BACKEND)
    url = reverse("batches:harvest_create", args=[batch.pk])
    response = client.post(
        url,
        {
            "harvested_at": (timezone.localtime() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
            "volume_ml": "250",
            "medium": "serum_free",
        },
    )
    assert response.status_code == 302

    harvest = batch.harvests.get()
    (created,) = AuditEvent.objects.tracks(harvest)
    moved = last_update(batch)
    assert created.reason == "Created"
    assert moved.reason == "Conditioned medium harvested"
    assert moved.pgh_diff["status"] == ["in_culture", "harvested"]
    for event in (created, moved):
        assert (event.username, event.url) == ("tess.tech", url)


def test_a_write_after_an_audited_block_is_not_attributed_to_it(technician):
    donor = factories.donor(technician)
    with audit_context(actor=technician, reason="First fix"):
        Donor.objects.filter(pk=donor.pk).update(notes="one")
    with transaction.atomic():
        with audit_context(actor=technician, reason="Second fix"):
            Donor.objects.filter(pk=donor.pk).update(notes="two")
        Donor.objects.filter(pk=donor.pk).update(notes="three")

    event = last_update(donor)
    assert event.pgh_diff == {"notes": ["two", "three"]}
    assert (event.reason, event.username) == (None, None)
