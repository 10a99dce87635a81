"""The global audit trail read a page at a time, at the cost of the page (issue 14).

pghistory's Events view is a UNION of every event table that computes each row's JSON, its
previous version and two diffs for every event before a LIMIT can apply: on ten years of a busy
site (two million events) a page took minutes. Here a page is read in two steps:

1. the keys of the page: from each event table, its newest rows under the filter, by the index
   on (pgh_created_at, pgh_id), LIMIT n+1 pushed into each branch, then merged (keyset
   pagination: the next page starts after the last row's (time, event model, id), never an
   OFFSET, and no exact count);
2. those rows only, with their JSON, previous version and context, in one query.

The CSV export is one query in a server-side cursor (trail_export), the same rows in the same
order, read a batch at a time: its memory and its number of queries do not grow with the trail.
"""

import json
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from lims.audit_trail import (
    _event_models,
    _event_models_of,
    _label,
    _with_parts,
    day_start,
    describe,
    family_of,
    records_with_code,
)
from lims.models import AuditEvent

PAGE_SIZE = 50
# Rows fetched at a time from the export's server-side cursor (its memory); the first fetch is
# small so that the first rows go out at once, whatever the export's length.
EXPORT_FETCH = 2000
EXPORT_FIRST_FETCH = 100
# Up to this many contexts of a person, the trail filters the event tables by their ids; past it,
# by a subquery on the context's username (the ids would outweigh the query).
CONTEXTS_INLINE = 2000
# The combined history of a lot or batch shows its latest events (the full trail page has
# every one of them, found by the record's code).
HISTORY_LIMIT = 200


@dataclass(frozen=True)
class Position:
    """Where a page ends: the last event's time, event model and id (the sort key)."""

    created_at: datetime
    event_model: str
    pgh_id: int

    def token(self) -> str:
        return f"{self.created_at.isoformat()}~{self.event_model}~{self.pgh_id}"

    @classmethod
    def parse(cls, token: str) -> "Position | None":
        """The position of a token, or None for one that cannot be read (the first page)."""
        match = re.fullmatch(r"(.+)~([\w.]+)~(\d+)", token or "")
        if not match:
            return None
        try:
            created_at = datetime.fromisoformat(match[1])
        except ValueError:
            return None
        if timezone.is_naive(created_at):
            return None
        return cls(created_at, match[2], int(match[3]))


@dataclass
class Branch:
    """One event table and the conditions its rows must meet (SQL with its parameters)."""

    model: Any
    conditions: list[str]
    params: list[Any]


def _contexts_of(username: str) -> list[str]:
    """The transaction contexts recorded with `username`, by the expression index on it (lims
    migration 0011), at most CONTEXTS_INLINE + 1 of them."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id::text FROM pghistory_context WHERE metadata->>'username' = %s LIMIT %s",
            [username, CONTEXTS_INLINE + 1],
        )
        return [row[0] for row in cursor.fetchall()]


def _integer_pk(model) -> bool:
    return model._meta.pk.get_internal_type() in {"AutoField", "BigAutoField", "IntegerField"}


def branches(data: dict) -> list[Branch]:
    """The event tables to read and their conditions, from the trail form's cleaned data."""
    models = [m for m in _event_models() if hasattr(m, "pgh_obj_id")]
    if data.get("model"):
        models = [m for m in models if _label(m.pgh_tracked_model) == data["model"]]
    pks_of: dict[Any, list] | None = None  # None: any record of the model
    value = (data.get("record") or "").strip()
    if value:
        members = records_with_code(value, data.get("model") or "")
        if data.get("parts") and members:
            members = _with_parts(members)
        elif re.fullmatch(r"\d+", value):
            # A database id, as the trail has always taken (of any record type).
            pks_of = {}
            for m in models:
                ids = set(members.get(m.pgh_tracked_model, set()))
                if _integer_pk(m.pgh_tracked_model):
                    ids.add(value)
                pks_of[m] = sorted(ids)
            members = {}
        if members:
            wanted = set(_event_models_of(members))
            models = [m for m in models if m in wanted]
            pks_of = {m: sorted(members[m.pgh_tracked_model]) for m in models}
        elif pks_of is None:
            return []  # no record has this code
    common: list[str] = []
    common_params: list[Any] = []
    if data.get("username"):
        contexts = _contexts_of(data["username"])
        if not contexts:
            return []  # nobody of that name ever wrote anything
        if len(contexts) <= CONTEXTS_INLINE:
            # The ids themselves, not a subquery: the planner weighs them against each event
            # table's statistics, so a table the person never wrote to (a technician's in the
            # results' million events) is read by its pgh_context_id index in a few probes
            # rather than walked newest-first to its end looking for their rows.
            common.append("pgh_context_id = ANY(%s::uuid[])")
            common_params.append(contexts)
        else:
            common.append(
                "pgh_context_id IN (SELECT id FROM pghistory_context "
                "WHERE metadata->>'username' = %s)"
            )
            common_params.append(data["username"])
    if data.get("since"):
        common.append("pgh_created_at >= %s")
        common_params.append(day_start(data["since"]))
    if data.get("until"):
        common.append("pgh_created_at < %s")
        common_params.append(day_start(data["until"] + timedelta(days=1)))
    found = []
    for m in models:
        conditions, params = list(common), list(common_params)
        if pks_of is not None:
            pks = [m.pgh_tracked_model._meta.pk.to_python(pk) for pk in pks_of.get(m, [])]
            if not pks:
                continue
            conditions.append("pgh_obj_id = ANY(%s)")
            params.append(pks)
        found.append(Branch(m, conditions, params))
    return found


def _after(branch: Branch, position: Position | None) -> tuple[str, list]:
    """The keyset condition of one branch: rows sorted after `position`, descending by
    (time, event model, id); the event model is a constant of the branch."""
    if position is None:
        return "", []
    label = branch.model._meta.label
    if label < position.event_model:
        return "pgh_created_at <= %s", [position.created_at]
    if label > position.event_model:
        return "pgh_created_at < %s", [position.created_at]
    return "(pgh_created_at, pgh_id) < (%s, %s)", [position.created_at, position.pgh_id]


def _keys(found: list[Branch], position: Position | None, limit: int) -> list[tuple]:
    selects, params = [], []
    for branch in found:
        conditions, values = list(branch.conditions), list(branch.params)
        keyset, keyset_params = _after(branch, position)
        if keyset:
            conditions.append(keyset)
            values += keyset_params
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        table = connection.ops.quote_name(branch.model._meta.db_table)
        selects.append(
            f"(SELECT pgh_created_at, %s::text AS event_model, pgh_id FROM {table} {where} "  # noqa: S608
            f"ORDER BY pgh_created_at DESC, pgh_id DESC LIMIT {int(limit)})"
        )
        params += [branch.model._meta.label, *values]
    if not selects:
        return []
    sql = (
        "SELECT * FROM (" + " UNION ALL ".join(selects) + ") page"
        f" ORDER BY pgh_created_at DESC, event_model DESC, pgh_id DESC LIMIT {int(limit)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _hydrate(keys: list[tuple], by_label: dict[str, Any]) -> list[AuditEvent]:
    """The events of `keys`, in their order, with data, diff and context, in one query."""
    ids: dict[str, list[int]] = defaultdict(list)
    for _, label, pgh_id in keys:
        ids[label].append(pgh_id)
    selects: list[str] = []
    params: list[Any] = []
    for label, pks in ids.items():
        table = connection.ops.quote_name(by_label[label]._meta.db_table)
        selects.append(
            f"SELECT %s::text, e.pgh_id, row_to_json(e)::jsonb, "  # noqa: S608
            f"(SELECT row_to_json(p)::jsonb FROM {table} p WHERE p.pgh_obj_id = e.pgh_obj_id "
            f"AND p.pgh_id < e.pgh_id ORDER BY p.pgh_id DESC LIMIT 1), c.metadata "
            f"FROM {table} e LEFT JOIN pghistory_context c ON c.id = e.pgh_context_id "
            f"WHERE e.pgh_id = ANY(%s)"
        )
        params += [label, pks]
    rows: dict[tuple[str, int], tuple] = {}
    if selects:
        with connection.cursor() as cursor:
            cursor.execute(" UNION ALL ".join(selects), params)
            for label, pgh_id, current, previous, context in cursor.fetchall():
                # Django reads jsonb as text (its JSONField decodes); so does this.
                rows[(label, pgh_id)] = (_json(current), _json(previous), _json(context))
    events = []
    for created_at, label, pgh_id in keys:
        current, previous, context = rows[(label, pgh_id)]
        events.append(_event(by_label[label], created_at, pgh_id, current, previous, context))
    return events


def _json(value):
    return json.loads(value) if isinstance(value, str | bytes) else value


def _event(model, created_at, pgh_id, current: dict, previous, context) -> AuditEvent:
    """An AuditEvent as pghistory's Events view makes it: data without the pgh_ columns, the
    diff against the previous event of the same record."""
    data = {k: v for k, v in current.items() if not k.startswith("pgh_")}
    diff = None
    if previous is not None:
        diff = {
            k: [previous[k], v]
            for k, v in data.items()
            if k in previous and previous[k] != v and not k.startswith("pgh_")
        } or None
    context = context or {}
    user = context.get("user")
    return AuditEvent(
        pgh_slug=f"{model._meta.label}:{pgh_id}",
        pgh_model=model._meta.label,
        pgh_id=pgh_id,
        pgh_created_at=created_at,
        pgh_label=current["pgh_label"],
        pgh_data=data,
        pgh_diff=diff,
        pgh_context_id=current.get("pgh_context_id"),
        pgh_context=context or None,
        pgh_obj_model=_label(model.pgh_tracked_model),
        pgh_obj_id=str(current["pgh_obj_id"]),
        user_id=int(user) if isinstance(user, int | str) and str(user).isdigit() else None,
        username=context.get("username"),
        instrument=context.get("instrument"),
        reason=context.get("reason"),
        task=context.get("task"),
        url=context.get("url"),
    )


def trail_page(
    found: list[Branch], position: Position | None = None, limit: int = PAGE_SIZE
) -> tuple[list[AuditEvent], Position | None]:
    """A page of the trail, newest first, after `position`; and where the next page starts
    (None on the last page). Two queries, whatever the trail's length."""
    keys = _keys(found, position, limit + 1)
    more = len(keys) > limit
    keys = keys[:limit]
    events = _hydrate(keys, {b.model._meta.label: b.model for b in found})
    following = Position(*keys[-1]) if more and keys else None
    return events, following


# The export's columns, in the CSV's order but for the action (pgh_label, named in Python as on
# the page) and with time_utc as Python's isoformat writes it.
EXPORT_COLUMNS = (
    "time_utc",
    "record_model",
    "record_id",
    "pgh_label",
    "username",
    "instrument",
    "reason",
    "changes",
    "task",
)


def _data(model, alias: str) -> str:
    """An event's record as jsonb, without the pgh_ columns: what row_to_json(…)::jsonb less
    those keys is (_hydrate, _event), built from the columns themselves, which PostgreSQL does
    in about two thirds of the time. jsonb_build_object takes at most 100 arguments: the
    columns go 40 at a time, the objects joined by ||."""
    columns = [f.column for f in model._meta.concrete_fields if not f.column.startswith("pgh_")]
    parts = []
    for start in range(0, len(columns), 40):
        pairs = ", ".join(
            f"'{column}', {alias}.{connection.ops.quote_name(column)}"
            for column in columns[start : start + 40]
        )
        parts.append(f"jsonb_build_object({pairs})")
    return " || ".join(parts) if parts else "'{}'::jsonb"


def _export_select(branch: Branch) -> tuple[str, list]:
    """One event table's rows for the export, already reduced to the CSV's columns (text only:
    nothing for the driver to decode): the context's who / instrument / why / task, and the
    change as the page shows it, an update's diff against the record's previous event (the same
    previous event as _hydrate's), otherwise the row without its pgh_ columns; as jsonb, whose
    key order the page's rows have (they are read through jsonb too)."""
    table = connection.ops.quote_name(branch.model._meta.db_table)
    where = f"WHERE {' AND '.join(branch.conditions)}" if branch.conditions else ""
    # The previous event is read for an update only (CASE evaluates the branch it takes);
    # jsonb_object_agg over no change is NULL, as the page's diff is None.
    sql = (
        # isoformat: no fraction when the microseconds are 0.
        "(SELECT e.pgh_created_at, %s::text AS event_model, e.pgh_id, "  # noqa: S608
        "replace(to_char(e.pgh_created_at AT TIME ZONE 'UTC', "
        "'YYYY-MM-DD\"T\"HH24:MI:SS.US'), '.000000', '') || '+00:00' AS time_utc, "
        "%s::text AS record_model, e.pgh_obj_id::text AS record_id, e.pgh_label, "
        "c.metadata->>'username' AS username, c.metadata->>'instrument' AS instrument, "
        "c.metadata->>'reason' AS reason, "
        "CASE WHEN e.pgh_label = 'update' THEN ("
        "SELECT jsonb_object_agg(n.key, jsonb_build_array(o.value, n.value)) "
        f"FROM jsonb_each({_data(branch.model, 'e')}) n "
        f"JOIN jsonb_each((SELECT {_data(branch.model, 'p')} FROM {table} p "
        "WHERE p.pgh_obj_id = e.pgh_obj_id AND p.pgh_id < e.pgh_id "
        "ORDER BY p.pgh_id DESC LIMIT 1)) o ON o.key = n.key WHERE o.value <> n.value) "
        f"ELSE {_data(branch.model, 'e')} END::text AS changes, c.metadata->>'task' AS task "
        f"FROM {table} e LEFT JOIN pghistory_context c ON c.id = e.pgh_context_id {where} "
        "ORDER BY e.pgh_created_at DESC, e.pgh_id DESC)"
    )
    params = [
        branch.model._meta.label,
        _label(branch.model.pgh_tracked_model),
        *branch.params,
    ]
    return sql, params


def trail_export(found: list[Branch], fetch: int | None = None):
    """Every event under the filter, newest first in the page's order, in batches of rows of
    EXPORT_COLUMNS: one query whatever the trail's length, streamed.

    The query runs in a server-side cursor (DECLARE … CURSOR, then FETCH a batch at a time), so
    memory is one batch and the first rows come as soon as PostgreSQL has them: it plans a
    cursor for its first rows (cursor_tuple_fraction), each event table read newest first by
    its (pgh_created_at, pgh_id) index and merged (Merge Append). The transaction is opened
    here, in the generator the response streams: outside one, Django declares the cursor WITH
    HOLD, and PostgreSQL then computes every row before the first FETCH (issue 14: 186 s to the
    first row). One statement is one snapshot: the export is the trail as it was when it began,
    however long it takes to read."""
    if not found:
        return
    selects, params = [], []
    for branch in found:
        sql, values = _export_select(branch)
        selects.append(sql)
        params += values
    sql = (
        f"SELECT {', '.join(EXPORT_COLUMNS)} FROM ("  # noqa: S608
        + " UNION ALL ".join(selects)
        + ") export ORDER BY pgh_created_at DESC, event_model DESC, pgh_id DESC"
    )
    size = EXPORT_FIRST_FETCH
    with transaction.atomic(), connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(size):
            yield rows
            size = fetch or EXPORT_FETCH


def python_json(text: str | None) -> str:
    """jsonb's text as Python's json.dumps writes the value it decodes to (the export has
    always written that: json.dumps of the jsonb read back), without decoding it where it is
    the same.

    Both write ", " and ": ", keys in the jsonb's order, and the same escapes for \\, \" and
    control characters. They differ only on characters past ASCII (and DEL), which Python
    escapes (ensure_ascii), and on decimal numbers, which jsonb writes as numeric ("5.000") and
    Python as the float they decode to ("5.0", "1e-05"); integers are written alike, and jsonb
    never writes an exponent. So the text is kept when it is ASCII and every decimal in it is
    already its float's repr; any doubt takes json's own round trip (the same result, several
    times slower)."""
    if text is None:
        return "null"
    if text.isascii() and "\x7f" not in text and _decimals_are_floats(text):
        return text
    return json.dumps(json.loads(text))


def _decimals_are_floats(text: str) -> bool:
    """Whether every run of digits with a point in `text` (the numbers, and more: the same in
    strings) reads as a float whose repr is that run. A scan from point to point, not a regular
    expression: there are one or two points in a row, and a regex walks every character."""
    end = len(text)
    dot = text.find(".")
    while dot != -1:
        if 0 < dot < end - 1 and text[dot - 1].isdigit() and text[dot + 1].isdigit():
            start = dot - 1
            while start > 0 and text[start - 1].isdigit():
                start -= 1
            if start > 0 and text[start - 1] == "-":
                start -= 1
            stop = dot + 1
            while stop < end and text[stop].isdigit():
                stop += 1
            number = text[start:stop]
            if repr(float(number)) != number:
                return False
        dot = text.find(".", dot + 1)
    return True


def history_of(obj, limit: int = HISTORY_LIMIT) -> tuple[list[AuditEvent], bool]:
    """The combined history of a record and its parts (lims.audit_trail.family_of), newest
    first, at most `limit` events, named; and whether older ones were left out.

    A page of the trail restricted to the family's records: each kind's event table read by its
    indexed object id, the newest `limit` of each merged, then those rows alone hydrated. Two
    queries (and one to name them) however many kinds, vials, runs or results the record has,
    never a scan of every event table (issue 14)."""
    family = family_of(obj)
    found = []
    for model in _event_models_of(family):
        if not hasattr(model, "pgh_obj_id"):
            continue
        to_python = model.pgh_tracked_model._meta.pk.to_python
        pks = sorted({to_python(pk) for pk in family[model.pgh_tracked_model]})
        found.append(Branch(model, ["pgh_obj_id = ANY(%s)"], [pks]))
    events, following = trail_page(found, None, limit)
    return describe(events), following is not None
