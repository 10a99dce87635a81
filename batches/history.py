"""What the history of a lot or a culture batch gathers from the production records
(lims.audit_trail.register_parts): one query per kind of part."""

from django.db.models import CharField, F, Value
from django.db.models.functions import Concat

from batches.models import (
    Aliquot,
    AliquotMove,
    BatchReagentUse,
    CultureBatch,
    ExosomeLot,
    Harvest,
    LotSource,
    Passage,
    ReagentLot,
)
from lims.audit_trail import register_label, register_parts


def lot_parts(lot: ExosomeLot):
    yield Aliquot, Aliquot.objects.filter(lot=lot).values_list("pk", flat=True)
    yield AliquotMove, AliquotMove.objects.filter(aliquot__lot=lot).values_list("pk", flat=True)
    yield LotSource, LotSource.objects.filter(lot=lot).values_list("pk", flat=True)


def batch_parts(batch: CultureBatch):
    yield Passage, Passage.objects.filter(batch=batch).values_list("pk", flat=True)
    yield Harvest, Harvest.objects.filter(batch=batch).values_list("pk", flat=True)
    uses = BatchReagentUse.objects.filter(batch=batch).values_list("pk", flat=True)
    yield BatchReagentUse, uses


def register() -> None:
    # How the trail names records that have no code of their own (one SQL expression each).
    register_label(
        ReagentLot, lambda: Concat("name", Value(" lot "), "lot_number", output_field=CharField())
    )
    register_label(
        Passage, lambda: Concat("batch__code", Value(" P"), "number", output_field=CharField())
    )
    register_label(
        Harvest,
        lambda: Concat(
            "batch__code",
            Value(" harvest of "),
            "volume_ml",
            Value(" mL"),
            output_field=CharField(),
        ),
    )
    register_label(AliquotMove, lambda: F("aliquot__barcode"))  # "Aliquot move EXO-…-001"
    register_label(
        LotSource,
        lambda: Concat("run__code", Value(" into "), "lot__code", output_field=CharField()),
    )
    register_label(
        BatchReagentUse,
        lambda: Concat(
            "reagent_lot__name",
            Value(" lot "),
            "reagent_lot__lot_number",
            Value(" in "),
            "batch__code",
            output_field=CharField(),
        ),
    )
    register_parts(ExosomeLot, lot_parts, "vials, vial moves, isolation runs taken in")
    register_parts(CultureBatch, batch_parts, "passages, harvests, reagent lots used")
