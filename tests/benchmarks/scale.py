"""The scale benchmark (issue 14): every list, detail, dashboard, chart, export and API list,
timed on a generated history (release.history) and compared with its floor, the minimal raw SQL
that returns the same rows, timed in the same run. Then the three writes of item 4 (a run of
600 results, a NanoSight NTA file through parse, metrics and evaluation, QA's signed release of
a lot), each on a new lot in a transaction rolled back (measure_writes): their growth between two
histories (an empty database and a full one) is their goal.

By hand, at the tenth and the full size (two databases, each made by `generate_history`):

    DEBUG=1 DATABASE_URL=postgres://postgres@127.0.0.1:5432/lims_scale_small \\
        .venv/bin/python -m tests.benchmarks.scale measure --out /tmp/small.json
    DEBUG=1 DATABASE_URL=postgres://postgres@127.0.0.1:5432/lims_scale_full \\
        .venv/bin/python -m tests.benchmarks.scale measure --out /tmp/full.json
    .venv/bin/python -m tests.benchmarks.scale report /tmp/small.json /tmp/full.json

`measure --writes-only` times the writes alone (on an empty database: `migrate` first).
CI runs the same measure at the `ci` scale and at ten times it (tests/benchmarks/test_scale.py).
"""

import argparse
import gc
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
        "lot review (QA)",
        "/release/lots/{lot}/review/",
        "SELECT * FROM batches_exosomelot WHERE id = {lot}",
    ),
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
    (
        "storage free positions",
        "/storage/?free=true",
        "SELECT * FROM batches_storagelocation s WHERE NOT EXISTS (SELECT 1 FROM batches_aliquot a "
        "WHERE a.location_id = s.id) ORDER BY freezer, rack, box, position, id LIMIT 25",
    ),
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
    # Form pages naming a lot, batch, run or position: typed codes, no rows listed (they
    # offered every lot, batch, run and position as an <option>).
    ("new deviation form", "/release/deviations/new/", "SELECT 1"),
    ("audit review form", "/release/audit-reviews/new/", "SELECT 1"),
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
    kind: str = "read"  # or "write" (measure_writes: no floor)

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
        # The garbage of the endpoint before (the CSV's 10,000 rows) is collected here, not
        # in this endpoint's time: a collection in one of its 10 requests was its p95.
        gc.collect()
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


def _post_run(actor, lot_code: str, results: int):
    from datetime import timedelta

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
    return services.run_record(
        assay_code="NTA",
        results=items,
        source="manual",
        started_at=timezone.now() - timedelta(hours=1),
        actor=actor,
    )


# The three writes of item 4 (issue 14), each timed on its own new lot of a rolled-back
# transaction (the history stays as it was), with the audit triggers on.
WRITES = (
    ("post a run of 600 results", "services.run_record (POST /api/v1/runs/)"),
    (
        "post an NTA file",
        "services.instrument_file_receive → parse → metrics → evaluation",
    ),
    ("QA disposition (release)", "release.services.lot_dispose, e-signed"),
)
NTA_FILE = "nanosight_nta32_beads.csv"


def measure_writes(*, repeats: int = 3, only: tuple[str, ...] = ()) -> list[Measure]:
    """Median and p95 of `repeats` of each write in WRITES (or of those named in `only`; kind
    "write", no floor).

    Each repeat makes its own lot (and instrument, reviewer) in a transaction rolled back at
    its end; only the write itself is on the clock. The work queued "on commit" (the file's
    parsing, the run's metrics, the lot's evaluation: Celery tasks, eager here) is run at the
    end of the write's block as after a real commit, and is timed with the NTA file: it is what
    posting a file sets in motion. Files (the NTA original, the certificate of analysis) go to
    a temporary store, not the site's."""
    import tempfile

    from django.test import override_settings

    from lims.celery import app

    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        with tempfile.TemporaryDirectory() as store, override_settings(MEDIA_ROOT=store):
            return [
                _measure_write(name, path, step, repeats)
                for (name, path), step in zip(
                    WRITES, (_write_run, _write_nta_file, _write_disposition), strict=True
                )
                if not only or name in only
            ]
    finally:
        app.conf.task_always_eager = eager


def _measure_write(name: str, path: str, step, repeats: int) -> Measure:
    from django.db import connection, transaction

    samples, queries = [], 0
    for _ in range(repeats + 1):  # the first warms imports and plans
        with transaction.atomic():
            timed = step()
            executed = []

            def count(execute, sql, params, many, context, executed=executed):
                executed.append(sql)
                return execute(sql, params, many, context)

            with connection.execute_wrapper(count):
                began = time.perf_counter()
                timed()
                samples.append(time.perf_counter() - began)
            queries = len(executed)
            transaction.set_rollback(True)
    samples = samples[1:]
    return Measure(
        name=name,
        path=path,
        status=200,
        queries=queries,
        median=statistics.median(samples),
        p95=_p95(samples),
        floor=0.0,
        kind="write",
    )


def _users() -> dict:
    from lims.roles import ADMIN, ANALYST, QA, TECHNICIAN
    from release.demo import ensure_demo_users

    users = ensure_demo_users()
    return {
        "technician": users[TECHNICIAN],
        "analyst": users[ANALYST],
        "qa": users[QA],
        "admin": users[ADMIN],
    }


def _lot_in_testing(technician):
    """A new lot (its genealogy made through the services), moved into testing: release fixes
    its specification once the move commits."""
    from batches import services as batch_services
    from tests import factories
    from tests.release.helpers import committed

    lot = factories.lot(technician)
    with committed():
        batch_services.lot_set_status(
            actor=technician, lot=lot, to="in_testing", reason="QC samples"
        )
    lot.refresh_from_db()
    return lot


def _write_run():
    users = _users()
    lot = _lot_in_testing(users["technician"])
    return lambda: _post_run(users["analyst"], lot.code, 600)


def _write_nta_file():
    """The real NanoSight NTA 3.2 export of tests/data/nta, received from a calibrated
    instrument for a lot in testing, as POST /api/v1/instrument-files/ receives it; then what
    follows its commit: the parse into a run and results, the run's and the lot's QC metrics,
    the lot's evaluation against its specification (checked after the clock)."""
    from pathlib import Path

    from assays import services
    from assays.nta_services import nta_dilution_record
    from release.models import CriterionEvaluation
    from tests.assays_pages.conftest import register_instrument
    from tests.release.helpers import committed

    users = _users()
    lot = _lot_in_testing(users["technician"])
    instrument = register_instrument(users["admin"], code="BENCH-NTA", assay_codes=("NTA",))
    data = (Path(__file__).resolve().parents[1] / "data" / "nta" / NTA_FILE).read_bytes()

    def post():
        with committed():
            received = services.instrument_file_receive(
                data=data,
                filename=NTA_FILE,
                sample_identifier=lot.code,
                assay_code="NTA",
                instrument=instrument,
                uploaded_by=users["analyst"],
            )
        received.refresh_from_db()
        assert received.status == "parsed", received.error
        run = received.runs.get()
        assert run.results.exists() and run.metrics.exists()
        # The export says "Not recorded" for its dilution: its results count once an analyst
        # records the factor (assays.nta_services), as tests/benchmarks/test_ingest_speed.py
        # keeps on its clock.
        with committed():
            nta_dilution_record(
                actor=users["analyst"], run=run, dilution_factor=1, reason="Measured undiluted"
            )
        judged = CriterionEvaluation.objects.filter(lot=lot, metric__run=run).exclude(
            status="pending"
        )
        assert judged.exists(), "the lot's evaluation did not judge the file's run"

    return post


def _write_disposition():
    """QA's signed release of a lot under review, every required criterion passing (its runs
    and its source cells' entered and second-person reviewed as tests/release/helpers does):
    release.services.lot_dispose with a re-authenticated signer, as the signing page calls it
    (evaluation on the current data, release blockers, the signature, the disposition, the
    vials following, the certificate of analysis)."""
    from release.demo import DEMO_USERS
    from release.services import MEANING, lot_dispose
    from tests.release.helpers import lot_under_review, signer_for

    users = _users()
    lot = lot_under_review(users["technician"]).lot
    qa = users["qa"]
    password = next(p for name, _, _, p in DEMO_USERS if name == qa.username)
    signer = signer_for(qa, MEANING["released"], password=password)

    def release():
        disposition = lot_dispose(signer=signer, lot=lot, decision="released")
        assert disposition.decision == "released"

    return release


# A write's median on the larger history over the smaller's: "no more time" with the noise of
# a shared machine (issue 14 item 4).
WRITE_GROWTH = 1.5


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
        s = by_name.get(m.name)
        if s is None:  # measured on one side only (a file from before it was measured)
            continue
        growth = m.median / s.median if s.median else 0.0
        queries = f"{s.queries}" if s.queries == m.queries else f"{s.queries} → {m.queries}"
        if m.kind == "write":
            # A write has no floor: its goal is to take no longer on the larger history.
            floor, ratio, goal = "", "", "ok" if growth <= WRITE_GROWTH else "SLOWER"
        else:
            floor, ratio, goal = f"{m.floor * 1000:.1f}", f"{m.ratio:.1f}", passes(m)
            goal = "ok" if goal else "MISSED"
        lines.append(
            f"| {m.name} | {queries} | {s.median * 1000:.0f} / {s.p95 * 1000:.0f} "
            f"| {m.median * 1000:.0f} / {m.p95 * 1000:.0f} | {growth:.2f} "
            f"| {floor} | {ratio} | {goal} | {_first_row(s, m)} |"
        )
    return "\n".join(lines)


def _main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.scale")
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("measure", help="measure the database of DATABASE_URL")
    m.add_argument("--out", required=True)
    m.add_argument("--requests", type=int, default=20)
    m.add_argument(
        "--only", action="append", default=[], help="an endpoint's or a write's name (repeatable)"
    )
    m.add_argument("--repeats", type=int, default=5, help="repeats of each write")
    m.add_argument("--writes-only", action="store_true", help="time the writes, not the endpoints")
    r = sub.add_parser("report", help="the table of two measures (tenth, full)")
    r.add_argument("small")
    r.add_argument("full")
    args = parser.parse_args(argv)
    if args.command == "measure":
        import logging
        import os

        import django

        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lims.settings")
        django.setup()
        from django.conf import settings

        settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
        # The eager tasks of the writes log a line each: the figures are what is printed here.
        logging.getLogger("celery.app.trace").setLevel(logging.WARNING)
        only = tuple(args.only)
        found = [] if args.writes_only else measure(requests=args.requests, only=only)
        found += measure_writes(repeats=args.repeats, only=only)
        with open(args.out, "w") as out:
            json.dump([asdict(x) for x in found], out, indent=1)
        for x in found:
            first = "" if x.first_row is None else f" first row {x.first_row * 1000:7.1f} ms"
            floor = f" floor {x.floor * 1000:7.1f} ms" if x.kind == "read" else " (write)"
            print(
                f"{x.name:30} {x.status} q={x.queries:3} median {x.median * 1000:8.1f} ms "
                f"p95 {x.p95 * 1000:8.1f} ms{floor}{first}"
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
