"""Benchmarks of the write paths, as ratios against a naive baseline measured in the same run.

Run: `.venv/bin/pytest tests/benchmarks -q -s` (the figures are printed; README quotes them).
The assertions keep a generous margin so that a loaded CI machine does not fail them, while a
regression to row-by-row writes would.
"""

import time
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from assays import services
from assays.models import AssayRun, Result, RunSample
from tests import factories

pytestmark = pytest.mark.django_db

N_RESULTS = 600


def _best_of(n, fn):
    best = float("inf")
    for _ in range(n):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def _report(name, baseline, candidate):
    ratio = baseline / candidate
    print(
        f"\n{name}: baseline {baseline * 1000:.1f} ms, LIMS {candidate * 1000:.1f} ms, "
        f"{ratio:.1f}x faster"
    )
    return ratio


def test_recording_a_run_is_set_based_not_row_by_row(technician):
    lot = factories.lot(technician)
    started = timezone.now() - timedelta(hours=1)
    items = [
        services.ResultInput(
            sample=lot.code,
            analyte="concentration",
            value=1e11 + i,
            unit="particle/mL",
            replicate=str(i),
        )
        for i in range(N_RESULTS)
    ]

    def lims_path():
        with transaction.atomic():
            services.run_record(
                assay_code="NTA",
                results=items,
                source="manual",
                started_at=started,
                actor=technician,
            )

    analyte = services.current_assay("NTA").analytes.get(code="concentration")

    def row_by_row():
        # What a naive implementation does: one INSERT (and one audit trigger call) per row.
        with transaction.atomic():
            run = AssayRun.objects.create(
                assay=analyte.assay,
                source="manual",
                started_at=started,
                operator=technician,
                created_by=technician,
            )
            sample = RunSample.objects.create(
                run=run, lot=lot, label=lot.code, created_by=technician
            )
            for item in items:
                Result(
                    run=run,
                    sample=sample,
                    analyte=analyte,
                    value=item.value,
                    unit="particle/mL",
                    replicate=item.replicate,
                    created_by=technician,
                ).save()

    baseline = _best_of(3, row_by_row)
    candidate = _best_of(3, lims_path)
    ratio = _report(f"record a run of {N_RESULTS} results", baseline, candidate)
    assert ratio > 1.5


def test_audit_trigger_cost_stays_proportionate(technician):
    """The price of the database audit trail on bulk writes, against an unaudited table."""
    from assays.models import IdempotencyRecord
    from batches.models import StorageLocation

    n = 1000

    def audited():
        with transaction.atomic():
            StorageLocation.objects.bulk_create(
                StorageLocation(
                    freezer=f"F{time.perf_counter_ns()}",
                    rack="R",
                    box="B",
                    position=str(i),
                    created_by=technician,
                )
                for i in range(n)
            )

    def unaudited():
        with transaction.atomic():
            IdempotencyRecord.objects.bulk_create(
                IdempotencyRecord(
                    principal=f"p{time.perf_counter_ns()}",
                    key=str(i),
                    request_hash="0" * 64,
                    path="/",
                )
                for i in range(n)
            )

    baseline = _best_of(3, unaudited)
    candidate = _best_of(3, audited)
    overhead = candidate / baseline
    print(
        f"\naudited bulk insert of {n} rows: {candidate * 1000:.1f} ms vs unaudited "
        f"{baseline * 1000:.1f} ms ({overhead:.1f}x)"
    )
    assert overhead < 10
