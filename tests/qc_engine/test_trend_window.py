"""The trend page charts a bounded window of the latest points (issue 14): its queries and the
points it renders stay the same as lots grow, the rules judge the window's first points as in
the whole series, and earlier points are a link away."""

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from assays import qc_selectors
from assays.qc import westgard
from tests.qc_engine.conftest import (
    array,
    chart_figure,
    lots_with_protein,
    shapes_by_name,
)

pytestmark = pytest.mark.django_db

BACKEND = "django.contrib.auth.backends.ModelBackend"
WINDOW = 5


@pytest.fixture
def small_window(monkeypatch):
    monkeypatch.setattr(qc_selectors, "TREND_WINDOW", WINDOW)


def _violations(html: str) -> str:
    return re.search(r'<table[^>]*id="violations".*?</table>', html, re.S).group(0)


def test_queries_and_rendered_points_stay_bounded_as_lots_grow(
    client, qa_user, technician, record_run, small_window
):
    client.force_login(qa_user, backend=BACKEND)
    url = reverse("qc:trends")
    # Every point beyond 2 SD: each one a row of the violations table.
    query = {"code": "bca.protein", "mean": 100, "sd": 1}
    lots_with_protein(technician, record_run, [103.0] * 6, weeks_ago=40)
    client.get(url, query)  # warm the session and permission caches
    with CaptureQueriesContext(connection) as few:
        small = client.get(url, query)
    lots_with_protein(technician, record_run, [103.0] * 30)
    with CaptureQueriesContext(connection) as many:
        response = client.get(url, query)

    assert len(many) == len(few), [q["sql"] for q in many.captured_queries]
    for page in (small, response):
        assert len(array(chart_figure(page, "trend")["data"][0]["y"])) == WINDOW
        assert _violations(page.content.decode()).count("<tr") == 1 + WINDOW
    html = response.content.decode()
    assert "at most the latest 5 lots" in html and 'id="trend-earlier"' in html


def test_the_rules_read_the_points_before_the_window(
    client, qa_user, technician, record_run, small_window
):
    # 20 lots all 0.5 SD above the mean: from the 10th on, each violates 10x alone. The window
    # shows the last 5, each with the 9 before it on the same side: all flagged, as in the
    # whole series (judged alone, 5 points could never make 10x).
    lots = lots_with_protein(technician, record_run, [105.0] * 20)
    client.force_login(qa_user, backend=BACKEND)

    response = client.get(reverse("qc:trends"), {"code": "bca.protein", "mean": 100, "sd": 10})

    figure = chart_figure(response, "trend")
    traces = {t["name"]: t for t in figure["data"]}
    assert len(array(traces["Westgard 10x"]["y"])) == WINDOW
    table = _violations(response.content.decode())
    assert table.count("10x") == WINDOW
    assert [lot.code for lot in lots[-WINDOW:]] == re.findall(r'<a href="[^"]+">([^<]+)</a>', table)
    whole = westgard.evaluate([105.0] * 20, 100, 10)
    assert all("10x" in flags for flags in whole[-WINDOW:])


def test_provisional_limits_come_from_the_series_first_points_not_the_window(
    client, qa_user, technician, record_run, small_window
):
    baseline = [100 + 10 * z for z in (0.5, -0.5, 1.0, -1.0, 1.5, -1.5, 0.8, -0.8, 1.2, -1.2) * 2]
    lots_with_protein(technician, record_run, [*baseline, *([127.0] * 6)])
    client.force_login(qa_user, backend=BACKEND)

    response = client.get(reverse("qc:trends"), {"code": "bca.protein"})

    shapes = shapes_by_name(chart_figure(response, "trend"))
    assert shapes["mean"]["y0"] == pytest.approx(100.0)
    assert "a baseline of the first 20 points, fixed" in response.content.decode()


def test_earlier_points_are_a_link_away_and_latest_comes_back(
    client, qa_user, technician, record_run, small_window
):
    values = [100.0 + i for i in range(12)]
    lots_with_protein(technician, record_run, values)
    client.force_login(qa_user, backend=BACKEND)
    query = {"code": "bca.protein", "mean": 100, "sd": 20}

    first = client.get(reverse("qc:trends"), query)
    html = first.content.decode()
    assert list(array(chart_figure(first, "trend")["data"][0]["y"])) == values[-WINDOW:]
    link = re.search(r'href="\?([^"]+)" id="trend-earlier"', html).group(1).replace("&amp;", "&")
    earlier = client.get(reverse("qc:trends"), {k: v[0] for k, v in parse_qs(link).items()})

    # One lot a week: the window ends on the newest point before the first one.
    assert list(array(chart_figure(earlier, "trend")["data"][0]["y"])) == values[-10:-5]
    back = re.search(r'href="\?([^"]+)" id="trend-latest"', earlier.content.decode()).group(1)
    assert "until" not in parse_qs(urlsplit("?" + back.replace("&amp;", "&")).query)


def test_by_computation_time_the_window_is_the_latest_computed(
    client, qa_user, technician, record_run, small_window
):
    values = [100.0 + i for i in range(12)]
    lots_with_protein(technician, record_run, values)
    client.force_login(qa_user, backend=BACKEND)

    response = client.get(
        reverse("qc:trends"), {"code": "bca.protein", "mean": 100, "sd": 20, "x": "computed"}
    )

    assert len(array(chart_figure(response, "trend")["data"][0]["y"])) == WINDOW


def test_from_and_to_bound_the_window(client, qa_user, technician, record_run):
    lots = lots_with_protein(technician, record_run, [100.0 + i for i in range(8)])
    client.force_login(qa_user, backend=BACKEND)
    since, until = lots[2].manufactured_on, lots[5].manufactured_on

    response = client.get(
        reverse("qc:trends"),
        {"code": "bca.protein", "mean": 100, "sd": 20, "since": since, "until": until},
    )

    assert list(array(chart_figure(response, "trend")["data"][0]["y"])) == [102, 103, 104, 105]
    html = response.content.decode()  # the whole range shown: nothing earlier within it
    assert 'id="trend-earlier"' not in html and 'id="trend-latest"' in html
    refused = client.get(
        reverse("qc:trends"), {"code": "bca.protein", "since": until, "until": since}
    )
    assert "To must not be before From." in refused.content.decode()
