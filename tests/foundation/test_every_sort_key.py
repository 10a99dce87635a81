"""Every list answers every sort key it offers, both ways (a sort by a computed column, the
lots' vial count, answered 500: the ordering came before the annotation)."""

import pytest
from django.urls import resolve, reverse

from lims.pages import RecordListView
from tests import factories

pytestmark = pytest.mark.django_db

LISTS = [
    "batches:donor_list",
    "batches:cellbank_list",
    "batches:reagentlot_list",
    "batches:culturebatch_list",
    "batches:isolationrun_list",
    "batches:exosomelot_list",
    "batches:aliquot_list",
    "batches:storagelocation_list",
    "assays:assay_list",
    "assays:instrument_list",
    "assays:run_list",
    "assays:file_list",
]


def test_every_list_sorts_by_every_key_it_offers(client, technician, make_user):
    factories.lot(technician)
    client.force_login(make_user("qa"), backend="django.contrib.auth.backends.ModelBackend")
    failures = []
    for name in LISTS:
        url = reverse(name)
        view = resolve(url).func.view_class
        assert issubclass(view, RecordListView), name
        keys = [s for _, _, s in view.columns if s]
        assert keys, name
        for key in keys:
            for sort in (key, f"-{key}"):
                response = client.get(url, {"sort": sort})
                page = response.context["page_obj"] if response.status_code == 200 else None
                # The last page and the keyset cursors too (lims.pagination), computed columns
                # (counts) included.
                asked = [{"sort": sort}, {"sort": sort, "page": "last"}]
                for direction in ("after", "before"):
                    cursor = getattr(page, f"{direction}_cursor", "")
                    if cursor:
                        asked.append({"sort": sort, direction: cursor})
                for params in asked:
                    status = client.get(url, params).status_code
                    if status != 200:
                        failures.append(f"{name}?{params}: {status}")
    assert not failures, failures
