"""The long API lists, runs and results, are paged by keyset (issue 14): following `next` reads
every row once in the list's order, `previous` reads back, a deep page costs the queries of the
first, a cursor that is not one is a 400 naming the field; `offset` still answers the old page
with its count (clients written before the cursor)."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from assays.models import AssayRun, Result
from tests.api.conftest import a_run

pytestmark = pytest.mark.django_db

RUNS, RESULTS = "/api/v1/runs/", "/api/v1/results/"


@pytest.fixture
def runs(client_for_key, lot):
    """Five runs, two of them started at the same instant (a tie the cursor must not lose)."""
    now = timezone.now().replace(microsecond=0)
    times = [now - timedelta(hours=h) for h in (5, 4, 3, 3, 1)]
    for started in times:
        body = a_run(lot.code, started_at=started.isoformat())
        assert client_for_key.post(RUNS, body, format="json").status_code == 201
    return AssayRun.objects.order_by("-started_at", "-id")


def _walk(client, url: str) -> tuple[list[int], list[dict]]:
    ids, pages = [], []
    while url:
        answer = client.get(url)
        assert answer.status_code == 200, answer.json()
        page = answer.json()
        pages.append(page)
        ids += [row["id"] for row in page["results"]]
        url = page["next"]
    return ids, pages


def test_following_next_reads_every_run_once_newest_first(client_for_key, runs):
    ids, pages = _walk(client_for_key, f"{RUNS}?limit=2")

    assert ids == [r.pk for r in runs]
    assert [len(p["results"]) for p in pages] == [2, 2, 1]
    assert pages[0]["previous"] is None and pages[-1]["next"] is None
    assert "count" not in pages[0]


def test_previous_reads_the_page_before(client_for_key, runs):
    first = client_for_key.get(f"{RUNS}?limit=2").json()
    second = client_for_key.get(first["next"]).json()
    back = client_for_key.get(second["previous"]).json()

    assert [r["id"] for r in back["results"]] == [r["id"] for r in first["results"]]
    assert back["previous"] is None and back["next"] is not None


def test_following_next_reads_every_result_once_newest_run_first(client_for_key, runs):
    ids, pages = _walk(client_for_key, f"{RESULTS}?limit=3")

    expected = list(Result.objects.order_by("-run_id", "id").values_list("id", flat=True))
    assert ids == expected
    assert len(pages) == -(-len(expected) // 3)


def test_filters_hold_across_pages(client_for_key, runs):
    run = runs[2]
    ids, _ = _walk(client_for_key, f"{RESULTS}?run={run.pk}&limit=1")

    assert ids == list(run.results.order_by("id").values_list("id", flat=True))


@pytest.mark.parametrize("cursor", ["x", "e30", "bm90IGpzb24", "eyJrIjpbMV0sInIiOjB9"])
def test_a_cursor_that_is_not_one_is_a_400_naming_it(client_for_key, runs, cursor):
    answer = client_for_key.get(RUNS, {"cursor": cursor})

    assert answer.status_code == 400
    assert answer.json()["code"] == "validation_error"
    assert "cursor" in answer.json()["errors"]


def test_offset_still_answers_the_old_page_with_its_count(client_for_key, runs):
    answer = client_for_key.get(RUNS, {"offset": 1, "limit": 2}).json()

    assert answer["count"] == 5
    assert [r["id"] for r in answer["results"]] == [r.pk for r in runs[1:3]]


@pytest.mark.parametrize("url", [RUNS, RESULTS])
def test_a_deep_page_costs_the_queries_of_the_first(client_for_key, runs, url):
    _, pages = _walk(client_for_key, f"{url}?limit=2")

    def queries(page_url):
        with CaptureQueriesContext(connection) as captured:
            assert client_for_key.get(page_url).status_code == 200
        return len(captured)

    assert queries(f"{url}?limit=2") == queries(pages[-2]["next"])
