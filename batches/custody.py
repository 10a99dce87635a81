"""The writes of retained samples and sample receipts (batches.models): one
transaction each, role checked first, refusals next to the field they are about."""

from collections.abc import Collection
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import Sum
from django.utils import timezone

from batches import vial_holds
from batches.models import (
    Aliquot,
    CustodyTransfer,
    ExosomeLot,
    RetainedSet,
    RetainedVial,
    RetainWithdrawal,
    SampleReceipt,
)
from lims.audit import audit_context
from lims.identifiers import next_identifier
from lims.models import User
from lims.roles import can_manage_retains, can_receive_samples, require

# EU GMP Annex 19 §3.1 and 21 CFR 211.170(b): retention samples are kept at least one year
# after the lot's expiry.
RETENTION_YEARS = 1
# A lot's retains are set aside as it is released (or while QA reviews it for release).
RETAIN_LOT_STATUSES = (ExosomeLot.Status.UNDER_REVIEW, ExosomeLot.Status.RELEASED)


def retain_refusal(lot: ExosomeLot) -> str | None:
    """Why a lot's retains cannot be set aside now (None: they can)."""
    if lot.status in RETAIN_LOT_STATUSES:
        return None
    return (
        f"Lot {lot} is {lot.get_status_display().lower()}: retains are set aside at its "
        "release (under review or released)."
    )


MANAGES_RETAINS = "Only QA sets aside and withdraws retained samples."
RECEIVES_SAMPLES = "Only technicians log received samples and their custody."
# A retained vial is a sealed vial of the lot that is still in stock.
RETAINABLE_STATUSES = (Aliquot.Status.QUARANTINE, Aliquot.Status.AVAILABLE)


def retain_until(lot_expiry: date) -> date:
    """The lot's expiry plus the retention period (29 February kept to 1 March: never less)."""
    try:
        return lot_expiry.replace(year=lot_expiry.year + RETENTION_YEARS)
    except ValueError:
        return date(lot_expiry.year + RETENTION_YEARS, 3, 1)


def retained_remaining(retained: RetainedSet) -> int:
    withdrawn = retained.withdrawals.aggregate(total=Sum("vials"))["total"] or 0
    return retained.vials - withdrawn


@transaction.atomic
def retain_set_aside(
    *,
    actor: User,
    lot: ExosomeLot,
    vials: int,
    location: str,
    lot_expiry: date,
    set_aside_on: date | None = None,
) -> RetainedSet:
    """QA sets aside a lot's retained vials: how many, where, until when."""
    require(can_manage_retains, actor, MANAGES_RETAINS)
    lot = ExosomeLot.objects.select_for_update().get(pk=lot.pk)
    today = timezone.localdate()
    set_aside_on = set_aside_on or today
    errors: dict[str, str] = {}
    if refusal := retain_refusal(lot):
        errors["lot"] = refusal
    if RetainedSet.objects.filter(lot=lot, voided_at__isnull=True).exists():
        errors["lot"] = f"Lot {lot} already has its retained set."
    free, shortage = _free_vials(lot, wanted=vials)
    if vials < 1:
        errors["vials"] = "Set aside at least one vial."
    elif shortage:
        errors["vials"] = shortage
    if lot_expiry <= lot.manufactured_on:
        errors["lot_expiry"] = (
            f"The lot was manufactured on {lot.manufactured_on:%Y-%m-%d}: it expires after that."
        )
    if set_aside_on > today:
        errors["set_aside_on"] = "Retains are recorded once set aside, not ahead of it."
    elif set_aside_on < lot.manufactured_on:
        errors["set_aside_on"] = "Retains cannot be set aside before the lot was made."
    if not location.strip():
        errors["location"] = "Say where the retains are kept."
    if errors:
        raise ValidationError(errors)
    retained = RetainedSet(
        lot=lot,
        vials=vials,
        location=location.strip(),
        lot_expiry=lot_expiry,
        retain_until=retain_until(lot_expiry),
        set_aside_on=set_aside_on,
        created_by=actor,
    )
    retained.full_clean()
    with audit_context(actor=actor, reason=f"Retains of lot {lot} set aside"):
        retained.save()
        RetainedVial.objects.bulk_create(
            RetainedVial(retained_set=retained, aliquot=vial) for vial in free[:vials]
        )
    return retained


def _free_vials(lot: ExosomeLot, *, wanted: int) -> tuple[list[Aliquot], str]:
    """The lot's vials that may be retained, locked in a fixed order (lowest number first), and,
    when fewer than `wanted`, why in words: how many are required, how many are free, and
    where the others went. Free: not voided, still in stock (quarantine or available), held
    for nothing (a stability study, another retained set) and never drawn from by a test."""
    vials = list(lot.aliquots.filter(voided_at__isnull=True).values_list("pk", "status"))
    held = vial_holds.holds([pk for pk, _ in vials])
    opened: set[int] = set()
    for subquery in vial_holds.opened_vials():
        opened |= set(Aliquot.objects.filter(lot=lot, pk__in=subquery).values_list("pk", flat=True))
    gone = [pk for pk, status in vials if status not in RETAINABLE_STATUSES]
    free_ids = [
        pk
        for pk, status in vials
        if status in RETAINABLE_STATUSES and pk not in held and pk not in opened
    ]
    # Locked (and their status checked again under the lock): a vial used or reserved
    # meanwhile is not retained. The lot's row lock already orders retains and studies.
    free = list(
        Aliquot.objects.select_for_update()
        .filter(pk__in=free_ids, status__in=RETAINABLE_STATUSES)
        .order_by("number")
    )
    if wanted < 1 or len(free) >= wanted:
        return free, ""
    held_here = [reason for pk, reason in held.items() if pk not in gone]
    tested = len(opened - set(held) - set(gone))
    others = [
        f"{len(held_here)} held (e.g. {held_here[0]})" if held_here else "",
        f"{tested} drawn from by a test" if tested else "",
        f"{len(gone)} used, shipped, destroyed or rejected" if gone else "",
    ]
    why = "; ".join(part for part in others if part)
    return free, (
        f"{wanted} retained vial(s) required, but lot {lot} has only {len(free)} free of its "
        f"{len(vials)} vial(s)" + (f" ({why})." if why else ".")
    )


@transaction.atomic
def retain_withdraw(
    *, actor: User, retained: RetainedSet, vials: int, reason: str
) -> RetainWithdrawal:
    """Take vials out of a retained set, only with a reason, never more than remain."""
    require(can_manage_retains, actor, MANAGES_RETAINS)
    retained = RetainedSet.objects.select_for_update().get(pk=retained.pk)
    errors: dict[str, str] = {}
    if not reason.strip():
        errors["reason"] = "Say why retained vials are withdrawn (EU GMP Annex 19)."
    remaining = retained_remaining(retained)
    if vials < 1:
        errors["vials"] = "Withdraw at least one vial."
    elif vials > remaining:
        errors["vials"] = f"Only {remaining} retained vial(s) remain."
    if retained.is_voided:
        errors["vials"] = "This retained set is voided."
    if errors:
        raise ValidationError(errors)
    withdrawal = RetainWithdrawal(
        retained_set=retained,
        vials=vials,
        reason=reason.strip(),
        withdrawn_at=timezone.now(),
        created_by=actor,
    )
    withdrawal.full_clean()
    with audit_context(actor=actor, reason=f"Retains withdrawn: {reason.strip()}"):
        withdrawal.save()
        # The vials taken are the retained ones with the lowest numbers (a set aside before the
        # vials were picked has none: its count is all there is).
        taken = list(
            retained.retained_vials.select_for_update()
            .filter(withdrawal__isnull=True)
            .order_by("aliquot__number")
            .values_list("pk", flat=True)[:vials]
        )
        RetainedVial.objects.filter(pk__in=taken).update(withdrawal=withdrawal)
    return withdrawal


# --- Vial holds (batches.vial_holds): a retained vial is held until it is withdrawn ----------


def _retained_now() -> models.QuerySet[RetainedVial]:
    return RetainedVial.objects.filter(
        withdrawal__isnull=True, retained_set__voided_at__isnull=True
    )


def held_reasons(aliquot_ids: Collection[int]) -> dict[int, str]:
    return {
        aliquot: f"kept as a retained sample of lot {lot} (until {until:%Y-%m-%d})"
        for aliquot, lot, until in _retained_now()
        .filter(aliquot__in=list(aliquot_ids))
        .values_list("aliquot_id", "retained_set__lot__code", "retained_set__retain_until")
    }


def held_subquery() -> models.QuerySet:
    return _retained_now().values("aliquot_id")


def temperature_excursion(shipping: str, low: Decimal, high: Decimal) -> bool:
    """Whether the shipment's recorded temperatures left its condition's range."""
    floor, ceiling = SampleReceipt.RANGES[shipping]
    return (floor is not None and float(low) < floor) or (
        ceiling is not None and float(high) > ceiling
    )


def check_receipt_dates(
    *, shipped_at: datetime, received_at: datetime, late_reason: str = ""
) -> str:
    """No receipt in the future, none before it was shipped, and a reason for one logged more
    than BACKDATE_DAYS after it arrived. Returns the reason, stripped."""
    now = timezone.now()
    errors: dict[str, str] = {}
    if received_at > now + settings.RUN_FUTURE_TOLERANCE:
        errors["received_at"] = "A sample cannot be received in the future."
    if shipped_at > received_at:
        errors["shipped_at"] = "A sample is shipped before it is received."
    reason = late_reason.strip()
    if now - received_at > timedelta(days=settings.BACKDATE_DAYS) and not reason:
        errors["late_reason"] = (
            f"Received on {timezone.localtime(received_at):%Y-%m-%d}, more than "
            f"{settings.BACKDATE_DAYS} days ago: say why it is logged late."
        )
    if errors:
        raise ValidationError(errors)
    return reason


@transaction.atomic
def sample_receive(
    *,
    actor: User,
    sender_kind: str,
    sender_name: str,
    description: str,
    containers: int,
    courier: str,
    shipped_at: datetime,
    received_at: datetime,
    condition: str,
    shipping_condition: str,
    temperature_min_c: Decimal,
    temperature_max_c: Decimal,
    condition_notes: str = "",
    logger_id: str = "",
    lot: ExosomeLot | None = None,
    late_reason: str = "",
) -> SampleReceipt:
    """Log a sample that arrived, with its first two custody hand-overs (sender to courier,
    courier to the person receiving it). A damaged container or a temperature excursion is
    recorded, explained, and keeps the sample from being tested."""
    require(can_receive_samples, actor, RECEIVES_SAMPLES)
    late_reason = check_receipt_dates(
        shipped_at=shipped_at, received_at=received_at, late_reason=late_reason
    )
    errors: dict[str, str] = {}
    if temperature_max_c < temperature_min_c:
        errors["temperature_max_c"] = "The highest temperature is not below the lowest."
    if shipping_condition not in SampleReceipt.RANGES:
        errors["shipping_condition"] = "Choose the shipping condition."
    excursion = not errors and temperature_excursion(
        shipping_condition, temperature_min_c, temperature_max_c
    )
    if (condition != SampleReceipt.Condition.INTACT or excursion) and not condition_notes.strip():
        errors["condition_notes"] = (
            "Describe the damage or the temperature excursion found on arrival."
        )
    if not courier.strip():
        errors["courier"] = "Name the courier (chain of custody)."
    if errors:
        raise ValidationError(errors)
    receipt = SampleReceipt(
        code=next_identifier("sample_receipt"),
        sender_kind=sender_kind,
        sender_name=sender_name.strip(),
        description=description.strip(),
        lot=lot,
        containers=containers,
        courier=courier.strip(),
        shipped_at=shipped_at,
        received_at=received_at,
        late_reason=late_reason,
        condition=condition,
        condition_notes=condition_notes.strip(),
        shipping_condition=shipping_condition,
        temperature_min_c=temperature_min_c,
        temperature_max_c=temperature_max_c,
        logger_id=logger_id.strip(),
        excursion=excursion,
        created_by=actor,
    )
    receipt.full_clean()
    with audit_context(actor=actor, reason="Sample received"):
        receipt.save()
        CustodyTransfer.objects.bulk_create(
            [
                CustodyTransfer(
                    receipt=receipt,
                    from_party=receipt.sender_name,
                    to_party=receipt.courier,
                    at=shipped_at,
                    note="Shipped",
                    created_by=actor,
                ),
                CustodyTransfer(
                    receipt=receipt,
                    from_party=receipt.courier,
                    to_party=actor.printed_name,
                    at=received_at,
                    note=f"Received: {receipt.get_condition_display().lower()}",
                    created_by=actor,
                ),
            ]
        )
    return receipt


def receipt_refusal(receipt: SampleReceipt) -> str:
    """Why a received sample may not be tested (empty: it may, as a sample of its lot)."""
    if receipt.is_voided:
        return f"Received sample {receipt} is voided."
    if receipt.lot_id is None:
        return f"Received sample {receipt} names no lot to test it as a sample of."
    if receipt.condition != SampleReceipt.Condition.INTACT:
        return f"Received sample {receipt} arrived {receipt.get_condition_display().lower()}."
    if receipt.excursion:
        return f"Received sample {receipt} left its temperature range in transit."
    return ""


@transaction.atomic
def custody_transfer(
    *, actor: User, receipt: SampleReceipt, to_party: str, at: datetime, note: str = ""
) -> CustodyTransfer:
    """Hand a received sample on: from its last holder, never earlier than that hand-over."""
    require(can_receive_samples, actor, RECEIVES_SAMPLES)
    receipt = SampleReceipt.objects.select_for_update().get(pk=receipt.pk)
    last = receipt.custody.order_by("-at", "-pk").first()
    errors: dict[str, str] = {}
    if at > timezone.now() + settings.RUN_FUTURE_TOLERANCE:
        errors["at"] = "A hand-over cannot be in the future."
    elif last is not None and at < last.at:
        errors["at"] = (
            f"The last hand-over was at {timezone.localtime(last.at):%Y-%m-%d %H:%M}: a later "
            "one cannot be before it."
        )
    if not to_party.strip():
        errors["to_party"] = "Name who takes the sample."
    if errors:
        raise ValidationError(errors)
    transfer = CustodyTransfer(
        receipt=receipt,
        from_party=last.to_party if last else receipt.sender_name,
        to_party=to_party.strip(),
        at=at,
        note=note.strip(),
        created_by=actor,
    )
    transfer.full_clean()
    with audit_context(actor=actor, reason="Custody transferred"):
        transfer.save()
    return transfer
