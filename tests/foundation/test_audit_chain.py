"""The audit chain (21 CFR 11.10(e); EU GMP Annex 11 §9): every event sealed with a hash
chained to the one before; a change made afterwards, even by a superuser behind the triggers'
back, is reported at the first broken link, by `manage.py audit_verify` and on the audit page."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction
from django.urls import reverse

from lims import audit_chain
from lims.models import AuditChainCheck, AuditSeal
from tests import factories
from tests.release.helpers import record_manual_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def recorded(technician):
    """A lot and a BCA run with its results: events in several event tables."""
    lot = factories.lot(technician)
    run = record_manual_run(technician, lot, "BCA", [("protein", 10.0)])
    return lot, run


def _behind_the_triggers(sql, params=()):
    """What a database superuser can do: skip every trigger for the session."""
    with connection.cursor() as cur:
        cur.execute("SET LOCAL session_replication_role = replica")
        cur.execute(sql, params)
        cur.execute("SET LOCAL session_replication_role = DEFAULT")


def test_events_are_sealed_once_in_order_and_the_chain_verifies(recorded):
    sealed = audit_chain.seal()
    assert sealed > 10
    assert audit_chain.seal() == 0  # nothing new: sealing again adds nothing
    tables = set(AuditSeal.objects.values_list("event_table", flat=True))
    assert {"assays_resultevent", "batches_exosomelotevent"} <= tables
    report = audit_chain.verify()
    assert report.intact and report.links == sealed
    assert report.head == AuditSeal.objects.order_by("-id").first().hash


def test_an_event_changed_behind_the_triggers_is_the_first_broken_link(recorded):
    audit_chain.seal()
    _, run = recorded
    result = run.results.order_by("pk").first()
    _behind_the_triggers(
        "UPDATE assays_resultevent SET value = value * 10 WHERE pgh_obj_id = %s", [result.pk]
    )
    event_id = (
        AuditSeal.objects.filter(event_table="assays_resultevent")
        .order_by("id")
        .values_list("event_id", flat=True)
    )
    report = audit_chain.verify()
    assert not report.intact
    assert report.first_break.startswith("assays_resultevent #")
    assert int(report.first_break.split("#")[1].split(":")[0]) in set(event_id)
    with pytest.raises(CommandError, match="Audit chain BROKEN"):
        call_command("audit_verify")
    assert AuditChainCheck.objects.latest().intact is False


def test_who_and_why_changed_afterwards_breaks_the_chain(recorded, client, make_user):
    audit_chain.seal()
    # The finding: one UPDATE of pghistory_context made a technician's action read as QA's.
    _behind_the_triggers(
        'UPDATE pghistory_context SET metadata = metadata || \'{"username": "quinn.qa"}\' '
        "WHERE metadata->>'username' IS NOT NULL"
    )
    report = audit_chain.verify()
    assert not report.intact and "context changed" in report.first_break
    audit_chain.check()
    client.force_login(make_user("qa"))
    page = client.get(reverse("audit_trail")).content.decode()
    assert "Audit chain broken" in page and report.first_break in page


def test_a_deleted_event_breaks_the_chain(recorded):
    audit_chain.seal()
    first = AuditSeal.objects.filter(event_table="assays_resultevent").order_by("id").first()
    _behind_the_triggers("DELETE FROM assays_resultevent WHERE pgh_id = %s", [first.event_id])
    report = audit_chain.verify()
    assert report.first_break == f"assays_resultevent #{first.event_id}: the event is gone"


def test_the_seals_are_append_only(recorded):
    audit_chain.seal()
    seal = AuditSeal.objects.first()
    for attempt in (
        lambda: AuditSeal.objects.filter(pk=seal.pk).update(hash="0" * 64),
        lambda: AuditSeal.objects.filter(pk=seal.pk).delete(),
    ):
        with pytest.raises(DatabaseError), transaction.atomic():
            attempt()


def test_the_audit_page_shows_an_intact_chain(recorded, client, make_user):
    call_command("audit_verify")
    check = AuditChainCheck.objects.latest()
    assert check.intact and check.links > 0
    client.force_login(make_user("qa"))
    page = client.get(reverse("audit_trail")).content.decode()
    assert f"{check.links} events sealed, intact" in page
