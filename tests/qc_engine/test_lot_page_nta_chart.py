"""The lot page's NTA chart is built once from the NanoSight file, then kept (assays.qc_views):
reading the file again and building the figure took half a second of every view of the page.
Kept by what it is drawn from, so another run, another lot or a new D-value is drawn anew."""

from datetime import timedelta

import pytest
from django.utils import timezone

from assays.models import QCMetric
from assays.parsers import nanosight
from tests import factories
from tests.qc_engine.conftest import chart_figure, shapes_by_name

pytestmark = pytest.mark.django_db

BACKEND = "django.contrib.auth.backends.ModelBackend"


@pytest.fixture
def looks(client, qa_user):
    client.force_login(qa_user, backend=BACKEND)

    def nta_chart(lot) -> dict:
        response = client.get(lot.get_absolute_url())
        assert response.status_code == 200
        return chart_figure(response, "nta")

    return nta_chart


def test_the_second_view_draws_the_same_chart_without_reading_the_file(
    looks, lot, receive_nta_file, monkeypatch
):
    receive_nta_file(lot)
    first = looks(lot)

    def refuse(*args, **kwargs):
        raise AssertionError("the NanoSight file was read again")

    monkeypatch.setattr(nanosight, "parse", refuse)
    assert looks(lot) == first


def test_a_new_d_value_of_the_run_redraws_its_line(looks, lot, receive_nta_file):
    run = receive_nta_file(lot)
    before = shapes_by_name(looks(lot))["D50"]["x0"]

    QCMetric.objects.create(
        run=run,
        lot=lot,
        code="nta.d50",
        value=before + 7.5,
        unit="nm",
        inputs_hash="a-later-computation",
        algorithm="nta.lot_summary",
        algorithm_version="9.9",
        computed_at=timezone.now() + timedelta(seconds=1),
    )

    assert shapes_by_name(looks(lot))["D50"]["x0"] == pytest.approx(before + 7.5)


def test_each_lot_and_run_has_its_own_chart(looks, technician, lot, receive_nta_file):
    other = factories.lot(technician)
    first_run = receive_nta_file(lot)
    other_run = receive_nta_file(other)

    assert looks(lot)["layout"]["title"]["text"].endswith(f"run {first_run.pk}")
    assert looks(other)["layout"]["title"]["text"].endswith(f"run {other_run.pk}")
