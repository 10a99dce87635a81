"""The audit trail (21 CFR 11.10(e), EU GMP Annex 11 §9).

Every GMP model is tracked by django-pghistory: PostgreSQL triggers copy each inserted,
updated or deleted row into an event table, whatever the write path (ORM save, bulk_create,
queryset.update(), raw SQL, admin, a Celery worker). The event tables are append-only in the
database: UPDATE, DELETE and TRUNCATE on them raise.

Who and why travel in pghistory's context, a per-transaction PostgreSQL variable joined to every
event: the middleware names the signed-in user and the URL, services add the reason and, for
machine writes, the instrument.
"""

import uuid
from contextlib import contextmanager

import pghistory
import pgtrigger
import psycopg
from django.db import connection, models
from pghistory import runtime as pghistory_runtime
from pghistory.middleware import HistoryMiddleware


class RefuseTruncate(pgtrigger.Trigger):
    """Refuse TRUNCATE, which row-level triggers never see."""

    when = pgtrigger.Before
    operation = pgtrigger.Truncate
    level = pgtrigger.Statement

    def get_func(self, model):
        return (
            "RAISE EXCEPTION 'pgtrigger: Cannot truncate the append-only table %', TG_TABLE_NAME;"
        )


def trail_order_index() -> models.Index:
    """The index the trail pages are read by, newest first (lims.audit_pages): one per event
    table, a new instance each (Django names it after its model)."""
    return models.Index(fields=["pgh_created_at", "pgh_id"])


def audited(**kwargs):
    """Class decorator: track inserts, updates and deletes of a GMP model, append-only."""
    meta = kwargs.pop("meta", {})
    meta["triggers"] = [
        *meta.get("triggers", []),
        RefuseTruncate(name="append_only_truncate"),
    ]
    meta["indexes"] = [*meta.get("indexes", []), trail_order_index()]
    return pghistory.track(
        pghistory.InsertEvent(),
        pghistory.UpdateEvent(),
        pghistory.DeleteEvent(),
        append_only=True,
        meta=meta,
        **kwargs,
    )


@contextmanager
def audit_context(*, actor=None, instrument=None, reason: str = "", task: str = ""):
    """Attach who and why to every audited write inside the block.

    `actor` is the person who acted (or the system account); `instrument` the code of the
    instrument that measured, recorded beside the person, never instead of them; `task` names the
    background job when the system acts."""
    values = {}
    if actor is not None and getattr(actor, "pk", None) is not None:
        values["user"] = actor.pk
        values["username"] = actor.get_username()
    if instrument:
        values["instrument"] = str(instrument)
    if reason:
        values["reason"] = reason
    if task:
        values["task"] = task
    outer = getattr(pghistory_runtime._tracker, "value", None)
    if outer is not None:
        # Inside a request's context (the middleware's) pghistory would merge this block into
        # it, and the context row keeps only the last metadata written: a harvest's "Created"
        # would read as the batch move's reason that follows in the same request. This block's
        # events get their own context instead: the request's who and URL plus this reason.
        pghistory_runtime._tracker.value = pghistory_runtime.Context(
            id=uuid.uuid4(), metadata={**outer.metadata, **values}
        )
        try:
            yield
        finally:
            pghistory_runtime._tracker.value = outer
        return
    with pghistory.context(**values):
        yield
    _forget_context()


def _forget_context() -> None:
    """Clear the context variables pghistory set for the rest of the open transaction.

    They are transaction-local: without this, a later write in the same transaction made
    outside any audit_context would be attributed to the block that has just ended.
    """
    if not connection.in_atomic_block or connection.needs_rollback:
        return
    with connection.cursor() as cursor:
        if cursor.connection.info.transaction_status == psycopg.pq.TransactionStatus.INERROR:
            return
        cursor.execute(
            "SELECT set_config('pghistory.context_id', '', true), "
            "set_config('pghistory.context_metadata', '', true)"
        )


class AuditContextMiddleware(HistoryMiddleware):
    """pghistory's middleware, also naming the username (kept even if the user is renamed)."""

    def get_context(self, request):
        context = super().get_context(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            context["username"] = user.get_username()
        return context
