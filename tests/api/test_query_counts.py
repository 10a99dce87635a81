"""List endpoints run a fixed number of queries however many rows they return (no N+1)."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from assays import services
from batches import services as batch_services
from tests import factories
from tests.api.conftest import register_instrument

pytestmark = pytest.mark.django_db

ENDPOINTS = [
    "/api/v1/culture-batches/",
    "/api/v1/lots/",
    "/api/v1/lots/?genealogy=true",
    "/api/v1/aliquots/",
    "/api/v1/assays/",
    "/api/v1/instruments/",
    "/api/v1/runs/",
    "/api/v1/runs/?lot=EXO-0",
    "/api/v1/results/",
]


def _add_rows(actor, admin, instrument):
    """One more of everything the lists show: a lot with vials, a run with results."""
    lot = factories.lot(actor)
    positions = factories.storage_positions(actor, 2, box=f"B{lot.pk}")
    batch_services.aliquots_create(
        actor=actor, lot=lot, volume_ul=Decimal("100"), locations=[positions[0], None]
    )
    register_instrument(admin)
    services.run_record(
        assay_code="BCA",
        reagent_lots=factories.reagents_for("BCA"),
        results=factories.with_run_controls(
            "BCA",
            [
                services.ResultInput(sample=lot.code, analyte="protein", value=100),
                services.ResultInput(sample=lot.code, analyte="absorbance", value=0.5, well="A1"),
            ],
        ),
        source="api_json",
        started_at=timezone.now(),
        instrument=instrument,
    )


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured)


@pytest.mark.parametrize("url", ENDPOINTS)
def test_list_query_count_does_not_grow_with_rows(
    client_for_key, instrument, technician, admin_user, url
):
    _add_rows(technician, admin_user, instrument)
    few = _queries(client_for_key, url)
    for _ in range(3):
        _add_rows(technician, admin_user, instrument)

    assert _queries(client_for_key, url) == few


@pytest.mark.parametrize("url", ["/api/v1/runs/", "/api/v1/results/"])
def test_list_query_count_for_a_signed_in_person(client, technician, admin_user, url):
    instrument = register_instrument(admin_user)
    client.force_login(technician)
    _add_rows(technician, admin_user, instrument)
    few = _queries(client, url)
    for _ in range(3):
        _add_rows(technician, admin_user, instrument)

    assert _queries(client, url) == few
