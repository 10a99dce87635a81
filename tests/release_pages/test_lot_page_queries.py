"""The lot page reads a fixed number of queries however many vials, runs, results, deviations and
dispositions the lot has (issue 14: it read 45 on a generated history, the genealogy three
times, the specification and evaluations twice, and one query per kind of record in its
history)."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from batches import services
from tests import factories
from tests.release.helpers import record_manual_run

pytestmark = pytest.mark.django_db

BACKEND = "django.contrib.auth.backends.ModelBackend"
# The page's queries, measured: session and user (2), roles (1), the lot (1), its history
# (family 5, events 2, names 1), genealogy (5), permissions (2), remaining volume (1), release
# panel (6), runs and QC (6), vials (1), the session saved (3). A new one is a decision, not a
# drift.
LOT_PAGE_QUERIES = 35


def _lot(technician, analyst, qa_user, n: int, *, disposed: bool):
    lot = factories.lot(technician)
    positions = factories.storage_positions(technician, 2 * n, box=f"LQ{n}{int(disposed)}")
    services.aliquots_create(
        actor=technician, lot=lot, volume_ul=Decimal("50"), locations=positions
    )
    services.lot_set_status(actor=technician, lot=lot, to="in_testing", reason="Samples sent")
    for _ in range(n):
        record_manual_run(analyst, lot, "BCA", [("protein", 10.0)])
        record_manual_run(analyst, lot, "PH", [("ph", 7.2)])
    if disposed:
        factories.finalize_lot(qa_user, lot, "rejected")
    return lot


def _queries(client, url) -> tuple[int, list[str]]:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured), [q["sql"][:200] for q in captured.captured_queries]


def test_the_lot_page_reads_as_many_queries_for_three_times_the_records(
    client, technician, analyst, qa_user
):
    small = _lot(technician, analyst, qa_user, 1, disposed=False)
    big = _lot(technician, analyst, qa_user, 3, disposed=True)
    client.force_login(qa_user, backend=BACKEND)
    client.get(small.get_absolute_url())  # warm per-process caches

    few, few_sql = _queries(client, small.get_absolute_url())
    many, many_sql = _queries(client, big.get_absolute_url())

    explain = "\n".join(["--- small lot", *few_sql, "--- big lot", *many_sql])
    assert few == many, explain
    assert many <= LOT_PAGE_QUERIES, explain
