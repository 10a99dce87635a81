"""The audit trail's CSV export (lims.views.audit_trail_csv, lims.audit_pages.trail_export): one
streamed query whatever the trail's length, memory flat in its rows, and the same rows as the
trail's pages, column for column (issue 14)."""

import csv
import datetime
import io
import json
import tracemalloc
from decimal import Decimal

import pytest
from django.db import connection
from django.urls import reverse

from batches.models import Donor
from lims import audit_pages
from lims.audit import audit_context
from lims.audit_pages import branches, python_json, trail_page
from lims.views import csv_field
from tests import factories

pytestmark = pytest.mark.django_db

BACKEND = "django.contrib.auth.backends.ModelBackend"


def _donors(actor, start: int, count: int) -> None:
    """`count` donors in one set-based insert, audited like any write (one event each)."""
    with audit_context(actor=actor, reason="Bulk, for the export's tests"):
        Donor.objects.bulk_create(
            Donor(
                code=f"D-BULK-{n:05d}",
                tissue_source="umbilical_cord",
                consent_reference="C-1",
                created_by=actor,
            )
            for n in range(start, start + count)
        )


def _export(client, **params) -> bytes:
    response = client.get(reverse("audit_trail_csv"), params)
    assert response.status_code == 200
    return b"".join(response.streaming_content)


def _rows(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode())))


def _page_rows(data: dict) -> list[list[str]]:
    """The trail's page (every event on one page), each event in the CSV's columns as the
    export wrote them from the page's events before it read its own query."""
    events, following = trail_page(branches(data), None, 100_000)
    assert following is None
    return [
        [
            e.pgh_created_at.astimezone(datetime.UTC).isoformat(),
            e.pgh_obj_model,
            e.pgh_obj_id,
            e.action,
            e.username or "",
            e.instrument or "",
            e.reason or "",
            json.dumps(e.pgh_diff if e.pgh_label == "update" else e.pgh_data, default=str),
            e.task or "",
        ]
        for e in events
    ]


@pytest.fixture
def history(technician, analyst):
    """Events of several tables, some in one transaction (the same time: the order between
    tables decides), updates with a diff, decimals jsonb writes otherwise than Python ("5.000"),
    text past ASCII, and a reason the CSV must quote."""
    lot = factories.lot(technician)  # volume 5 mL: numeric "5.000"
    donor = factories.donor(technician, code="D-EXPORT-1")
    with audit_context(actor=analyst, instrument="NTA-01", reason='Review, "quoted"\nnext line'):
        Donor.objects.filter(pk=donor.pk).update(notes="Zellkultur µ – geprüft", void_reason="")
    with audit_context(actor=analyst, reason="Volume corrected"):
        type(lot).objects.filter(pk=lot.pk).update(volume_ml=Decimal("4.250"))
        type(lot).objects.filter(pk=lot.pk).update(volume_ml=Decimal("12.5"))
    factories.reagent_lot(technician)
    return {"lot": lot, "donor": donor}


@pytest.mark.parametrize("data", [{}, {"model": "batches.Donor"}, {"model": "batches.ExosomeLot"}])
def test_the_export_is_the_trails_rows_column_for_column(client, qa_user, history, data):
    client.force_login(qa_user, backend=BACKEND)

    content = _export(client, **data)
    rows = _rows(content)

    assert rows[0] == [
        "time_utc",
        "model",
        "record_id",
        "action",
        "user",
        "instrument",
        "reason",
        "changes",
        "task",
    ]
    expected = _page_rows(data)
    assert len(expected) > 1
    assert rows[1:] == expected
    # Byte for byte as csv.writer writes them (its quoting, its line ends).
    written = io.StringIO()
    csv.writer(written).writerows([rows[0], *expected])
    assert content.decode() == written.getvalue()
    if not data:
        # The history has what the comparison is about.
        changes = [row[7] for row in rows[1:]]
        assert any('"volume_ml": 5.0' in c for c in changes)  # numeric 5.000, as Python writes
        assert any('"volume_ml": [4.25, 12.5]' in c for c in changes)
        assert any("\\u00b5" in c for c in changes)
        assert any(row[6] == 'Review, "quoted"\nnext line' for row in rows)


def test_jsonb_text_is_written_as_pythons_json():
    """python_json keeps jsonb's text only where json.dumps(json.loads(text)) is the same."""
    values = [
        "5.000",
        "7.771",
        "0.00001",
        "0.0001",
        "-1.50",
        "123456789012345678.5",
        "100000000000000000000",
        "1e16",
        "-0.5",
        "0",
    ]
    texts = [
        "'plain ascii'",
        "'Zellkultur µ'",
        "E'del \\x7f'",
        "E'ctl \\x01 \\t \\n \\\\ \"'",
        "'ratio: 1.50, v1.2.3'",
        "'emoji 🧪'",
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT jsonb_build_object('n', v, 'a', jsonb_build_array(v, 1, v), "
            "'o', jsonb_build_object('x', v))::text FROM unnest(%s::numeric[]) v "
            "UNION ALL SELECT jsonb_build_object('f', v)::text "
            "FROM unnest(ARRAY[1e-05, 0.1, 1e16, 1.5e300, 3.0]::float8[]) v "
            "UNION ALL SELECT jsonb_build_object('s', s, 'n', 1.5)::text FROM ("
            + " UNION ALL ".join(f"SELECT {t}::text AS s" for t in texts)
            + ") t UNION ALL SELECT '{}'::jsonb::text UNION ALL SELECT '[]'::jsonb::text",
            [values],
        )
        found = [row[0] for row in cursor.fetchall()]
    assert len(found) == len(values) + 5 + len(texts) + 2
    for text in found:
        assert python_json(text) == json.dumps(json.loads(text)), text
    assert python_json(None) == "null"


@pytest.mark.parametrize(
    "value",
    [None, "", "plain", "a,b", 'say "x"', "line\nbreak", "cr\rhere", " spaced ", "0", "µ", '"'],
)
def test_a_field_is_written_as_csv_writer_writes_it(value):
    written = io.StringIO()
    csv.writer(written).writerow([value, "x"])
    assert f"{csv_field(value)},x\r\n" == written.getvalue()


def _queries_of_export(client, **params) -> tuple[int, int]:
    executed = []

    def count(execute, sql, params, many, context):
        executed.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        rows = len(_rows(_export(client, **params))) - 1
    return len(executed), rows


def test_the_export_costs_the_same_queries_for_10_and_3000_events(client, qa_user, technician):
    client.force_login(qa_user, backend=BACKEND)
    _donors(technician, 0, 10)
    small, small_rows = _queries_of_export(client, model="batches.Donor")
    _donors(technician, 10, 2990)
    large, large_rows = _queries_of_export(client, model="batches.Donor")

    assert (small_rows, large_rows) == (10, 3000)
    assert large == small


def _peak_of_export(client, **params) -> tuple[int, int]:
    """The peak of memory allocated while the export is requested and read to its end (each
    chunk dropped once counted, as a server sends it), and the bytes exported."""
    tracemalloc.start()
    try:
        response = client.get(reverse("audit_trail_csv"), params)
        size = sum(len(chunk) for chunk in response.streaming_content)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, size


def test_the_exports_memory_does_not_grow_with_its_rows(client, qa_user, technician, monkeypatch):
    # Batches of 100 rows: 300 events are three of them, 3,000 thirty.
    monkeypatch.setattr(audit_pages, "EXPORT_FETCH", 100)
    client.force_login(qa_user, backend=BACKEND)
    _donors(technician, 0, 300)
    _peak_of_export(client, model="batches.Donor")  # warm: imports, URL resolvers, plans
    small_peak, small_size = _peak_of_export(client, model="batches.Donor")
    _donors(technician, 300, 2700)
    large_peak, large_size = _peak_of_export(client, model="batches.Donor")

    assert large_size > 9 * small_size
    # Ten times the rows, not ten times the memory: one batch either way (the old walk held a
    # page of up to 1,000 events, the whole export at 300).
    assert large_peak < 1.5 * small_peak, (small_peak, large_peak)
    # What little it grows by (allocator noise) is a small part of the 2,700 rows added.
    assert large_peak - small_peak < (large_size - small_size) / 10, (small_peak, large_peak)
