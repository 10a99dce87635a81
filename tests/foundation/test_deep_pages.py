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


# --- Past the bound of the count (lims.pagination.COUNTED_ROWS; 50 here for 64 vials) ----------


@pytest.fixture
def bounded(monkeypatch):
    monkeypatch.setattr("lims.pagination.COUNTED_ROWS", 50)


def _walk(client, sort, params, direction):
    """The pages reached from `params` by following Next (or Previous) to the end."""
    response, queries = _get(client, {"sort": sort, **params})
    pages, labels, seen = [], [], [queries]
    while True:
        page = response.context["page_obj"]
        pages.append([a.pk for a in page.object_list])
        labels.append(page.label)
        if direction == "after" and not page.has_next():
            return pages, labels, seen
        if direction == "before" and not page.has_previous():
            return pages[::-1], labels[::-1], seen
        number = page.next_page_number() if direction == "after" else page.previous_page_number()
        cursor = page.after_cursor if direction == "after" else page.before_cursor
        response, queries = _get(client, {"sort": sort, "page": number, direction: cursor})
        seen.append(queries)


@pytest.mark.parametrize("sort", SORTS)
def test_past_the_bound_next_and_previous_walk_every_row_once(
    client, technician, vials, bounded, sort
):
    client.force_login(technician, backend=BACKEND)
    expected = list(Aliquot.objects.order_by(sort, "pk").values_list("pk", flat=True))
    forward, labels, queries = _walk(client, sort, {}, "after")
    assert forward == [expected[0:25], expected[25:50], expected[50:]]
    assert labels == [f"Page {n} of more than 2" for n in (1, 2, 3)]
    backward, labels, more = _walk(client, sort, {"page": "last"}, "before")
    # From the end: the last 25 rows, the 25 before them, then what is left at the front.
    assert backward == [expected[:14], expected[14:39], expected[39:]]
    assert labels == ["Page 3 from the end", "Page 2 from the end", "Last page"]
    queries += more
    assert len({len(q) for q in queries}) == 1, [len(q) for q in queries]
    for sql in [sql for q in queries for sql in q]:
        assert "OFFSET" not in sql, sql
        if "COUNT(" in sql.upper():
            assert "LIMIT 51" in sql, sql  # the database stops counting at the bound


def test_past_the_bound_pages_by_number_from_either_end(client, technician, vials, bounded):
    client.force_login(technician, backend=BACKEND)
    expected = list(Aliquot.objects.order_by("barcode", "pk").values_list("pk", flat=True))
    for number, rows, label in (
        (2, expected[25:50], "Page 2 of more than 2"),
        (3, expected[50:], "Page 3 of more than 2"),
        (-1, expected[39:], "Last page"),
        (-2, expected[14:39], "Page 2 from the end"),
        (-3, expected[:14], "Page 3 from the end"),
    ):
        response, _ = _get(client, {"sort": "barcode", "page": number})
        page = response.context["page_obj"]
        assert [a.pk for a in page.object_list] == rows, number
        assert page.label == label
        assert page.has_next() == (number not in (3, -1)), number
        assert page.has_previous() == (number != -3), number
    html = client.get(reverse("batches:aliquot_list"), {"sort": "barcode"}).content.decode()
    assert "Page 1 of more than 2" in html and "sort=barcode&page=last" in html
    for beyond in (4, -4, 0):
        assert client.get(reverse("batches:aliquot_list"), {"page": beyond}).status_code == 404


def test_within_the_bound_a_page_from_the_end_is_the_same_page_from_the_front(
    client, technician, vials
):
    client.force_login(technician, backend=BACKEND)
    for from_end, from_front in ((-1, 3), (-2, 2), (-3, 1)):
        by_end, _ = _page(client, "barcode", from_end)
        by_front, _ = _page(client, "barcode", from_front)
        assert by_end == by_front
    assert client.get(reverse("batches:aliquot_list"), {"page": -4}).status_code == 404
