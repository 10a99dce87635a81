"""The home page: a work queue per role the person holds (release.queues), each with its count,
at most HOME_QUEUE_ITEMS items linking to the work, and a "see all" link to the filtered list;
a fixed number of queries however much is waiting."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from assays.models import RecomputeJob
from batches import services
from release import deviations
from tests import factories
from tests.release.helpers import PASSING, record_manual_run
from tests.release_pages.conftest import signed_in

pytestmark = pytest.mark.django_db

TECHNICIAN_QUEUES = {"passages_due", "results_to_enter", "vials_to_place"}
ANALYST_QUEUES = {"runs_to_review", "runs_failed_suitability", "recompute_jobs"}
QA_QUEUES = {
    "lots_awaiting_disposition",
    "open_deviations",
    "capas_due",
    "specifications_to_approve",
    "baselines_to_approve",
    "audit_reviews_due",
}
ADMIN_QUEUES = {"locked_accounts", "must_change_password", "calibration_due"}


def _queues(response) -> dict:
    """{queue key: Queue} of the page, whatever the role."""
    return {q.key: q for role in response.context["role_queues"] for q in role.queues}


def _card(response, key) -> str:
    html = response.content.decode()
    return html.split(f'data-queue="{key}"')[1].split("</div></div>")[0]


def test_each_role_sees_its_own_queues_and_a_person_with_several_sees_each(make_user):
    expected = {
        "technician": TECHNICIAN_QUEUES,
        "analyst": ANALYST_QUEUES,
        "qa": QA_QUEUES,
        "admin": ADMIN_QUEUES,
    }
    for role, keys in expected.items():
        page = signed_in(make_user(role)).get(reverse("home"))
        assert set(_queues(page)) == keys, role

    both = make_user("analyst")
    both.groups.add(*make_user("qa").groups.all())
    page = signed_in(both).get(reverse("home"))
    assert [r.role for r in page.context["role_queues"]] == ["analyst", "qa"]
    assert set(_queues(page)) == ANALYST_QUEUES | QA_QUEUES
    assert 'data-role="analyst"' in page.content.decode()
    assert 'data-role="qa"' in page.content.decode()

    nobody = signed_in(make_user(None)).get(reverse("home"))
    assert nobody.context["role_queues"] == []
    assert "Your account has no role yet" in nobody.content.decode()


def test_the_home_page_needs_a_sign_in(client):
    response = client.get(reverse("home"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_technician_passages_due_from_the_last_passage_or_the_start(technician, settings):
    settings.PASSAGE_INTERVAL_DAYS = 4
    today = timezone.localdate()
    started_long_ago = factories.culture_batch(technician, started_on=today - timedelta(days=9))
    passaged_lately = factories.culture_batch(technician, started_on=today - timedelta(days=20))
    services.passage_record(
        actor=technician,
        batch=passaged_lately,
        number=2,
        seeded_on=today - timedelta(days=1),
        seeding_density_per_cm2=5000,
        cells_seeded=1_000_000,
    )
    passaged_before = factories.culture_batch(technician, started_on=today - timedelta(days=20))
    services.passage_record(
        actor=technician,
        batch=passaged_before,
        number=2,
        seeded_on=today - timedelta(days=6),
        seeding_density_per_cm2=5000,
        cells_seeded=1_000_000,
    )
    fresh = factories.culture_batch(technician, started_on=today - timedelta(days=2))
    discarded = factories.culture_batch(technician, started_on=today - timedelta(days=30))
    services.move_culture_batch(
        actor=technician, batch=discarded, to="discarded", reason="Contaminated"
    )

    page = signed_in(technician).get(reverse("home"))

    queue = _queues(page)["passages_due"]
    labels = [i.label for i in queue.items]
    # The longest waiting first: started 9 days ago (no passage), then last passaged 6 days ago.
    assert started_long_ago.code in labels and passaged_before.code in labels
    assert labels.index(started_long_ago.code) < labels.index(passaged_before.code)
    assert passaged_lately.code not in labels and fresh.code not in labels
    assert discarded.code not in labels
    ages = {i.label: i.age_days for i in queue.items}
    assert ages[started_long_ago.code] == 9 and ages[passaged_before.code] == 6
    assert queue.items[0].url == started_long_ago.get_absolute_url()

    see_all = signed_in(technician).get(queue.see_all)
    listed = see_all.content.decode()
    assert started_long_ago.code in listed and passaged_before.code in listed
    assert passaged_lately.code not in listed and fresh.code not in listed


def test_technician_runs_to_enter_name_the_results_a_lot_in_testing_still_needs(technician):
    lot = factories.lot(technician)
    record_manual_run(technician, lot, "NTA", PASSING["NTA"])  # the lot enters testing
    lot.refresh_from_db()
    assert lot.status == "in_testing"
    waiting = factories.lot(technician)  # in process: nothing to enter yet

    page = signed_in(technician).get(reverse("home"))

    queue = _queues(page)["results_to_enter"]
    (item,) = queue.items
    assert item.label == lot.code and item.url == lot.get_absolute_url()
    assert "Sterility" in item.detail and "Endotoxin" in item.detail
    assert "Particle concentration" not in item.detail  # entered
    assert waiting.code not in _card(page, "results_to_enter")


def test_technician_vials_to_place_count_cap_and_see_all(technician, settings):
    settings.HOME_QUEUE_ITEMS = 2
    lot = factories.lot(technician)
    placed = services.aliquots_create(
        actor=technician,
        lot=lot,
        volume_ul=Decimal("100"),
        locations=factories.storage_positions(technician, 1),
    )
    loose = services.aliquots_create(
        actor=technician, lot=lot, volume_ul=Decimal("100"), locations=[None, None, None]
    )
    services.aliquot_set_status(
        actor=technician, aliquot=loose[2], to="destroyed", reason="Dropped"
    )

    page = signed_in(technician).get(reverse("home"))

    queue = _queues(page)["vials_to_place"]
    assert queue.total == 2
    assert [i.label for i in queue.items] == [loose[0].barcode, loose[1].barcode]
    assert queue.items[0].url == reverse("batches:aliquot_move", args=[loose[0].pk])
    card = _card(page, "vials_to_place")
    assert '<span class="badge ms-auto text-bg-primary queue-count">2</span>' in card

    listed = signed_in(technician).get(queue.see_all).content.decode()
    assert loose[0].barcode in listed and loose[1].barcode in listed
    assert placed[0].barcode not in listed and loose[2].barcode not in listed


def test_a_queue_shows_at_most_n_items_and_says_how_many_there_are(technician, settings):
    settings.HOME_QUEUE_ITEMS = 2
    lot = factories.lot(technician)
    services.aliquots_create(
        actor=technician, lot=lot, volume_ul=Decimal("100"), locations=[None] * 5
    )

    page = signed_in(technician).get(reverse("home"))

    queue = _queues(page)["vials_to_place"]
    assert queue.total == 5 and len(queue.items) == 2
    card = _card(page, "vials_to_place")
    assert "Showing 2 of 5." in card
    assert f'href="{reverse("batches:aliquot_list")}?to_place=true"' in card


def test_analyst_runs_to_review_failed_suitability_and_recompute_jobs(technician, analyst):
    lot = factories.lot(technician)
    recorded = record_manual_run(technician, lot, "TEM", PASSING["TEM"])
    invalid = record_manual_run(
        technician, lot, "ENDOTOXIN", [("endotoxin", 0.1), ("spike_recovery", 20.0)]
    )
    retested = record_manual_run(
        technician, lot, "ENDOTOXIN", [("endotoxin", 0.1), ("spike_recovery", 20.0)]
    )
    record_manual_run(technician, lot, "ENDOTOXIN", PASSING["ENDOTOXIN"], retest_of=retested)
    failed = RecomputeJob.objects.create(
        requested_by=analyst, status="failed", error="Stopped at the time limit"
    )
    old_failure = RecomputeJob.objects.create(
        requested_by=analyst, status="failed", created_at=timezone.now() - timedelta(days=30)
    )
    running = RecomputeJob.objects.create(requested_by=analyst, status="running", total=10, done=4)
    RecomputeJob.objects.create(requested_by=analyst, status="done")

    page = signed_in(analyst).get(reverse("home"))
    queues = _queues(page)

    review = [i.url for i in queues["runs_to_review"].items]
    assert recorded.get_absolute_url() in review
    assert invalid.get_absolute_url() not in review  # invalid: nothing to review
    suitability = queues["runs_failed_suitability"]
    assert [i.url for i in suitability.items] == [invalid.get_absolute_url()]
    assert "spike" in suitability.items[0].detail.lower()
    jobs = queues["recompute_jobs"]
    assert {i.url for i in jobs.items} == {
        reverse("qc:recompute_job", args=[failed.pk]),
        reverse("qc:recompute_job", args=[running.pk]),
    }
    assert reverse("qc:recompute_job", args=[old_failure.pk]) not in {i.url for i in jobs.items}


def test_qa_deviations_oldest_first_with_their_age_capas_and_disposition(
    passing_lot, technician, qa_signer
):
    from release.models import Deviation

    newer = deviations.deviation_open(
        actor=technician, kind="process", title="Pump stopped", description="x", lot=passing_lot
    )
    older = deviations.deviation_open(
        actor=technician, kind="oos", title="Endotoxin", description="x", lot=passing_lot
    )
    Deviation.objects.filter(pk=older.pk).update(created_at=timezone.now() - timedelta(days=12))
    closed = deviations.deviation_open(
        actor=technician, kind="other", title="Closed one", description="x", lot=passing_lot
    )
    Deviation.objects.filter(pk=closed.pk).update(status="closed")
    # Titled as the system titles an OOS it opens: kind and lot are said once, not twice.
    titled = deviations.deviation_open(
        actor=technician,
        kind="oos",
        title=f"OOS: Endotoxin of lot {passing_lot.code}",
        description="x",
        lot=passing_lot,
    )
    today = timezone.localdate()
    overdue = deviations.capa_add(
        actor=qa_signer,
        deviation=newer,
        description="Replace the pump",
        owner="Maintenance",
        due_on=today - timedelta(days=3),
    )
    deviations.capa_add(
        actor=qa_signer,
        deviation=newer,
        description="Retrain",
        owner="QA",
        due_on=today + timedelta(days=60),
    )

    page = signed_in(qa_signer).get(reverse("home"))
    queues = _queues(page)

    open_ = queues["open_deviations"]
    assert [i.label for i in open_.items] == [older.code, newer.code, titled.code]
    assert [i.age_days for i in open_.items] == [12, 0, 0]
    assert open_.items[2].detail == f"OOS: Endotoxin of lot {passing_lot.code}, open"
    assert open_.items[0].url == older.get_absolute_url()
    assert open_.items[0].detail == f"OOS: Endotoxin ({passing_lot.code}), open"
    listed = signed_in(qa_signer).get(open_.see_all).content.decode()
    assert older.code in listed and newer.code in listed and closed.code not in listed

    (capa,) = queues["capas_due"].items
    assert capa.label.startswith(newer.code) and "overdue since" in capa.detail
    assert capa.tone == "danger"
    assert str(overdue.due_on) in capa.detail

    (lot,) = queues["lots_awaiting_disposition"].items
    assert lot.url == reverse("release:lot_review", args=[passing_lot.pk])
    (audit,) = queues["audit_reviews_due"].items
    assert audit.label == passing_lot.code
    # The installation's draft of version 2 of the drug-substance specification awaits QA.
    assert any("v2" in i.label for i in queues["specifications_to_approve"].items)


def test_admin_locks_reset_passwords_and_calibration(admin_user, make_user, technician):
    from axes.models import AccessAttempt

    from assays import services as assay_services
    from lims.models import User

    reset = make_user("analyst", username="reset.me")
    User.objects.filter(pk=reset.pk).update(must_change_password=True)
    gone = make_user("analyst", username="gone.user", is_active=False)
    User.objects.filter(pk=gone.pk).update(must_change_password=True)
    AccessAttempt.objects.create(
        username="locked.out",
        ip_address="10.0.0.9",
        user_agent="test",
        failures_since_start=50,
        attempt_time=timezone.now(),
        get_data="",
        post_data="",
        http_accept="",
        path_info="/accounts/login/",
    )
    instrument = assay_services.instrument_register(
        actor=admin_user,
        code="NTA-9",
        instrument_type="NTA",
        make="Malvern",
        model="NS300",
        serial_number="9",
        location="Lab",
        assay_codes=["NTA"],
    )
    assay_services.instrument_log(
        actor=admin_user,
        instrument=instrument,
        kind="calibration",
        performed_on=timezone.localdate() - timedelta(days=400),
        due_on=timezone.localdate() - timedelta(days=35),
        performed_by="Vendor",
    )

    page = signed_in(admin_user).get(reverse("home"))
    queues = _queues(page)

    assert [i.label for i in queues["must_change_password"].items] == ["reset.me"]
    assert queues["must_change_password"].items[0].url == reverse("users:detail", args=[reset.pk])
    assert "locked.out" in [i.label for i in queues["locked_accounts"].items]
    (cal,) = queues["calibration_due"].items
    assert cal.label == "NTA-9" and cal.tone == "danger" and "overdue since" in cal.detail
    listed = signed_in(admin_user).get(queues["calibration_due"].see_all).content.decode()
    assert "NTA-9" in listed


def test_the_home_page_costs_the_same_queries_however_much_is_waiting(
    passing_lot, technician, analyst, make_user, django_assert_max_num_queries
):
    """Every role at once: each queue is one query, whatever the number of rows behind it."""
    everyone = make_user("technician")
    for role in ("analyst", "qa", "admin"):
        everyone.groups.add(*make_user(role).groups.all())
    client = signed_in(everyone)

    def add_work(n):
        for _ in range(n):
            lot = factories.lot(technician)
            services.aliquots_create(
                actor=technician, lot=lot, volume_ul=Decimal("100"), locations=[None, None]
            )
            record_manual_run(technician, lot, "TEM", PASSING["TEM"])
            record_manual_run(
                technician, lot, "ENDOTOXIN", [("endotoxin", 0.1), ("spike_recovery", 20.0)]
            )
            deviations.deviation_open(
                actor=technician, kind="process", title="Excursion", description="x", lot=lot
            )
            RecomputeJob.objects.create(requested_by=analyst, status="failed", error="x")

    add_work(1)
    client.get(reverse("home"))  # warm the per-process caches
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        assert client.get(reverse("home")).status_code == 200
    add_work(7)

    with django_assert_max_num_queries(len(few.captured_queries)):
        page = client.get(reverse("home"))
    assert page.status_code == 200
    queues = _queues(page)
    assert queues["vials_to_place"].total >= 16
    assert queues["open_deviations"].total >= 8
    assert queues["runs_failed_suitability"].total >= 8
    assert len(queues["runs_to_review"].items) <= 5
    # Every count is shown with its queue.
    counts = re.findall(r'queue-count">(\d+)<', page.content.decode())
    assert len(counts) == len(queues)
