"""The scale benchmark (issue 14): every list, detail, dashboard, chart, export and API list,
timed on a generated history (release.history) and compared with its floor, the minimal raw SQL
that returns the same rows, timed in the same run.

By hand, at the tenth and the full size (two databases, each made by `generate_history`):

    DEBUG=1 DATABASE_URL=postgres://postgres@127.0.0.1:5432/lims_scale_small \\
        .venv/bin/python -m tests.benchmarks.scale measure --out /tmp/small.json
    DEBUG=1 DATABASE_URL=postgres://postgres@127.0.0.1:5432/lims_scale_full \\
        .venv/bin/python -m tests.benchmarks.scale measure --out /tmp/full.json
    .venv/bin/python -m tests.benchmarks.scale report /tmp/small.json /tmp/full.json

CI runs the same measure at the `ci` scale and at ten times it (tests/benchmarks/test_scale.py).
"""

import argparse
import json
import math
import statistics
import sys
import time
from dataclasses import asdict, dataclass

# Each endpoint: a name, its path (formatted with ids of the history) and its floor, the SQL
# returning the rows it shows (the first page, or the page asked for).
ENDPOINTS: list[tuple[str, str, str]] = [
    ("home", "/", "SELECT 1"),
    (
        "audit trail",
        "/audit/",
        "SELECT * FROM (SELECT pgh_id, pgh_created_at FROM assays_resultevent "
        "ORDER BY pgh_created_at DESC, pgh_id DESC LIMIT 50) e "
        "ORDER BY pgh_created_at DESC LIMIT 50",
    ),
    (
        "audit by user",
        "/audit/?username=tech",
        "SELECT pgh_id FROM batches_aliquotevent ORDER BY pgh_created_at DESC, pgh_id DESC "
        "LIMIT 50",
    ),
    (
        "audit by record type",
        "/audit/?model=batches.ExosomeLot",
        "SELECT * FROM batches_exosomelotevent ORDER BY pgh_created_at DESC, pgh_id DESC LIMIT 50",
    ),
    (
        "audit CSV of one record type",
        "/audit/export.csv?model=batches.ExosomeLot",
        "SELECT * FROM batches_exosomelotevent ORDER BY pgh_created_at DESC, pgh_id DESC",
    ),
    (
        "release dashboard",
        "/release/",
        "SELECT id, code, status FROM batches_exosomelot "
        "WHERE status IN ('in_testing', 'under_review', 'in_process')",
    ),
    (
        "runs list",
        "/runs/",
        "SELECT r.id, count(x.id) FROM (SELECT id FROM assays_assayrun "
        "ORDER BY started_at DESC, id LIMIT 25) r JOIN assays_result x ON x.run_id = r.id "
        "GROUP BY r.id",
    ),
    (
        "runs list last page",
        "/runs/?page=last",
        "SELECT r.id, count(x.id) FROM (SELECT id FROM assays_assayrun "
        "ORDER BY started_at, id LIMIT 25) r JOIN assays_result x ON x.run_id = r.id "
        "GROUP BY r.id",
    ),
    ("run detail", "/runs/{run}/", "SELECT * FROM assays_result WHERE run_id = {run}"),
    (
        "culture batches list",
        "/culture-batches/",
        "SELECT * FROM batches_culturebatch ORDER BY created_at DESC, id LIMIT 25",
    ),
    (
        "lots list",
        "/lots/",
        "SELECT l.id, count(a.id) FROM (SELECT id FROM batches_exosomelot "
        "ORDER BY created_at DESC, id LIMIT 25) l JOIN batches_aliquot a ON a.lot_id = l.id "
        "GROUP BY l.id",
    ),
    ("lot detail", "/lots/{lot}/", "SELECT * FROM batches_aliquot WHERE lot_id = {lot}"),
    (
        "batch detail",
        "/culture-batches/{batch}/",
        "SELECT * FROM batches_culturebatch WHERE id = {batch}",
    ),
    (
        "vials list",
        "/aliquots/",
        "SELECT * FROM batches_aliquot ORDER BY created_at DESC, id LIMIT 25",
    ),
    (
        "vials list last page",
        "/aliquots/?page=last",
        "SELECT * FROM batches_aliquot ORDER BY created_at, id LIMIT 25",
    ),
    ("storage", "/storage/", "SELECT * FROM batches_storagelocation ORDER BY id LIMIT 25"),
    ("deviations", "/release/deviations/", "SELECT * FROM batches_deviation LIMIT 25"),
    (
        "trend over all lots",
        "/qc/trends/?code=nta.concentration&assay=NTA",
        "SELECT lot_id, value FROM assays_qcmetric WHERE code = 'nta.concentration'",
    ),
    (
        "API lots",
        "/api/v1/lots/",
        "SELECT * FROM batches_exosomelot ORDER BY created_at DESC, id LIMIT 100",
    ),
    (
        "API runs",
        "/api/v1/runs/",
        "SELECT * FROM assays_assayrun ORDER BY started_at DESC, id LIMIT 100",
    ),
    (
        "API results",
        "/api/v1/results/",
        "SELECT * FROM assays_result ORDER BY id DESC LIMIT 100",
    ),
    (
        "API runs deep page",
        "/api/v1/runs/?cursor={deep_runs_cursor}",
        "SELECT * FROM assays_assayrun WHERE started_at <= '{deep_runs_at}' "
        "ORDER BY started_at DESC, id DESC LIMIT 100",
    ),
    (
        "API results deep page",
        "/api/v1/results/?cursor={deep_results_cursor}",
        "SELECT * FROM assays_result WHERE run_id <= {deep_results_run} "
        "ORDER BY run_id DESC, id LIMIT 100",
    ),
    # Old clients' `offset` (assays.api.pagination): served within the window of the first
    # 10,000 rows, the page at its edge read with its bounded count; as deep as the last page
    # (past the window at every size) they are told to follow `next`: a 400 that reads no row.
    (
        "API results offset at the window's edge",
        "/api/v1/results/?offset={window_edge}",
        "SELECT * FROM assays_result ORDER BY run_id DESC, id OFFSET {window_edge} LIMIT 100",
    ),
    (
        "API results deep offset (old clients)",
        "/api/v1/results/?offset={deep_results}",
        "SELECT 1",
    ),
    (
        "audit since a day",
        "/audit/?since={since}",
        "SELECT pgh_id FROM assays_resultevent WHERE pgh_created_at >= '{since}' "
        "ORDER BY pgh_created_at DESC, pgh_id DESC LIMIT 50",
    ),
    ("trend form", "/qc/trends/", "SELECT DISTINCT code FROM assays_qcmetric WHERE lot_id = 1"),
]


# The answer each endpoint should give (200 unless named here).
STATUS = {"API results deep offset (old clients)": 400}


@dataclass
class Measure:
    name: str
    path: str
    status: int
    queries: int
    median: float
    p95: float
    floor: float
    # A streamed export: the median and p95 time to its first row (the header and one line of
    # data received). The whole export grows with its rows, like its floor; the first row must
    # not (README, Scale). None for the other endpoints.
    first_row: float | None = None
    first_row_p95: float | None = None

    @property
    def ratio(self) -> float:
        return self.p95 / self.floor if self.floor else 0.0


def _p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def _ids() -> dict:
    from django.db import connection

    from assays.api.pagination import OFFSET_WINDOW, ResultPagination, RunPagination

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT max(id) FROM assays_assayrun), (SELECT max(id) FROM batches_exosomelot "
            "WHERE status = 'released'), (SELECT max(id) FROM batches_culturebatch), "
            "(SELECT count(*) FROM assays_result), (SELECT count(*) FROM assays_assayrun), "
            "(SELECT min(pgh_created_at) + (max(pgh_created_at) - min(pgh_created_at)) * 0.9 "
            "FROM assays_resultevent)"
        )
        run, lot, batch, results, runs, since = cursor.fetchone()
        # The keyset pages as deep as the offset page: the row before the list's last 100.
        cursor.execute(
            "SELECT started_at, id FROM assays_assayrun ORDER BY started_at DESC, id DESC "
            "OFFSET %s LIMIT 1",
            [max(0, runs - 101)],
        )
        deep_run = cursor.fetchone()
        cursor.execute(
            "SELECT run_id, id FROM assays_result ORDER BY run_id DESC, id OFFSET %s LIMIT 1",
            [max(0, results - 101)],
        )
        deep_result = cursor.fetchone()
    return {
        "run": run,
        "lot": lot,
        "batch": batch,
        "deep_results": max(results - 100, OFFSET_WINDOW),
        "window_edge": OFFSET_WINDOW - 100,
        "deep_runs_cursor": RunPagination().cursor_for(
            {"started_at": deep_run[0], "id": deep_run[1]}, reverse=False
        ),
        "deep_runs_at": deep_run[0].isoformat(),
        "deep_results_cursor": ResultPagination().cursor_for(
            {"run_ref": deep_result[0], "id": deep_result[1]}, reverse=False
        ),
        "deep_results_run": deep_result[0],
        "since": since.date().isoformat(),
    }


def _get(client, path: str):
    """The response, read to its end; and for a streamed one, the seconds to its first row."""
    started = time.perf_counter()
    response = client.get(path)
    first_row = None
    if getattr(response, "streaming", False):
        # An export, read to its end (closing it early would close the test's connection).
        lines = 0
        for chunk in response.streaming_content:
            lines += chunk.count(b"\n")
            if first_row is None and lines >= 2:
                first_row = time.perf_counter() - started
        if first_row is None:
            first_row = time.perf_counter() - started
    else:
        _ = response.content
    return response, first_row


def measure(*, requests: int = 20, user=None, only: tuple[str, ...] = ()) -> list[Measure]:
    """Time every endpoint (or those named in `only`) `requests` times as a QA person (who
    may see every page)."""
    from release.demo import ensure_demo_users

    if user is None:
        from lims.roles import QA

        user = ensure_demo_users()[QA]
    return _measure(user, requests, only)


def _measure(user, requests: int, only: tuple[str, ...] = ()) -> list[Measure]:
    from django.db import connection
    from django.test import Client

    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    ids = _ids()
    results = []
    for name, path_template, floor_template in ENDPOINTS:
        if only and name not in only:
            continue
        path = path_template.format(**ids)
        floor_sql = floor_template.format(**ids)
        _get(client, path)  # warm: templates, plans, caches
        # Counted by a wrapper: a request resets connection.queries (request_started).
        executed = []

        def count(execute, sql, params, many, context, executed=executed):
            executed.append(sql)
            return execute(sql, params, many, context)

        with connection.execute_wrapper(count):
            status = _get(client, path)[0].status_code
        samples, first_rows = [], []
        for _ in range(requests):
            started = time.perf_counter()
            _, first_row = _get(client, path)
            samples.append(time.perf_counter() - started)
            if first_row is not None:
                first_rows.append(first_row)
        floors = []
        with connection.cursor() as cursor:
            for _ in range(requests):
                started = time.perf_counter()
                cursor.execute(floor_sql)
                cursor.fetchall()
                floors.append(time.perf_counter() - started)
        results.append(
            Measure(
                name=name,
                path=path,
                status=status,
                queries=len(executed),
                median=statistics.median(samples),
                p95=_p95(samples),
                floor=statistics.median(floors),
                first_row=statistics.median(first_rows) if first_rows else None,
                first_row_p95=_p95(first_rows) if first_rows else None,
            )
        )
    return results


def time_run_post(actor, lot_code: str, *, results: int = 600, repeats: int = 3) -> float:
    """The best of `repeats` postings of a run of `results` NTA results for a lot, through the
    service the API's POST /api/v1/runs/ calls, each rolled back (the history stays as it was).
    Timed with the audit triggers on, as the write path runs (issue 14 item 4)."""
    from datetime import timedelta

    from django.db import transaction
    from django.utils import timezone

    from assays import services

    items = [
        services.ResultInput(
            sample=lot_code,
            analyte="concentration",
            value=1e11 + i,
            unit="particle/mL",
            replicate=str(i),
        )
        for i in range(results)
    ]
    started = timezone.now() - timedelta(hours=1)
    best = float("inf")
    for _ in range(repeats):
        with transaction.atomic():
            began = time.perf_counter()
            services.run_record(
                assay_code="NTA", results=items, source="manual", started_at=started, actor=actor
            )
            best = min(best, time.perf_counter() - began)
            transaction.set_rollback(True)
    return best


def passes(m: Measure) -> bool:
    """The goal: p95 within twice the floor, or within 300 ms where the floor is tiny."""
    return m.p95 <= max(2 * m.floor, 0.300)


def _first_row(s: Measure, m: Measure) -> str:
    """A streamed export's time to its first row at both sizes and its growth, or a dash."""
    if s.first_row is None or m.first_row is None:
        return "–"
    return (
        f"{s.first_row * 1000:.0f} → {m.first_row * 1000:.0f} (p95 {m.first_row_p95 * 1000:.0f}), "
        f"{m.first_row / s.first_row:.2f}×"
    )


def table(small: list[Measure], full: list[Measure], labels=("tenth", "full")) -> str:
    by_name = {m.name: m for m in small}
    lines = [
        f"| endpoint | queries | {labels[0]} median / p95 (ms) | {labels[1]} median / p95 (ms) "
        f"| growth | floor (ms) | p95 / floor | goal | first row median (ms), growth |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for m in full:
        if m.name not in by_name:
            continue
        s = by_name[m.name]
        growth = m.median / s.median if s.median else 0.0
        queries = f"{s.queries}" if s.queries == m.queries else f"{s.queries} → {m.queries}"
        lines.append(
            f"| {m.name} | {queries} | {s.median * 1000:.0f} / {s.p95 * 1000:.0f} "
            f"| {m.median * 1000:.0f} / {m.p95 * 1000:.0f} | {growth:.2f} "
            f"| {m.floor * 1000:.1f} | {m.ratio:.1f} | {'ok' if passes(m) else 'MISSED'} "
            f"| {_first_row(s, m)} |"
        )
    return "\n".join(lines)


def _main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.scale")
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("measure", help="measure the database of DATABASE_URL")
    m.add_argument("--out", required=True)
    m.add_argument("--requests", type=int, default=20)
    m.add_argument("--only", action="append", default=[], help="an endpoint's name (repeatable)")
    r = sub.add_parser("report", help="the table of two measures (tenth, full)")
    r.add_argument("small")
    r.add_argument("full")
    args = parser.parse_args(argv)
    if args.command == "measure":
        import os

        import django

        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lims.settings")
        django.setup()
        from django.conf import settings

        settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
        found = measure(requests=args.requests, only=tuple(args.only))
        with open(args.out, "w") as out:
            json.dump([asdict(x) for x in found], out, indent=1)
        for x in found:
            first = "" if x.first_row is None else f" first row {x.first_row * 1000:7.1f} ms"
            print(
                f"{x.name:30} {x.status} q={x.queries:3} median {x.median * 1000:8.1f} ms "
                f"p95 {x.p95 * 1000:8.1f} ms floor {x.floor * 1000:7.1f} ms{first}"
            )
        return 0
    loaded = []
    for path in (args.small, args.full):
        with open(path) as f:
            loaded.append([Measure(**row) for row in json.load(f)])
    small_names = {m.name for m in loaded[0]}
    print(table(loaded[0], [m for m in loaded[1] if m.name in small_names]))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
