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
from assays.models import QCMetric
from assays.qc import control_limits, westgard
from assays.qc_selectors import out_of_trend, trend_points
from batches.models import ExosomeLot
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
    days = [today - timedelta(weeks=weeks_ago - i) for i in range(len(values))]
    return protein_on(technician, analyst, capture, days, values)


def protein_on(technician, analyst, capture, days, values):
    """A lot made on each of ``days`` (in that order, so codes rise along it), their protein
    ``values`` in one BCA run."""
    lots = [lot_made_on(technician, day) for day in days]
    protein_run(analyst, capture, lots, values)
    return lots


def protein_run(analyst, capture, lots, values, *, hours_ago=2):
    """The lots' protein ``values`` in one BCA run; the run."""
    with capture(execute=True):
        return services.run_record(
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
            started_at=factories.run_times("BCA", hours_ago=hours_ago)[0],
            actor=analyst,
        )


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
    assert alert.rejected and alert.kind == "out of trend"
    # The chart ending on the lot's day: its point and the points the rules read before it.
    chart = f"{reverse('qc:trends')}?code=bca.protein&until={lot.manufactured_on.isoformat()}"
    assert alert.trend_url == chart
    assert not review.blockers  # an alert asks for a judgement, it does not block release
    assert review.exceptions == 1 + len(review.manual_runs)

    html = signed_in(analyst).get(reverse("release:lot_review", args=[lot.pk])).content.decode()
    section = alerts_section(html)
    assert "Out-of-trend alerts (control charts)" in section and "out of trend" in section
    assert f"<code>{CODE}</code>" in section and "3.50" in section
    assert "1-3s" in section and "baseline v1" in section
    assert f'href="{chart.replace("&", "&amp;")}"' in section
    assert f"the chart up to {lot.manufactured_on.isoformat()}" in section
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


# --- The lot's point judged from the points before it only (issue 14) ---------------------------

# z against the baseline, in date order after the baseline's 20 lots: each rule fires somewhere
# (1-3s, 2-2s, 4-1s on both sides, 10x, 1-2s alone). 2.5 then -2.5 (16th, 17th) is the
# across-run R-4s variant the rules deliberately leave out (assays.qc.westgard): nothing but
# 1-2s. The 6th and 7th, and the 39th and 40th, are made on the same day (ordered by code).
PATTERN = [
    *(0.3, -0.4, 3.5, 0.2, -0.6, 2.5, 2.4, -0.3, 0.4, 1.5),
    *(1.6, 1.4, 1.5, 1.2, -0.5, 2.5, -2.5, 0.1, -2.6, -0.2),
    *(0.5, 0.6, 0.4, 0.5, 0.7, 0.3, 0.5, 0.6, 0.4, 0.5),
    *(0.8, 0.5, -1.5, -1.6, -1.4, -1.5, -3.2, 2.5, 2.6, -2.5),
]
SAME_DAY = (6, 39)  # PATTERN[i] made on the day of PATTERN[i - 1]


def whole_series_alerts(baseline) -> dict[int, list[tuple]]:
    """What the alerts were before issue 14: the whole series judged at once, each lot's point
    by its flags there. {lot id: [(metric id, rules, z)]}."""
    series = trend_points(baseline.metric_code, assay_code=baseline.assay_code)
    flags = westgard.evaluate([p.value for p in series], baseline.mean, baseline.sd)
    return {
        p.lot_id: [
            (
                p.metric_id,
                [r for r in westgard.RULES if r in f],
                (p.value - baseline.mean) / baseline.sd,
            )
        ]
        for p, f in zip(series, flags, strict=True)
        if f
    }


def alerts_of(lot) -> list[tuple]:
    return [(a.point.metric_id, a.rules, a.z) for a in out_of_trend(lot)]


def test_every_lot_is_judged_as_in_the_whole_series(
    protein_baseline, technician, analyst, django_capture_on_commit_callbacks
):
    mean, sd = protein_baseline.mean, protein_baseline.sd
    today = timezone.localdate()
    days = [today - timedelta(weeks=len(PATTERN) - i) for i in range(len(PATTERN))]
    for i in SAME_DAY:
        days[i] = days[i - 1]
    protein_on(
        technician,
        analyst,
        django_capture_on_commit_callbacks,
        days,
        [mean + z * sd for z in PATTERN],
    )

    expected = whole_series_alerts(protein_baseline)
    fired = {rule for alerts in expected.values() for _, rules, _ in alerts for rule in rules}
    assert fired == {"1-2s", "1-3s", "2-2s", "4-1s", "10x"}  # R-4s needs runs: never here
    lots = list(ExosomeLot.objects.order_by("manufactured_on", "code"))
    assert len(lots) == 20 + len(PATTERN)
    for lot in lots:
        assert alerts_of(lot) == expected.get(lot.pk, []), lot.code
    # The same-day pair: the first (lower code) 2-2s with the lot before it; the second judged
    # after it (1-2s, opposite side), and neither reads the other the wrong way round.
    first, second = lots[20 + SAME_DAY[1] - 1], lots[20 + SAME_DAY[1]]
    assert first.manufactured_on == second.manufactured_on and first.code < second.code
    assert [a.rules for a in out_of_trend(first)] == [["1-2s", "2-2s"]]
    assert [a.rules for a in out_of_trend(second)] == [["1-2s"]]


def test_an_old_lot_measured_again_is_judged_with_the_lots_made_before_it(
    protein_baseline, technician, analyst, django_capture_on_commit_callbacks
):
    """A retest of a lot made long ago: its point is at its manufacturing date, judged with
    the lots made before it, not with those measured before it (12 lots 2.5 SD above, made
    after it but measured first, would make 2-2s, 4-1s and 10x of it)."""
    mean, sd = protein_baseline.mean, protein_baseline.sd
    capture = django_capture_on_commit_callbacks
    protein_lots(technician, analyst, capture, [mean - 0.5 * sd] * 10, weeks_ago=30)
    (old,) = protein_lots(technician, analyst, capture, [mean], weeks_ago=20)
    protein_lots(technician, analyst, capture, [mean + 2.5 * sd] * 12, weeks_ago=19)
    run = protein_run(analyst, capture, [old], [mean + 2.5 * sd], hours_ago=1)
    retest = QCMetric.objects.get(run=run, code=CODE, lot=old).pk

    (alert,) = out_of_trend(old)
    assert alert.rules == ["1-2s"] and alert.z == pytest.approx(2.5)
    assert alert.point.metric_id == retest and alert.point.x == old.manufactured_on
    assert f"until={old.manufactured_on.isoformat()}" in alert.trend_url
    expected = whole_series_alerts(protein_baseline)
    assert alerts_of(old) == expected[old.pk]
    for lot in ExosomeLot.objects.all():
        assert alerts_of(lot) == expected.get(lot.pk, []), lot.code


def test_the_work_is_the_same_for_a_history_three_times_longer(
    protein_baseline, technician, analyst, django_capture_on_commit_callbacks, monkeypatch
):
    mean, sd = protein_baseline.mean, protein_baseline.sd
    capture = django_capture_on_commit_callbacks
    (lot,) = protein_lots(technician, analyst, capture, [mean + 3.5 * sd], weeks_ago=0)
    judged = []
    evaluate = westgard.evaluate

    def counting(values, *args, **kwargs):
        judged.append(len(values))
        return evaluate(values, *args, **kwargs)

    monkeypatch.setattr(westgard, "evaluate", counting)
    with CaptureQueriesContext(connection) as short:  # the baseline's 20 lots before it
        alerts = out_of_trend(lot)
    protein_lots(technician, analyst, capture, BASELINE_PROTEIN * 2, weeks_ago=120)
    with CaptureQueriesContext(connection) as long:  # 60 lots before it
        assert out_of_trend(lot) == alerts

    assert [a.rules for a in alerts] == [["1-2s", "1-3s"]]
    assert [q["sql"] for q in long.captured_queries] == [q["sql"] for q in short.captured_queries]
    assert judged == [westgard.LOOKBACK + 1] * 2  # the lot's point and the 9 before it
