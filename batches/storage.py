"""Storage as boxes: a box's positions laid out as a grid, laid out in one step, vials placed.

StorageLocation keeps freezer, rack, box and position as text; the grid is read from the
position codes ("A1", "B10", "C03": a row letter and a column number), so boxes registered one
position at a time and boxes laid out here show the same way. A box is laid out once, in one
transaction, every position audited (EU GMP Annex 11 §9); placing a vial is a move through
batches.services.aliquot_move, which keeps one vial per position and records the move.
"""

from __future__ import annotations

import re
import string
import zlib
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, QuerySet

from batches import services
from batches.models import Aliquot, AliquotMove, StorageLocation
from lims.audit import audit_context
from lims.roles import can_record_production, require

if TYPE_CHECKING:
    from lims.models import User

# The box layouts laid out here: rows A.. by columns 1.. (cryoboxes of 81 and 100 vials).
LAYOUTS: dict[str, tuple[int, int]] = {"9x9": (9, 9), "10x10": (10, 10)}
LAYOUT_CHOICES = [
    (key, f"{rows} × {cols} ({rows * cols} positions)") for key, (rows, cols) in LAYOUTS.items()
]
# A grid drawn from the codes spans at most the largest SBS microplate format (16 × 24, ANSI
# SLAS 4-2004): a code beyond it, or one that is no grid cell at all ("shelf 2"), is listed
# beside the grid instead of stretching it over thousands of empty cells.
MAX_ROWS, MAX_COLUMNS = 16, 24
ROW_LETTERS = string.ascii_uppercase[:MAX_ROWS]
CELL = re.compile(r"^([A-Za-z])0*([1-9][0-9]?)$")

# A vial used, shipped or destroyed has left the freezer: it is not put back in a box.
GONE = (Aliquot.Status.USED, Aliquot.Status.SHIPPED, Aliquot.Status.DESTROYED)


def cell_of(position: str) -> tuple[int, int] | None:
    """(row, column), both from 1, of a position code inside the largest grid; else None."""
    found = CELL.match(position.strip())
    if found is None:
        return None
    row = ord(found.group(1).upper()) - ord("A") + 1
    column = int(found.group(2))
    if row > MAX_ROWS or column > MAX_COLUMNS:
        return None
    return row, column


def layout_positions(layout: str) -> list[str]:
    rows, columns = LAYOUTS[layout]
    return [f"{ROW_LETTERS[r]}{c}" for r in range(rows) for c in range(1, columns + 1)]


# --- Reading ----------------------------------------------------------------------------------


@dataclass
class Cell:
    code: str  # the position's name in the grid ("B7")
    location: StorageLocation | None  # None: no position registered there
    vial: Aliquot | None = None
    colour: str = ""  # Bootstrap colour of the vial's status (set by the page)


@dataclass
class BoxGrid:
    freezer: str
    rack: str
    box: str
    columns: list[int]
    rows: list[tuple[str, list[Cell]]]
    outside: list[StorageLocation] = field(default_factory=list)
    positions: int = 0
    occupied: int = 0


def box_locations(freezer: str, rack: str, box: str) -> QuerySet[StorageLocation]:
    """A box's positions with their vial and its lot: one query."""
    return StorageLocation.objects.filter(freezer=freezer, rack=rack, box=box).select_related(
        "aliquot__lot"
    )


def _vial(location: StorageLocation) -> Aliquot | None:
    try:
        return location.aliquot
    except Aliquot.DoesNotExist:
        return None


def box_grid(locations: list[StorageLocation], *, freezer: str, rack: str, box: str) -> BoxGrid:
    """The grid of a box from its positions: rows A.. and columns 1.. as far as its codes go;
    codes that are no cell of it (or a later code for a cell already taken, "A01" registered
    after "A1") are listed as outside the grid."""
    by_cell: dict[tuple[int, int], StorageLocation] = {}
    outside: list[StorageLocation] = []
    for location in sorted(locations, key=lambda loc: loc.pk):  # the first registered wins
        cell = cell_of(location.position)
        if cell is None or cell in by_cell:
            outside.append(location)
        else:
            by_cell[cell] = location
    n_rows = max((r for r, _ in by_cell), default=0)
    n_columns = max((c for _, c in by_cell), default=0)
    rows = []
    for r in range(1, n_rows + 1):
        letter = ROW_LETTERS[r - 1]
        cells = []
        for c in range(1, n_columns + 1):
            here = by_cell.get((r, c))
            vial = _vial(here) if here is not None else None
            cells.append(Cell(code=f"{letter}{c}", location=here, vial=vial))
        rows.append((letter, cells))
    return BoxGrid(
        freezer=freezer,
        rack=rack,
        box=box,
        columns=list(range(1, n_columns + 1)),
        rows=rows,
        outside=sorted(outside, key=lambda loc: (loc.position, loc.pk)),
        positions=len(locations),
        occupied=sum(1 for loc in locations if _vial(loc) is not None),
    )


def storage_tree() -> dict[str, dict[str, list[dict]]]:
    """Freezer -> rack -> boxes, each with its number of positions and of vials: one query."""
    rows = (
        StorageLocation.objects.filter(voided_at__isnull=True)
        .values("freezer", "rack", "box")
        .annotate(positions=Count("pk"), occupied=Count("aliquot"))
        .order_by("freezer", "rack", "box")
    )
    tree: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        tree[row["freezer"]][row["rack"]].append(row)
    return {freezer: dict(racks) for freezer, racks in tree.items()}


# --- Writing ----------------------------------------------------------------------------------


def _lock_box(freezer: str, rack: str, box: str) -> None:
    """One layout of a box at a time: two technicians laying out the same box wait for each
    other, and the second sees the first one's positions (a transaction-scoped advisory lock,
    as no row exists yet to lock)."""
    key = zlib.crc32("\x1f".join(("storage-box", freezer, rack, box)).encode())
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


@transaction.atomic
def box_create(
    *, actor: User, freezer: str, rack: str, box: str, layout: str
) -> list[StorageLocation]:
    """Register every position of a box (A1…I9 or A1…J10) at once: all or none, each insert
    audited with who and why; refused if the box already has any of these positions."""
    require(can_record_production, actor, services.RECORDS_PRODUCTION)
    freezer, rack, box = freezer.strip(), rack.strip(), box.strip()
    if layout not in LAYOUTS:
        raise ValidationError({"layout": "Choose a box layout: 9 × 9 or 10 × 10."})
    codes = layout_positions(layout)
    new = [
        StorageLocation(freezer=freezer, rack=rack, box=box, position=code, created_by=actor)
        for code in codes
    ]
    # The same rules as one position registered by hand (lengths, required, visible characters);
    # uniqueness is checked below, for the whole box at once.
    new[0].full_clean(validate_unique=False, validate_constraints=False)
    _lock_box(freezer, rack, box)
    wanted = {cell_of(code) for code in codes}
    taken = sorted(
        position
        for position in StorageLocation.objects.filter(
            freezer=freezer, rack=rack, box=box
        ).values_list("position", flat=True)
        if position in codes or cell_of(position) in wanted
    )
    if taken:
        shown = ", ".join(taken[:12]) + (f" and {len(taken) - 12} more" if len(taken) > 12 else "")
        raise ValidationError(
            {
                "box": f"Box {freezer} / {rack} / {box} already has position"
                f"{'s' if len(taken) > 1 else ''} {shown}: nothing was registered. A box is laid "
                "out once; register a missing position on its own."
            }
        )
    rows, columns = LAYOUTS[layout]
    with audit_context(actor=actor, reason=f"Box laid out {rows} × {columns}"):
        try:
            return StorageLocation.objects.bulk_create(new)
        except IntegrityError as exc:  # a position registered meanwhile by hand
            raise ValidationError(
                {"box": "A position of this box was registered meanwhile: nothing was registered."}
            ) from exc


@transaction.atomic
def vial_place(*, actor: User, location: StorageLocation, barcode: str, reason: str) -> AliquotMove:
    """Put the vial with `barcode` (typed or scanned) into `location`: a move, from wherever
    it was, through batches.services.aliquot_move (one vial per position, the move recorded)."""
    require(can_record_production, actor, services.RECORDS_PRODUCTION)
    location = StorageLocation.objects.select_for_update().get(pk=location.pk)
    if location.is_voided:
        raise ValidationError({"barcode": f"Storage position {location} is voided."})
    barcode = barcode.strip()
    vial = Aliquot.objects.filter(barcode__iexact=barcode).first() if barcode else None
    if vial is None:
        raise ValidationError({"barcode": f"No vial has the barcode {barcode!r}."})
    if vial.status in GONE:
        raise ValidationError(
            {
                "barcode": f"Vial {vial} is {vial.get_status_display().lower()}: it has left "
                "the freezer and is not stored again."
            }
        )
    if vial.location_id == location.pk:
        raise ValidationError({"barcode": f"Vial {vial} is already in {location}."})
    return services.aliquot_move(actor=actor, aliquot=vial, to_location=location, reason=reason)
