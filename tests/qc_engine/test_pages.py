"""QC pages render for the people who need them, with the expected figures in their JSON."""

import re
from datetime import timedelta

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from assays.models import QCMetric, RecomputeJob
from assays.qc import curves
from batches import services as batch_services
from tests import factories
from tests.qc_engine.conftest import (
    array,
    chart_figure,
    lots_with_protein,
    shapes_by_name,
)

pytestmark = pytest.mark.django_db

BACKEND = "django.contrib.auth.backends.ModelBackend"


@pytest.fixture
def client_as(client):
    def sign_in(user):
        client.force_login(user, backend=BACKEND)
        return client

    return sign_in


def _ct_rows(lot, analyte, target, centre):
    return [
        {"sample": lot.code, "analyte": analyte, "value": centre + d, "target": target}
        for d in (-0.1, 0.0, 0.1)
    ]


# --- Lot page ----------------------------------------------------------------------------------


def test_lot_page_shows_nta_distribution_rq_chart_and_current_metrics(
    client_as, qa_user, lot, receive_nta_file, record_run
):
    nta_run = receive_nta_file(lot)
    record_run(
        "MIRNA-QPCR",
        _ct_rows(lot, "ct", "miR-21", 22.0)
        + _ct_rows(lot, "ct", "U6", 18.0)
        + _ct_rows(lot, "calibrator_ct", "miR-21", 25.0)
        + _ct_rows(lot, "calibrator_ct", "U6", 19.0),
    )

    response = client_as(qa_user).get(lot.get_absolute_url())

    assert response.status_code == 200
    html = response.content.decode()
    assert (
        html.count("vendor/plotly.js-lims-3.7.0/plotly-lims.min.js") == 1
        and "lims/charts.js" in html
    )
    nta = chart_figure(response, "nta")
    names = [t["name"] for t in nta["data"]]
    assert len(names) == 13 and names[-1] == "Mean of 12 videos"
    assert names[0] == "std_10000_yes_2_00"
    assert {t["type"] for t in nta["data"]} == {"scatter"}
    assert all(len(array(t["y"])) == len(array(nta["data"][-1]["x"])) for t in nta["data"])
    d_lines = shapes_by_name(nta)
    stored = {m.code: m.value for m in QCMetric.objects.filter(run=nta_run)}
    for key in ("D10", "D50", "D90"):
        assert d_lines[key]["x0"] == pytest.approx(stored[f"nta.{key.lower()}"])
    assert 80 < d_lines["D10"]["x0"] < d_lines["D50"]["x0"] < d_lines["D90"]["x0"] < 120

    mirna = chart_figure(response, "mirna")
    (rq,) = mirna["data"]
    assert rq["x"] == ["miR-21"] and array(rq["y"])[0] == pytest.approx(4.0)
    assert array(rq["error_y"]["array"])[0] > 0 and array(rq["error_y"]["arrayminus"])[0] > 0

    # The current-metrics table: value, unit, algorithm + version, link to the run.
    row = re.search(r"<tr>\s*<td><a [^>]*>nta\.mean_size</a>.*?</tr>", html, re.S).group(0)
    assert "100.5" in row and "nta.lot_summary v1.0" in row
    assert reverse("qc:run_detail", args=[nta_run.pk]) in row


def test_lot_page_without_qc_data_has_no_chart_and_loads_no_plotly(client_as, qa_user, lot):
    response = client_as(qa_user).get(lot.get_absolute_url())

    assert response.status_code == 200
    html = response.content.decode()
    assert "No QC metrics yet" in html
    assert "plotly-lims.min.js" not in html and "data-chart" not in html


def test_lot_page_says_why_a_hand_entered_nta_run_has_no_distribution(
    client_as, qa_user, lot, record_run
):
    record_run("NTA", [{"sample": lot.code, "analyte": "mean_size", "value": 110.0}])

    html = client_as(qa_user).get(lot.get_absolute_url()).content.decode()

    assert "not read from a NanoSight file" in html and 'id="chart-nta"' not in html


# --- Run page: standard curve --------------------------------------------------------------

TRUE_CURVE = dict(a=0.1, b=1.2, c=500.0, d=2.5)


def _plate(lot):
    """Synthetic BCA plate: duplicate standards by the documented convention, three unknowns."""
    rows = []
    for conc in (0, 25, 125, 250, 500, 750, 1000, 1500, 2000):
        for rep, noise in enumerate((-0.004, 0.004)):
            y = float(curves.four_pl(conc, **TRUE_CURVE)) + noise
            rows.append(
                {
                    "sample": lot.code,
                    "analyte": "absorbance",
                    "value": y,
                    "target": "standard",
                    "replicate": f"{conc} ug/mL",
                    "well": f"{'ABCDEFGHI'[rep]}{conc}"[:10],
                }
            )
    for name, conc in (("LOT-A", 300.0), ("LOT-B", 800.0)):
        rows.append(
            {
                "sample": lot.code,
                "analyte": "absorbance",
                "value": float(curves.four_pl(conc, **TRUE_CURVE)),
                "source_sample": name,
            }
        )
    rows.append({"sample": lot.code, "analyte": "absorbance", "value": 2.49, "source_sample": "HI"})
    return rows


def test_run_page_draws_the_standard_curve_and_back_calculates_unknowns(
    client_as, analyst, lot, record_run
):
    run = record_run("BCA", _plate(lot))

    response = client_as(analyst).get(reverse("qc:run_detail", args=[run.pk]))

    assert response.status_code == 200
    figure = chart_figure(response, "standard-curve")
    traces = {t["name"].split(" (")[0]: t for t in figure["data"]}
    assert set(traces) == {"4PL fit", "Standards", "Unknowns", "Unknowns outside the range"}
    assert len(array(traces["Standards"]["y"])) == 18
    np.testing.assert_allclose(array(traces["Unknowns"]["x"]), [300.0, 800.0], rtol=0.02)
    assert traces["Unknowns outside the range"]["text"] == ["HI >ULOQ"]
    assert set(shapes_by_name(figure)) == {"LLOQ", "ULOQ"}
    html = response.content.decode()
    assert "&gt;ULOQ" in html and 'R² = <span class="quantity text-nowrap" title="0.999' in html


def test_run_page_lists_old_algorithm_versions_as_superseded(
    client_as, analyst, lot, record_run, monkeypatch
):
    from assays import metrics

    run = record_run("BCA", [{"sample": lot.code, "analyte": "protein", "value": 80.0}])
    monkeypatch.setitem(metrics.VERSIONS, metrics.MEAN, "2.0")
    metrics.compute_run_metrics(run.pk)

    html = client_as(analyst).get(reverse("qc:run_detail", args=[run.pk])).content.decode()

    assert "summary.mean v2.0" in html and "summary.mean v1.0" in html
    assert html.count("superseded") == 1
    assert 'id="chart-standard-curve"' not in html


# --- Trends ------------------------------------------------------------------------------------


def test_trend_page_marks_westgard_violations_and_shows_cpk(
    client_as, qa_user, technician, record_run
):
    values = [101, 97, 111, 99, 117, 103, 111, 112, 106, 106, 107, 106, 102, 101]
    lots_with_protein(technician, record_run, values)

    response = client_as(qa_user).get(
        reverse("qc:trends"),
        {"code": "bca.protein", "mean": 100, "sd": 5, "lsl": 80, "usl": 130},
    )

    assert response.status_code == 200
    figure = chart_figure(response, "trend")
    traces = {t["name"]: t for t in figure["data"]}
    assert len(array(traces["Values"]["y"])) == 14
    assert set(traces) == {
        "Values",
        "Westgard 1-2s",
        "Westgard 1-3s",
        "Westgard 2-2s",
        "Westgard 4-1s",
        "Westgard 10x",
    }
    assert array(traces["Westgard 1-3s"]["y"]).tolist() == [117.0]
    assert {"mean", "+1 SD", "−1 SD", "+2 SD", "−2 SD", "+3 SD", "−3 SD", "LSL", "USL"} <= set(
        shapes_by_name(figure)
    )
    html = response.content.decode()
    table = re.search(r'<table[^>]*id="violations".*?</table>', html, re.S).group(0)
    assert table.count("<tr") == 1 + 8  # header + points 3, 5, 7, 8, 10, 11, 12, 14
    assert "1-3s" in table and "10x" in table
    # 14 lots: too few for a performance index (ISO 22514-2 wants 25 at least).
    card = re.search(r'id="capability".*?</div></div>', html, re.S).group(0)
    assert "Ppk is shown from 25 values; 14 charted." in card


BASELINE = [100 + 10 * z for z in (0.5, -0.5, 1.0, -1.0, 1.5, -1.5, 0.8, -0.8, 1.2, -1.2) * 2]


def test_trend_limits_are_fixed_from_a_baseline_so_a_later_shift_shows(
    client_as, qa_user, technician, record_run
):
    # 20 in-control lots, then 6 lots shifted by +2.7 SD: limits from all 26 points would move
    # with the shift; the baseline's stay where the in-control lots put them.
    lots_with_protein(technician, record_run, [*BASELINE, *([127.0] * 6)])

    response = client_as(qa_user).get(
        reverse("qc:trends"), {"code": "bca.protein", "lsl": 70, "usl": 140}
    )

    shapes = shapes_by_name(chart_figure(response, "trend"))
    assert shapes["mean"]["y0"] == pytest.approx(100.0)
    html = response.content.decode()
    assert "a baseline of the first 20 points, fixed" in html
    table = re.search(r'<table[^>]*id="violations".*?</table>', html, re.S).group(0)
    assert table.count('class="table-danger"') == 5  # the 2nd to 6th shifted lots (2-2s, 4-1s)
    performance = re.search(r'id="capability".*?</div></div>', html, re.S).group(0)
    assert "Ppk" in performance and "of the 26 values" in performance


def test_with_fewer_than_20_points_and_no_established_limits_there_is_no_chart(
    client_as, qa_user, technician, record_run
):
    lots_with_protein(technician, record_run, [100, 104, 96, 102])

    response = client_as(qa_user).get(reverse("qc:trends"), {"code": "bca.protein"})

    html = response.content.decode()
    assert "data-chart" not in html
    assert "a baseline needs the first 20" in html


def test_trend_can_plot_points_in_sequence_instead_of_by_date(
    client_as, qa_user, technician, record_run
):
    lots_with_protein(technician, record_run, [100, 104, 96])

    response = client_as(qa_user).get(
        reverse("qc:trends"), {"code": "bca.protein", "x": "order", "mean": 100, "sd": 4}
    )

    values = chart_figure(response, "trend")["data"][0]
    assert list(array(values["x"])) == [1, 2, 3]
    assert list(array(values["y"])) == [100.0, 104.0, 96.0]


def test_trend_page_form_offers_the_stored_metric_codes(client_as, qa_user, lot, record_run):
    record_run("BCA", [{"sample": lot.code, "analyte": "protein", "value": 80.0}])

    response = client_as(qa_user).get(reverse("qc:trends"))

    assert response.status_code == 200
    assert '<option value="bca.protein">' in response.content.decode()
    assert "data-chart" not in response.content.decode()


def test_trend_page_query_count_does_not_grow_with_the_number_of_lots(
    client_as, qa_user, technician, record_run
):
    client = client_as(qa_user)
    url = reverse("qc:trends")
    query = {"code": "bca.protein", "lsl": 50, "usl": 150, "mean": 100, "sd": 2}

    lots_with_protein(technician, record_run, [100.0, 101.0, 99.0])
    client.get(url, query)  # warm the session and permission caches
    with CaptureQueriesContext(connection) as three:
        assert client.get(url, query).status_code == 200
    lots_with_protein(technician, record_run, [100.0 + i % 5 for i in range(9)])
    with CaptureQueriesContext(connection) as twelve:
        response = client.get(url, query)

    assert len(array(chart_figure(response, "trend")["data"][0]["y"])) == 12
    assert len(twelve) == len(three), [q["sql"] for q in twelve.captured_queries]


def test_trend_form_refuses_a_mean_without_sd(client_as, qa_user):
    response = client_as(qa_user).get(reverse("qc:trends"), {"code": "x", "mean": 1})

    assert response.status_code == 200 and "data-chart" not in response.content.decode()


# --- Culture batch page ------------------------------------------------------------------------


def test_culture_batch_page_shows_cumulative_population_doublings(client_as, technician):
    batch = factories.culture_batch(technician)
    start = batch.started_on
    for number, harvested in ((1, 4_000_000), (2, 8_000_000), (3, None)):
        batch_services.passage_record(
            actor=technician,
            batch=batch,
            number=number,
            seeded_on=start + timedelta(days=4 * (number - 1)),
            harvested_on=start + timedelta(days=4 * number) if harvested else None,
            seeding_density_per_cm2=5000,
            cells_seeded=1_000_000,
            cells_harvested=harvested,
        )

    response = client_as(technician).get(batch.get_absolute_url())

    assert response.status_code == 200
    figure = chart_figure(response, "growth")
    traces = {t["name"]: t for t in figure["data"]}
    assert array(traces["Cumulative PD (time)"]["y"]) == pytest.approx([0.0, 2.0, 5.0])
    assert traces["Cumulative PD (time)"]["x"] == [
        start.isoformat(),
        (start + timedelta(days=4)).isoformat(),
        (start + timedelta(days=8)).isoformat(),
    ]
    assert traces["PD per passage"]["x"] == ["P1", "P2"]
    assert array(traces["Cumulative PD (passage)"]["y"]) == pytest.approx([2.0, 5.0])


# --- Bulk recompute ----------------------------------------------------------------------------


def test_recompute_job_runs_end_to_end_and_shows_100_percent(
    client_as, analyst, lot, record_run, monkeypatch, django_capture_on_commit_callbacks
):
    from assays import metrics

    record_run("BCA", [{"sample": lot.code, "analyte": "protein", "value": 80.0}])
    monkeypatch.setitem(metrics.VERSIONS, metrics.MEAN, "1.1")
    client = client_as(analyst)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("qc:recompute"), {"assay_code": "BCA"})

    job = RecomputeJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("qc:recompute_job", args=[job.pk])
    assert (job.status, job.total, job.done, job.metrics_added) == ("done", 1, 1, 1)
    assert job.requested_by == analyst
    page = client.get(response["Location"]).content.decode()
    assert 'aria-valuenow="100"' in page and "100 %" in page
    assert "Runs processed: 1 of 1. Metrics added: 1. Time taken:" in page
    fragment = client.get(reverse("qc:recompute_progress", args=[job.pk])).content.decode()
    assert "hx-get" not in fragment  # finished: polling stops


def test_a_queued_job_polls_its_progress_every_second(client_as, analyst):
    job = RecomputeJob.objects.create(requested_by=analyst, assay_code="NTA")

    fragment = client_as(analyst).get(reverse("qc:recompute_progress", args=[job.pk]))

    html = fragment.content.decode()
    assert f'hx-get="{reverse("qc:recompute_progress", args=[job.pk])}"' in html
    assert 'hx-trigger="every 1s"' in html and 'aria-valuenow="0"' in html
    assert "<html" not in html  # a fragment, not a page


def test_recompute_refuses_an_assay_without_metrics(client_as, analyst):
    response = client_as(analyst).post(reverse("qc:recompute"), {"assay_code": "NOPE"})

    assert response.status_code == 200 and not RecomputeJob.objects.exists()


# --- Who may open what ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "trends", "recompute"),
    [
        ("anonymous", 302, 302),
        ("technician", 200, 403),
        ("analyst", 200, 200),
        ("qa", 200, 403),
        ("admin", 200, 403),
        (None, 403, 403),
    ],
)
def test_qc_pages_answer_each_role(
    client, make_user, analyst, lot, record_run, role, trends, recompute
):
    run = record_run("BCA", [{"sample": lot.code, "analyte": "protein", "value": 80.0}])
    job = RecomputeJob.objects.create(requested_by=analyst, finished_at=timezone.now())
    if role != "anonymous":
        client.force_login(make_user(role, username=f"who-{role}"), backend=BACKEND)

    assert client.get(reverse("qc:trends")).status_code == trends
    assert client.get(reverse("qc:run_detail", args=[run.pk])).status_code == trends
    for name, args in (("qc:recompute", []), ("qc:recompute_job", [job.pk])):
        assert client.get(reverse(name, args=args)).status_code == recompute
    assert client.get(reverse("qc:recompute_progress", args=[job.pk])).status_code == recompute
    assert client.post(reverse("qc:recompute"), {"assay_code": ""}).status_code in (
        {recompute} if recompute != 200 else {302}
    )
