"""A provable audit chain: every audit event sealed with a hash chained to the one before.

pghistory's triggers write each event in the transaction that made the change; a periodic task
(lims.tasks.seal_audit_trail) seals the events committed since it last ran, in order, into
``AuditSeal``: hash_n = SHA-256(hash_{n-1}, event table, event id, the event row, its context's
id and who/why). ``verify`` recomputes every link from the rows as they are now: an event or a
context changed or deleted afterwards, even by a database superuser behind the triggers' back,
breaks the chain at that link, and the first break is reported (21 CFR 11.10(e): audit trails
that cannot be altered without detection; EU GMP Annex 11 §9).

The rows are hashed as PostgreSQL's ``to_jsonb(row)::text`` with the session's time zone fixed
to UTC, so the text is the same on every server and client. A context's metadata is hashed, not
its ``updated_at``: pghistory re-upserts a context row in every transaction of a request with
the same metadata. What a chain alone cannot show is a rewrite of the whole chain from the
tampered link on; the head hash of each verification is recorded (``AuditChainCheck``) and shown
on the audit page, so a rewrite also contradicts the heads recorded before it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

from django.apps import apps
from django.db import connection, transaction
from pghistory.models import Event

from lims.models import AuditChainCheck, AuditSeal

GENESIS = "0" * 64
_LOCK = 0x4C494D53  # pg_advisory_xact_lock key: one sealer at a time ("LIMS")
_BATCH = 5000


def event_tables() -> list[str]:
    """The table of every pghistory event model (every audited model has one)."""
    return sorted(
        m._meta.db_table
        for m in apps.get_models()
        if issubclass(m, Event) and not m._meta.proxy and m._meta.managed
    )


def link_hash(previous: str, table: str, event_id: int, event: str, context: str) -> str:
    text = "\n".join([previous, table, str(event_id), event, context])
    return hashlib.sha256(text.encode()).hexdigest()


_CONTENT = """
    SELECT e.pgh_id, to_jsonb(e)::text,
           coalesce(c.id::text, '') || ' ' || coalesce(c.metadata::text, ''),
           e.pgh_created_at
    FROM "{table}" e LEFT JOIN pghistory_context c ON c.id = e.pgh_context_id
"""


def _utc(cursor) -> None:
    cursor.execute("SET LOCAL TimeZone = 'UTC'")


def head_in(cursor) -> str:
    """The hash of the last link, read through `cursor` (e.g. inside a backup's snapshot)."""
    cursor.execute(f"SELECT hash FROM {AuditSeal._meta.db_table} ORDER BY id DESC LIMIT 1")
    row = cursor.fetchone()
    return row[0] if row else GENESIS


@transaction.atomic
def seal() -> int:
    """Seal every committed event not sealed yet; returns how many. One sealer at a time."""
    seals = AuditSeal._meta.db_table
    with connection.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK])
        _utc(cur)
        head = head_in(cur)
        pending: list[tuple] = []
        for table in event_tables():
            cur.execute(
                _CONTENT.format(table=table)
                + f"""WHERE NOT EXISTS (SELECT 1 FROM {seals} s
                        WHERE s.event_table = %s AND s.event_id = e.pgh_id)""",
                [table],
            )
            pending.extend((created, table, pk, event, ctx) for pk, event, ctx, created in cur)
        pending.sort(key=lambda p: (p[0], p[1], p[2]))
        rows = []
        for _, table, pk, event, ctx in pending:
            head = link_hash(head, table, pk, event, ctx)
            rows.append(AuditSeal(event_table=table, event_id=pk, hash=head))
    AuditSeal.objects.bulk_create(rows, batch_size=_BATCH)
    return len(rows)


@dataclass(frozen=True)
class ChainReport:
    intact: bool
    links: int
    head: str
    first_break: str = ""


def _links(cur) -> Iterator[tuple[str, int, str]]:
    cur.execute(f"SELECT event_table, event_id, hash FROM {AuditSeal._meta.db_table} ORDER BY id")
    yield from cur.fetchall()


def verify() -> ChainReport:
    """Recompute every link from the rows as they are now; the first broken one is reported."""
    head, links = GENESIS, 0
    with transaction.atomic(), connection.cursor() as cur:
        _utc(cur)
        chain = list(_links(cur))
        contents: dict[str, dict[int, tuple[str, str]]] = {}
        for table in sorted({t for t, _, _ in chain}):
            cur.execute(_CONTENT.format(table=table))
            contents[table] = {pk: (event, ctx) for pk, event, ctx, _ in cur}
    for table, event_id, stored in chain:
        row = contents.get(table, {}).get(event_id)
        if row is None:
            return ChainReport(False, links, head, f"{table} #{event_id}: the event is gone")
        head = link_hash(head, table, event_id, *row)
        if head != stored:
            return ChainReport(
                False, links, head, f"{table} #{event_id}: the event or its context changed"
            )
        links += 1
    return ChainReport(True, links, head)


def check() -> AuditChainCheck:
    """Seal what is new, verify the whole chain and record the result (the periodic task)."""
    seal()
    report = verify()
    return AuditChainCheck.objects.create(
        intact=report.intact,
        links=report.links,
        head=report.head,
        first_break=report.first_break,
    )
