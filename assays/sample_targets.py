"""What a sample identifier in a run, a worksheet or a file names: a culture batch, or a lot and
perhaps one of its vials (or a sample received from outside), checked against what the assay
tests. Apart from assays.services so that assays.sample_matching can use it without the two
modules importing each other."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypedDict

from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from assays.models import AssayDefinition, RunSample
from batches import vial_holds
from batches.custody import receipt_refusal
from batches.models import Aliquot, CultureBatch, ExosomeLot, SampleReceipt

LOCKED_LOT_STATUSES = (ExosomeLot.Status.RELEASED, ExosomeLot.Status.REJECTED)


class SampleTarget(TypedDict, total=False):
    """What a sample identifier names: a culture batch, or a lot and perhaps one of its vials."""

    culture_batch: CultureBatch
    lot: ExosomeLot
    aliquot: Aliquot | None


def resolve_sample(identifier: str, assay: AssayDefinition) -> SampleTarget:
    """The batch, lot or vial an identifier names, checked against what the assay tests."""
    found = resolve_samples([identifier], assay)[identifier]
    if isinstance(found, ValidationError):
        raise found
    return found


def resolve_samples(
    identifiers: Iterable[str], assay: AssayDefinition
) -> dict[str, SampleTarget | ValidationError]:
    """`resolve_sample` for many identifiers at once, in a fixed number of queries however many
    there are (a run of a 96-well plate, a worksheet): each identifier's target, or the refusal
    `resolve_sample` raises for it."""
    wanted = {identifier: identifier.strip() for identifier in identifiers}
    codes = set(wanted.values())
    found: dict[str, SampleTarget | ValidationError] = {}
    if assay.applies_to == AssayDefinition.AppliesTo.CULTURE_BATCH:
        batches = {b.code: b for b in CultureBatch.objects.filter(code__in=codes)} if codes else {}
        for identifier, code in wanted.items():
            batch = batches.get(code)
            found[identifier] = (
                {"culture_batch": batch}
                if batch is not None
                else ValidationError(
                    {
                        "sample": f"No culture batch '{code}' (assay "
                        f"{assay.code} tests culture batches)."
                    }
                )
            )
        return found
    lots = {lot.code: lot for lot in ExosomeLot.objects.filter(code__in=codes)} if codes else {}
    barcodes = codes - set(lots)
    vials = (
        {a.barcode: a for a in Aliquot.objects.select_related("lot").filter(barcode__in=barcodes)}
        if barcodes
        else {}
    )
    # A vial held for a stability study is tested after its lot's release, by design (ICH Q5C).
    held = vial_holds.holds([a.pk for a in vials.values()]) if vials else {}
    # A sample received from outside (batches.custody) is tested as a sample of its lot.
    unknown = barcodes - set(vials)
    receipts = (
        {r.code: r for r in SampleReceipt.objects.select_related("lot").filter(code__in=unknown)}
        if unknown
        else {}
    )
    for identifier, code in wanted.items():
        aliquot = vials.get(code)
        receipt = receipts.get(code)
        lot = lots.get(code) or (aliquot.lot if aliquot else None)
        if receipt is not None:
            refusal = receipt_refusal(receipt)
            if refusal:
                found[identifier] = ValidationError({"sample": refusal})
                continue
            lot = receipt.lot
        if lot is None:
            found[identifier] = ValidationError({"sample": f"No exosome lot or vial '{code}'."})
        elif lot.status in LOCKED_LOT_STATUSES and (aliquot is None or aliquot.pk not in held):
            found[identifier] = ValidationError(
                {
                    "sample": f"Lot {lot} is {lot.get_status_display().lower()}: it takes no new "
                    "results."
                }
            )
        else:
            found[identifier] = {"lot": lot, "aliquot": aliquot}
    return found


def target_key(target: SampleTarget) -> tuple[object, ...]:
    """What a sample is, whatever identifier named it: two rows naming the same lot (or the same
    vial, or culture batch) are one sample entered twice."""
    if target.get("culture_batch") is not None:
        return ("culture_batch", target["culture_batch"].pk)
    aliquot = target.get("aliquot")
    return ("lot", target["lot"].pk, aliquot.pk if aliquot is not None else None)


def tested_vials() -> QuerySet:
    """The ids of vials a run tested (batches.vial_holds.register_opened): opened vials."""
    return RunSample.objects.filter(aliquot__isnull=False).values("aliquot_id")
