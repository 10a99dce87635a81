"""Least privilege in the database: the application's login cannot bend the audit trail.

Two roles (21 CFR 11.10(d) limiting system access; EU GMP Annex 11 §12.1): migrations run as the
database *owner*; the application runs as an *app role* that is neither owner nor superuser.
``grant_app_role`` gives the app role exactly what the application needs:

* event tables, ``pghistory_context``, the audit chain, signatures and the security log:
  SELECT and INSERT
  (``pghistory_context`` also UPDATE, which pghistory's upsert of a transaction's context uses,
  held to that transaction by the guard below);
* every audited (GMP) table: SELECT, INSERT, UPDATE, never DELETE or TRUNCATE;
* the rest (sessions, sign-in attempts, idempotency claims, many-to-many links such as a
  person's roles, whose additions and removals are audited): what Django needs, DELETE
  included.

Not owning the tables, the app role cannot ``ALTER TABLE … DISABLE TRIGGER`` nor replace a
trigger function, and it cannot ``SET session_replication_role`` (superuser only). Two functions
close what a session variable could open:

* ``_pgtrigger_should_ignore`` (django-pgtrigger's switch behind ``pgtrigger.ignore``) honours
  ``pgtrigger.ignore`` only in a session of the owner or a superuser (re-installed after every
  migrate, since each pgtrigger installation replaces it);
* ``lims_context_guard`` keeps who and why of committed events as they were: a context row is
  updated only in the transaction that created it, never deleted or truncated.
"""

from __future__ import annotations

from django.apps import apps
from django.db import connections
from pghistory.models import Event
from psycopg import sql

PRIVILEGED = """
CREATE OR REPLACE FUNCTION public.lims_session_is_privileged() RETURNS BOOLEAN AS $$
    SELECT coalesce((SELECT rolsuper FROM pg_roles WHERE rolname = session_user), FALSE)
        OR pg_has_role(
            session_user,
            (SELECT datdba FROM pg_database WHERE datname = current_database()),
            'MEMBER'
        );
$$ LANGUAGE sql STABLE;
"""

# django-pgtrigger's own function (compiler.UpsertTriggerSql template), with two changes: the
# session variable is honoured only for the owner or a superuser, and it is read with
# current_setting's missing_ok instead of an EXCEPTION block (see ATTACH_CONTEXT).
SHOULD_IGNORE = """
CREATE OR REPLACE FUNCTION "public"._pgtrigger_should_ignore(trigger_name NAME)
RETURNS BOOLEAN AS $$
    DECLARE
        _pgtrigger_ignore TEXT[];
    BEGIN
        IF NOT public.lims_session_is_privileged() THEN
            RETURN FALSE;
        END IF;
        -- Read without an EXCEPTION block: one would open a subtransaction per audited row,
        -- and rolling it back (the setting unset) scans every deferred foreign-key check queued
        -- so far in the transaction, which made a bulk write quadratic (issue 14 item 4).
        _pgtrigger_ignore := NULLIF(CURRENT_SETTING('pgtrigger.ignore', TRUE), '')::TEXT[];
        IF _pgtrigger_ignore IS NOT NULL THEN
            RETURN trigger_name = ANY(_pgtrigger_ignore);
        END IF;
        RETURN FALSE;
    END;
$$ LANGUAGE plpgsql;
"""

# django-pghistory's own function (Context.install_pgh_attach_context_func), which every audit
# trigger calls once per row, with one change: the session variables are read with
# current_setting's missing_ok instead of an EXCEPTION block. Unset, or '' as audit_context leaves
# them after its block, they raised inside that block, and each raise rolled back a subtransaction:
# PostgreSQL then scans every deferred trigger event queued so far in the transaction (the
# DEFERRABLE foreign-key checks, one per key per row), so the n-th row of a bulk insert paid for
# the n-1 before it (generate_history's 93,510 results: 626 s, 149 rows/s; issue 14 item 4).
ATTACH_CONTEXT = """
CREATE OR REPLACE FUNCTION public._pgh_attach_context() RETURNS UUID AS $$
    DECLARE
        _pgh_context_id UUID;
        _pgh_context_metadata JSONB;
    BEGIN
        _pgh_context_id := NULLIF(CURRENT_SETTING('pghistory.context_id', TRUE), '')::UUID;
        _pgh_context_metadata := NULLIF(
            CURRENT_SETTING('pghistory.context_metadata', TRUE), ''
        )::JSONB;
        IF _pgh_context_id IS NOT NULL AND _pgh_context_metadata IS NOT NULL THEN
            INSERT INTO pghistory_context (id, metadata, created_at, updated_at)
                VALUES (_pgh_context_id, _pgh_context_metadata, NOW(), NOW())
                ON CONFLICT (id) DO UPDATE
                    SET metadata = EXCLUDED.metadata,
                        updated_at = EXCLUDED.updated_at
                    WHERE pghistory_context.metadata != EXCLUDED.metadata;
            RETURN _pgh_context_id;
        END IF;
        RETURN NULL;
    END;
$$ LANGUAGE plpgsql;
"""

CONTEXT_GUARD = """
CREATE OR REPLACE FUNCTION public.lims_context_guard() RETURNS TRIGGER AS $$
    BEGIN
        -- The owner may repair or empty a test database, as pgtrigger.ignore allows elsewhere.
        IF public.lims_session_is_privileged()
           AND coalesce(current_setting('pgtrigger.ignore', TRUE), '') NOT IN ('', '{}') THEN
            IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
            RETURN NEW;
        END IF;
        IF TG_OP = 'UPDATE' AND OLD.id = NEW.id AND OLD.created_at = NEW.created_at
           AND OLD.created_at = now() THEN
            RETURN NEW;  -- pghistory's upsert, in the transaction that created the row
        END IF;
        RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege', MESSAGE =
            'pghistory_context is append-only: who and why of a committed event never change ('
            || TG_OP || ' refused)';
    END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS lims_context_guard ON pghistory_context;
CREATE TRIGGER lims_context_guard BEFORE UPDATE OR DELETE ON pghistory_context
    FOR EACH ROW EXECUTE FUNCTION public.lims_context_guard();
DROP TRIGGER IF EXISTS lims_context_no_truncate ON pghistory_context;
CREATE TRIGGER lims_context_no_truncate BEFORE TRUNCATE ON pghistory_context
    FOR EACH STATEMENT EXECUTE FUNCTION public.lims_context_guard();
"""


def install_guards(using: str = "default") -> None:
    """(Re)install the functions and the context guard; idempotent (run after every migrate)."""
    with connections[using].cursor() as cur:
        cur.execute(PRIVILEGED)
        cur.execute(SHOULD_IGNORE)
        cur.execute(ATTACH_CONTEXT)
        cur.execute(CONTEXT_GUARD)


def _table_classes() -> tuple[set[str], set[str]]:
    """(append-only tables, audited GMP tables)."""
    events = [m for m in apps.get_models() if issubclass(m, Event) and not m._meta.proxy]
    append_only = {m._meta.db_table for m in events if m._meta.managed}
    append_only |= {"pghistory_context", "lims_auditseal", "lims_auditchaincheck"}
    append_only |= {"lims_signature", "lims_securityevent"}
    tracked = [getattr(m, "pgh_tracked_model", None) for m in events]
    # A many-to-many link (a person's roles, lims.models.UserRole) is taken away by deleting its
    # row: the app role keeps DELETE there, and the trigger records each deletion with who and
    # why in the link's append-only event table.
    audited = {
        t._meta.db_table
        for t in tracked
        if t is not None and not t._meta.concrete_model._meta.auto_created
    }
    return append_only, audited - append_only


def grant_app_role(role: str, using: str = "default", *, password: str | None = None) -> None:
    """Create the app role if it does not exist (LOGIN, not superuser, owns nothing) and give it
    exactly the privileges above. Run by the owner; idempotent."""
    append_only, audited = _table_classes()
    ident = sql.Identifier(role)
    with connections[using].cursor() as cur:
        cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
        if cur.fetchone() is None:
            create = sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE").format(
                ident
            )
            if password:
                create = sql.SQL("{} PASSWORD {}").format(create, sql.Literal(password))
            cur.execute(create)
        cur.execute("SELECT current_database()")
        database = sql.Identifier(cur.fetchone()[0])
        cur.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(database, ident))
        cur.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(ident))
        cur.execute(sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {}").format(ident))
        cur.execute(
            sql.SQL("GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {}").format(
                ident
            )
        )
        cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        for (table,) in cur.fetchall():
            if table in append_only:
                rights = "SELECT, INSERT" + (", UPDATE" if table == "pghistory_context" else "")
            elif table in audited:
                rights = "SELECT, INSERT, UPDATE"
            else:
                rights = "SELECT, INSERT, UPDATE, DELETE"
            cur.execute(
                sql.SQL("GRANT {} ON TABLE {} TO {}").format(
                    sql.SQL(rights), sql.Identifier(table), ident
                )
            )
        # Views (the audit trail's event view) are read.
        cur.execute("SELECT viewname FROM pg_views WHERE schemaname = 'public'")
        for (view,) in cur.fetchall():
            cur.execute(
                sql.SQL("GRANT SELECT ON TABLE {} TO {}").format(sql.Identifier(view), ident)
            )
