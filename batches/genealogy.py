"""A lot's genealogy: every isolation run, culture batch, cell bank, donor and reagent lot."""

from dataclasses import dataclass

from batches.models import (
    CellBank,
    CultureBatch,
    Donor,
    ExosomeLot,
    IsolationRun,
    ReagentLot,
)


@dataclass(frozen=True)
class Genealogy:
    isolation_runs: list[IsolationRun]
    culture_batches: list[CultureBatch]
    cell_banks: list[CellBank]
    donors: list[Donor]
    reagent_lots: list[ReagentLot]


def lot_genealogy(lot: ExosomeLot) -> Genealogy:
    """Walk back from a lot in a fixed number of queries, whatever its size."""
    runs = list(IsolationRun.objects.filter(lots=lot).order_by("started_at"))
    batches = list(
        CultureBatch.objects.filter(harvests__isolations__lots=lot)
        .select_related("cell_bank__donor")
        .distinct()
        .order_by("code")
    )
    banks = {b.cell_bank.pk: b.cell_bank for b in batches}
    # Working banks trace further back to their master bank.
    parents = CellBank.objects.filter(derived_banks__in=list(banks)).select_related("donor")
    for parent in parents:
        banks.setdefault(parent.pk, parent)
    donors = {bank.donor.pk: bank.donor for bank in banks.values()}
    reagents = ReagentLot.objects.filter(
        pk__in=list(
            ReagentLot.objects.filter(culture_batches__in=[b.pk for b in batches]).values_list(
                "pk", flat=True
            )
        )
        + list(ReagentLot.objects.filter(isolation_runs__in=runs).values_list("pk", flat=True))
    ).order_by("name")
    return Genealogy(
        isolation_runs=runs,
        culture_batches=batches,
        cell_banks=sorted(banks.values(), key=lambda b: b.code),
        donors=sorted(donors.values(), key=lambda d: d.code),
        reagent_lots=list(reagents),
    )
