"""Out-of-trend alerts on the lot review page: the lot's values judged with Westgard's rules
against each metric's QA-approved control baseline (issue 9 item 7). They ask for a judgement
and count as exceptions; they never block release."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from assays import services
from assays.control_baselines import baseline_approve, baseline_propose
from assays.qc import control_limits
from assays.qc_selectors import out_of_trend
from release.selectors import lot_review
from tests import factories
from tests.qc_engine.conftest import lot_made_on
from tests.release.helpers import signer_for
from tests.release_pages.conftest import signed_in
from tests.release_pages.lots import lot_under_review

pytestmark = pytest.mark.django_db

CODE = "bca.protein"
# The worked example's in-control pattern around the release lots' 5 µg/mL: mean 5, SD 0.513.
BASELINE_PROTEIN = [5 + (v - 100) / 20 for v in control_limits.BASELINE_LOTS]


def protein_lots(technician, analyst, capture, values, *, weeks_ago):
    """Lots made a week apart from ``weeks_ago`` weeks ago, their protein in one BCA run."""
    today = timezone.localdate()
    lots = [
        lot_made_on(technician, today - timedelta(weeks=weeks_ago - i)) for i in range(len(values))
    ]
    with capture(execute=True):
        services.run_record(
            assay_code="BCA",
            reagent_lots=factories.reagents_for("BCA"),
            results=factories.with_run_controls(
                "BCA",
                [
                    services.ResultInput(lot.code, "protein", value=v)
                    for lot, v in zip(lots, values, strict=True)
                ],
            ),
            source="manual",
            started_at=factories.run_times("BCA", hours_ago=2)[0],
            actor=analyst,
        )
    return lots


@pytest.fixture
def protein_baseline(technician, analyst, qa_user, django_capture_on_commit_callbacks):
    """20 earlier lots and the baseline QA approved from them."""
    protein_lots(
        technician, analyst, django_capture_on_commit_callbacks, BASELINE_PROTEIN, weeks_ago=60
    )
    draft = baseline_propose(actor=analyst, metric_code=CODE, reason="The first 20 lots")
    return baseline_approve(signer=signer_for(qa_user, "approval"), baseline=draft)


def alerts_section(html: str) -> str:
    return re.search(r'<section[^>]*id="trend-alerts".*?</section>', html, re.S).group(0)


def test_a_lot_35_sd_above_the_baseline_is_out_of_trend_on_its_review_page(
    protein_baseline, technician, analyst, django_capture_on_commit_callbacks
):
    high = protein_baseline.mean + 3.5 * protein_baseline.sd  # 6.80 µg/mL: within spec
    lot = lot_under_review(
        technician, analyst, django_capture_on_commit_callbacks, change={("BCA", "protein"): high}
    )

    review = lot_review(lot)
    (alert,) = review.trend_alerts
    assert alert.baseline == protein_baseline and alert.point.lot_id == lot.pk
    assert alert.z == pytest.approx(3.5) and alert.rules == ["1-2s", "1-3s"]
    assert alert.rejected and alert.kind == "out of trend" and alert.position == 21
    assert not review.blockers  # an alert asks for a judgement, it does not block release
    assert review.exceptions == 1 + len(review.manual_runs)

    html = signed_in(analyst).get(reverse("release:lot_review", args=[lot.pk])).content.decode()
    section = alerts_section(html)
    assert "Out-of-trend alerts (control charts)" in section and "out of trend" in section
    assert f"<code>{CODE}</code>" in section and "3.50" in section
    assert "1-3s" in section and "baseline v1" in section
    assert f'href="{reverse("qc:trends")}?code=bca.protein"' in section
    assert "Nothing blocks release." in html


def test_a_lot_in_control_has_no_alert(protein_baseline, passing_lot, analyst):
    assert out_of_trend(passing_lot) == []

    html = signed_in(analyst).get(reverse("release:lot_review", args=[passing_lot.pk]))
    section = alerts_section(html.content.decode())
    assert "None: no Westgard rule flags this lot" in section


def test_a_1_2s_value_is_a_warning(
    protein_baseline, technician, analyst, django_capture_on_commit_callbacks
):
    warm = protein_baseline.mean + 2.5 * protein_baseline.sd
    lot = lot_under_review(
        technician, analyst, django_capture_on_commit_callbacks, change={("BCA", "protein"): warm}
    )

    (alert,) = out_of_trend(lot)
    assert alert.rules == ["1-2s"] and not alert.rejected and alert.kind == "warning"
    html = signed_in(analyst).get(reverse("release:lot_review", args=[lot.pk])).content.decode()
    assert 'class="trend-alert table-warning"' in alerts_section(html)


def test_without_an_approved_baseline_there_are_no_alerts(
    technician, analyst, django_capture_on_commit_callbacks
):
    protein_lots(
        technician, analyst, django_capture_on_commit_callbacks, BASELINE_PROTEIN, weeks_ago=60
    )
    baseline_propose(actor=analyst, metric_code=CODE, reason="A draft judges nothing")
    lot = lot_under_review(
        technician, analyst, django_capture_on_commit_callbacks, change={("BCA", "protein"): 9.0}
    )

    assert out_of_trend(lot) == []


def test_alerts_cost_two_queries_whatever_the_number_of_lots(
    protein_baseline, passing_lot, django_assert_num_queries
):
    with django_assert_num_queries(2):  # the approved baselines, the points of their series
        out_of_trend(passing_lot)


def test_the_review_page_query_count_does_not_grow_with_the_lots_in_the_series(
    protein_baseline, technician, analyst, django_capture_on_commit_callbacks
):
    high = protein_baseline.mean + 3.5 * protein_baseline.sd
    lot = lot_under_review(
        technician, analyst, django_capture_on_commit_callbacks, change={("BCA", "protein"): high}
    )
    client = signed_in(analyst)
    url = reverse("release:lot_review", args=[lot.pk])
    client.get(url)  # warm the session

    with CaptureQueriesContext(connection) as before:
        assert client.get(url).status_code == 200
    protein_lots(
        technician, analyst, django_capture_on_commit_callbacks, [5.1, 4.9, 5.0, 5.2], weeks_ago=30
    )
    with CaptureQueriesContext(connection) as after:
        response = client.get(url)

    assert len(lot_review(lot).trend_alerts) == 1
    assert "out of trend" in alerts_section(response.content.decode())
    assert len(after) == len(before), [q["sql"] for q in after.captured_queries]
