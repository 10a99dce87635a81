"""Who opens the training and custody pages and API endpoints, what they show, and in how many
queries."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from batches import custody
from tests import factories

pytestmark = pytest.mark.django_db

# url name: (technician, analyst, qa, admin, no role)
PAGES = {
    "training:matrix": (200, 200, 200, 200, 403),
    "training:record": (403, 403, 200, 403, 403),
    "training:sop_create": (403, 403, 200, 403, 403),
    "training:requirement_create": (403, 403, 200, 403, 403),
    "custody:retain_list": (200, 200, 200, 200, 403),
    "custody:retain_create": (403, 403, 200, 403, 403),
    "custody:receipt_list": (200, 200, 200, 200, 403),
    "custody:receipt_create": (200, 403, 403, 403, 403),
}
ENDPOINTS = [
    "training-record-list",
    "training-matrix",
    "retained-sample-list",
    "sample-receipt-list",
]


@pytest.mark.parametrize("name", list(PAGES))
def test_page_permissions(client, personas, make_user, name):
    people = [*(personas[r] for r in ("technician", "analyst", "qa", "admin")), make_user(None)]
    for person, expected in zip(people, PAGES[name], strict=True):
        client.force_login(person)
        assert client.get(reverse(name)).status_code == expected, (name, person)
    client.logout()
    assert client.get(reverse(name)).status_code == 302


def _world(technician, analyst, qa_user):
    factories.training_required("NTA")
    factories.qualify(technician, "NTA", trained_days_ago=400)
    factories.qualify(analyst, "NTA")
    lot = factories.lot(technician)
    now = timezone.now()
    receipt = custody.sample_receive(
        actor=technician,
        sender_kind="cmo",
        sender_name="Acme",
        description="QC",
        lot=lot,
        containers=1,
        courier="DHL",
        shipped_at=now - timedelta(days=1),
        received_at=now,
        condition="intact",
        shipping_condition="refrigerated",
        temperature_min_c=Decimal("3.1"),
        temperature_max_c=Decimal("6.0"),
    )
    return lot, receipt


def test_matrix_page_names_the_lapsed_person(client, technician, analyst, qa_user):
    _world(technician, analyst, qa_user)
    client.force_login(qa_user)
    page = client.get(reverse("training:matrix")).content.decode()
    assert "Lapsed" in page and "Tess Tech" in page


def test_receipt_page_shows_chain_and_how_to_test(client, technician, analyst, qa_user):
    _, receipt = _world(technician, analyst, qa_user)
    client.force_login(analyst)
    page = client.get(reverse("custody:receipt_detail", args=[receipt.pk])).content.decode()
    assert "DHL → Tess Tech" in page and f"<code>{receipt.code}</code>" in page


def test_api_reads_for_people_only(technician, analyst, qa_user, make_user):
    lot, receipt = _world(technician, analyst, qa_user)
    api = APIClient()
    for name in ENDPOINTS:
        assert api.get(reverse(f"api:{name}")).status_code == 401
    api.force_authenticate(make_user(None))
    for name in ENDPOINTS:
        assert api.get(reverse(f"api:{name}")).status_code == 403
    api.force_authenticate(technician)
    matrix = api.get(reverse("api:training-matrix")).json()
    tess = next(p for p in matrix["people"] if p["username"] == technician.username)
    assert tess["qualifications"] == [
        {
            "subject": "NTA",
            "state": "lapsed",
            "ends_on": tess["qualifications"][0]["ends_on"],
            "reasons": [tess["qualifications"][0]["reasons"][0]],
        }
    ]
    assert "expired on" in tess["qualifications"][0]["reasons"][0]
    receipts = api.get(reverse("api:sample-receipt-list")).json()["results"]
    assert receipts[0]["code"] == receipt.code and len(receipts[0]["custody"]) == 2


def _queries(api, name) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        assert api.get(reverse(f"api:{name}")).status_code == 200
    return len(queries)


def test_api_lists_in_constant_queries(technician, analyst, qa_user, make_user):
    lot, receipt = _world(technician, analyst, qa_user)
    api = APIClient()
    api.force_authenticate(technician)
    before = {name: _queries(api, name) for name in ENDPOINTS}
    for n in range(3):
        person = make_user("technician", username=f"more{n}")
        factories.qualify(person, "NTA")
        custody.custody_transfer(
            actor=technician, receipt=receipt, to_party=f"F{n}", at=timezone.now()
        )
    assert {name: _queries(api, name) for name in ENDPOINTS} == before
