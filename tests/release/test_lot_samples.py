"""assays.lot_samples.of_lot: a lot's samples (on the lot or on one of its vials) found by index.

The OR across the vials' join it replaces could use no index (every vial hashed against every
sample of the history); the same rows must come back, now by a BitmapOr of two index scans."""

import json

import pytest
from django.db import connection
from django.db.models import Q
from django.utils import timezone

from assays.lot_samples import of_lot
from assays.models import AssayRun, Result, RunSample
from assays.services import ResultInput, run_record
from batches import services as batch_services
from tests import factories

pytestmark = pytest.mark.django_db


def _run_on(actor, sample: str) -> AssayRun:
    return run_record(
        assay_code="MYCO",
        reagent_lots=factories.reagents_for("MYCO", actor=actor),
        results=[
            ResultInput(sample=sample, analyte="mycoplasma", text_value="not detected"),
            ResultInput(sample=sample, analyte="ntc", text_value="no amplification"),
        ],
        source="manual",
        started_at=timezone.now(),
        actor=actor,
    )


@pytest.fixture
def two_lots(technician):
    mine, other = factories.lot(technician), factories.lot(technician)
    vials = batch_services.aliquots_create(
        actor=technician, lot=mine, volume_ul=100, locations=[None, None]
    )
    (other_vial,) = batch_services.aliquots_create(
        actor=technician, lot=other, volume_ul=100, locations=[None]
    )
    for sample in (mine.code, vials[1].barcode, other.code, other_vial.barcode):
        _run_on(technician, sample)
    return mine, other


@pytest.mark.parametrize(
    ("model", "through"), [(RunSample, ""), (AssayRun, "samples__"), (Result, "sample__")]
)
def test_the_same_rows_as_the_or_across_the_vials_join(two_lots, model, through):
    for lot in two_lots:
        old = Q(**{f"{through}lot": lot}) | Q(**{f"{through}aliquot__lot": lot})
        expected = set(model.objects.filter(old).values_list("pk", flat=True))
        found = set(model.objects.filter(of_lot(lot, through)).values_list("pk", flat=True))
        assert found == expected and expected


def _plan(queryset) -> dict:
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        # A test database is small enough for a sequential scan to be cheapest; forbidding it
        # shows what PostgreSQL can do with the query's shape.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        (plan,) = cursor.fetchone()
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return plan[0]["Plan"]


def _sample_conditions(node: dict) -> list[str]:
    """The index conditions the plan reads the samples table by ("" for a whole-table read)."""
    found = []
    if "runsample" in node.get("Relation Name", "") + node.get("Index Name", ""):
        found.append(node.get("Index Cond") or node.get("Recheck Cond", ""))
    for child in node.get("Plans", []):
        found += _sample_conditions(child)
    return found


def test_the_samples_are_found_by_index(two_lots):
    mine, _ = two_lots
    old = _sample_conditions(_plan(RunSample.objects.filter(Q(lot=mine) | Q(aliquot__lot=mine))))
    assert "" in old  # the whole table read (by an index without a condition, or a scan)
    new = _plan(RunSample.objects.filter(of_lot(mine)))
    conditions = _sample_conditions(new)
    assert "" not in conditions, json.dumps(new, indent=1)
    assert any("lot_id" in c for c in conditions) and any("aliquot_id" in c for c in conditions)
