"""The refusal of an unusable reference shows next to its field, in the form and in the API."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from assays.api.reference_views import reference_rows
from tests.assays_pages.conftest import signed_in
from tests.refstd.test_reference_services import register

pytestmark = pytest.mark.django_db


def test_unqualified_reference_refused_next_to_the_field(analyst, technician):
    from tests import factories

    lot = factories.lot(technician)
    reference = register(analyst, lot)
    url = reverse("assays:run_entry", args=["POTENCY-RP"])
    client = signed_in(analyst)
    form_page = client.get(url, {"sample": lot.code})
    assert "RS-T-01" in form_page.content.decode() and "not qualified" in form_page.content.decode()
    started = (timezone.localtime() - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M")
    response = client.post(
        url,
        {
            "sample": lot.code,
            "started_at": started,
            "reference_standard": reference.pk,
            "value__tnf_ev": "520",
            "unit__tnf_ev": "pg/mL",
        },
    )
    assert response.status_code == 200
    errors = response.context["form"].errors["reference_standard"]
    assert any("not qualified" in e for e in errors)
    assert "not qualified: QA has not signed" in response.content.decode()


def test_reference_list_api_reads_in_constant_queries(
    analyst, technician, django_assert_max_num_queries
):
    from tests import factories

    lot = factories.lot(technician)
    for i in range(3):
        register(analyst, lot, code=f"RS-{i}")
    client = signed_in(analyst)
    with django_assert_max_num_queries(12):
        response = client.get("/api/v1/reference-standards/", {"material": "EV-RS"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["count"] == 3 and body["results"][0]["usable_today"] is False
    detail = client.get(f"/api/v1/reference-standards/{body['results'][0]['id']}/")
    assert detail.status_code == 200 and detail.json()["status"] == "registered"
    assert client.get("/api/v1/reference-standards/", {"status": "nope"}).status_code == 400
    assert reference_rows().count() == 3
