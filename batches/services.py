"""Every write to a production record goes through one function here (STYLE.md §1).

Each service is atomic, takes keyword-only arguments and the acting user, validates with the
same rules as the forms (model validators and constraints through full_clean, plus the rules
that need the database, such as expired reagent lots and occupied storage positions), and
attaches who and why to the audit trail.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet, Sum
from django.utils import timezone

from batches import vial_holds
from batches.events import lot_status_changed
from batches.models import (
    ALIQUOT_FOLLOWS_LOT,
    LOCKED_STATUSES,
    Aliquot,
    AliquotMove,
    BatchReagentUse,
    CellBank,
    CultureBatch,
    Donor,
    ExosomeLot,
    GmpRecord,
    Harvest,
    IsolationInput,
    IsolationReagentUse,
    IsolationRun,
    LotSource,
    Passage,
    ReagentLot,
    StorageLocation,
    harvest_taken_volumes,
)
from lims.audit import audit_context
from lims.events import announce
from lims.identifiers import next_identifier
from lims.models import Signature
from lims.roles import can_lift_quarantine, can_record_production, can_sign_dispositions, require
from lims.signatures import Signer, sign
from lims.transitions import Move, move_status

RECORDS_PRODUCTION = "Only technicians record production."

# --- Who makes each status move (21 CFR 11.10(g)) --------------------------------------------
#
# Every move a plain status change may make, and who may make it; a move missing here is not a
# status change (a lot's release or rejection is QA's signed disposition, release.services; a
# vial becomes available or rejected with its lot's). The pages offer only what these allow
# (lims.transitions.moves_for) and the services check them again under the row lock.

_TECHNICIANS = Move(can_record_production, "technicians")
CULTURE_BATCH_MOVES = {
    ("in_culture", "harvested"): _TECHNICIANS,
    ("in_culture", "discarded"): _TECHNICIANS,
    ("harvested", "closed"): _TECHNICIANS,
    ("harvested", "discarded"): _TECHNICIANS,
}
# Anyone recording production may hold a lot in quarantine; only QA lifts a quarantine, with an
# e-signature meaning approval (lot_lift_quarantine), as QA's disposition quarantines it with
# one (21 CFR 211.22(a), 11.200).
_QA_SIGNS = Move(can_lift_quarantine, "QA", signed=Signature.Meaning.APPROVAL)
LOT_MOVES = {
    ("in_process", "in_testing"): _TECHNICIANS,
    ("in_process", "quarantined"): _TECHNICIANS,
    ("in_testing", "under_review"): _TECHNICIANS,
    ("in_testing", "quarantined"): _TECHNICIANS,
    ("under_review", "in_testing"): _TECHNICIANS,
    ("under_review", "quarantined"): _TECHNICIANS,
    ("quarantined", "in_testing"): _QA_SIGNS,
    ("quarantined", "under_review"): _QA_SIGNS,
}
ALIQUOT_MOVES = {
    ("quarantine", "destroyed"): _TECHNICIANS,
    ("available", "used"): _TECHNICIANS,
    ("available", "shipped"): _TECHNICIANS,
    ("available", "destroyed"): _TECHNICIANS,
    ("rejected", "retain"): _TECHNICIANS,
    ("rejected", "destroyed"): _TECHNICIANS,
    ("retain", "destroyed"): _TECHNICIANS,
}

if TYPE_CHECKING:
    from lims.models import User

_Record = TypeVar("_Record", bound=GmpRecord)

# --- Shared rules (the forms call these too) ------------------------------------------------


def check_reagents_usable(reagent_lots: Iterable[ReagentLot], *, on: date | None = None) -> None:
    """Refuse the use of an expired reagent lot, naming each one and its expiry date."""
    on = on or timezone.localdate()
    expired = [lot for lot in reagent_lots if lot.is_expired(on)]
    if expired:
        names = "; ".join(f"{lot} expired on {lot.expiry_date:%Y-%m-%d}" for lot in expired)
        raise ValidationError({"reagent_lots": f"Expired reagent lot cannot be used: {names}."})


def position_occupied(location: StorageLocation, holder: Aliquot) -> str:
    """Why a vial cannot go into `location` (said the same by the forms and the services)."""
    return f"Storage position {location} is already occupied by vial {holder}."


def check_position_free(location: StorageLocation | None, *, moving: Aliquot | None = None) -> None:
    if location is None:
        return
    holder = (
        # django-stubs refuses pk=None in a lookup, which Django reads as IS NULL.
        Aliquot.objects.filter(location=location).exclude(pk=getattr(moving, "pk", None)).first()  # type: ignore[misc]
    )
    if holder is not None:
        raise ValidationError({"location": position_occupied(location, holder)})


CENT = Decimal("0.01")


def _day(moment: datetime) -> str:
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M}"


def _ml(value: Decimal) -> str:
    return f"{value.normalize():f} mL"


# --- Records that add up: genealogy order, balancing volumes (the forms show these too) -----


def _ancestors(bank: CellBank) -> Iterable[CellBank]:
    """`bank`, its parent, its parent's parent... (stops on a loop already in the data)."""
    seen: set[int] = set()
    node: CellBank | None = bank
    while node is not None and node.pk not in seen:
        yield node
        seen.add(node.pk)
        node = node.parent_bank


def check_bank_genealogy(
    *,
    bank: CellBank | None,
    donor: Donor,
    parent_bank: CellBank | None,
    passage: int | None,
    frozen_on: date | None,
) -> None:
    """A derived bank comes from a bank of the same donor, frozen before it and at a lower
    passage, and no bank descends from itself. `bank` is the bank being corrected (None for a
    new one): the banks derived from it and the cultures started from it must still follow."""
    errors: dict[str, str] = {}
    if frozen_on is not None and frozen_on > timezone.localdate():
        errors["frozen_on"] = "The freezing date cannot be in the future."
    if parent_bank is not None:
        if bank is not None and any(a.pk == bank.pk for a in _ancestors(parent_bank)):
            errors["parent_bank"] = (
                "A cell bank cannot be its own parent."
                if parent_bank.pk == bank.pk
                else f"{parent_bank} descends from {bank}: the genealogy cannot loop."
            )
        elif parent_bank.donor_id != donor.pk:
            errors["parent_bank"] = "The parent bank comes from another donor."
        elif parent_bank.is_voided:
            errors["parent_bank"] = f"Cell bank {parent_bank} is voided."
        else:
            if passage is not None and passage <= parent_bank.passage:
                errors["passage"] = (
                    f"A bank derived from {parent_bank} (passage {parent_bank.passage}) must be "
                    "at a higher passage."
                )
            if frozen_on is not None and frozen_on <= parent_bank.frozen_on:
                errors.setdefault(
                    "frozen_on",
                    f"A bank derived from {parent_bank} must be frozen after it "
                    f"(frozen on {parent_bank.frozen_on:%Y-%m-%d}).",
                )
    if bank is not None and bank.pk is not None:
        for child in CellBank.objects.filter(parent_bank=bank, voided_at__isnull=True):
            if passage is not None and child.passage <= passage:
                errors.setdefault(
                    "passage",
                    f"Bank {child} derived from this one is at passage {child.passage}: "
                    "this bank's passage must stay below it.",
                )
            if frozen_on is not None and child.frozen_on <= frozen_on:
                errors.setdefault(
                    "frozen_on",
                    f"Bank {child} derived from this one was frozen on "
                    f"{child.frozen_on:%Y-%m-%d}: this bank must be frozen before it.",
                )
        first = (
            CultureBatch.objects.filter(cell_bank=bank, voided_at__isnull=True)
            .order_by("started_on")
            .first()
        )
        if first is not None and frozen_on is not None and first.started_on < frozen_on:
            errors.setdefault(
                "frozen_on",
                f"Culture batch {first} was started from this bank on "
                f"{first.started_on:%Y-%m-%d}: the bank was frozen before it.",
            )
    if errors:
        raise ValidationError(errors)


def check_culture_after_bank(*, cell_bank: CellBank, started_on: date | None) -> None:
    if started_on is not None and started_on < cell_bank.frozen_on:
        raise ValidationError(
            {
                "started_on": f"A culture cannot start before its cell bank {cell_bank} was "
                f"frozen ({cell_bank.frozen_on:%Y-%m-%d})."
            }
        )


def split_input_volume(total: Decimal, remaining: Sequence[Decimal]) -> list[Decimal]:
    """Split a run's input volume over its harvests in proportion to what is left of each, to
    the hundredth of a mL, never taking more than is left (total <= sum(remaining) > 0)."""
    left = sum(remaining, Decimal(0))
    shares = [(total * r / left).quantize(CENT, rounding=ROUND_DOWN) for r in remaining]
    for i, r in enumerate(remaining):
        while sum(shares, Decimal(0)) < total and shares[i] + CENT <= r:
            shares[i] += CENT
    return shares


def _isolation_volume_errors(
    harvests: Sequence[Harvest],
    *,
    input_volume_ml: Decimal,
    harvest_volumes: Mapping[int, Decimal] | None,
    errors: dict[str, str],
) -> list[Decimal]:
    """What the run takes from each harvest, each no more than is left of it."""
    taken = harvest_taken_volumes(h.pk for h in harvests)
    remaining = [h.volume_ml - taken.get(h.pk, Decimal(0)) for h in harvests]
    used_up = [h for h, r in zip(harvests, remaining, strict=True) if r <= 0]
    if used_up:
        errors["harvests"] = (
            "; ".join(
                f"Harvest {h} is used up: earlier isolation runs took all {_ml(h.volume_ml)} of it"
                for h in used_up
            )
            + "."
        )
        return []
    if harvest_volumes is None:
        left = sum(remaining, Decimal(0))
        if input_volume_ml > left:
            errors["input_volume_ml"] = (
                f"The input volume ({_ml(input_volume_ml)}) is more than what is left of the "
                f"chosen harvests ({_ml(left)})."
            )
            return []
        takes = split_input_volume(input_volume_ml, remaining)
        if any(t <= 0 for t in takes):
            errors["input_volume_ml"] = "The input volume is too small to take from every harvest."
        return takes
    takes = [Decimal(harvest_volumes.get(h.pk, 0)) for h in harvests]
    over = [
        f"{_ml(t)} from harvest {h} ({_ml(r)} left)"
        for h, t, r in zip(harvests, takes, remaining, strict=True)
        if t <= 0 or t > r
    ]
    if over:
        errors["harvests"] = "Cannot take " + "; ".join(over) + "."
    elif sum(takes, Decimal(0)) != input_volume_ml:
        errors["input_volume_ml"] = (
            f"The input volume must be what the run took from its harvests "
            f"({_ml(sum(takes, Decimal(0)))})."
        )
    return takes


def check_run_after_harvests(*, harvests: Iterable[Harvest], started_at: datetime | None) -> None:
    late = [h for h in harvests if started_at is not None and h.harvested_at > started_at]
    if late:
        latest = max(late, key=lambda h: h.harvested_at)
        raise ValidationError(
            {
                "started_at": f"The run cannot start before the harvest it processes was "
                f"collected ({latest}: {_day(latest.harvested_at)})."
            }
        )


def check_output_within_input(*, input_volume_ml: Decimal, output_volume_ml: Decimal) -> None:
    if 0 < input_volume_ml < output_volume_ml:
        raise ValidationError(
            {
                "output_volume_ml": "The output volume cannot exceed the input volume "
                f"({_ml(input_volume_ml)})."
            }
        )


def check_lot_after_runs(*, runs: Iterable[IsolationRun], manufactured_on: date | None) -> None:
    early = [
        r
        for r in runs
        if manufactured_on is not None and manufactured_on < timezone.localdate(r.ended_at)
    ]
    if early:
        raise ValidationError(
            {
                "manufactured_on": "A lot cannot be manufactured before its isolation run "
                + ", ".join(f"{r} ended ({_day(r.ended_at)})" for r in early)
                + "."
            }
        )


def check_lot_volume(
    *, runs: Sequence[IsolationRun], volume_ml: Decimal, filled_ml: Decimal
) -> None:
    """A lot holds no more than its runs produced, and no less than its vials hold."""
    produced = sum((r.output_volume_ml for r in runs), Decimal(0))
    if runs and volume_ml > produced:
        raise ValidationError(
            {
                "volume_ml": f"The lot volume cannot exceed what its isolation runs produced "
                f"({_ml(produced)})."
            }
        )
    if volume_ml < filled_ml:
        raise ValidationError(
            {"volume_ml": f"Vials already filled from this lot hold {_ml(filled_ml)}."}
        )


def _save_new(instance: _Record, *, actor: User, reason: str = "") -> _Record:
    instance.created_by = actor
    instance.full_clean()
    with audit_context(actor=actor, reason=reason or "Created"):
        instance.save()
    return instance


def _require_reason(reason: str) -> str:
    if not reason or not reason.strip():
        raise ValidationError({"reason": "A reason for the change is required."})
    return reason.strip()


# --- Generic corrections and voiding --------------------------------------------------------
#
# A correction changes fields of a record, keeping the earlier values in the audit trail with
# who, when and why (EU GMP Part I 4.9: "any alteration ... should permit the reading of the
# original information; where appropriate, the reason for the alteration should be recorded";
# 21 CFR 11.10(e)). What a record is (its code or barcode, what it was made from) and where it
# stands (its status, with its own transitions and reasons) are not corrected: a wrong one is
# voided, with its reason, and recorded again. GMP records are never deleted.

# The fields a correction may change, per record; every other field is refused by the service,
# and the correction pages show only these (batches.views.EDITABLE).
CORRECTABLE_FIELDS: dict[type[GmpRecord], tuple[str, ...]] = {
    # The donor code is the pseudonymous identifier the tissue bank issued: never re-keyed.
    Donor: ("tissue_source", "consent_reference", "notes"),
    CellBank: ("donor", "bank_type", "parent_bank", "passage", "vials", "frozen_on", "storage"),
    # The supplier's lot number identifies the material (its certificate of analysis): a lot
    # received under a wrong number is voided and received again.
    ReagentLot: (
        "category",
        "name",
        "supplier",
        "catalogue_number",
        "expiry_date",
        "received_on",
    ),
    StorageLocation: ("freezer", "rack", "box", "position"),
    Passage: (
        "number",
        "seeded_on",
        "harvested_on",
        "seeding_density_per_cm2",
        "cells_seeded",
        "cells_harvested",
        "viability_pct",
        "confluence_pct",
    ),
    CultureBatch: ("cell_bank", "started_on", "notes"),
    Harvest: ("harvested_at", "volume_ml", "medium", "notes"),
    IsolationRun: (
        "method",
        "output_volume_ml",
        "operator",
        "equipment",
        "started_at",
        "ended_at",
        "parameters",
    ),
    ExosomeLot: ("manufactured_on", "volume_ml", "notes"),
    Aliquot: ("volume_ul",),
}

# Why a field is not corrected, where it is not the field's kind that says it.
_NOT_CORRECTED_WHY = {
    (Harvest, "batch"): "A harvest stays with the culture batch it was collected from.",
    (Passage, "batch"): "A passage stays with its culture batch.",
    (Aliquot, "lot"): "A vial stays with the lot it was filled from.",
    (Aliquot, "location"): "A vial changes position by a move, recorded with its own reason.",
    (IsolationRun, "input_volume_ml"): (
        "The input volume is what the run took from its harvests; it is not corrected alone."
    ),
}
_STATUS_FIELDS = {"status", "status_reason"}
_VOID_FIELDS = {"voided_at", "voided_by", "void_reason"}
_CREATION_FIELDS = {"created_at", "created_by"}
# Ahead of the server's clock that a time may be (a bench PC's clock drifts), as at entry.
_CLOCK_DRIFT = timedelta(minutes=5)


def correctable_fields(model: type[GmpRecord]) -> tuple[str, ...] | None:
    """The fields a correction of `model` may change (None: any editable field)."""
    return CORRECTABLE_FIELDS.get(model)


def _check_correctable(record: GmpRecord, changed: Iterable[str]) -> None:
    """Refuse a correction of a field that is not corrected, saying why, for each field."""
    model = type(record)
    allowed = correctable_fields(model)
    errors: dict[str, str] = {}
    for name in changed:
        try:
            field = model._meta.get_field(name)
        except FieldDoesNotExist:
            what = str(model._meta.verbose_name).capitalize()
            errors["__all__"] = f"{what} has no field '{name}'."
            continue
        label = str(getattr(field, "verbose_name", name)).capitalize()
        if name in _STATUS_FIELDS:
            why = "The status changes only through its own moves, each with its reason."
        elif name in _VOID_FIELDS:
            why = "A record is voided with its own reason, not by a correction."
        elif name in _CREATION_FIELDS:
            why = "Who created a record, and when, are not corrected."
        elif getattr(field, "many_to_many", False) or getattr(field, "one_to_many", False):
            why = (
                f"{label}: what a record was made from is not corrected; void the record and "
                "record it again."
            )
        elif (model, name) in _NOT_CORRECTED_WHY:
            why = _NOT_CORRECTED_WHY[(model, name)]
        elif not getattr(field, "editable", False) or getattr(field, "primary_key", False):
            why = f"{label} identifies the record: it is never corrected."
        elif allowed is not None and name not in allowed:
            why = f"{label} is not corrected: void the record and record it again."
        else:
            continue
        errors[name] = why
    if errors:
        raise ValidationError(errors)


def check_lot_not_locked(lot: ExosomeLot | None) -> None:
    """Refuse a change to a released or rejected lot or its records, with the reason in words
    (the database refuses it too: trigger final_lot_locked)."""
    reason = lot.lock_reason if lot is not None else None
    if reason:
        raise ValidationError(reason)


def _lots_made_from(record: GmpRecord) -> QuerySet[ExosomeLot]:
    """The lots made from a run, harvest, culture batch or passage (voided ones too)."""
    if isinstance(record, IsolationRun):
        return ExosomeLot.objects.filter(sources__run=record, sources__voided_at__isnull=True)
    if isinstance(record, Harvest):
        return ExosomeLot.objects.filter(isolation_runs__inputs__harvest=record)
    if isinstance(record, CultureBatch):
        return ExosomeLot.objects.filter(isolation_runs__inputs__harvest__batch=record)
    if isinstance(record, Passage):
        return ExosomeLot.objects.filter(isolation_runs__inputs__harvest__batch=record.batch_id)
    return ExosomeLot.objects.none()


def _refuse_if_lot_locked(record: GmpRecord) -> None:
    """A released or rejected lot was decided on its records: the lot, its vials and what it
    was made from (runs, harvests, culture batches and their passages) take no more changes
    (21 CFR 211.192: a released batch's record is reviewed as it stands; a later finding is a
    deviation, not a correction)."""
    lot = record if isinstance(record, ExosomeLot) else getattr(record, "lot", None)
    if isinstance(lot, ExosomeLot):
        check_lot_not_locked(lot)
    final = (
        _lots_made_from(record)
        .filter(status__in=LOCKED_STATUSES, voided_at__isnull=True)
        .order_by("code")
        .first()
    )
    if final is not None:
        raise ValidationError(
            f"Lot {final} made from {record} is {final.get_status_display().lower()}: the "
            "records it was made from are locked and take no changes."
        )


_DATE_NAMES = {
    "started_on": "start date",
    "seeded_on": "seeding date",
    "harvested_on": "harvest date",
    "harvested_at": "harvest time",
    "started_at": "start",
    "ended_at": "end",
    "manufactured_on": "manufacturing date",
    "received_on": "date of receipt",
}


def _not_in_future(record: GmpRecord, errors: dict[str, str], *fields: str) -> None:
    today, latest = timezone.localdate(), timezone.now() + _CLOCK_DRIFT
    for name in fields:
        value = getattr(record, name)
        if value is None:
            continue
        late = value > latest if isinstance(value, datetime) else value > today
        if late:
            label = _DATE_NAMES.get(name, name.replace("_", " "))
            errors.setdefault(name, f"The {label} cannot be in the future.")


def _raise(errors: dict[str, str]) -> None:
    if errors:
        raise ValidationError(errors)


def _check_passage_correction(passage: Passage, changed: set[str]) -> None:
    errors: dict[str, str] = {}
    _not_in_future(passage, errors, *(changed & {"seeded_on", "harvested_on"}))
    batch = passage.batch
    if "seeded_on" in changed and passage.seeded_on < batch.started_on:
        errors.setdefault(
            "seeded_on",
            f"A passage cannot be seeded before its batch {batch} started "
            f"({batch.started_on:%Y-%m-%d}).",
        )
    _raise(errors)


def _check_batch_correction(batch: CultureBatch, changed: set[str]) -> None:
    errors: dict[str, str] = {}
    if "cell_bank" in changed:
        # As stored, locked while the batch moves onto it (not the caller's copy).
        batch.cell_bank = CellBank.objects.select_for_update().get(pk=batch.cell_bank_id)
    if "cell_bank" in changed and batch.cell_bank.is_voided:
        errors["cell_bank"] = f"Cell bank {batch.cell_bank} is voided."
    if changed & {"cell_bank", "started_on"}:
        try:
            check_culture_after_bank(cell_bank=batch.cell_bank, started_on=batch.started_on)
        except ValidationError as exc:
            errors.setdefault("started_on", exc.message_dict["started_on"][0])
    if "started_on" in changed:
        _not_in_future(batch, errors, "started_on")
        first_passage = batch.passages.filter(voided_at__isnull=True).order_by("seeded_on").first()
        if first_passage is not None and first_passage.seeded_on < batch.started_on:
            errors.setdefault(
                "started_on",
                f"Passage {first_passage} was seeded on {first_passage.seeded_on:%Y-%m-%d}: "
                "the batch started before it.",
            )
        first_harvest = (
            batch.harvests.filter(voided_at__isnull=True).order_by("harvested_at").first()
        )
        if (
            first_harvest is not None
            and timezone.localdate(first_harvest.harvested_at) < batch.started_on
        ):
            errors.setdefault(
                "started_on",
                f"{first_harvest} was collected on {_day(first_harvest.harvested_at)}: the "
                "batch started before it.",
            )
        try:
            check_reagents_usable(
                batch.reagent_lots.filter(voided_at__isnull=True), on=batch.started_on
            )
        except ValidationError as exc:
            errors.setdefault("started_on", exc.message_dict["reagent_lots"][0])
    _raise(errors)


def _check_harvest_correction(harvest: Harvest, changed: set[str]) -> None:
    errors: dict[str, str] = {}
    if "harvested_at" in changed:
        _not_in_future(harvest, errors, "harvested_at")
        batch = harvest.batch
        if timezone.localdate(harvest.harvested_at) < batch.started_on:
            errors.setdefault(
                "harvested_at",
                f"A harvest cannot precede the start of its batch {batch} "
                f"({batch.started_on:%Y-%m-%d}).",
            )
    _raise(errors)
    if harvest.volume_ml is not None and harvest.volume_ml < harvest.taken_volume_ml:
        raise ValidationError(
            {
                "volume_ml": "Isolation runs already took "
                f"{_ml(harvest.taken_volume_ml)} of this harvest."
            }
        )
    runs = IsolationRun.objects.filter(
        inputs__harvest=harvest, inputs__voided_at__isnull=True, voided_at__isnull=True
    ).order_by("started_at")
    first = runs.first()
    if first is not None and harvest.harvested_at > first.started_at:
        raise ValidationError(
            {
                "harvested_at": f"Isolation run {first} processed this harvest from "
                f"{_day(first.started_at)}: it was collected before that."
            }
        )


def _check_reagent_lot_correction(reagent: ReagentLot, changed: set[str]) -> None:
    errors: dict[str, str] = {}
    _not_in_future(reagent, errors, *(changed & {"received_on"}))
    if "expiry_date" in changed:
        batch = (
            reagent.culture_batches.filter(
                voided_at__isnull=True, started_on__gt=reagent.expiry_date
            )
            .order_by("started_on")
            .first()
        )
        if batch is not None:
            errors["expiry_date"] = (
                f"Culture batch {batch} used this lot on {batch.started_on:%Y-%m-%d}: it had "
                "not expired then."
            )
        run = reagent.isolation_runs.filter(voided_at__isnull=True).order_by("started_at").last()
        if run is not None and timezone.localdate(run.started_at) > reagent.expiry_date:
            errors.setdefault(
                "expiry_date",
                f"Isolation run {run} used this lot on {_day(run.started_at)}: it had not "
                "expired then.",
            )
    _raise(errors)


def _check_aliquot_correction(vial: Aliquot, changed: set[str]) -> None:
    if "volume_ul" not in changed or vial.volume_ul is None:
        return
    lot = ExosomeLot.objects.select_for_update().get(pk=vial.lot_id)
    others_ul = (
        lot.aliquots.filter(voided_at__isnull=True)
        .exclude(pk=vial.pk)
        .aggregate(total=Sum("volume_ul"))["total"]
    ) or Decimal(0)
    filled_ml = (others_ul + Decimal(vial.volume_ul)) / 1000
    if filled_ml > lot.volume_ml:
        raise ValidationError(
            {
                "volume_ul": f"Lot {lot} holds {_ml(lot.volume_ml)}: its vials would hold "
                f"{_ml(filled_ml)}."
            }
        )


def _check_correction(record: GmpRecord, changed: set[str]) -> None:
    """Apply the rules of records that add up to a corrected record (already changed in
    memory, its row locked): what it derives from and what derives from it must still agree,
    and no date moves into the future or before the date of what it was made from."""
    if isinstance(record, CellBank) and changed & {"parent_bank", "passage", "frozen_on", "donor"}:
        check_bank_genealogy(
            bank=record,
            donor=record.donor,
            parent_bank=record.parent_bank,
            passage=record.passage,
            frozen_on=record.frozen_on,
        )
    elif isinstance(record, ReagentLot):
        _check_reagent_lot_correction(record, changed)
    elif isinstance(record, Passage):
        _check_passage_correction(record, changed)
    elif isinstance(record, CultureBatch):
        _check_batch_correction(record, changed)
    elif isinstance(record, Harvest) and changed & {"volume_ml", "harvested_at"}:
        _check_harvest_correction(record, changed)
    elif isinstance(record, IsolationRun):
        _check_run_correction(record, changed)
    elif isinstance(record, ExosomeLot) and changed & {"manufactured_on", "volume_ml"}:
        errors: dict[str, str] = {}
        _not_in_future(record, errors, *(changed & {"manufactured_on"}))
        _raise(errors)
        sources = list(record.isolation_runs.filter(voided_at__isnull=True))
        check_lot_after_runs(runs=sources, manufactured_on=record.manufactured_on)
        check_lot_volume(
            runs=sources, volume_ml=record.volume_ml, filled_ml=record.filled_volume_ml
        )
    elif isinstance(record, Aliquot):
        _check_aliquot_correction(record, changed)


def _check_run_correction(run: IsolationRun, changed: set[str]) -> None:
    errors: dict[str, str] = {}
    _not_in_future(run, errors, *(changed & {"started_at", "ended_at"}))
    if "started_at" in changed:
        try:
            check_reagents_usable(
                run.reagent_lots.filter(voided_at__isnull=True),
                on=timezone.localdate(run.started_at),
            )
        except ValidationError as exc:
            errors.setdefault("started_at", exc.message_dict["reagent_lots"][0])
    _raise(errors)
    inputs = run.inputs.filter(voided_at__isnull=True).select_related("harvest")
    if "started_at" in changed:
        check_run_after_harvests(harvests=[i.harvest for i in inputs], started_at=run.started_at)
    if changed & {"input_volume_ml", "output_volume_ml"}:
        check_output_within_input(
            input_volume_ml=run.input_volume_ml, output_volume_ml=run.output_volume_ml
        )
    taken = sum((i.volume_ml or Decimal(0) for i in inputs), Decimal(0))
    if "input_volume_ml" in changed and run.input_volume_ml != taken:
        raise ValidationError(
            {
                "input_volume_ml": "The input volume is what the run took from its harvests "
                f"({_ml(taken)}); correct those instead."
            }
        )
    if changed & {"ended_at", "output_volume_ml"}:
        for lot in run.lots.filter(voided_at__isnull=True):
            if "ended_at" in changed and lot.manufactured_on < timezone.localdate(run.ended_at):
                raise ValidationError(
                    {"ended_at": f"Lot {lot} made from this run was manufactured before it ended."}
                )
            if "output_volume_ml" in changed:
                sources = [run, *lot.isolation_runs.exclude(pk=run.pk)]
                produced = sum((r.output_volume_ml for r in sources), Decimal(0))
                if lot.volume_ml > produced:
                    raise ValidationError(
                        {
                            "output_volume_ml": f"Lot {lot} holds {_ml(lot.volume_ml)} made "
                            "from this run's output."
                        }
                    )


@transaction.atomic
def record_update(
    instance: _Record,
    *,
    actor: User,
    changes: dict[str, Any],
    reason: str,
    permitted: Callable[[User], bool] = can_record_production,
) -> _Record:
    """Correct fields of an existing record; the reason is stored with the audit event.

    Only the fields a correction may change (CORRECTABLE_FIELDS; never a code, a status, what
    the record was made from), of a record that is not voided and not decided on by a released
    or rejected lot, and only so that the records still add up (_check_correction).
    """
    require(permitted, actor, f"Your role does not allow changes to {instance}.")
    reason = _require_reason(reason)
    if not changes:
        raise ValidationError("Nothing was changed.")
    model = type(instance)
    _check_correctable(instance, changes)
    locked = model.objects.select_for_update().get(pk=instance.pk)
    if locked.is_voided:
        raise ValidationError(f"{locked} is voided and cannot be changed.")
    _refuse_if_lot_locked(locked)
    for name, value in changes.items():
        setattr(locked, name, value)
    _check_correction(locked, set(changes))
    locked.full_clean()
    with audit_context(actor=actor, reason=reason):
        locked.save(update_fields=list(changes))
    return locked


def _check_void(record: GmpRecord) -> None:
    """Refuse a void that would leave records that no longer add up: nothing made from the
    record may still stand, and a record whose material has left (a shipped vial) or that is
    under QA's decision (a lot in testing) is not voided but moved through its status."""
    if isinstance(record, CultureBatch):
        harvests = record.harvests.filter(voided_at__isnull=True).count()
        if harvests:
            raise ValidationError(
                f"Culture batch {record} has {harvests} harvest(s) not voided: void them first "
                "(and what was made from them), or discard the batch."
            )
    elif isinstance(record, Harvest):
        run = (
            IsolationRun.objects.filter(
                inputs__harvest=record, inputs__voided_at__isnull=True, voided_at__isnull=True
            )
            .order_by("code")
            .first()
        )
        if run is not None:
            raise ValidationError(
                f"Isolation run {run} processed this harvest: void the run first."
            )
    elif isinstance(record, IsolationRun):
        lot = record.lots.filter(voided_at__isnull=True).order_by("code").first()
        if lot is not None:
            raise ValidationError(f"Lot {lot} was made from run {record}: void the lot first.")
    elif isinstance(record, ExosomeLot):
        if record.status != ExosomeLot.Status.IN_PROCESS:
            raise ValidationError(
                f"Lot {record} is {record.get_status_display().lower()}: only a lot still in "
                "process is voided; one in testing or quarantine is rejected by QA's signed "
                "disposition."
            )
        vials = record.aliquots.filter(voided_at__isnull=True).count()
        if vials:
            raise ValidationError(f"Lot {record} has {vials} vial(s) not voided: void them first.")
    elif isinstance(record, Aliquot) and record.status != Aliquot.Status.QUARANTINE:
        raise ValidationError(
            f"Vial {record} is {record.get_status_display().lower()}: only a vial still in "
            "quarantine is voided; a vial used, shipped, destroyed or kept follows its status."
        )


@transaction.atomic
def record_void(
    instance: _Record,
    *,
    actor: User,
    reason: str,
    permitted: Callable[[User], bool] = can_record_production,
) -> _Record:
    """Void a record (GMP records are never deleted), unless something still stands on it.

    A voided vial leaves its storage position free, the move recorded with the void's reason.
    """
    require(permitted, actor, f"Your role does not allow changes to {instance}.")
    reason = _require_reason(reason)
    locked = type(instance).objects.select_for_update().get(pk=instance.pk)
    if locked.is_voided:
        raise ValidationError(f"{locked} is already voided.")
    _refuse_if_lot_locked(locked)
    _check_void(locked)
    locked.voided_at = timezone.now()
    locked.voided_by = actor
    locked.void_reason = reason
    fields = ["voided_at", "voided_by", "void_reason"]
    # A voided vial leaves its storage position free (its move recorded below).
    vial = locked if isinstance(locked, Aliquot) else None
    position = vial.location if vial is not None else None
    if vial is not None and position is not None:
        vial.location = None
        fields.append("location")
    with audit_context(actor=actor, reason=reason):
        locked.save(update_fields=fields)
    if vial is not None and position is not None:
        _save_new(
            AliquotMove(
                aliquot=vial, from_location=position, to_location=None, reason=f"Voided: {reason}"
            ),
            actor=actor,
            reason=reason,
        )
    return locked


# --- Source material ------------------------------------------------------------------------


@transaction.atomic
def donor_create(
    *, actor: User, code: str, tissue_source: str, consent_reference: str, notes: str = ""
) -> Donor:
    require(can_record_production, actor, RECORDS_PRODUCTION)
    return _save_new(
        Donor(
            code=code.strip(),
            tissue_source=tissue_source,
            consent_reference=consent_reference,
            notes=notes,
        ),
        actor=actor,
    )


@transaction.atomic
def cell_bank_create(
    *,
    actor: User,
    donor: Donor,
    bank_type: str,
    passage: int,
    vials: int,
    frozen_on: date,
    storage: str,
    parent_bank: CellBank | None = None,
) -> CellBank:
    require(can_record_production, actor, RECORDS_PRODUCTION)
    if parent_bank is not None:
        parent_bank = CellBank.objects.select_for_update().get(pk=parent_bank.pk)
    check_bank_genealogy(
        bank=None, donor=donor, parent_bank=parent_bank, passage=passage, frozen_on=frozen_on
    )
    bank = CellBank(
        code=next_identifier("cell_bank"),
        donor=donor,
        bank_type=bank_type,
        passage=passage,
        vials=vials,
        frozen_on=frozen_on,
        storage=storage,
        parent_bank=parent_bank,
    )
    return _save_new(bank, actor=actor)


@transaction.atomic
def reagent_lot_create(*, actor: User, **fields: Any) -> ReagentLot:
    require(can_record_production, actor, RECORDS_PRODUCTION)
    return _save_new(ReagentLot(**fields), actor=actor)


# --- Culture ---------------------------------------------------------------------------------


@transaction.atomic
def culture_batch_create(
    *,
    actor: User,
    cell_bank: CellBank,
    started_on: date,
    reagent_lots: Iterable[ReagentLot] = (),
    notes: str = "",
) -> CultureBatch:
    require(can_record_production, actor, RECORDS_PRODUCTION)
    reagent_lots = list(reagent_lots)
    check_reagents_usable(reagent_lots, on=started_on)
    cell_bank = CellBank.objects.select_for_update().get(pk=cell_bank.pk)
    if cell_bank.is_voided:
        raise ValidationError({"cell_bank": f"Cell bank {cell_bank} is voided."})
    check_culture_after_bank(cell_bank=cell_bank, started_on=started_on)
    batch = _save_new(
        CultureBatch(
            code=next_identifier("culture_batch"),
            cell_bank=cell_bank,
            started_on=started_on,
            notes=notes,
        ),
        actor=actor,
    )
    with audit_context(actor=actor, reason="Reagent lot used"):
        BatchReagentUse.objects.bulk_create(
            [
                BatchReagentUse(batch=batch, reagent_lot=lot, created_by=actor)
                for lot in reagent_lots
            ]
        )
    return batch


def _check_batch_open(batch: CultureBatch, *, allowed: tuple[str, ...] = ("in_culture",)) -> None:
    if batch.is_voided:
        raise ValidationError(f"Culture batch {batch} is voided: it takes no more records.")
    if batch.status not in allowed:
        raise ValidationError(
            f"Culture batch {batch} is {batch.get_status_display().lower()}: "
            "it takes no more records."
        )


@transaction.atomic
def passage_record(*, actor: User, batch: CultureBatch, **fields: Any) -> Passage:
    require(can_record_production, actor, RECORDS_PRODUCTION)
    batch = CultureBatch.objects.select_for_update().get(pk=batch.pk)
    _check_batch_open(batch)
    if fields.get("seeded_on") and fields["seeded_on"] < batch.started_on:
        raise ValidationError({"seeded_on": "A passage cannot be seeded before the batch started."})
    return _save_new(Passage(batch=batch, **fields), actor=actor)


@transaction.atomic
def harvest_record(
    *,
    actor: User,
    batch: CultureBatch,
    harvested_at: datetime,
    volume_ml: Decimal,
    medium: str,
    notes: str = "",
) -> Harvest:
    """Record a conditioned-medium harvest; the first one moves the batch to 'harvested'."""
    require(can_record_production, actor, RECORDS_PRODUCTION)
    batch = CultureBatch.objects.select_for_update().get(pk=batch.pk)
    _check_batch_open(batch, allowed=("in_culture", "harvested"))
    if timezone.localdate(harvested_at) < batch.started_on:
        raise ValidationError({"harvested_at": "A harvest cannot precede the batch start."})
    if harvested_at > timezone.now() + timedelta(minutes=5):
        raise ValidationError({"harvested_at": "A harvest cannot be recorded in the future."})
    harvest = _save_new(
        Harvest(
            batch=batch, harvested_at=harvested_at, volume_ml=volume_ml, medium=medium, notes=notes
        ),
        actor=actor,
    )
    if batch.status == CultureBatch.Status.IN_CULTURE:
        move_status(batch, to="harvested", actor=actor, reason="Conditioned medium harvested")
    return harvest


def move_culture_batch(*, actor: User, batch: CultureBatch, to: str, reason: str) -> CultureBatch:
    """Close a harvested batch or discard one, with the reason why."""
    require(can_record_production, actor, RECORDS_PRODUCTION)
    return move_status(
        batch,
        to=to,
        actor=actor,
        reason=reason,
        extra_fields={"status_reason": reason},
        moves=CULTURE_BATCH_MOVES,
    )


# --- Isolation and lots ----------------------------------------------------------------------


@transaction.atomic
def isolation_run_create(
    *,
    actor: User,
    method: str,
    harvests: Iterable[Harvest],
    input_volume_ml: Decimal,
    output_volume_ml: Decimal,
    operator: User,
    equipment: str,
    started_at: datetime,
    ended_at: datetime,
    parameters: dict[str, Any] | None = None,
    reagent_lots: Iterable[ReagentLot] = (),
    harvest_volumes: Mapping[int, Decimal] | None = None,
) -> IsolationRun:
    """Record an isolation run and what it took from each harvest.

    `harvest_volumes` maps harvest id to the mL taken from it (they add up to the input volume);
    without it the input volume is split over the harvests in proportion to what is left of
    each. No harvest gives more than is left of it: the harvests are locked while the run is
    recorded, so two runs recorded at once cannot both take the same medium.
    """
    require(can_record_production, actor, RECORDS_PRODUCTION)
    chosen = [h.pk for h in harvests]
    reagent_lots = list(reagent_lots)
    if not chosen:
        raise ValidationError({"harvests": "Choose at least one harvest to process."})
    locked = Harvest.objects.select_for_update(of=("self",)).select_related("batch").order_by("pk")
    by_pk = {h.pk: h for h in locked.filter(pk__in=chosen)}
    harvests = [by_pk[pk] for pk in dict.fromkeys(chosen)]
    voided = [h for h in harvests if h.is_voided]
    if voided:
        raise ValidationError({"harvests": f"Harvest {voided[0]} is voided."})
    discarded = [h for h in harvests if h.batch.status == CultureBatch.Status.DISCARDED]
    if discarded:
        raise ValidationError(
            {"harvests": f"Harvest from discarded batch {discarded[0].batch} cannot be used."}
        )
    check_reagents_usable(reagent_lots, on=timezone.localdate(started_at))
    errors: dict[str, str] = {}
    checks: list[Callable[[], None]] = [
        lambda: check_run_after_harvests(harvests=harvests, started_at=started_at),
        lambda: check_output_within_input(
            input_volume_ml=input_volume_ml, output_volume_ml=output_volume_ml
        ),
    ]
    for check in checks:
        try:
            check()
        except ValidationError as exc:
            errors.update({k: v[0] for k, v in exc.message_dict.items()})
    takes: list[Decimal] = []
    if input_volume_ml > 0:
        takes = _isolation_volume_errors(
            harvests,
            input_volume_ml=input_volume_ml,
            harvest_volumes=harvest_volumes,
            errors=errors,
        )
    if errors:
        raise ValidationError(errors)
    run = _save_new(
        IsolationRun(
            code=next_identifier("isolation_run"),
            method=method,
            input_volume_ml=input_volume_ml,
            output_volume_ml=output_volume_ml,
            operator=operator,
            equipment=equipment,
            started_at=started_at,
            ended_at=ended_at,
            parameters=parameters or {},
        ),
        actor=actor,
    )
    with audit_context(actor=actor, reason="Isolation inputs recorded"):
        IsolationInput.objects.bulk_create(
            [
                IsolationInput(run=run, harvest=h, volume_ml=taken, created_by=actor)
                for h, taken in zip(harvests, takes, strict=True)
            ]
        )
        IsolationReagentUse.objects.bulk_create(
            [
                IsolationReagentUse(run=run, reagent_lot=lot, created_by=actor)
                for lot in reagent_lots
            ]
        )
    return run


@transaction.atomic
def lot_create(
    *,
    actor: User,
    isolation_runs: Iterable[IsolationRun],
    manufactured_on: date,
    volume_ml: Decimal,
    notes: str = "",
) -> ExosomeLot:
    require(can_record_production, actor, RECORDS_PRODUCTION)
    runs = list(
        IsolationRun.objects.select_for_update()
        .filter(pk__in=[r.pk for r in isolation_runs])
        .order_by("pk")
    )
    if not runs:
        raise ValidationError({"isolation_runs": "A lot comes from at least one isolation run."})
    voided = [r for r in runs if r.is_voided]
    if voided:
        raise ValidationError({"isolation_runs": f"Isolation run {voided[0]} is voided."})
    check_lot_after_runs(runs=runs, manufactured_on=manufactured_on)
    if volume_ml > 0:
        check_lot_volume(runs=runs, volume_ml=volume_ml, filled_ml=Decimal(0))
    lot = _save_new(
        ExosomeLot(
            code=next_identifier("exosome_lot"),
            manufactured_on=manufactured_on,
            volume_ml=volume_ml,
            notes=notes,
        ),
        actor=actor,
    )
    with audit_context(actor=actor, reason="Lot sources recorded"):
        LotSource.objects.bulk_create([LotSource(lot=lot, run=r, created_by=actor) for r in runs])
    return lot


def lot_set_status(*, actor: User, lot: ExosomeLot, to: str, reason: str) -> ExosomeLot:
    """Move a lot through production and testing, or hold it in quarantine (LOT_MOVES says
    who may). Release and rejection are QA dispositions with an e-signature
    (release.services.lot_dispose), and lifting a quarantine is QA's signed
    `lot_lift_quarantine`: never a plain status change.

    Once committed, `batches.events.lot_status_changed` is announced (release fixes the
    specification version a lot entering testing will be judged against).
    """
    require(can_record_production, actor, RECORDS_PRODUCTION)
    if to in (ExosomeLot.Status.RELEASED, ExosomeLot.Status.REJECTED):
        raise ValidationError(
            {"to": "A lot is released or rejected only by a signed QA disposition."}
        )
    lot = move_status(
        lot,
        to=to,
        actor=actor,
        reason=reason,
        extra_fields={"status_reason": reason},
        moves=LOT_MOVES,
    )
    announce(lot_status_changed, lot_id=lot.pk, status=to)
    return lot


def quarantine_lift_content(lot: ExosomeLot, *, to: str, reason: str) -> dict[str, Any]:
    """What QA signs to lift a lot's quarantine (21 CFR 11.70: the signature is bound to it)."""
    return {
        "record": "exosome lot",
        "lot": lot.code,
        "action": "quarantine lifted",
        "from": ExosomeLot.Status.QUARANTINED.value,
        "to": to,
        "reason": reason,
        "manufactured_on": lot.manufactured_on,
        "volume_ml": lot.volume_ml,
    }


@transaction.atomic
def lot_lift_quarantine(
    *, signer: Signer, lot: ExosomeLot, to: str, reason: str, comment: str = ""
) -> ExosomeLot:
    """QA's signed decision to take a lot out of quarantine, back to testing or to review.

    The mirror of the disposition that quarantines it (release.services.lot_dispose): QA
    re-authenticates on the page (a `Signer` meaning approval), the lot row is locked, the
    signature is stored bound to what was decided, and the move is made in the same
    transaction. Once committed, `lot_status_changed` is announced as for any move.
    """
    require(can_lift_quarantine, signer.user, "Only QA lifts a lot's quarantine.")
    if signer.meaning != Signature.Meaning.APPROVAL:
        raise ValidationError("Lifting a quarantine is signed with the meaning approval.")
    reason = _require_reason(reason)
    locked = ExosomeLot.objects.select_for_update().get(pk=lot.pk)
    if locked.status != ExosomeLot.Status.QUARANTINED:
        raise ValidationError(
            {"to": f"Lot {locked} is {locked.get_status_display().lower()}, not in quarantine."}
        )
    if (locked.status, to) not in LOT_MOVES:
        raise ValidationError({"to": "A quarantine is lifted to testing or to review."})
    signature = sign(
        signer=signer,
        record=locked,
        content=quarantine_lift_content(locked, to=to, reason=reason),
        comment=comment or f"Quarantine lifted: {reason}",
    )
    lot = move_status(
        locked,
        to=to,
        actor=signer.user,
        reason=reason,
        extra_fields={"status_reason": reason},
        moves=LOT_MOVES,
        signed=signature.meaning,
    )
    announce(lot_status_changed, lot_id=lot.pk, status=to)
    return lot


# --- Storage and aliquots --------------------------------------------------------------------


@transaction.atomic
def storage_location_create(
    *, actor: User, freezer: str, rack: str, box: str, position: str
) -> StorageLocation:
    require(can_record_production, actor, RECORDS_PRODUCTION)
    return _save_new(
        StorageLocation(freezer=freezer, rack=rack, box=box, position=position), actor=actor
    )


@transaction.atomic
def aliquots_create(
    *, actor: User, lot: ExosomeLot, volume_ul: Decimal, locations: Sequence[StorageLocation | None]
) -> list[Aliquot]:
    """Fill len(locations) vials of `lot`, each into its storage position (or none)."""
    require(can_record_production, actor, RECORDS_PRODUCTION)
    lot = ExosomeLot.objects.select_for_update().get(pk=lot.pk)
    if lot.status in (ExosomeLot.Status.RELEASED, ExosomeLot.Status.REJECTED):
        raise ValidationError(f"Lot {lot} is {lot.get_status_display().lower()} and locked.")
    if lot.is_voided:
        raise ValidationError(f"Lot {lot} is voided: it takes no vials.")
    if not locations:
        raise ValidationError({"count": "Fill at least one vial."})
    # The lot row is locked above: a concurrent fill waits, then sees these vials.
    wanted_ml = Decimal(volume_ul) * len(locations) / 1000
    remaining = lot.remaining_volume_ml
    if Decimal(volume_ul) > 0 and wanted_ml > remaining:
        raise ValidationError(
            {
                "volume_ul": f"{len(locations)} vials of {Decimal(volume_ul).normalize():f} µL "
                f"need {_ml(wanted_ml)}: only {_ml(remaining)} is left of lot {lot}."
            }
        )
    chosen = [loc for loc in locations if loc is not None]
    if len({loc.pk for loc in chosen}) != len(chosen):
        raise ValidationError({"locations": "Two vials cannot share one storage position."})
    occupied = list(Aliquot.objects.filter(location__in=chosen).select_related("location"))
    if occupied:
        names = ", ".join(f"{a.location} ({a})" for a in occupied)
        raise ValidationError({"locations": f"Storage position already occupied: {names}."})
    start = (lot.aliquots.order_by("-number").values_list("number", flat=True).first() or 0) + 1
    vials = [
        Aliquot(
            lot=lot,
            number=start + i,
            barcode=f"{lot.code}-{start + i:03d}",
            volume_ul=volume_ul,
            location=loc,
            status=_vial_status_for(lot),
            created_by=actor,
        )
        for i, loc in enumerate(locations)
    ]
    for vial in vials:
        vial.full_clean(exclude=["location"], validate_unique=False, validate_constraints=False)
    with audit_context(actor=actor, reason="Vials filled"):
        try:
            created = Aliquot.objects.bulk_create(vials)
        except IntegrityError as exc:  # a concurrent fill took a position first
            raise ValidationError({"locations": "A storage position was taken meanwhile."}) from exc
        AliquotMove.objects.bulk_create(
            [
                AliquotMove(aliquot=a, to_location=a.location, reason="Filled", created_by=actor)
                for a in created
                if a.location is not None
            ]
        )
    return created


def _vial_status_for(lot: ExosomeLot) -> str:
    """The status a waiting vial of `lot` takes: it follows the lot's disposition."""
    if lot.status == ExosomeLot.Status.RELEASED:
        return Aliquot.Status.AVAILABLE
    if lot.status == ExosomeLot.Status.REJECTED:
        return Aliquot.Status.REJECTED
    return Aliquot.Status.QUARANTINE


def check_vial_usable(aliquot: Aliquot, *, action: str, field: str = "to") -> None:
    """Refuse `action` (use, shipping, a move out of storage) unless the vial's lot is
    released and the vial is held for nothing else (a stability study), saying why in words."""
    held = vial_holds.holds([aliquot.pk]).get(aliquot.pk)
    if held:
        raise ValidationError({field: f"Vial {aliquot} is {held}: it is not {action}."})
    lot = aliquot.lot
    if lot.status == ExosomeLot.Status.REJECTED:
        raise ValidationError(
            {
                field: f"Vial {aliquot} belongs to rejected lot {lot}: it can only be destroyed "
                f"or kept as a retain sample, not {action}."
            }
        )
    if lot.status != ExosomeLot.Status.RELEASED:
        raise ValidationError(
            {
                field: f"Vial {aliquot} is in quarantine: lot {lot} is "
                f"{lot.get_status_display().lower()}, and a vial is {action} only once its lot "
                "is released."
            }
        )


@transaction.atomic
def aliquots_follow_lot(*, actor: User, lot: ExosomeLot, reason: str) -> int:
    """Move the quarantined vials of `lot` to the status its disposition gives them (released:
    available; rejected: rejected; otherwise they stay in quarantine). Called by the disposition
    (release.services) in its own transaction, under the lot's row lock. Returns how many
    vials moved."""
    require(can_sign_dispositions, actor, "Only QA's disposition moves a lot's vials.")
    lot = ExosomeLot.objects.select_for_update().get(pk=lot.pk)
    to = _vial_status_for(lot)
    if to == Aliquot.Status.QUARANTINE:
        return 0
    waiting = list(
        Aliquot.objects.select_for_update()
        .filter(lot=lot, status=Aliquot.Status.QUARANTINE, voided_at__isnull=True)
        .order_by("number")
    )
    for vial in waiting:
        move_status(vial, to=to, actor=actor, reason=reason, extra_fields={"status_reason": reason})
    return len(waiting)


@transaction.atomic
def aliquot_move(
    *, actor: User, aliquot: Aliquot, to_location: StorageLocation | None, reason: str
) -> AliquotMove:
    require(can_record_production, actor, RECORDS_PRODUCTION)
    reason = _require_reason(reason)
    aliquot = Aliquot.objects.select_for_update().select_related("lot").get(pk=aliquot.pk)
    if aliquot.is_voided:
        raise ValidationError(f"Vial {aliquot} is voided: it is not moved.")
    if to_location is None and aliquot.location is not None:
        check_vial_usable(aliquot, action="moved out of storage", field="to_location")
    check_position_free(to_location, moving=aliquot)
    move = AliquotMove(
        aliquot=aliquot, from_location=aliquot.location, to_location=to_location, reason=reason
    )
    aliquot.location = to_location
    with audit_context(actor=actor, reason=reason):
        try:
            aliquot.save(update_fields=["location"])
        except IntegrityError as exc:
            raise ValidationError({"location": "That position was taken meanwhile."}) from exc
    return _save_new(move, actor=actor, reason=reason)


@transaction.atomic
def aliquot_set_status(*, actor: User, aliquot: Aliquot, to: str, reason: str) -> Aliquot:
    """Use, ship, destroy or keep as a retain sample; a vial that leaves the freezer leaves its
    storage position free. Use and shipping need a released lot; the vials of a rejected lot
    are only destroyed or kept as retain samples; available and rejected follow the lot's
    disposition (aliquots_follow_lot), never a plain status change."""
    require(can_record_production, actor, RECORDS_PRODUCTION)
    aliquot = Aliquot.objects.select_related("lot").get(pk=aliquot.pk)
    if to in ALIQUOT_FOLLOWS_LOT or to == Aliquot.Status.QUARANTINE:
        raise ValidationError(
            {"to": "A vial is available, rejected or in quarantine as its lot's disposition says."}
        )
    if to in (Aliquot.Status.USED, Aliquot.Status.SHIPPED):
        check_vial_usable(aliquot, action=Aliquot.Status(to).label.lower())
    if to == Aliquot.Status.RETAIN and aliquot.lot.status != ExosomeLot.Status.REJECTED:
        raise ValidationError({"to": "Only a vial of a rejected lot is kept as a retain sample."})
    # A retain sample stays in its position; a used, shipped or destroyed vial leaves it.
    extra: dict[str, Any] = {"status_reason": reason}
    if to != Aliquot.Status.RETAIN:
        extra["location"] = None
    return move_status(
        aliquot,
        to=to,
        actor=actor,
        reason=reason,
        extra_fields=extra,
        moves=ALIQUOT_MOVES,
    )
