"""Scratch databases for the migration tests: create, restore a plain-SQL dump, look inside.

Everything here talks to PostgreSQL through psycopg, not Django's connections, so it works
beside a test run (pytest-django's blocker only guards Django's connections) and needs no psql
binary: a fresh laptop running `make test` on the embedded server (pgserver) has none.
"""

import gzip
import re
from pathlib import Path
from urllib.parse import quote

import psycopg
from psycopg import sql

# --- Connecting --------------------------------------------------------------------------------


def server_params(settings_dict: dict) -> dict:
    """psycopg keyword arguments for the server of a Django database (no dbname)."""
    options = settings_dict.get("OPTIONS") or {}
    params = {
        # The embedded server's socket folder arrives as OPTIONS["host"] (its ?host= URL).
        "host": settings_dict.get("HOST") or options.get("host") or "",
        "port": str(settings_dict.get("PORT") or ""),
        "user": settings_dict.get("USER") or "",
        "password": settings_dict.get("PASSWORD") or "",
    }
    return {key: value for key, value in params.items() if value}


def database_url(settings_dict: dict, name: str) -> str:
    """A DATABASE_URL (as lims/settings.py reads it) for database `name` on the same server."""
    user = quote(settings_dict.get("USER") or "postgres")
    password = quote(settings_dict.get("PASSWORD") or "")
    host = server_params(settings_dict).get("host", "")
    if host.startswith("/"):  # a Unix socket folder (the embedded server)
        return f"postgresql://{user}:{password}@/{name}?host={quote(host)}"
    port = settings_dict.get("PORT") or 5432
    return f"postgresql://{user}:{password}@{host or '127.0.0.1'}:{port}/{name}"


def connect(params: dict, name: str, **kwargs) -> psycopg.Connection:
    return psycopg.connect(dbname=name, **params, **kwargs)


def create_database(params: dict, name: str) -> None:
    """A new empty database `name` (a leftover of an interrupted run is dropped first)."""
    drop_database(params, name)
    with connect(params, "postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))


def drop_database(params: dict, name: str) -> None:
    with connect(params, "postgres", autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


# --- Restoring a plain-SQL dump without psql ---------------------------------------------------

_COPY = re.compile(r"^COPY (.+) FROM stdin;$")
# psql meta-commands pg_dump writes (15.14+ and 16.10+: \restrict / \unrestrict, a guard against
# a hostile server); they mean nothing to the server and are skipped.
_META = re.compile(r"^\\(restrict|unrestrict)\b")
# Settings a newer pg_dump may write that PostgreSQL 15 and 16 do not know (pg_dump 17+).
_UNKNOWN_BEFORE_17 = {"SET transaction_timeout = 0;"}


def restore(params: dict, name: str, dump: Path) -> None:
    """Load a `pg_dump --format=plain` file (gzip or not) into database `name`, in one
    transaction: SQL through the simple query protocol, data through COPY FROM STDIN."""
    opener = gzip.open if dump.suffix == ".gz" else open
    with opener(dump, "rt", encoding="utf-8") as lines, connect(params, name) as conn:
        with conn.cursor() as cur:
            pending: list[str] = []

            def flush():
                text = "".join(pending).strip()
                if text:
                    cur.execute(text)  # no parameters: several statements at once are allowed
                pending.clear()

            for line in lines:
                stripped = line.rstrip("\n")
                copy = _COPY.match(stripped)
                if copy:
                    flush()
                    with cur.copy(f"COPY {copy.group(1)} FROM STDIN") as feed:
                        for row in lines:
                            if row == "\\.\n" or row == "\\.":
                                break
                            feed.write(row)
                        else:
                            raise ValueError(f"{dump}: COPY data of {copy.group(1)} never ends")
                elif _META.match(stripped):
                    continue
                elif stripped.startswith("\\"):
                    raise ValueError(f"{dump}: a psql meta-command this loader cannot run: {line}")
                elif stripped in _UNKNOWN_BEFORE_17:
                    continue
                else:
                    pending.append(line)
            flush()
        conn.commit()


# --- Looking inside ----------------------------------------------------------------------------

# Row text must be the same on every server and client: dates in ISO and UTC, floats exact.
_STABLE_TEXT = (
    "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; "
    "SET extra_float_digits = 1; SET bytea_output = 'hex'"
)


def row_counts(conn: psycopg.Connection) -> dict[str, int]:
    """Rows of every table of schema public."""
    tables = conn.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
    ).fetchall()
    return {
        table: conn.execute(
            sql.SQL("SELECT count(*) FROM public.{}").format(sql.Identifier(table))
        ).fetchone()[0]
        for (table,) in tables
    }


def columns_of(conn: psycopg.Connection, table: str) -> list[str]:
    return [
        name
        for (name,) in conn.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = 'public' AND table_name = %s ORDER BY ordinal_position",
            [table],
        )
    ]


def audit_tables(conn: psycopg.Connection) -> list[str]:
    """django-pghistory's event tables (found by their pgh_ columns, whatever app owns the
    model) and its context table."""
    events = [
        table
        for (table,) in conn.execute(
            "SELECT table_name FROM information_schema.columns WHERE table_schema = 'public' "
            "AND column_name IN ('pgh_id', 'pgh_created_at', 'pgh_label', 'pgh_obj_id') "
            "GROUP BY table_name HAVING count(*) = 4 ORDER BY table_name"
        )
    ]
    return [*events, "pghistory_context"]


def table_digest(
    conn: psycopg.Connection,
    table: str,
    columns: list[str],
    *,
    key: str | None = None,
    keys: set | None = None,
) -> str:
    """MD5 of the rows of `table` restricted to `columns`, in a server-independent order: any
    changed, added or removed row changes it (a column added later does not). With `key` and
    `keys`: of the rows whose `key` column is one of `keys` only (rows added later do not)."""
    conn.execute(_STABLE_TEXT)
    row = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    where = sql.SQL("")
    params: list = []
    if key is not None:
        where = sql.SQL(" WHERE {key}::text = ANY(%s)").format(key=sql.Identifier(key))
        params = [[str(k) for k in keys or ()]]
    query = sql.SQL(
        "SELECT md5(coalesce(string_agg(t, E'\\n' ORDER BY t COLLATE \"C\"), '')) "
        "FROM (SELECT ROW({row})::text AS t FROM public.{table}{where}) AS rows"
    ).format(row=row, table=sql.Identifier(table), where=where)
    return conn.execute(query, params).fetchone()[0]


def trigger_counts(conn: psycopg.Connection) -> dict[str, int]:
    """User triggers per table of schema public (pgtrigger's protections, pghistory's events)."""
    return dict(
        conn.execute(
            "SELECT c.relname, count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND NOT t.tgisinternal GROUP BY c.relname"
        ).fetchall()
    )


def primary_keys(conn: psycopg.Connection, table: str, key: str = "id") -> set:
    return {
        pk
        for (pk,) in conn.execute(
            sql.SQL("SELECT {} FROM public.{}").format(sql.Identifier(key), sql.Identifier(table))
        )
    }
