"""Old clients' `offset` on the lists that grow with the history (issue 14): served within a
window of the first rows (OFFSET_WINDOW, 10,000) with a count bounded by it, refused past it
with 400 `offset_beyond_window` naming `offset`, and the window's last page links on by cursor,
so following `next` from offset 0 still reads every row once. Within the window an offset page
has the rows it always had."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import get_resolver
from django.utils import timezone

from assays.api import pagination
from assays.api.pagination import OFFSET_WINDOW, KeysetPagination
from assays.models import AssayRun, Result
from batches import services as batch_services
from batches.models import Aliquot
from tests import factories
from tests.api.conftest import a_run

pytestmark = pytest.mark.django_db

RUNS, RESULTS, ALIQUOTS = "/api/v1/runs/", "/api/v1/results/", "/api/v1/aliquots/"


@pytest.fixture
def runs(client_for_key, lot):
    now = timezone.now().replace(microsecond=0)
    for hours in (5, 4, 3, 3, 1):
        started = (now - timedelta(hours=hours)).isoformat()
        body = a_run(lot.code, started_at=started)
        assert client_for_key.post(RUNS, body, format="json").status_code == 201
    return list(AssayRun.objects.order_by("-started_at", "-id").values_list("id", flat=True))


@pytest.fixture
def window_of_four(monkeypatch):
    """A window of 4 rows, so that five runs reach past it."""
    monkeypatch.setattr(pagination, "OFFSET_WINDOW", 4)


def _ids(answer) -> list[int]:
    return [row["id"] for row in answer["results"]]


def test_the_window_is_ten_thousand_rows_and_a_deeper_offset_is_a_400_naming_offset(
    client_for_key, runs
):
    assert OFFSET_WINDOW == 10_000
    for url in (RUNS, RESULTS, ALIQUOTS, "/api/v1/lots/", "/api/v1/culture-batches/"):
        assert client_for_key.get(url, {"offset": 9_900}).status_code == 200
        assert client_for_key.get(url, {"offset": 9_000, "limit": 1000}).status_code == 200
        for query in ({"offset": 9_901}, {"offset": 9_001, "limit": 1000}, {"offset": 935_000}):
            answer = client_for_key.get(url, query)
            assert answer.status_code == 400, (url, query)
            body = answer.json()
            assert body["code"] == "offset_beyond_window"
            assert list(body["errors"]) == ["offset"]
            assert "`next`" in body["errors"]["offset"][0] and "10,000" in body["message"]


def test_the_count_is_bounded_by_the_window(client_for_key, runs, window_of_four):
    with CaptureQueriesContext(connection) as captured:
        answer = client_for_key.get(RUNS, {"offset": 0, "limit": 2}).json()

    assert answer["count"] == 4 and answer["count_exact"] is False
    counts = [q["sql"] for q in captured if q["sql"].startswith("SELECT COUNT(*)")]
    assert len(counts) == 1 and re.search(r"LIMIT 5\b", counts[0]), counts


def test_a_list_within_the_window_has_its_exact_count(client_for_key, runs):
    answer = client_for_key.get(RUNS, {"offset": 0}).json()

    assert answer["count"] == 5 and answer["count_exact"] is True
    assert answer["next"] is None and answer["previous"] is None


def test_following_next_from_offset_zero_crosses_the_window_by_cursor(
    client_for_key, runs, window_of_four
):
    url, ids, pages = f"{RUNS}?offset=0&limit=2", [], []
    while url:
        answer = client_for_key.get(url)
        assert answer.status_code == 200, answer.json()
        pages.append(answer.json())
        ids += _ids(pages[-1])
        url = pages[-1]["next"]

    assert ids == runs
    # offset 0 links to offset 2; offset 2 + 2 more would cross the window of 4: a cursor.
    assert "offset=2" in pages[0]["next"]
    assert "cursor=" in pages[1]["next"] and "offset" not in pages[1]["next"]
    assert "count" in pages[1] and "count" not in pages[2]


def test_previous_of_an_offset_page_is_the_offset_page_before(client_for_key, runs):
    answer = client_for_key.get(RUNS, {"offset": 3, "limit": 2}).json()
    before = client_for_key.get(answer["previous"]).json()

    assert _ids(before) == runs[1:3] and "count" in before
    assert client_for_key.get(before["previous"]).json()["results"][0]["id"] == runs[0]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (RUNS, lambda: AssayRun.objects.order_by("-started_at", "-id")),
        (RESULTS, lambda: Result.objects.order_by("-run_id", "id")),
        (ALIQUOTS, lambda: Aliquot.objects.order_by("lot_id", "number")),
    ],
)
def test_an_offset_within_the_window_has_the_rows_it_always_had(
    client_for_key, runs, url, expected, technician
):
    for _ in range(2):  # two lots of two vials: the vials' order crosses lots
        other = factories.lot(technician)
        batch_services.aliquots_create(
            actor=technician, lot=other, volume_ul=Decimal("100"), locations=[None, None]
        )
    ids = list(expected().values_list("id", flat=True))
    for offset in range(len(ids) + 1):
        answer = client_for_key.get(url, {"offset": offset, "limit": 2}).json()
        assert _ids(answer) == ids[offset : offset + 2], (url, offset)
        assert answer["count"] == len(ids) and answer["count_exact"] is True


def test_a_list_that_had_offset_pages_by_default_keeps_them(client_for_key, runs, lot):
    answer = client_for_key.get("/api/v1/lots/").json()

    assert answer["count"] == 1 and answer["count_exact"] is True
    assert _ids(answer) == [lot.pk]


def _keyset_lists():
    for pattern in get_resolver("lims.api_urls").url_patterns:
        for inner in getattr(pattern, "url_patterns", []):
            view = getattr(inner.callback, "view_class", None)
            paging = getattr(view, "pagination_class", None)
            if paging and issubclass(paging, KeysetPagination):
                yield view, paging


def test_every_keyset_list_is_ordered_by_its_keys_so_the_cursor_goes_on_where_offset_ended():
    lists = list(_keyset_lists())
    assert len(lists) >= 11  # runs, results, vials, lots, batches and six release records

    for view_class, paging in lists:
        view = view_class()
        view.request = None
        order = [field.replace("pk", "id") for field in view.get_queryset().query.order_by]
        assert order == [key.ordering(False) for key in paging.keys], view_class


def test_the_document_states_the_window(client, technician):
    client.force_login(technician)
    document = client.get("/api/schema/").json()

    def offset(path):
        parameters = document["paths"][path]["get"]["parameters"]
        return next(p for p in parameters if p["name"] == "offset")

    results, lots = offset(RESULTS), offset("/api/v1/lots/")
    assert results["deprecated"] is True and "deprecated" not in lots
    for parameter in (results, lots):
        assert parameter["schema"]["maximum"] == OFFSET_WINDOW - 1
        assert "offset_beyond_window" in parameter["description"]
