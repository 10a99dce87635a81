"""The fill and move forms take a storage position typed as its label ("freezer / rack / box /
position") instead of a <select> of every position (issue 14): found on the position's index,
so the page costs the same whatever the number of positions, and a malformed, unknown, voided
or occupied position is refused next to its field with what the service would say."""

import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from batches import services
from batches.forms import AliquotFillForm, AliquotMoveForm
from batches.models import AliquotMove, StorageLocation
from tests import factories

pytestmark = pytest.mark.django_db

FILL_DATA = {"count": "1", "volume_ul": "100"}


@pytest.fixture
def box(technician):
    """Box B1: a vial in A01, A02-A04 free; A05 voided; box B2's A05-A06 free."""
    positions = factories.storage_positions(technician, 5)
    services.record_void(positions[4], actor=technician, reason="Slot cracked")
    other = [
        services.storage_location_create(
            actor=technician, freezer="ULT-1", rack="R1", box="B2", position=p
        )
        for p in ("A05", "A06")
    ]
    lot = factories.lot(technician)
    (vial,) = services.aliquots_create(
        actor=technician, lot=lot, volume_ul=Decimal("100"), locations=positions[:1]
    )
    (loose,) = services.aliquots_create(
        actor=technician, lot=lot, volume_ul=Decimal("100"), locations=[None]
    )
    for p in positions:
        p.refresh_from_db()
    return {
        "lot": lot,
        "vial": vial,
        "loose": loose,
        "occupied": positions[0],
        "free": positions[1:4],
        "voided": positions[4],
        "other_box": other,
    }


def fill(typed, count="1"):
    return AliquotFillForm({"count": count, "volume_ul": "100", "first_location": typed})


def move(vial, typed):
    return AliquotMoveForm({"to_location": typed, "reason": "Re-boxing"}, aliquot=vial)


# --- Refused next to the field ----------------------------------------------------------------


@pytest.mark.parametrize(
    "typed", ["ULT-1", "ULT-1 / R1 / B1", "ULT-1 / R1 / / A02", "/ R1 / B1 / A02", "A02", "/ / /"]
)
def test_a_text_that_is_not_four_parts_is_refused(box, typed):
    for form in (fill(typed), move(box["loose"], typed)):
        field = "first_location" if "first_location" in form.fields else "to_location"
        assert form.errors[field] == [
            f"“{typed}” is not a storage position: type its four parts separated by slashes, "
            "freezer / rack / box / position."
        ]


@pytest.mark.parametrize(
    "typed, shown",
    [
        ("ULT-9 / R1 / B1 / A02", "ULT-9 / R1 / B1 / A02"),
        ("ULT-1/R1/B1/A99", "ULT-1 / R1 / B1 / A99"),
        ("ULT-1 / R1 / B1 / A02 / X", "ULT-1 / R1 / B1 / A02 / X"),  # no such freezer
        ("ULT-1 / R1 / B1 / A0", "ULT-1 / R1 / B1 / A0"),  # no prefix match
    ],
)
def test_a_position_not_registered_is_refused(box, typed, shown):
    message = [f"No storage position {shown} is registered."]
    assert fill(typed).errors["first_location"] == message
    assert move(box["loose"], typed).errors["to_location"] == message


def test_a_voided_position_is_refused(box):
    voided = box["voided"]
    message = [f"Storage position {voided} is voided."]
    assert fill(str(voided)).errors["first_location"] == message
    assert move(box["loose"], str(voided)).errors["to_location"] == message


def test_an_occupied_position_is_refused_with_the_services_message(box, technician):
    occupied, vial = box["occupied"], box["vial"]
    message = [f"Storage position {occupied} is already occupied by vial {vial}."]
    assert fill(str(occupied).lower()).errors["first_location"] == message
    assert move(box["loose"], str(occupied)).errors["to_location"] == message


def test_a_fill_runs_only_over_free_positions_of_the_first_ones_box(box):
    # B1 has 3 free positions from A02 (A05 voided); box B2's A05-A06 are not taken instead.
    form = fill(str(box["free"][0]), count="4")
    assert form.errors["count"] == ["Only 3 free positions from A02 in box B1."]
    form = fill(str(box["free"][0]), count="3")
    assert form.is_valid(), form.errors
    assert form.cleaned_data["locations"] == box["free"]


def test_the_page_shows_the_refusal_next_to_the_field_and_keeps_the_text(tech_client, box):
    response = tech_client.post(
        reverse("batches:aliquot_fill", args=[box["lot"].pk]),
        {**FILL_DATA, "first_location": "ULT-1 / R1 / B9 / A01"},
    )
    assert response.status_code == 200
    page = response.content.decode()
    widget = re.search(r'<input[^>]*name="first_location"[^>]*>', page).group(0)
    assert "is-invalid" in widget and 'value="ULT-1 / R1 / B9 / A01"' in widget
    assert "No storage position ULT-1 / R1 / B9 / A01 is registered." in page
    assert not box["lot"].aliquots.exclude(pk__in=[box["vial"].pk, box["loose"].pk]).exists()


# --- Taken ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    [
        "ULT-1 / R1 / B1 / A02",
        "ULT-1/R1/B1/A02",
        "  ult-1 /r1/ b1 /  a02 ",
        "Ult-1 / r1 / B1 / a02",
    ],
)
def test_a_position_is_taken_with_any_spacing_or_case(box, typed):
    target = box["free"][0]
    form = fill(typed)
    assert form.is_valid(), form.errors
    assert form.cleaned_data["locations"] == [target]
    form = move(box["loose"], typed)
    assert form.is_valid(), form.errors
    assert form.cleaned_data["to_location"] == target


def test_positions_differing_only_in_case_are_told_apart(technician):
    upper = factories.storage_positions(technician, 1)[0]
    lower = services.storage_location_create(
        actor=technician, freezer="ult-1", rack="R1", box="B1", position="A01"
    )
    for position in (upper, lower):
        form = fill(str(position))
        assert form.is_valid(), form.errors
        assert form.cleaned_data["first_location"] == position
    assert fill("Ult-1 / R1 / B1 / A01").errors["first_location"] == [
        "Several storage positions are “Ult-1 / R1 / B1 / A01” in another case: type it exactly "
        "as on the label."
    ]


@pytest.mark.parametrize("empty", ["", "   "])
def test_an_empty_position_means_none(box, empty):
    form = fill(empty, count="2")
    assert form.is_valid(), form.errors
    assert form.cleaned_data["locations"] == [None, None]
    form = move(box["vial"], empty)
    assert form.is_valid(), form.errors
    assert form.cleaned_data["to_location"] is None


def test_a_vial_is_filled_from_a_typed_first_position(tech_client, box):
    lot = box["lot"]
    response = tech_client.post(
        reverse("batches:aliquot_fill", args=[lot.pk]),
        {"count": "2", "volume_ul": "100", "first_location": "ult-1/r1/b1/a03"},
    )
    assert response.status_code == 302, response.context["form"].errors
    new = lot.aliquots.exclude(pk__in=[box["vial"].pk, box["loose"].pk]).order_by("number")
    assert [v.location for v in new] == box["free"][1:3]


def test_a_vial_moves_to_a_typed_position_and_out_of_storage(tech_client, qa_user, box):
    vial, target = box["vial"], box["free"][2]
    url = reverse("batches:aliquot_move", args=[vial.pk])
    response = tech_client.post(url, {"to_location": f" {target} ", "reason": "Re-boxed"})
    assert response.status_code == 302, response.context["form"].errors
    vial.refresh_from_db()
    assert vial.location == target
    # Its own position is not "occupied" for the vial itself.
    assert move(vial, str(target)).is_valid()
    factories.finalize_lot(qa_user, box["lot"], "released")  # out of storage once released
    response = tech_client.post(url, {"to_location": "", "reason": "To the bench"})
    assert response.status_code == 302, response.context["form"].errors
    vial.refresh_from_db()
    assert vial.location is None
    last = AliquotMove.objects.filter(aliquot=vial).latest("created_at")
    assert (last.from_location, last.to_location) == (target, None)


def test_an_initial_position_or_its_id_is_shown_as_its_label(box):
    target = box["free"][0]
    for initial in (target, target.pk):
        form = AliquotMoveForm(initial={"to_location": initial}, aliquot=box["loose"])
        assert f'value="{target}"' in str(form["to_location"])
        assert not form["to_location"].field.has_changed(initial, "ult-1/r1/b1/a02")
        assert form["to_location"].field.has_changed(initial, str(box["free"][1]))


# --- The page does not grow with the positions ------------------------------------------------


def _page(client, url) -> tuple[int, int, str]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    page = response.content.decode()
    return len(queries), len(page), page


def _more_positions(technician, n, box):
    StorageLocation.objects.bulk_create(
        StorageLocation(
            freezer="ULT-2", rack="R9", box=box, position=f"P{i:04d}", created_by=technician
        )
        for i in range(n)
    )


@pytest.mark.parametrize("name", ["fill", "move"])
def test_the_form_page_costs_the_same_with_ten_times_the_positions(
    tech_client, technician, box, name
):
    url = (
        reverse("batches:aliquot_fill", args=[box["lot"].pk])
        if name == "fill"
        else reverse("batches:aliquot_move", args=[box["loose"].pk])
    )
    _more_positions(technician, 20, "S20")
    queries, size, page = _page(tech_client, url)
    _more_positions(technician, 200, "S200")
    assert StorageLocation.objects.count() > 220
    more_queries, more_size, _ = _page(tech_client, url)
    assert more_queries == queries
    assert more_size == size
    field = "first_location" if name == "fill" else "to_location"
    assert re.search(rf'<input type="text" name="{field}"[^>]*placeholder="Freezer', page)
    assert "<option" not in page.split(f'name="{field}"')[1].split("</div>")[0]
    assert "as on the box label" in page
