"""The audit trail as a person reads it (issue 12 item 7b): records by their codes, references
and people by name, found by a record's code, a malformed filter refused aloud, and one history
for a lot or a culture batch with its parts, runs and results, in a constant number of queries.
"""

import csv
import io
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from assays.models import AssayRun, Result, RunSample
from batches import services
from batches.models import Aliquot, AliquotMove, Harvest, Passage
from lims.audit_pages import history_of
from lims.audit_trail import describe, family_events, family_of
from lims.models import AuditEvent
from tests import factories
from tests.release.helpers import record_manual_run

BACKEND = "django.contrib.auth.backends.ModelBackend"


def _listed(client, **params):
    response = client.get(reverse("audit_trail"), params)
    assert response.status_code == 200
    return response, list(response.context["object_list"])


@pytest.fixture
def moved_vial(technician):
    """A vial filled into one position and moved to another, by Tess Tech."""
    lot = factories.lot(technician)
    first, second = factories.storage_positions(technician, 2, box="RD1")
    (vial,) = services.aliquots_create(
        actor=technician, lot=lot, volume_ul=Decimal("100"), locations=[first]
    )
    services.aliquot_move(actor=technician, aliquot=vial, to_location=second, reason="Re-boxed")
    return {"lot": lot, "vial": vial, "from": first, "to": second}


# --- Names, not ids ----------------------------------------------------------------------------


def test_a_change_of_reference_reads_as_the_records_it_points_at(client, qa_user, moved_vial):
    client.force_login(qa_user, backend=BACKEND)
    vial, first, second = moved_vial["vial"], moved_vial["from"], moved_vial["to"]

    response, events = _listed(client, record=vial.barcode)
    moved = next(e for e in events if e.pgh_label == "update" and e.reason == "Re-boxed")
    assert ("location", str(first), str(second)) in moved.readable_changes
    assert moved.record == f"Aliquot {vial.barcode}"
    assert moved.record_url == vial.get_absolute_url()
    assert moved.who == "Tess Tech" and moved.who_username == "tess.tech"

    page = response.content.decode()
    assert "<code>location</code>" in page and "location_id" not in page
    assert f"<del>{first}</del>" in page and f"<ins>{second}</ins>" in page
    assert f">Aliquot {vial.barcode}</a>" in page
    assert ">Tess Tech</td>" in page


def test_a_record_trail_names_references_too(client, technician, moved_vial):
    client.force_login(technician, backend=BACKEND)
    vial = moved_vial["vial"]
    page = client.get(vial.get_absolute_url()).content.decode()
    assert f"<del>{moved_vial['from']}</del> → <ins>{moved_vial['to']}</ins>" in page
    assert "location_id" not in page


def test_a_reference_to_a_missing_record_shows_its_id(db):
    """An event may point at an id that no row has (written by raw SQL): shown as #id."""
    event = AuditEvent(
        pgh_obj_model="batches.Aliquot",
        pgh_obj_id="999999",
        pgh_label="update",
        pgh_diff={"location_id": [999998, None]},
        pgh_data={},
    )
    (described,) = describe([event])
    assert described.readable_changes == [("location", "#999998", None)]
    assert described.record == "Aliquot #999999" and described.record_url == ""


# --- Found by its code -------------------------------------------------------------------------


def test_a_record_is_found_by_its_code_in_any_case(client, qa_user, technician):
    client.force_login(qa_user, backend=BACKEND)
    lot = factories.lot(technician)
    other = factories.lot(technician)

    for typed in (lot.code, lot.code.lower(), f"  {lot.code} "):
        _, events = _listed(client, record=typed)
        assert events, typed
        assert {(e.pgh_obj_model, e.pgh_obj_id) for e in events} == {
            ("batches.ExosomeLot", str(lot.pk))
        }
    assert all(e.pgh_obj_id != str(other.pk) for e in events)

    # The record type narrows the search; a code nobody has finds nothing (never everything).
    assert _listed(client, record=lot.code, model="batches.Donor")[1] == []
    assert _listed(client, record="EXO-1999-9999")[1] == []
    # A database id is still found, as before.
    by_id = _listed(client, record=str(lot.pk), model="batches.ExosomeLot")[1]
    assert {e.pgh_obj_id for e in by_id} == {str(lot.pk)}


def test_the_csv_export_follows_the_code_search(client, qa_user, technician):
    client.force_login(qa_user, backend=BACKEND)
    lot = factories.lot(technician)
    response = client.get(reverse("audit_trail_csv"), {"record": lot.code})
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:3] == ["time_utc", "model", "record_id"]
    assert {(row[1], row[2]) for row in rows[1:]} == {("batches.ExosomeLot", str(lot.pk))}


# --- A malformed filter is refused aloud -------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "2026-13-45"}, "since"),
        ({"until": "yesterday"}, "until"),
        ({"since": "03/12/2026"}, "since"),
        ({"since": "2026-03-02", "until": "2026-03-01"}, "until"),
    ],
)
def test_a_malformed_date_filter_is_an_error_not_ignored(
    client, qa_user, technician, params, field
):
    factories.donor(technician)
    client.force_login(qa_user, backend=BACKEND)

    response, events = _listed(client, **params)
    assert events == []  # not the whole trail as if the filter applied
    errors = response.context["filter"].form.errors
    assert field in errors
    page = response.content.decode()
    assert "The filter cannot be read" in page
    assert errors[field][0].replace("'", "&#x27;") in page

    csv_response = client.get(reverse("audit_trail_csv"), params)
    assert csv_response.status_code == 400
    assert "The filter cannot be read" in csv_response.content.decode()


def test_a_well_formed_date_still_filters(client, qa_user, technician):
    factories.donor(technician)
    client.force_login(qa_user, backend=BACKEND)
    response, events = _listed(client, since="2000-01-01", until="2999-12-31")
    assert events and not response.context["filter"].form.errors


# --- One history for a lot or a culture batch --------------------------------------------------


def _batch_with_everything(technician, analyst, *, passages=1, runs=1):
    batch = factories.culture_batch(technician)
    for number in range(1, passages + 1):
        services.passage_record(
            actor=technician,
            batch=batch,
            number=number,
            seeded_on=batch.started_on,
            seeding_density_per_cm2=5000,
            cells_seeded=1_000_000,
            cells_harvested=3_000_000,
        )
    factories.harvest(technician, batch)
    for _ in range(runs):
        record_manual_run(analyst, batch, "VIABILITY", [("viability", 95.2)])
    return batch


def test_a_batch_history_has_its_passages_harvests_runs_and_results(client, technician, analyst):
    batch = _batch_with_everything(technician, analyst)
    passage, harvest = Passage.objects.get(batch=batch), Harvest.objects.get(batch=batch)
    run = AssayRun.objects.get(samples__culture_batch=batch)
    result = Result.objects.filter(run=run).first()

    events, truncated = history_of(batch)
    assert not truncated
    seen = {(e.pgh_obj_model, e.pgh_obj_id) for e in events}
    for record in (batch, passage, harvest, run, result):
        label = f"{record._meta.app_label}.{type(record).__name__}"
        assert (label, str(record.pk)) in seen, label
    # Newest first, each row named.
    times = [e.pgh_created_at for e in events]
    assert times == sorted(times, reverse=True)
    assert f"Passage {batch.code} P1" in {e.record for e in events}

    client.force_login(technician, backend=BACKEND)
    page = client.get(batch.get_absolute_url()).content.decode()
    assert "This record with its passages, harvests, reagent lots used, assay runs and" in page
    assert f"Passage {batch.code} P1" in page and f"VIABILITY run {run.pk}" in page

    # Another batch's records are not in it.
    other = _batch_with_everything(technician, analyst)
    assert not {(m, pk) for m, pk in seen if pk == str(other.pk) and m.endswith("CultureBatch")}


def test_a_lot_history_has_its_vials_moves_runs_and_results(client, technician, analyst):
    lot = factories.lot(technician)
    first, second = factories.storage_positions(technician, 2, box="RH1")
    (vial,) = services.aliquots_create(
        actor=technician, lot=lot, volume_ul=Decimal("100"), locations=[first]
    )
    move = services.aliquot_move(actor=technician, aliquot=vial, to_location=second, reason="Move")
    run = record_manual_run(analyst, lot, "BCA", [("protein", 4.1)])

    family = family_of(lot)
    assert str(vial.pk) in family[Aliquot] and str(move.pk) in family[AliquotMove]
    assert str(run.pk) in family[AssayRun]
    assert family[Result] == {str(r.pk) for r in run.results.all()}
    assert family[RunSample] == {str(s.pk) for s in run.samples.all()}

    seen = {(e.pgh_obj_model, e.pgh_obj_id) for e in family_events(family)}
    assert ("batches.Aliquot", str(vial.pk)) in seen
    assert ("assays.AssayRun", str(run.pk)) in seen
    assert {("assays.Result", str(r.pk)) for r in run.results.all()} <= seen

    # The audit trail page gives the same history from the lot's code.
    client.force_login(analyst, backend=BACKEND)
    _, listed = _listed(client, record=lot.code, parts="on")
    assert {(e.pgh_obj_model, e.pgh_obj_id) for e in listed} == seen or len(listed) == 50


def test_a_long_history_shows_its_latest_events_and_says_so(technician, analyst):
    batch = _batch_with_everything(technician, analyst, passages=3)
    events, truncated = history_of(batch, limit=4)
    assert truncated and len(events) == 4
    everything, _ = history_of(batch)
    assert [e.pgh_slug for e in events] == [e.pgh_slug for e in everything[:4]]


def _count(client, url) -> tuple[int, list[str]]:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries), [q["sql"][:300] for q in ctx.captured_queries]


def test_the_history_on_a_batch_page_takes_as_many_queries_for_more_runs(
    client, technician, analyst
):
    small = _batch_with_everything(technician, analyst, passages=1, runs=1)
    big = _batch_with_everything(technician, analyst, passages=4, runs=3)
    client.force_login(technician, backend=BACKEND)
    client.get(small.get_absolute_url())  # warm per-process caches
    few, few_sql = _count(client, small.get_absolute_url())
    many, many_sql = _count(client, big.get_absolute_url())
    assert few == many, "\n".join(["--- few", *few_sql, "--- many", *many_sql])


def test_the_trail_page_names_a_page_of_many_kinds_in_one_query(
    client, qa_user, technician, moved_vial
):
    client.force_login(qa_user, backend=BACKEND)
    url = reverse("audit_trail")
    client.get(url)
    few, _ = _count(client, url)
    for _ in range(3):  # more records of more kinds on the first page
        factories.culture_batch(technician)
    many, sql = _count(client, url)
    assert few == many, "\n".join(sql)
