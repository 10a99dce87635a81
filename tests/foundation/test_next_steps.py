"""Next steps from where the work is: isolate a harvest from its batch's page, register a lot
from its isolation run's page; the form opens with that record ticked, and only that."""

import pytest
from django.urls import reverse

from tests import factories

pytestmark = pytest.mark.django_db


def ticked(response, name: str) -> list[str]:
    form = response.context["form"]
    return [str(v) for v in (form.initial.get(name) or [])]


def test_a_harvest_is_isolated_from_its_batch_page(tech_client, technician):
    harvest = factories.harvest(technician)
    page = tech_client.get(harvest.batch.get_absolute_url()).content.decode()
    link = f"{reverse('batches:isolationrun_create')}?harvests={harvest.pk}"
    assert link in page
    response = tech_client.get(link)
    assert ticked(response, "harvests") == [str(harvest.pk)]
    assert f'value="{harvest.pk}" class="form-check-input" id="id_harvests_0" checked' in (
        response.content.decode()
    )


def test_a_lot_is_registered_from_its_run_page_and_the_step_then_goes(tech_client, technician):
    run = factories.isolation_run(technician)
    link = f"{reverse('batches:exosomelot_create')}?isolation_runs={run.pk}"
    assert link in tech_client.get(run.get_absolute_url()).content.decode()
    response = tech_client.get(link)
    assert ticked(response, "isolation_runs") == [run.code]
    assert f'name="isolation_runs" value="{run.code}"' in response.content.decode()

    factories.lot(technician, runs=[run])
    assert link not in tech_client.get(run.get_absolute_url()).content.decode()


def test_a_next_step_link_with_rubbish_ticks_nothing(tech_client):
    url = reverse("batches:isolationrun_create")
    response = tech_client.get(f"{url}?harvests=abc&harvests=-1&harvests=99999999")
    assert response.status_code == 200
    assert "checked" not in response.content.decode().split('id="id_harvests"')[1][:2000]


def test_who_does_not_record_production_is_not_offered_the_step(client, analyst, technician):
    run = factories.isolation_run(technician)
    client.force_login(analyst)
    page = client.get(run.get_absolute_url()).content.decode()
    assert "Register a lot from this run" not in page
