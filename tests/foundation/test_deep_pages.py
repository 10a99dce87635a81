"""A list's pages cost what its first does at any depth, and hold the rows an OFFSET would give.

Next and Previous carry a keyset cursor, and a page asked for by number past the middle is read
backwards (lims.pagination): with OFFSET, the last page of 100,000 vials made PostgreSQL
produce and discard 99,975 joined rows (issue 14).
"""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from assays.models import AssayRun
from batches import services
from batches.models import Aliquot, StorageLocation
from tests import factories
from tests.assays_pages.conftest import record_run

pytestmark = pytest.mark.django_db

BACKEND = "django.contrib.auth.backends.ModelBackend"
PER_PAGE = 25

# Sorts with ties (lot, volume, freezer) and NULLs (vials without a position): only the
# primary key at the end of the ordering makes the reversed read the mirror image.
SORTS = [
    "barcode",
    "-barcode",
    "lot__code",
    "-lot__code",
    "volume_ul",
    "location__freezer",
    "-location__freezer",
]


@pytest.fixture
def vials(technician):
    """64 vials of two lots, 6 of them without a position."""
    for volume, placed in ((Decimal("100"), 30), (Decimal("50"), 28)):
        lot = factories.lot(technician)
        positions = factories.storage_positions(technician, placed, box=f"DP{volume}")
        services.aliquots_create(
            actor=technician, lot=lot, volume_ul=volume, locations=[*positions, None, None, None]
        )
    assert Aliquot.objects.count() == 64  # pages of 25, 25 and 14


def _get(client, params, url_name="batches:aliquot_list"):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse(url_name), params)
    assert response.status_code == 200
    return response, [q["sql"] for q in queries]


def _page(client, sort, page):
    response, queries = _get(client, {"sort": sort, "page": page})
    return [a.pk for a in response.context["object_list"]], queries


@pytest.mark.parametrize("sort", SORTS)
def test_every_page_holds_the_rows_of_the_ordering_in_order(client, technician, vials, sort):
    client.force_login(technician, backend=BACKEND)
    expected = list(Aliquot.objects.order_by(sort, "pk").values_list("pk", flat=True))
    for number in (1, 2, 3):
        rows, _ = _page(client, sort, number)
        assert rows == expected[(number - 1) * PER_PAGE : number * PER_PAGE], number
    rows, _ = _page(client, sort, "last")
    assert rows == expected[2 * PER_PAGE :]


def test_the_last_page_costs_the_first_pages_queries_and_skips_no_rows(client, technician, vials):
    client.force_login(technician, backend=BACKEND)
    _page(client, "barcode", 1)  # warm per-process caches
    _, first = _page(client, "barcode", 1)
    _, last = _page(client, "barcode", "last")
    assert len(last) == len(first), "\n".join(["first:", *first, "last:", *last])
    # The 14 rows of the last page are the first 14 of the reversed ordering: no OFFSET 50.
    assert not [sql for sql in last if "OFFSET" in sql], last


def test_a_list_ordered_by_more_columns_reads_its_last_page_backwards(client, technician, vials):
    """Storage positions sort by the chosen column, then rack, box, position and id."""
    client.force_login(technician, backend=BACKEND)
    ordering = ("-box", "rack", "box", "position", "pk")
    expected = list(StorageLocation.objects.order_by(*ordering).values_list("pk", flat=True))
    assert len(expected) > 2 * PER_PAGE
    params = {"sort": "-box", "page": "last"}
    response, queries = _get(client, params, "batches:storagelocation_list")
    assert [s.pk for s in response.context["object_list"]] == expected[2 * PER_PAGE :]
    assert not [sql for sql in queries if "OFFSET" in sql], queries


def test_page_links_reach_the_first_and_the_last_page(client, technician, vials):
    client.force_login(technician, backend=BACKEND)
    html = client.get(reverse("batches:aliquot_list"), {"sort": "-lot__code", "page": 2})
    html = html.content.decode()
    assert "sort=-lot__code&page=1" in html
    assert "sort=-lot__code&page=last" in html
    assert "Page 2 of 3" in html


@pytest.mark.parametrize("sort", SORTS)
def test_next_and_previous_walk_every_row_by_cursor_without_offset(client, technician, vials, sort):
    client.force_login(technician, backend=BACKEND)
    expected = list(Aliquot.objects.order_by(sort, "pk").values_list("pk", flat=True))
    pages = [expected[i : i + PER_PAGE] for i in range(0, len(expected), PER_PAGE)]
    response, _ = _get(client, {"sort": sort})
    for number in (2, 3):  # Next, Next
        cursor = response.context["page_obj"].after_cursor
        response, queries = _get(client, {"sort": sort, "page": number, "after": cursor})
        assert [a.pk for a in response.context["object_list"]] == pages[number - 1]
        assert not [sql for sql in queries if "OFFSET" in sql], queries
    for number in (2, 1):  # Previous, Previous
        cursor = response.context["page_obj"].before_cursor
        response, queries = _get(client, {"sort": sort, "page": number, "before": cursor})
        assert [a.pk for a in response.context["object_list"]] == pages[number - 1]
        assert not [sql for sql in queries if "OFFSET" in sql], queries


def test_runs_walk_by_their_start_to_the_microsecond(client, technician):
    """The runs' default sort is a timestamp (newest first): the cursor keeps its microseconds."""
    lot = factories.lot(technician)
    for i in range(30):
        record_run(technician, lot.code, value=100 + i)
    client.force_login(technician, backend=BACKEND)
    expected = list(AssayRun.objects.order_by("-started_at", "pk").values_list("pk", flat=True))
    response, _ = _get(client, {}, "assays:run_list")
    cursor = response.context["page_obj"].after_cursor
    assert f"after={cursor}".replace(":", "%3A").replace("+", "%2B") in response.content.decode()
    response, queries = _get(client, {"page": 2, "after": cursor}, "assays:run_list")
    assert [r.pk for r in response.context["object_list"]] == expected[PER_PAGE:]
    assert not [sql for sql in queries if "OFFSET" in sql], queries


def test_a_cursor_that_does_not_parse_falls_back_to_the_page_number(client, technician, vials):
    client.force_login(technician, backend=BACKEND)
    expected = list(Aliquot.objects.order_by("barcode", "pk").values_list("pk", flat=True))
    for cursor in ("x", "12", "12:q", "-1:v1", "99999999999999999999:v1"):
        response, _ = _get(client, {"page": 2, "after": cursor})
        assert [a.pk for a in response.context["object_list"]] == expected[PER_PAGE : 2 * PER_PAGE]
