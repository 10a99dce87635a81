"""The app's database login cannot bend the audit trail (21 CFR 11.10(d), (e); EU GMP Annex 11
§12.1): every tamper of the finding, run as the app role (neither owner nor superuser), is
refused, and what it may still do leaves an event."""

import psycopg
import pytest
from django.db import connection

from lims import db_roles
from tests import factories
from tests.migrations import database
from tests.release.helpers import record_manual_run

pytestmark = pytest.mark.django_db(transaction=True)
ROLE = "lims_app_test"


@pytest.fixture
def as_app(technician):
    """A BCA run recorded through the services (committed), then a connection as the app role."""
    lot = factories.lot(technician)
    run = record_manual_run(technician, lot, "BCA", [("protein", 10.0)])
    db_roles.grant_app_role(ROLE)
    params = {**database.server_params(connection.settings_dict), "user": ROLE}
    params.pop("password", None)
    conn = psycopg.connect(dbname=connection.settings_dict["NAME"], autocommit=True, **params)
    yield conn, run
    conn.close()


def _refused(conn, *statements):
    with pytest.raises(psycopg.Error) as refused, conn.transaction():
        for statement in statements:
            conn.execute(statement)
    return str(refused.value)


def _events(conn, table, obj_id):
    return conn.execute(f"SELECT count(*) FROM {table} WHERE pgh_obj_id = %s", [obj_id]).fetchone()[
        0
    ]


def test_the_app_role_is_neither_owner_nor_superuser(as_app):
    conn, _ = as_app
    row = conn.execute(
        "SELECT rolsuper, public.lims_session_is_privileged() FROM pg_roles "
        "WHERE rolname = current_user"
    ).fetchone()
    assert row == (False, False)


def test_ignoring_the_append_only_trigger_does_not_open_the_event_tables(as_app):
    conn, run = as_app
    result = run.results.first()
    ignore = "SET LOCAL pgtrigger.ignore = '{pgtrigger_append_only_update_a1c2e,x}'"
    assert "permission denied" in _refused(
        conn, ignore, f"UPDATE assays_resultevent SET value = 0 WHERE pgh_obj_id = {result.pk}"
    )
    assert "permission denied" in _refused(
        conn, ignore, f"DELETE FROM assays_resultevent WHERE pgh_obj_id = {result.pk}"
    )
    assert "permission denied" in _refused(conn, "TRUNCATE assays_resultevent")


def test_an_update_with_the_audit_trigger_ignored_still_leaves_an_event(as_app):
    conn, run = as_app
    result = run.results.first()
    triggers = [
        r[0]
        for r in conn.execute(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = 'assays_result'::regclass "
            "AND NOT tgisinternal"
        )
    ]
    before = _events(conn, "assays_resultevent", result.pk)
    with conn.transaction():
        conn.execute(f"SET LOCAL pgtrigger.ignore = '{{{','.join(triggers)}}}'")
        conn.execute(f"UPDATE assays_result SET value = value * 10 WHERE id = {result.pk}")
    assert _events(conn, "assays_resultevent", result.pk) == before + 1
    # The control: the same ignore list in the owner's session does skip the audit trigger
    # (what the app role could do before), so the list above names the right triggers.
    owner = psycopg.connect(
        dbname=connection.settings_dict["NAME"],
        autocommit=True,
        **database.server_params(connection.settings_dict),
    )
    with owner, owner.transaction():
        owner.execute(f"SET LOCAL pgtrigger.ignore = '{{{','.join(triggers)}}}'")
        owner.execute(f"UPDATE assays_result SET value = value * 10 WHERE id = {result.pk}")
    assert _events(conn, "assays_resultevent", result.pk) == before + 1


def test_who_and_why_of_committed_events_never_change(as_app):
    conn, _ = as_app
    message = _refused(
        conn,
        'UPDATE pghistory_context SET metadata = metadata || \'{"username": "quinn.qa"}\' '
        "WHERE metadata->>'username' IS NOT NULL",
    )
    assert "append-only" in message
    assert "permission denied" in _refused(conn, "DELETE FROM pghistory_context")
    assert "permission denied" in _refused(conn, "TRUNCATE pghistory_context")


def test_no_way_around_the_triggers_from_a_session(as_app):
    conn, _ = as_app
    assert "must be owner" in _refused(conn, "ALTER TABLE assays_resultevent DISABLE TRIGGER ALL")
    assert "permission denied" in _refused(conn, "SET session_replication_role = replica")
    assert "permission denied" in _refused(
        conn,
        "CREATE OR REPLACE FUNCTION public._pgtrigger_should_ignore(trigger_name NAME) "
        "RETURNS BOOLEAN AS $$ SELECT TRUE $$ LANGUAGE sql",
    )


def test_gmp_records_are_never_deleted_by_the_app_role(as_app):
    conn, run = as_app
    assert "permission denied" in _refused(conn, f"DELETE FROM assays_assayrun WHERE id = {run.pk}")
    assert "permission denied" in _refused(conn, "TRUNCATE batches_exosomelot CASCADE")


def test_the_owner_still_may_skip_a_trigger_deliberately(technician):
    """The owner's pgtrigger.ignore keeps working (repairs, the tests' flush)."""
    with connection.cursor() as cur:
        cur.execute("SELECT public.lims_session_is_privileged()")
        assert cur.fetchone()[0] is True


def test_the_security_log_is_append_only_for_the_app_role(as_app):
    """Failed sign-ins and lockouts (21 CFR 11.300(d), lims.signin) are written by the app role
    and never changed by it; its working counters (django-axes) it may clear, as an unlock does."""
    conn, _ = as_app
    conn.execute(
        "INSERT INTO lims_securityevent (at, kind, username, path, lock, reason) "
        "VALUES (now(), 'sign_in_failed', 'qa', '/accounts/login/', '', '')"
    )
    assert "permission denied" in _refused(conn, "UPDATE lims_securityevent SET username = 'x'")
    assert "permission denied" in _refused(conn, "DELETE FROM lims_securityevent")
    assert "permission denied" in _refused(conn, "TRUNCATE lims_securityevent")
    conn.execute("DELETE FROM axes_accessattempt WHERE username = 'qa'")
