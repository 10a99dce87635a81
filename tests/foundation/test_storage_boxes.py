"""Storage as boxes (batches/storage.py, batches/storage_views.py): a box laid out in one step,
all or nothing and audited; the grid read from the position codes in a constant number of
queries, each cell a labelled link; vials placed and moved through aliquot_move, never two in
one position; only technicians write."""

import html
import re
import threading
from decimal import Decimal
from urllib.parse import quote

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from batches import services, storage
from batches.models import Aliquot, AliquotMove, StorageLocation
from batches.storage_views import box_url
from lims.models import AuditEvent
from lims.roles import RoleRefused
from tests import factories
from tests.foundation.test_reads_only_read import refuse_writes

pytestmark = pytest.mark.django_db

BACKEND = "django.contrib.auth.backends.ModelBackend"
BOX = {"freezer": "ULT-80-02", "rack": "R3", "box": "B7"}


def _box_positions(**where):
    return StorageLocation.objects.filter(**{**BOX, **where})


def _vials(technician, locations):
    lot = factories.lot(technician)
    return services.aliquots_create(
        actor=technician, lot=lot, volume_ul=Decimal("100"), locations=locations
    )


# --- Laying out a box --------------------------------------------------------------------------


@pytest.mark.parametrize(("layout", "last", "count"), [("9x9", "I9", 81), ("10x10", "J10", 100)])
def test_a_box_is_laid_out_in_one_step(tech_client, layout, last, count):
    response = tech_client.post(reverse("batches:storage_box_create"), {**BOX, "layout": layout})
    assert response.status_code == 302
    assert response["Location"] == box_url(**BOX)
    positions = set(_box_positions().values_list("position", flat=True))
    assert len(positions) == count
    assert {"A1", last} <= positions
    assert "A01" not in positions and f"{last[0]}{int(last[1:]) + 1}" not in positions


def test_every_position_laid_out_is_in_the_audit_trail_with_who_and_why(technician):
    created = storage.box_create(actor=technician, layout="9x9", **BOX)
    events = AuditEvent.objects.filter(
        pgh_obj_model="batches.StorageLocation",
        pgh_obj_id__in=[str(p.pk) for p in created],
        pgh_label="insert",
    )
    assert events.count() == 81
    assert {(e.username, e.reason) for e in events} == {(technician.username, "Box laid out 9 × 9")}


def test_a_box_is_laid_out_with_a_constant_number_of_queries(technician):
    with CaptureQueriesContext(connection) as ctx:
        storage.box_create(actor=technician, layout="10x10", **BOX)
    inserts = [
        q for q in ctx.captured_queries if 'INSERT INTO "batches_storagelocation"' in q["sql"]
    ]
    assert len(inserts) == 1  # one bulk INSERT of the 100 positions
    assert len(ctx.captured_queries) < 15


def test_a_box_with_a_position_already_registered_is_refused_and_nothing_written(
    tech_client, technician
):
    services.storage_location_create(actor=technician, position="E05", **BOX)  # E5 in the grid
    before = StorageLocation.objects.count()
    response = tech_client.post(reverse("batches:storage_box_create"), {**BOX, "layout": "9x9"})
    assert response.status_code == 200
    assert "already has position E05" in response.content.decode()
    assert StorageLocation.objects.count() == before


def test_laying_out_the_same_box_twice_is_refused(technician):
    storage.box_create(actor=technician, layout="9x9", **BOX)
    with pytest.raises(ValidationError, match="already has positions A1, A2"):
        storage.box_create(actor=technician, layout="10x10", **BOX)
    assert _box_positions().count() == 81


def test_a_layout_that_is_not_offered_is_refused(tech_client, technician):
    for layout in ("11x11", "0x0", "9x9x9", ""):
        response = tech_client.post(
            reverse("batches:storage_box_create"), {**BOX, "layout": layout}
        )
        assert response.status_code == 200, layout
    with pytest.raises(ValidationError):
        storage.box_create(actor=technician, layout="12x8", **BOX)
    assert not _box_positions().exists()


def test_an_invisible_character_in_a_box_name_is_refused(technician):
    with pytest.raises(ValidationError):
        storage.box_create(actor=technician, layout="9x9", **{**BOX, "box": "B\u200b7"})
    assert not StorageLocation.objects.exists()


@pytest.mark.parametrize("role", ["analyst", "qa", "admin"])
def test_only_technicians_lay_out_boxes(client, personas, role):
    client.force_login(personas[role], backend=BACKEND)
    response = client.post(reverse("batches:storage_box_create"), {**BOX, "layout": "9x9"})
    assert response.status_code == 403
    with pytest.raises(RoleRefused):
        storage.box_create(actor=personas[role], layout="9x9", **BOX)
    assert not StorageLocation.objects.exists()


# --- The grid ---------------------------------------------------------------------------------


def test_the_grid_is_a_table_with_headers_and_a_labelled_link_per_position(tech_client, technician):
    positions = storage.box_create(actor=technician, layout="10x10", **BOX)
    b7 = next(p for p in positions if p.position == "B7")
    (vial,) = _vials(technician, [b7])
    response = tech_client.get(box_url(**BOX))
    assert response.status_code == 200
    body = response.content.decode()
    grid = response.context["grid"]
    assert grid.columns == list(range(1, 11))
    assert [letter for letter, _ in grid.rows] == list("ABCDEFGHIJ")
    assert '<th scope="col">10</th>' in body and '<th scope="row">J</th>' in body
    assert "<caption" in body
    # An occupied cell names the vial, its lot and its status, and links to its move page.
    move = reverse("batches:aliquot_move", args=[vial.pk])
    assert re.search(
        rf'href="{re.escape(move)}\?next=[^"]+" aria-label="B7: vial {re.escape(vial.barcode)}, '
        rf"lot {re.escape(vial.lot.code)}, quarantine",
        body,
    )
    assert "text-bg-warning" in body  # quarantine's colour
    # An empty one links to placing a vial there.
    a1 = next(p for p in positions if p.position == "A1")
    place = reverse("batches:storage_place", args=[a1.pk])
    assert f'href="{place}" aria-label="A1: empty. Place a vial here"' in body


def test_a_box_registered_position_by_position_draws_the_same(tech_client, technician):
    factories.storage_positions(technician, 3, box="B1")  # A01, A02, A03
    response = tech_client.get(box_url("ULT-1", "R1", "B1"))
    grid = response.context["grid"]
    assert grid.columns == [1, 2, 3]
    assert [c.location.position for c in grid.rows[0][1]] == ["A01", "A02", "A03"]
    assert grid.outside == []


def test_a_position_outside_the_grid_is_listed_beside_it(tech_client, technician):
    storage.box_create(actor=technician, layout="9x9", **BOX)
    odd = [
        services.storage_location_create(actor=technician, position=p, **BOX)
        for p in ("Z99", "shelf", "A01")  # beyond 16 × 24, no cell, a second code for A1
    ]
    (vial,) = _vials(technician, [odd[0]])
    response = tech_client.get(box_url(**BOX))
    assert response.status_code == 200
    grid = response.context["grid"]
    assert len(grid.columns) == 9 and len(grid.rows) == 9  # the grid is not stretched
    assert {loc.position for loc in grid.outside} == {"Z99", "shelf", "A01"}
    assert "Positions outside the grid" in response.content.decode()
    assert vial.barcode in response.content.decode()


def test_an_unknown_box_is_404(tech_client):
    assert tech_client.get(box_url("nowhere", "R1", "B1")).status_code == 404
    assert tech_client.get(reverse("batches:storage_box")).status_code == 404
    assert tech_client.get(box_url("ULT\x00", "R1", "B1")).status_code == 404
    assert tech_client.get(box_url("U" * 5000, "R1", "B1")).status_code == 404


def test_the_box_page_query_count_does_not_grow_with_its_vials(tech_client, technician):
    positions = storage.box_create(actor=technician, layout="10x10", **BOX)
    _vials(technician, positions[:2])
    url = box_url(**BOX)
    tech_client.get(url)
    with CaptureQueriesContext(connection) as few:
        tech_client.get(url)
    for i in range(3):
        _vials(technician, positions[2 + 20 * i : 22 + 20 * i])
    with CaptureQueriesContext(connection) as many:
        response = tech_client.get(url)
    assert response.context["grid"].occupied == 62
    assert len(few) == len(many), "\n".join(q["sql"] for q in many.captured_queries)


def test_the_overview_lists_freezers_racks_and_boxes_with_their_fill(tech_client, technician):
    positions = storage.box_create(actor=technician, layout="9x9", **BOX)
    _vials(technician, positions[:5])
    storage.box_create(actor=technician, layout="10x10", **{**BOX, "box": "B8"})
    response = tech_client.get(reverse("batches:storage_overview"))
    body = response.content.decode()
    assert "ULT-80-02" in body and "Rack R3" in body
    assert "5 / 81 vials" in body and "0 / 100 vials" in body
    assert box_url(**BOX).replace("&", "&amp;") in body
    # A new box in a rack starts from that rack.
    (new_box,) = re.findall(r'href="([^"]*)">Lay out a box in this rack', body)
    form = tech_client.get(html.unescape(new_box)).context["form"]
    assert (form.initial["freezer"], form.initial["rack"]) == ("ULT-80-02", "R3")


def test_the_overview_query_count_does_not_grow_with_boxes(tech_client, technician):
    storage.box_create(actor=technician, layout="9x9", **BOX)
    url = reverse("batches:storage_overview")
    tech_client.get(url)
    with CaptureQueriesContext(connection) as few:
        tech_client.get(url)
    for box in ("C1", "C2", "C3"):
        storage.box_create(actor=technician, layout="9x9", **{**BOX, "box": box})
    with CaptureQueriesContext(connection) as many:
        tech_client.get(url)
    assert len(few) == len(many)


def test_a_viewer_sees_the_grid_without_write_links(client, analyst, technician):
    positions = storage.box_create(actor=technician, layout="9x9", **BOX)
    (vial,) = _vials(technician, positions[:1])
    client.force_login(analyst, backend=BACKEND)
    body = client.get(box_url(**BOX)).content.decode()
    assert vial.get_absolute_url() in body
    assert "/place/" not in body and "/move/" not in body
    assert 'aria-label="A2: empty"' in body


def test_an_account_without_a_role_sees_no_box(client, technician, make_user):
    storage.box_create(actor=technician, layout="9x9", **BOX)
    client.force_login(make_user(None, username="nobody"), backend=BACKEND)
    assert client.get(box_url(**BOX)).status_code == 403
    assert client.get(reverse("batches:storage_overview")).status_code == 403


def test_the_storage_pages_write_nothing_on_get(tech_client, technician):
    positions = storage.box_create(actor=technician, layout="9x9", **BOX)
    _vials(technician, positions[:1])
    tech_client.get(reverse("batches:storage_overview"))
    with refuse_writes("storage"):
        tech_client.get(reverse("batches:storage_overview"))
        tech_client.get(box_url(**BOX))
        tech_client.get(reverse("batches:storage_place", args=[positions[1].pk]))
        tech_client.get(reverse("batches:storage_box_create"))


# --- Placing and moving vials -----------------------------------------------------------------


def test_a_scanned_vial_is_placed_in_an_empty_position(tech_client, technician):
    positions = storage.box_create(actor=technician, layout="9x9", **BOX)
    (vial,) = _vials(technician, [None])
    url = reverse("batches:storage_place", args=[positions[4].pk])
    response = tech_client.post(url, {"barcode": f" {vial.barcode.lower()}\r", "reason": "Stored"})
    assert response.status_code == 302
    assert response["Location"] == box_url(**BOX)
    vial.refresh_from_db()
    assert vial.location == positions[4]
    move = AliquotMove.objects.get(aliquot=vial)
    assert (move.from_location, move.to_location, move.reason) == (None, positions[4], "Stored")


def test_a_vial_placed_from_another_position_is_moved(tech_client, technician):
    positions = storage.box_create(actor=technician, layout="9x9", **BOX)
    (vial,) = _vials(technician, [positions[0]])
    url = reverse("batches:storage_place", args=[positions[1].pk])
    tech_client.post(url, {"barcode": vial.barcode, "reason": "Reorganised"})
    vial.refresh_from_db()
    assert vial.location == positions[1]
    assert AliquotMove.objects.filter(
        aliquot=vial, from_location=positions[0], to_location=positions[1]
    ).exists()


def test_placing_into_an_occupied_position_is_refused_and_nothing_moves(tech_client, technician):
    positions = storage.box_create(actor=technician, layout="9x9", **BOX)
    first, second = _vials(technician, positions[:2])
    moves = AliquotMove.objects.count()
    url = reverse("batches:storage_place", args=[positions[0].pk])
    page = tech_client.get(url).content.decode()
    assert "This position holds vial" in page and first.barcode in page
    response = tech_client.post(url, {"barcode": second.barcode, "reason": "Swap"})
    assert response.status_code == 200
    assert "already occupied" in response.content.decode()
    second.refresh_from_db()
    assert second.location == positions[1]
    assert AliquotMove.objects.count() == moves


def test_moving_into_an_occupied_position_through_the_move_page_is_refused(tech_client, technician):
    positions = storage.box_create(actor=technician, layout="9x9", **BOX)
    first, second = _vials(technician, positions[:2])
    response = tech_client.post(
        reverse("batches:aliquot_move", args=[second.pk]),
        {"to_location": str(positions[0]), "reason": "Swap"},
    )
    assert response.status_code == 200
    second.refresh_from_db()
    assert second.location == positions[1]


@pytest.mark.parametrize("barcode", ["NO-SUCH-VIAL", "   "])
def test_an_unknown_barcode_is_refused(tech_client, technician, barcode):
    positions = storage.box_create(actor=technician, layout="9x9", **BOX)
    url = reverse("batches:storage_place", args=[positions[0].pk])
    response = tech_client.post(url, {"barcode": barcode, "reason": "Stored"})
    assert response.status_code == 200
    assert not Aliquot.objects.filter(location=positions[0]).exists()


def test_a_vial_that_left_the_freezer_is_not_placed(technician):
    positions = storage.box_create(actor=technician, layout="9x9", **BOX)
    (vial,) = _vials(technician, [positions[0]])
    services.aliquot_set_status(actor=technician, aliquot=vial, to="destroyed", reason="Broken")
    with pytest.raises(ValidationError, match="destroyed"):
        storage.vial_place(
            actor=technician, location=positions[1], barcode=vial.barcode, reason="Back"
        )
    vial.refresh_from_db()
    assert vial.location is None


def test_a_voided_position_takes_no_vial(technician):
    positions = storage.box_create(actor=technician, layout="9x9", **BOX)
    services.record_void(positions[3], actor=technician, reason="Cracked slot")
    (vial,) = _vials(technician, [None])
    with pytest.raises(ValidationError, match="voided"):
        storage.vial_place(
            actor=technician, location=positions[3], barcode=vial.barcode, reason="Stored"
        )


@pytest.mark.parametrize("role", ["analyst", "qa", "admin"])
def test_only_technicians_place_vials(client, personas, technician, role):
    positions = storage.box_create(actor=technician, layout="9x9", **BOX)
    (vial,) = _vials(technician, [None])
    client.force_login(personas[role], backend=BACKEND)
    url = reverse("batches:storage_place", args=[positions[0].pk])
    assert client.get(url).status_code == 403
    assert client.post(url, {"barcode": vial.barcode, "reason": "Stored"}).status_code == 403
    with pytest.raises(RoleRefused):
        storage.vial_place(
            actor=personas[role], location=positions[0], barcode=vial.barcode, reason="Stored"
        )
    vial.refresh_from_db()
    assert vial.location is None


def test_an_unknown_position_is_404(tech_client):
    assert tech_client.get(reverse("batches:storage_place", args=[999999])).status_code == 404


def test_a_position_links_to_its_box_whatever_characters_its_names_hold(tech_client, technician):
    where = {"freezer": "ULT & co/2", "rack": "R#1", "box": "B?1"}
    position = services.storage_location_create(actor=technician, position="A1", **where)
    body = tech_client.get(position.get_absolute_url()).content.decode()
    (link,) = re.findall(
        r'href="([^"]*)"><i class="bi bi-grid-3x3" aria-hidden="true"></i> Show box', body
    )
    response = tech_client.get(html.unescape(link))
    assert response.status_code == 200
    assert response.context["grid"].positions == 1


@pytest.mark.django_db(transaction=True)
def test_two_technicians_laying_out_the_same_box_at_once_get_one_box(technician):
    """Real threads, each with its own connection, released together: the box is laid out once,
    and every other attempt waits for it and is refused by the check (not by a unique-index
    failure, which "A01" beside "A1" would not even raise)."""
    n = 4
    barrier = threading.Barrier(n, timeout=30)
    outcomes: list[object] = [None] * n

    def lay_out(i):
        try:
            barrier.wait()
            created = storage.box_create(
                actor=technician, layout="9x9" if i % 2 else "10x10", **BOX
            )
            outcomes[i] = len(created)
        except ValidationError as exc:
            outcomes[i] = " ".join(exc.messages)
        except Exception as exc:  # anything else is what the test is looking for
            outcomes[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=lay_out, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    made = [o for o in outcomes if isinstance(o, int)]
    refused = [o for o in outcomes if isinstance(o, str)]
    assert len(made) == 1 and len(refused) == n - 1, outcomes
    assert all("already has positions" in message for message in refused), refused
    assert _box_positions().count() == made[0]


def test_a_move_started_from_the_box_grid_comes_back_to_the_box(tech_client, technician):
    positions = storage.box_create(actor=technician, layout="9x9", **BOX)
    (vial,) = _vials(technician, [positions[0]])
    grid = box_url(**BOX)
    move = f"{reverse('batches:aliquot_move', args=[vial.pk])}?next="
    page = html.unescape(tech_client.get(grid).content.decode())
    assert move in page
    response = tech_client.post(
        move + quote(grid, safe=""), {"to_location": str(positions[5]), "reason": "Reorganised"}
    )
    assert response.status_code == 302 and response["Location"] == grid


@pytest.mark.parametrize("elsewhere", ["https://evil.example/", "//evil.example/x"])
def test_a_move_never_sends_the_browser_to_another_site(tech_client, technician, elsewhere):
    positions = storage.box_create(actor=technician, layout="9x9", **BOX)
    (vial,) = _vials(technician, [positions[0]])
    url = reverse("batches:aliquot_move", args=[vial.pk])
    response = tech_client.post(
        f"{url}?next={elsewhere}", {"to_location": str(positions[5]), "reason": "Reorganised"}
    )
    assert response.status_code == 302 and response["Location"] == vial.get_absolute_url()


# --- The storage list's "free" filter ------------------------------------------------------------


def test_the_free_filter_lists_the_empty_positions_by_an_anti_join(tech_client, technician):
    """NOT EXISTS a vial there (batches.filters): `aliquot__isnull` was a LEFT JOIN whose
    `IS NULL` PostgreSQL did not read as an anti-join, hashing every vial against every position."""
    storage.box_create(actor=technician, layout="9x9", **BOX)
    positions = list(_box_positions().order_by("pk"))
    _vials(technician, positions[:5])
    occupied = {p.pk for p in positions[:5]}
    url = reverse("batches:storagelocation_list")
    for free, expected in (("true", 76), ("false", 5)):
        with CaptureQueriesContext(connection) as queries:
            response = tech_client.get(url, {"free": free, "box": BOX["box"]})
        listed = {p.pk for p in response.context["paginator"].object_list}
        assert len(listed) == expected
        assert (listed & occupied) == (set() if free == "true" else occupied)
        page = [q["sql"] for q in queries if "batches_storagelocation" in q["sql"]]
        assert any("EXISTS" in sql for sql in page), page
        assert not any('"batches_aliquot"."id" IS NULL' in sql for sql in page), page
