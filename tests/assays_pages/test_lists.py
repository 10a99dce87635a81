"""List pages: filters, sorting, and a number of queries that does not grow with the rows."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from assays import services
from assays.models import Instrument
from tests import factories
from tests.assays_pages.conftest import NTA_FILE, record_run, register_instrument, signed_in


def _add_instruments(admin, start, count):
    for i in range(start, start + count):
        register_instrument(admin, code=f"INST-{i:02d}", due_in_days=(-5 if i % 3 == 0 else 20))


def _add_runs(technician, lot, start, count):
    for i in range(start, start + count):
        record_run(technician, lot.code, value=100 + i)


def _add_files(technician, admin, lot, start, count):
    instrument = Instrument.objects.filter(code="NTA-01").first() or register_instrument(admin)
    for i in range(start, start + count):
        services.instrument_file_receive(
            data=NTA_FILE.read_bytes() + f"\n# copy {i}\n".encode(),
            filename=f"nta_{i}.csv",
            sample_identifier=lot.code,
            assay_code="NTA",
            instrument=instrument,
            uploaded_by=technician,
        )


LISTS = [
    ("assays:instrument_list", "instruments"),
    ("assays:run_list", "runs"),
    ("assays:file_list", "files"),
    ("assays:assay_list", "runs"),  # the catalogue's rows are fixed; their run counts grow
]


@pytest.mark.parametrize(("url_name", "rows"), LISTS, ids=[name for name, _ in LISTS])
def test_list_page_query_count_does_not_grow_with_rows(url_name, rows, technician, admin_user, lot):
    add = {
        "instruments": lambda s, n: _add_instruments(admin_user, s, n),
        "runs": lambda s, n: _add_runs(technician, lot, s, n),
        "files": lambda s, n: _add_files(technician, admin_user, lot, s, n),
    }[rows]
    client = signed_in(technician)
    url = reverse(url_name)
    client.get(url)  # warm caches that are not per request (content types, templates)

    add(0, 2)
    with CaptureQueriesContext(connection) as with_two:
        assert client.get(url).status_code == 200
    add(2, 8)
    with CaptureQueriesContext(connection) as with_ten:
        assert client.get(url).status_code == 200

    assert len(with_ten) == len(with_two), [q["sql"][:200] for q in with_ten.captured_queries]


def test_run_list_filters_by_assay_status_source_and_sample(technician, analyst, lot):
    other_lot = factories.lot(technician)
    bca = record_run(technician, lot.code)
    record_run(technician, other_lot.code)
    services.run_invalidate(actor=analyst, run=bca, reason="Wrong dilution")
    client = signed_in(analyst)

    def listed(**query):
        return list(client.get(reverse("assays:run_list"), query).context["object_list"])

    assert listed(status="invalidated") == [bca]
    assert listed(sample=lot.code) == [bca]
    assert listed(assay="NTA") == []
    assert len(listed(assay="BCA", source="manual")) == 2


def test_run_list_sorts_by_a_whitelisted_column_only(technician, lot):
    first, second = record_run(technician, lot.code), record_run(technician, lot.code)
    client = signed_in(technician)
    url = reverse("assays:run_list")

    assert client.get(url, {"sort": "result_count"}).status_code == 200
    assert client.get(url, {"sort": "operator__password"}).context["sort"] == "-started_at"
    assert {first, second} == set(client.get(url).context["object_list"])


def test_assay_catalogue_shows_analytes_with_units_and_allowed_values(qa_user):
    client = signed_in(qa_user)
    catalogue = client.get(reverse("assays:assay_list"), {"is_current": "true"})
    codes = [a.code for a in catalogue.context["object_list"]]
    assert {"NTA", "BCA", "EV-MARKERS", "ENDOTOXIN", "MIRNA-QPCR"} <= set(codes)

    nta = next(a for a in catalogue.context["object_list"] if a.code == "NTA")
    page = client.get(nta.get_absolute_url()).content.decode()
    assert "particle/mL" in page and "SOP-QC-001" in page
    markers = next(a for a in catalogue.context["object_list"] if a.code == "EV-MARKERS")
    assert "positive, negative" in client.get(markers.get_absolute_url()).content.decode()
