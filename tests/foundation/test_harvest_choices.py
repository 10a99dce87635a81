"""The isolation run form offers the latest harvests with medium left, not every harvest.

A box for every harvest of ten years was a 1.2 MB page of 5,000 boxes at a busy site (issue 14).
An older harvest comes ticked from its culture batch's "isolate" link (?harvests=), and any
harvest not voided may be sent; a voided one, or one that does not exist, is refused.
"""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from batches import services
from batches.forms import IsolationRunForm
from batches.models import IsolationRun
from tests import factories
from tests.foundation.test_services_and_forms import isolation_data

pytestmark = pytest.mark.django_db

URL = "batches:isolationrun_create"


@pytest.fixture
def few_offered(monkeypatch):
    monkeypatch.setattr(IsolationRunForm, "HARVESTS_OFFERED", 3)
    monkeypatch.setattr(IsolationRunForm, "HARVESTS_SCANNED", 6)


@pytest.fixture
def harvests(technician):
    """Eight harvests of one batch, oldest first, the newest used up by a run."""
    batch = factories.culture_batch(technician)
    start = timezone.now() - timedelta(days=9)
    made = [factories.harvest(technician, batch, at=start + timedelta(hours=i)) for i in range(8)]
    factories.isolation_run(technician, [made[-1]])  # takes its 250 mL
    return made


def _boxes(response) -> tuple[list[int], list[int]]:
    """The harvests offered (newest first) and those ticked."""
    html = response.content.decode()
    boxes = re.findall(r'<input type="checkbox" name="harvests" value="(\d+)"([^>]*)>', html)
    return [int(v) for v, _ in boxes], [int(v) for v, rest in boxes if "checked" in rest]


def test_the_latest_harvests_with_medium_left_are_offered(tech_client, harvests, few_offered):
    offered, ticked = _boxes(tech_client.get(reverse(URL)))
    assert offered == [harvests[6].pk, harvests[5].pk, harvests[4].pk]  # not the used-up one
    assert ticked == []
    assert "latest 3 harvests with medium left" in tech_client.get(reverse(URL)).content.decode()


def test_an_older_harvest_comes_ticked_from_its_isolate_link(tech_client, harvests, few_offered):
    offered, ticked = _boxes(tech_client.get(reverse(URL), {"harvests": harvests[0].pk}))
    assert ticked == [harvests[0].pk]
    assert offered == [harvests[6].pk, harvests[5].pk, harvests[4].pk, harvests[0].pk]


def test_a_harvest_not_offered_may_be_sent(tech_client, harvests, few_offered):
    response = tech_client.post(reverse(URL), isolation_data(harvests[1]))
    assert response.status_code == 302
    assert list(IsolationRun.objects.latest("pk").harvests.all()) == [harvests[1]]


def test_a_refused_form_shows_the_harvest_it_was_sent(tech_client, harvests, few_offered):
    data = isolation_data(harvests[1], started_at="", ended_at="")
    response = tech_client.post(reverse(URL), data)
    assert response.status_code == 200
    assert _boxes(response)[1] == [harvests[1].pk]


def test_a_voided_or_unknown_harvest_is_refused(tech_client, technician, harvests):
    services.record_void(harvests[2], actor=technician, reason="Wrong batch recorded")
    runs = IsolationRun.objects.count()
    for pk in (harvests[2].pk, 999_999):
        data = isolation_data(harvests[2], harvests=[pk])
        response = tech_client.post(reverse(URL), data)
        assert response.status_code == 200
        assert "Select a valid choice" in str(response.context["form"].errors["harvests"])
    assert IsolationRun.objects.count() == runs


def test_the_form_costs_the_same_queries_with_four_times_the_harvests(tech_client, technician):
    batch = factories.culture_batch(technician)
    start = timezone.now() - timedelta(days=9)

    def add(n):
        for i in range(n):
            services.harvest_record(
                actor=technician,
                batch=batch,
                harvested_at=start + timedelta(minutes=i + add.made),
                volume_ml=Decimal("100"),
                medium="serum_free",
            )
        add.made += n

    add.made = 0
    counts = []
    for n in (40, 120):
        add(n)
        tech_client.get(reverse(URL))
        with CaptureQueriesContext(connection) as queries:
            response = tech_client.get(reverse(URL))
        assert len(_boxes(response)[0]) == IsolationRunForm.HARVESTS_OFFERED
        counts.append(len(queries))
    assert counts[0] == counts[1]
