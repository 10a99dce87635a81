"""The audit trail read a page at a time by keyset (lims.audit_pages): every event once, in the
order of pghistory's Events view, whatever the page size; a constant number of queries."""

import pytest
from django.urls import reverse

from lims.audit_pages import Position, branches, trail_page
from lims.audit_trail import audit_events
from tests import factories

pytestmark = pytest.mark.django_db

BACKEND = "django.contrib.auth.backends.ModelBackend"


@pytest.fixture
def history(technician):
    for n in range(4):
        factories.donor(technician, code=f"D-PAGE-{n}")
    factories.reagent_lot(technician)


def _walk(found, page_size):
    """Every page of the trail after the other, as its "older" links walk it."""
    position = None
    while True:
        events, position = trail_page(found, position, page_size)
        yield from events
        if position is None:
            return


def _keys(events):
    return [(e.pgh_model, e.pgh_id) for e in events]


def test_pages_walk_every_event_once_in_the_order_of_the_events_view(history):
    expected = list(audit_events().order_by("-pgh_created_at", "-pgh_model", "-pgh_id"))
    walked = list(_walk(branches({}), page_size=2))

    assert _keys(walked) == _keys(expected)
    by_key = {(e.pgh_model, e.pgh_id): e for e in expected}
    for event in walked:
        original = by_key[(event.pgh_model, event.pgh_id)]
        assert (event.pgh_obj_model, event.pgh_obj_id, event.pgh_label) == (
            original.pgh_obj_model,
            original.pgh_obj_id,
            original.pgh_label,
        )
        assert event.pgh_data == original.pgh_data
        assert event.pgh_diff == original.pgh_diff
        assert (event.username, event.reason) == (original.username, original.reason)


def test_the_last_page_says_there_is_no_next(history):
    events, following = trail_page(branches({"model": "batches.Donor"}), None, 100)
    assert len(events) == 4 and following is None


@pytest.mark.parametrize(
    "token", ["", "garbage", "2026-01-01~x~1~2", "2026-13-45T00:00:00~batches.DonorEvent~1"]
)
def test_an_unreadable_position_is_the_first_page(token):
    assert Position.parse(token) is None


def test_a_position_without_a_time_zone_is_refused():
    assert Position.parse("2026-01-01T10:00:00~batches.DonorEvent~3") is None


def test_the_trail_page_costs_the_same_queries_on_every_page(
    client, qa_user, history, django_assert_max_num_queries
):
    client.force_login(qa_user, backend=BACKEND)
    url = reverse("audit_trail")
    first = client.get(url)
    assert first.status_code == 200
    older = first.context["older"]
    with django_assert_max_num_queries(12):
        deeper = client.get(url, {"after": older} if older else {})
    assert deeper.status_code == 200


def test_a_code_no_record_has_lists_nothing(client, qa_user, history):
    client.force_login(qa_user, backend=BACKEND)
    response = client.get(reverse("audit_trail"), {"record": "NO-SUCH-CODE"})
    assert list(response.context["object_list"]) == []
