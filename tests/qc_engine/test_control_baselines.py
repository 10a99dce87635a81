"""Control baselines: proposed from a metric's trend series, approved by QA with an e-signature,
versioned; the trend page's limits come from the approved one (CLSI C24, issue 9 item 7)."""

import re
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from assays import qc_selectors
from assays.control_baselines import baseline_approve, baseline_propose
from assays.models import ControlBaseline
from assays.qc import control_limits
from lims.models import Signature
from lims.signatures import is_valid
from tests.qc_engine.conftest import chart_figure, lot_made_on, shapes_by_name
from tests.release.helpers import signer_for

pytestmark = pytest.mark.django_db

BACKEND = "django.contrib.auth.backends.ModelBackend"
CODE = "bca.protein"


def lots_with_protein(technician, record_run, values, *, weeks_ago=None):
    """One lot per value, a week apart in date order, the first made ``weeks_ago`` weeks ago
    (by default so that the last is a week ago), their protein recorded in one BCA run."""
    start = len(values) if weeks_ago is None else weeks_ago
    today = timezone.localdate()
    lots = [lot_made_on(technician, today - timedelta(weeks=start - i)) for i in range(len(values))]
    record_run(
        "BCA",
        [
            {"sample": lot.code, "analyte": "protein", "value": v}
            for lot, v in zip(lots, values, strict=True)
        ],
    )
    return lots


def propose(actor, **kwargs):
    kwargs.setdefault("reason", "The first 20 lots of the process")
    return baseline_propose(actor=actor, metric_code=CODE, **kwargs)


def approve(qa, baseline, meaning="approval"):
    return baseline_approve(signer=signer_for(qa, meaning), baseline=baseline)


@pytest.fixture
def baseline_lots(technician, record_run):
    """The worked example's 20 in-control lots (control_limits.BASELINE_LOTS), made 60 to 41
    weeks ago: the lots of a test come after them."""
    return lots_with_protein(technician, record_run, control_limits.BASELINE_LOTS, weeks_ago=60)


# --- Proposing ---------------------------------------------------------------------------------


def test_a_baseline_from_the_first_20_points_has_their_mean_and_sd(analyst, baseline_lots):
    baseline = propose(analyst)

    expected = control_limits.baseline(control_limits.BASELINE_LOTS)
    assert (baseline.version, baseline.status, baseline.n) == (1, "draft", 20)
    assert baseline.mean == pytest.approx(expected.mean) == pytest.approx(100.0)
    assert baseline.sd == pytest.approx(expected.sd)
    series = qc_selectors.trend_points(CODE)
    assert [p["metric_id"] for p in baseline.points] == [p.metric_id for p in series]
    assert [p["value"] for p in baseline.points] == pytest.approx(control_limits.BASELINE_LOTS)
    assert baseline.method == "first_n" and baseline.created_by == analyst


def test_only_the_first_n_points_set_the_baseline_later_ones_never_move_it(
    analyst, technician, record_run, baseline_lots
):
    lots_with_protein(technician, record_run, [127.0] * 5)  # later, shifted

    baseline = propose(analyst)

    assert baseline.n == 20 and baseline.mean == pytest.approx(100.0)


def test_a_baseline_needs_20_points(analyst, technician, record_run):
    lots_with_protein(technician, record_run, control_limits.BASELINE_LOTS[:19])

    with pytest.raises(ValidationError, match="19 points .* needs 20"):
        propose(analyst)
    series = qc_selectors.trend_points(CODE)
    with pytest.raises(ValidationError, match="at least 20 values"):
        propose(analyst, method="set", metric_ids=[p.metric_id for p in series])
    with pytest.raises(ValidationError, match="at least 20 points"):
        propose(analyst, n=19)
    assert not ControlBaseline.objects.exists()


def test_values_that_do_not_vary_give_no_baseline(analyst, technician, record_run):
    lots_with_protein(technician, record_run, [100.0] * 20)

    with pytest.raises(ValidationError, match="do not vary"):
        propose(analyst)


def test_a_technician_or_an_administrator_cannot_propose_a_baseline(
    technician, admin_user, baseline_lots
):
    for user in (technician, admin_user):
        with pytest.raises(PermissionDenied, match="Only analysts and QA"):
            propose(user)
    assert not ControlBaseline.objects.exists()


def test_a_proposal_needs_a_reason(analyst, baseline_lots):
    with pytest.raises(ValidationError, match="Say why"):
        propose(analyst, reason="  ")


def test_a_point_out_of_control_is_refused_until_it_is_left_out(analyst, technician, record_run):
    # The 5th lot is 200: against the mean and SD of the 20 (104.3, 24.5) it is 3.9 SD out.
    values = list(control_limits.BASELINE_LOTS)
    values[4] = 200.0
    lots = lots_with_protein(technician, record_run, [*values, 103.0])
    series = qc_selectors.trend_points(CODE)

    with pytest.raises(
        ValidationError, match=rf"in-control points only.*: {lots[4].code} \(1-2s, 1-3s\)\. Leave"
    ):
        propose(analyst)
    baseline = propose(analyst, exclude=[series[4].metric_id], reason="Lot 5: OOT, CAPA-12")

    assert baseline.n == 20 and 200.0 not in [p["value"] for p in baseline.points]
    assert baseline.points[-1]["value"] == 103.0  # the 21st lot took its place
    assert baseline.excluded == [
        {
            "metric_id": series[4].metric_id,
            "label": lots[4].code,
            "x": series[4].x.isoformat(),
            "value": 200.0,
        }
    ]


def test_a_set_of_points_chosen_sets_the_baseline(analyst, technician, record_run):
    lots_with_protein(technician, record_run, [*control_limits.BASELINE_LOTS, 150.0, 101.0])
    series = qc_selectors.trend_points(CODE)
    chosen = [p.metric_id for p in series if p.value != 150.0]

    baseline = propose(analyst, method="set", metric_ids=chosen)

    values = [p.value for p in series if p.value != 150.0]
    expected = control_limits.baseline(values, n=21)
    assert (baseline.method, baseline.n) == ("set", 21)
    assert baseline.mean == pytest.approx(expected.mean) and baseline.sd == pytest.approx(
        expected.sd
    )
    with pytest.raises(ValidationError, match=r"Not points of this metric's series .*: 999999\."):
        propose(analyst, method="set", metric_ids=[*chosen, 999999])


def test_several_series_are_read_in_one_query_as_trend_points_reads_each(
    baseline_lots, django_assert_num_queries
):
    wanted = [(CODE, ""), (CODE, "BCA"), (CODE, "NTA"), ("nta.concentration", "")]

    with django_assert_num_queries(1):
        series = qc_selectors.trend_series(wanted)

    assert series[(CODE, "")] == qc_selectors.trend_points(CODE)
    assert series[(CODE, "BCA")] == qc_selectors.trend_points(CODE, assay_code="BCA")
    assert [p.value for p in series[(CODE, "BCA")]] == pytest.approx(control_limits.BASELINE_LOTS)
    assert series[(CODE, "NTA")] == [] and series[("nta.concentration", "")] == []


# --- Approving ---------------------------------------------------------------------------------


def test_qa_approves_a_draft_with_a_signature_meaning_approval(analyst, qa_user, baseline_lots):
    draft = propose(analyst)

    approved = approve(qa_user, draft)

    assert approved.status == "approved"
    signature = approved.approval_signature
    assert signature.signer == qa_user and signature.meaning == Signature.Meaning.APPROVAL
    assert is_valid(signature, ControlBaseline.objects.get(pk=draft.pk).signed_content())
    assert signature.record_type == "assays.ControlBaseline"


def test_approval_is_refused_to_anyone_but_qa(analyst, technician, admin_user, baseline_lots):
    draft = propose(analyst)

    for user in (analyst, technician, admin_user):
        with pytest.raises(PermissionDenied, match="Only QA approves"):
            approve(user, draft)
    draft.refresh_from_db()
    assert draft.status == "draft" and draft.approval_signature is None
    assert not Signature.objects.filter(record_type="assays.ControlBaseline").exists()


def test_approval_with_another_meaning_is_refused(analyst, qa_user, baseline_lots):
    draft = propose(analyst)

    with pytest.raises(ValidationError, match="meaning approval"):
        approve(qa_user, draft, meaning="review")
    draft.refresh_from_db()
    assert draft.status == "draft"


def test_a_baseline_is_approved_once(analyst, qa_user, baseline_lots):
    baseline = approve(qa_user, propose(analyst))

    with pytest.raises(ValidationError, match="is approved, not a draft"):
        approve(qa_user, baseline)
    assert Signature.objects.filter(record_type="assays.ControlBaseline").count() == 1


def test_a_newer_version_approved_supersedes_the_previous_one(
    analyst, qa_user, technician, record_run, baseline_lots
):
    v1 = approve(qa_user, propose(analyst))
    lots_with_protein(technician, record_run, [104.0, 96.0, 102.0, 98.0, 100.0])
    v2 = propose(analyst, n=25, reason="25 lots: the process is established")
    v1.refresh_from_db()
    assert (v1.status, v2.status, v2.version) == ("approved", "draft", 2)  # a draft judges nothing

    approve(qa_user, v2)

    v1.refresh_from_db()
    v2.refresh_from_db()
    assert (v1.status, v2.status) == ("superseded", "approved")
    assert list(ControlBaseline.objects.filter(status="approved")) == [v2]
    # The database keeps one approved version per metric, whatever the code does.
    with pytest.raises(IntegrityError), transaction.atomic():
        ControlBaseline.objects.create(
            **{
                f: getattr(v2, f)
                for f in ("metric_code", "mean", "sd", "n", "points", "method", "reason")
            },
            version=3,
            status="approved",
            approval_signature=v2.approval_signature,
            created_by=analyst,
        )


def test_an_older_draft_cannot_replace_a_newer_approved_version(analyst, qa_user, baseline_lots):
    v1 = propose(analyst)
    approve(qa_user, propose(analyst, reason="Same points, proposed again"))

    with pytest.raises(ValidationError, match="v2, a newer version, is approved"):
        approve(qa_user, v1)


def test_the_numbers_a_baseline_was_set_with_never_change(analyst, qa_user, baseline_lots):
    baseline = approve(qa_user, propose(analyst))

    with pytest.raises(Exception, match="baseline_content_never_changes"), transaction.atomic():
        ControlBaseline.objects.filter(pk=baseline.pk).update(mean=110.0)
    with pytest.raises(Exception, match="never_deleted"), transaction.atomic():
        ControlBaseline.objects.filter(pk=baseline.pk).delete()


def test_proposal_and_approval_are_in_the_audit_trail_with_their_reasons(
    analyst, qa_user, baseline_lots
):
    from lims.audit_trail import events_of

    baseline = approve(qa_user, propose(analyst, reason="First 20 lots"))

    events = list(events_of(baseline))
    assert [e.pgh_label for e in events] == ["insert", "update"]
    assert events[0].reason == "Baseline proposed: First 20 lots"
    assert events[1].reason == "Approved by QA: First 20 lots"
    assert events[1].username == qa_user.username


# --- The trend page ----------------------------------------------------------------------------


@pytest.fixture
def client_as(client):
    def sign_in(user):
        client.force_login(user, backend=BACKEND)
        return client

    return sign_in


def violations_table(html: str) -> str:
    return re.search(r'<table[^>]*id="violations".*?</table>', html, re.S).group(0)


def test_the_trend_page_judges_with_the_approved_baseline_and_says_whose_it_is(
    client_as, analyst, qa_user, technician, record_run, baseline_lots
):
    approve(qa_user, propose(analyst))
    # The worked example's 20 new lots, the last 8 shifted by +2.7 SD.
    lots_with_protein(technician, record_run, control_limits.NEW_LOTS)
    given = {"mean": 110.8, "sd": 17.07}  # the NEW_LOTS' own: the shift hides in them

    response = client_as(analyst).get(reverse("qc:trends"), {"code": CODE, **given})

    html = response.content.decode()
    assert shapes_by_name(chart_figure(response, "trend"))["mean"]["y0"] == pytest.approx(100.0)
    today = timezone.localdate().isoformat()
    source = re.search(r'id="limits-source">(.*?)</div>', html, re.S).group(1)
    assert re.sub(r"<[^>]+>", "", source).startswith(
        f"From baseline v1 approved by {qa_user.printed_name} on {today} (20 points)"
    )
    assert "provisional" not in re.search(r"Control limits.*?</h2>", html, re.S).group(0)
    assert "The established mean and SD given are not used" in html
    # control_limits.shift_example: 7 rejections against the baseline, none against their own.
    assert violations_table(html).count('class="table-danger"') == 7
    assert control_limits.shift_example() == (0, 7)


def test_without_an_approved_baseline_the_limits_are_provisional(
    client_as, analyst, technician, record_run, baseline_lots
):
    propose(analyst)  # a draft judges nothing

    html = client_as(analyst).get(reverse("qc:trends"), {"code": CODE}).content.decode()

    assert re.search(r"Control limits.*?provisional.*?</h2>", html, re.S)
    assert "Provisional limits, from a baseline of the first 20 points, fixed" in html
    assert "Draft <a" in html and "awaiting QA" in html
    assert 'id="propose-first-n"' in html  # analysts may propose


def test_the_trend_page_offers_qa_the_proposal_and_the_approval(
    client_as, qa_user, technician, baseline_lots
):
    from tests.factories import PASSWORD

    assert (
        'id="propose-first-n"'
        not in client_as(technician).get(reverse("qc:trends"), {"code": CODE}).content.decode()
    )
    client = client_as(qa_user)

    response = client.post(
        reverse("qc:baseline_propose"),
        {"code": CODE, "assay": "", "method": "first_n", "n": 20, "reason": "First 20 lots"},
    )

    draft = ControlBaseline.objects.get()
    assert response.status_code == 302 and response["Location"] == draft.get_absolute_url()
    detail = client.get(draft.get_absolute_url()).content.decode()
    assert reverse("qc:baseline_approve", args=[draft.pk]) in detail
    refused = client.post(
        reverse("qc:baseline_approve", args=[draft.pk]),
        {"username": qa_user.username, "password": "wrong password", "comment": ""},
    )
    assert refused.status_code == 200 and "not correct" in refused.content.decode()
    response = client.post(
        reverse("qc:baseline_approve", args=[draft.pk]),
        {"username": qa_user.username, "password": PASSWORD, "comment": "CLSI C24"},
    )
    draft.refresh_from_db()
    assert response.status_code == 302 and draft.status == "approved"
    page = client.get(reverse("qc:trends"), {"code": CODE}).content.decode()
    assert "From <a" in page and f"baseline v1</a> approved by {qa_user.printed_name}" in page
    assert "signature valid" in client.get(draft.get_absolute_url()).content.decode()


def test_the_proposal_page_lets_points_be_left_out(client_as, analyst, technician, record_run):
    values = list(control_limits.BASELINE_LOTS)
    values[4] = 200.0
    lots_with_protein(technician, record_run, [*values, 103.0])
    series = qc_selectors.trend_points(CODE)
    client = client_as(analyst)
    url = reverse("qc:baseline_propose")

    page = client.get(url, {"code": CODE})
    assert page.status_code == 200 and page.content.decode().count('name="exclude"') == 21
    data = {"code": CODE, "method": "first_n", "n": 20, "reason": "Lot 5 left out: OOT"}
    refused = client.post(url, data)
    assert "in-control points only" in refused.content.decode()
    client.post(url, {**data, "exclude": [series[4].metric_id]})

    assert ControlBaseline.objects.get().excluded[0]["value"] == 200.0


def test_baseline_pages_are_for_the_roles_that_need_them(
    client_as, technician, analyst, admin_user, baseline_lots
):
    draft = propose(analyst)

    assert client_as(technician).get(reverse("qc:baseline_propose")).status_code == 403
    assert client_as(technician).get(draft.get_absolute_url()).status_code == 200
    assert (
        client_as(analyst).get(reverse("qc:baseline_approve", args=[draft.pk])).status_code == 403
    )
    assert (
        client_as(admin_user).get(reverse("qc:baseline_approve", args=[draft.pk])).status_code
        == 403
    )
    listing = client_as(analyst).get(reverse("qc:baseline_list")).content.decode()
    assert draft.get_absolute_url() in listing
