"""A generated history of a busy site, for measuring the LIMS at scale (issue 14).

Ten years of production by default: donors, master and working cell banks, culture batches with
their harvests and isolation runs, exosome lots with their vials, about ten QC runs per lot with
about twenty results each, the QC metrics computed from them, and the signed disposition of every
finished lot. It is written set-based (one INSERT … SELECT generate_series per table), with the
audit triggers on, so the event tables and their contexts grow exactly as the application's own
bulk writes make them grow; then each event is dated when its record was made (the triggers stamp
the time of the transaction, which would put ten years into one instant).

Seeded and reproducible: PostgreSQL's random() is seeded (setseed) before each table and every
row is generated in a fixed order without parallel workers. Running it again appends another
history after the first (codes and ids carry on), which is how the benchmark grows the database
tenfold in one test.

It lives in release, the top layer, because it writes the records of every layer.
"""

import json
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone

from lims.roles import ANALYST, QA, TECHNICIAN
from release.demo import ensure_demo_users

# Rows of a busy site over ten years (the measurement), per scale.
BUSY = {"lots": 5000, "vials_per_lot": 20, "runs_per_lot": 10, "results_per_run": 20}
SCALES = {"busy": 1.0, "tenth": 0.1, "ci": 0.004}

# The release tests of a lot, in the order they are run (about ten runs per lot).
LOT_ASSAYS = [
    "NTA",
    "BCA",
    "ENDOTOXIN",
    "EV-MARKERS",
    "STERILITY",
    "MYCO",
    "PH",
    "OSMOLALITY",
    "DSDNA",
    "APPEARANCE",
]
# Lots still moving (the newest ones): in testing or under review, with part of their runs.
IN_PROGRESS_SHARE = 0.02
METRICS_PER_RUN = 4


@dataclass
class TableTiming:
    table: str
    rows: int
    seconds: float

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def _max_id(cursor, table: str) -> int:
    cursor.execute(f"SELECT coalesce(max(id), 0) FROM {table}")  # noqa: S608 (our table names)
    return int(cursor.fetchone()[0])


def _bump_identity(cursor, table: str) -> None:
    cursor.execute(
        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
        f"(SELECT coalesce(max(id), 1) FROM {table}))"
    )


def _context(cursor, user, reason: str) -> None:
    """Attribute the next writes of the transaction, as lims.audit.audit_context does."""
    metadata = {"user": user.pk, "username": user.get_username(), "reason": reason}
    cursor.execute(
        "SELECT set_config('pghistory.context_id', %s, true), "
        "set_config('pghistory.context_metadata', %s, true)",
        [str(uuid.uuid4()), json.dumps(metadata)],
    )


def generate(*, years: int = 10, scale: str = "busy", seed: int = 14, log=print) -> list:
    """Write the history; returns the timing of each table (rows, seconds)."""
    factor = SCALES[scale]
    lots = max(2, round(BUSY["lots"] * factor))
    users = ensure_demo_users()
    tech, analyst, qa = users[TECHNICIAN], users[ANALYST], users[QA]
    end = timezone.now().replace(microsecond=0) - timedelta(days=1)
    start = end - timedelta(days=365 * years)
    timings: list[TableTiming] = []

    with connection.cursor() as cursor:
        cursor.execute("SET max_parallel_workers_per_gather = 0")
        cursor.execute("SELECT count(*) FROM batches_exosomelot WHERE code LIKE 'EXO-____-H%%'")
        offset = int(cursor.fetchone()[0])  # lots of earlier generated histories
        cursor.execute("SELECT id, code FROM assays_assaydefinition WHERE is_current")
        assays = {code: pk for pk, code in cursor.fetchall()}
        wanted = [a for a in LOT_ASSAYS if a in assays]
        base = {
            t: _max_id(cursor, t)
            for t in [
                "batches_donor",
                "batches_cellbank",
                "batches_culturebatch",
                "batches_harvest",
                "batches_isolationrun",
                "batches_exosomelot",
                "batches_lotsource",
                "batches_storagelocation",
                "batches_aliquot",
                "assays_assayrun",
                "assays_runsample",
                "lims_signature",
            ]
        }
        params = {
            "n": lots,
            "off": offset,
            "start": start,
            "span": (end - start).total_seconds(),
            "tech": tech.pk,
            "analyst": analyst.pk,
            "qa": qa.pk,
            "progress": max(1, round(lots * IN_PROGRESS_SHARE)),
            "vials": BUSY["vials_per_lot"],
            "runs": BUSY["runs_per_lot"],
            "nassays": len(wanted),
            "per_run": BUSY["results_per_run"],
            "metrics": METRICS_PER_RUN,
            "seed": (seed % 1000) / 1000.0,
            **{f"b_{k.split('_', 1)[1]}": v for k, v in base.items()},
        }
        # The day a lot i is made, spread evenly over the years (its batch started 3 weeks before).
        made = "(%(start)s::timestamptz + ((i + 0.5) / %(n)s * %(span)s) * interval '1 second')"

        def step(table: str, reason: str, sql: str, user=tech) -> None:
            with transaction.atomic():
                cursor.execute("SELECT setseed(%s)", [params["seed"]])
                _context(cursor, user, reason)
                started = time.perf_counter()
                cursor.execute(sql.replace("{made}", made), params)
                rows = cursor.rowcount
                _bump_identity(cursor, table)
                elapsed = time.perf_counter() - started
            timings.append(TableTiming(table, rows, elapsed))
            rate = rows / max(elapsed, 1e-9)
            log(f"{table:28} {rows:>9} rows {elapsed:7.2f} s {rate:>9.0f} rows/s")

        cursor.execute(
            "CREATE TEMP TABLE gen_analytes ON COMMIT PRESERVE ROWS AS "
            "SELECT a.code AS assay, a.id AS assay_id, an.id AS analyte_id, an.code AS analyte, "
            "an.unit, row_number() OVER (PARTITION BY a.id ORDER BY an.id) AS ord, "
            "count(*) OVER (PARTITION BY a.id) AS n_analytes, "
            "array_position(%s::text[], a.code::text) - 1 AS slot "
            "FROM assays_assaydefinition a JOIN assays_analyte an ON an.assay_id = a.id "
            "WHERE a.is_current AND a.code = ANY(%s)",
            [wanted, wanted],
        )
        step(
            "batches_donor",
            "Donor registered",
            "INSERT INTO batches_donor (id, created_at, void_reason, code, tissue_source, "
            "consent_reference, notes, created_by_id) "
            "SELECT %(b_donor)s + i + 1, {made} - interval '60 days', '', "
            "'HD-' || lpad((%(b_donor)s + i + 1)::text, 5, '0'), "
            "(ARRAY['bone_marrow','umbilical_cord','adipose'])[1 + (i %% 3)], "
            "'IC-' || lpad((%(b_donor)s + i + 1)::text, 5, '0'), '', %(tech)s "
            "FROM generate_series(0, greatest(1, %(n)s / 25) - 1) i",
        )
        # One master bank per donor; working banks so that a site holds ~0.8 banks per lot.
        step(
            "batches_cellbank",
            "Cell bank frozen",
            "INSERT INTO batches_cellbank (id, created_at, void_reason, code, bank_type, passage, "
            "vials, frozen_on, storage, created_by_id, donor_id, parent_bank_id) "
            "SELECT %(b_cellbank)s + i + 1, {made} - interval '40 days', '', "
            "CASE WHEN i %% 20 = 0 THEN 'MCB-' ELSE 'WCB-' END "
            "|| lpad((%(b_cellbank)s + i + 1)::text, 5, '0'), "
            "CASE WHEN i %% 20 = 0 THEN 'master' ELSE 'working' END, 2 + (i %% 20 > 0)::int * 2, "
            "20 + (random() * 30)::int, ({made} - interval '40 days')::date, 'LN2 tank 1', "
            "%(tech)s, %(b_donor)s + 1 + least(i / 20, greatest(1, %(n)s / 25) - 1), "
            "CASE WHEN i %% 20 = 0 THEN NULL ELSE %(b_cellbank)s + (i / 20) * 20 + 1 END "
            "FROM generate_series(0, (%(n)s * 4 / 5) - 1) i",
        )
        step(
            "batches_culturebatch",
            "Culture batch started",
            "INSERT INTO batches_culturebatch (id, created_at, void_reason, code, status, "
            "started_on, status_reason, notes, cell_bank_id, created_by_id) "
            "SELECT %(b_culturebatch)s + i + 1, {made} - interval '21 days', '', "
            "'CUL-' || to_char({made}, 'YYYY') || '-H' || lpad((%(off)s + i + 1)::text, 5, '0'), "
            "CASE WHEN i >= %(n)s - %(progress)s THEN 'harvested' ELSE 'closed' END, "
            "({made} - interval '21 days')::date, '', '', "
            "%(b_cellbank)s + 1 + (i * 4 / 5), %(tech)s FROM generate_series(0, %(n)s - 1) i",
        )
        step(
            "batches_harvest",
            "Harvest recorded",
            "INSERT INTO batches_harvest (id, created_at, void_reason, harvested_at, volume_ml, "
            "medium, notes, batch_id, created_by_id) "
            "SELECT %(b_harvest)s + i + 1, {made} - interval '2 days', '', "
            "{made} - interval '2 days', round((400 + random() * 200)::numeric, 2), "
            "'ev_depleted', '', %(b_culturebatch)s + i + 1, %(tech)s "
            "FROM generate_series(0, %(n)s - 1) i",
        )
        step(
            "batches_isolationrun",
            "Isolation recorded",
            "INSERT INTO batches_isolationrun (id, created_at, void_reason, code, method, "
            "parameters, input_volume_ml, output_volume_ml, equipment, started_at, ended_at, "
            "created_by_id, operator_id) "
            "SELECT %(b_isolationrun)s + i + 1, {made} - interval '1 day', '', "
            "'ISO-' || to_char({made}, 'YYYY') || '-H' || lpad((%(off)s + i + 1)::text, 5, '0'), "
            "(ARRAY['uc','tff','sec','tff_sec'])[1 + (i %% 4)], '{}'::jsonb, 400, "
            "round((5 + random() * 10)::numeric, 3), 'Optima XPN-100', "
            "{made} - interval '30 hours', {made} - interval '1 day', %(tech)s, %(tech)s "
            "FROM generate_series(0, %(n)s - 1) i",
        )
        step(
            "batches_exosomelot",
            "Lot created",
            "INSERT INTO batches_exosomelot (id, created_at, void_reason, code, status, "
            "manufactured_on, volume_ml, status_reason, notes, created_by_id) "
            "SELECT %(b_exosomelot)s + i + 1, {made}, '', "
            "'EXO-' || to_char({made}, 'YYYY') || '-H' || lpad((%(off)s + i + 1)::text, 5, '0'), "
            "CASE WHEN i >= %(n)s - %(progress)s / 2 THEN 'in_testing' "
            "WHEN i >= %(n)s - %(progress)s THEN 'under_review' "
            "WHEN i %% 40 = 7 THEN 'rejected' ELSE 'released' END, "
            "{made}::date, round((5 + random() * 10)::numeric, 3), '', '', %(tech)s "
            "FROM generate_series(0, %(n)s - 1) i",
        )
        step(
            "batches_lotsource",
            "Lot source recorded",
            "INSERT INTO batches_lotsource (id, created_at, void_reason, created_by_id, lot_id, "
            "run_id) SELECT %(b_lotsource)s + i + 1, {made}, '', %(tech)s, "
            "%(b_exosomelot)s + i + 1, %(b_isolationrun)s + i + 1 "
            "FROM generate_series(0, %(n)s - 1) i",
        )
        # Each lot's vials have a box of their own (20 positions; a freezer holds 1,000 boxes
        # in 10 racks); a vial used or shipped has left its position, which stays registered.
        step(
            "batches_storagelocation",
            "Storage positions registered",
            "INSERT INTO batches_storagelocation (id, created_at, void_reason, freezer, rack, "
            "box, position, created_by_id) "
            "SELECT %(b_storagelocation)s + i * %(vials)s + v, {made}, '', "
            "'Freezer ' || (1 + (%(off)s + i) / 1000), 'R' || (1 + (%(off)s + i) / 100 %% 10), "
            "'H' || lpad((%(off)s + i + 1)::text, 5, '0'), v::text, %(tech)s "
            "FROM generate_series(0, %(n)s - 1) i, generate_series(1, %(vials)s) v",
        )
        step(
            "batches_aliquot",
            "Vials filled",
            "INSERT INTO batches_aliquot (id, created_at, void_reason, barcode, number, volume_ul, "
            "status, status_reason, created_by_id, lot_id, location_id) "
            "SELECT id, created_at, '', barcode, v, 100, status, '', %(tech)s, lot_id, "
            "CASE WHEN status IN ('used', 'shipped') THEN NULL ELSE position_id END FROM ("
            "SELECT %(b_aliquot)s + i * %(vials)s + v AS id, {made} + interval '1 hour' "
            "AS created_at, "
            "'EXO-H' || lpad((%(off)s + i + 1)::text, 5, '0') || '-' || lpad(v::text, 3, '0') "
            "AS barcode, v, CASE WHEN i >= %(n)s - %(progress)s THEN 'quarantine' "
            "WHEN i %% 40 = 7 THEN 'rejected' WHEN v <= 2 THEN 'retain' "
            "WHEN i < %(n)s * 0.8 THEN (ARRAY['used','shipped'])[1 + (v %% 2)] "
            "ELSE 'available' END AS status, %(b_exosomelot)s + i + 1 AS lot_id, "
            "%(b_storagelocation)s + i * %(vials)s + v AS position_id "
            "FROM generate_series(0, %(n)s - 1) i, generate_series(1, %(vials)s) v) vials",
        )
        # Runs: lot i's k-th release test, a day apart; the lots still in testing have half.
        step(
            "assays_assayrun",
            "Run recorded",
            "INSERT INTO assays_assayrun (id, created_at, void_reason, source, started_at, "
            "ended_at, status, status_reason, external_id, assay_id, created_by_id, operator_id, "
            "reviewed_by_id, metrics_computed_at, backdate_reason) "
            "SELECT %(b_assayrun)s + i * %(runs)s + k + 1, "
            "{made} + (k + 1) * interval '1 day' + interval '2 hours', '', "
            "CASE WHEN k %% 3 = 0 THEN 'file' ELSE 'manual' END, "
            "{made} + (k + 1) * interval '1 day', {made} + (k + 1) * interval '1 day' "
            "+ interval '1 hour', "
            "CASE WHEN i >= %(n)s - %(progress)s THEN 'recorded' "
            "WHEN (i * 7 + k) %% 211 = 0 THEN 'invalidated' ELSE 'reviewed' END, "
            "CASE WHEN (i * 7 + k) %% 211 = 0 AND i < %(n)s - %(progress)s "
            "THEN 'Assignable cause: pipetting error' ELSE '' END, '', "
            "(SELECT assay_id FROM gen_analytes WHERE slot = k %% %(nassays)s LIMIT 1), "
            "%(analyst)s, %(analyst)s, CASE WHEN i >= %(n)s - %(progress)s THEN NULL "
            "ELSE %(qa)s END, {made} + (k + 1) * interval '1 day' + interval '2 hours', '' "
            "FROM generate_series(0, %(n)s - 1) i, generate_series(0, %(runs)s - 1) k "
            "WHERE i < %(n)s - %(progress)s / 2 OR k < %(runs)s / 2",
            user=analyst,
        )
        step(
            "assays_runsample",
            "Run recorded",
            "INSERT INTO assays_runsample (id, created_at, void_reason, label, created_by_id, "
            "lot_id, run_id) SELECT %(b_runsample)s + (r.id - %(b_assayrun)s), r.created_at, '', "
            "l.code, %(analyst)s, l.id, r.id FROM assays_assayrun r "
            "JOIN batches_exosomelot l ON l.id = %(b_exosomelot)s + 1 "
            "+ (r.id - %(b_assayrun)s - 1) / %(runs)s "
            "WHERE r.id > %(b_assayrun)s ORDER BY r.id",
            user=analyst,
        )
        step(
            "assays_result",
            "Run recorded",
            "INSERT INTO assays_result (created_at, void_reason, value, text_value, unit, "
            "qualifier, replicate, well, target, source_sample, flags, analyte_id, "
            "created_by_id, run_id, sample_id) "
            "SELECT s.created_at, '', 50 + random() * 100, '', a.unit, '', rep::text, '', '', "
            "s.label, '{}', a.analyte_id, %(analyst)s, s.run_id, s.id "
            "FROM assays_runsample s JOIN assays_assayrun r ON r.id = s.run_id "
            "JOIN gen_analytes a ON a.assay_id = r.assay_id, "
            "generate_series(1, greatest(1, %(per_run)s / a.n_analytes)::int) rep "
            "WHERE s.id > %(b_runsample)s ORDER BY s.id, a.ord, rep",
            user=analyst,
        )
        step(
            "assays_qcmetric",
            "QC metrics computed",
            "INSERT INTO assays_qcmetric (code, value, unit, details, input_results, "
            "input_files, inputs_hash, algorithm, algorithm_version, computed_at, lot_id, run_id) "
            "SELECT lower(a.assay) || '.' || a.analyte, 50 + random() * 100, a.unit, "
            "'{\"n\": 2}'::jsonb, '{}', '{}', md5(s.id::text || a.analyte) || "
            "md5(a.analyte || s.id::text), 'summary.mean', '1.0', "
            "r.metrics_computed_at, s.lot_id, s.run_id "
            "FROM assays_runsample s JOIN assays_assayrun r ON r.id = s.run_id "
            "JOIN gen_analytes a ON a.assay_id = r.assay_id AND a.ord <= %(metrics)s "
            "WHERE s.id > %(b_runsample)s ORDER BY s.id, a.ord",
            user=analyst,
        )
        # The signed disposition of every finished lot (21 CFR 11.50), by QA.
        step(
            "lims_signature",
            "Lot disposition signed",
            "INSERT INTO lims_signature (id, printed_name, meaning, comment, signed_at, "
            "record_type, record_id, content_sha256, content, signer_id) "
            "SELECT %(b_signature)s + i + 1, 'Quinn Adeyemi', 'approval', '', "
            "{made} + interval '12 days', 'batches.ExosomeLot', "
            "(%(b_exosomelot)s + i + 1)::text, md5(i::text) || md5((i + 1)::text), "
            "jsonb_build_object('lot', %(b_exosomelot)s + i + 1), %(qa)s "
            "FROM generate_series(0, %(n)s - %(progress)s - 1) i",
            user=qa,
        )
        step(
            "batches_disposition",
            "Lot disposition signed",
            "INSERT INTO batches_disposition (decision, reason, decided_at, lot_id, "
            "signature_id) SELECT l.status, CASE WHEN l.status = 'released' THEN "
            "'Meets specification' ELSE 'Out of specification' END, "
            "l.created_at + interval '12 days', l.id, "
            "%(b_signature)s + (l.id - %(b_exosomelot)s) FROM batches_exosomelot l "
            "WHERE l.id > %(b_exosomelot)s AND l.status IN ('released', 'rejected') "
            "ORDER BY l.id",
            user=qa,
        )
        started = time.perf_counter()
        events = _date_events(cursor)
        log(f"{'(events dated)':28} {events:>9} rows {time.perf_counter() - started:7.2f} s")
        cursor.execute("DROP TABLE gen_analytes")
        cursor.execute("ANALYZE")
    return timings


# Which column of a record says when it was made, for the event tables that carry one.
_WHEN_COLUMNS = ("created_at", "computed_at", "decided_at", "signed_at")


def _date_events(cursor) -> int:
    """Date each generated event when its record was made.

    The audit triggers stamp every event with the time of the transaction; a history written
    today would have ten years in one instant. The event tables refuse UPDATE (append-only
    triggers), so this runs with the session's triggers off (session_replication_role) in its
    own transaction: a generator's step, never a path of the application. Only events made by
    this run (stamped now) are touched."""
    cursor.execute(
        "SELECT c.table_name, c.column_name FROM information_schema.columns c "
        "JOIN information_schema.columns p ON p.table_name = c.table_name "
        "AND p.column_name = 'pgh_created_at' "
        "WHERE c.table_schema = 'public' AND c.column_name = ANY(%s) ORDER BY 1, 2",
        [list(_WHEN_COLUMNS)],
    )
    columns: dict[str, str] = {}
    for table, column in cursor.fetchall():
        current = columns.get(table)
        if current is None or _WHEN_COLUMNS.index(column) < _WHEN_COLUMNS.index(current):
            columns[table] = column
    total = 0
    with transaction.atomic():
        cursor.execute("SET LOCAL session_replication_role = replica")
        for table, column in sorted(columns.items()):
            cursor.execute(
                f"UPDATE {table} SET pgh_created_at = {column} "  # noqa: S608 (catalog names)
                f"WHERE pgh_created_at > now() - interval '6 hours' AND {column} < pgh_created_at"
            )
            total += cursor.rowcount
        cursor.execute("SET LOCAL session_replication_role = origin")
    return total
