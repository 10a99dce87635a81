"""The genealogy gates release (release gate, item 1).

A lot is releasable only when every culture batch it was made from has a complete, passing
evaluation against the source-cell specification (ISCT identity, Dominici et al. 2006;
mycoplasma, Ph. Eur. 2.6.7; sterility, USP <71>; viability). A failing source-cell criterion
opens an OOS investigation on the batch, which blocks every lot made from it.
"""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from batches import services as batch_services
from batches.models import CultureBatch
from release.models import CriterionEvaluation, Deviation
from release.selectors import release_blockers
from tests import factories
from tests.release.helpers import (
    SOURCE_CELLS_PASSING,
    committed,
    dispose,
    lot_under_review,
    record_manual_run,
    record_passing_results,
    record_passing_source_cells,
    review_runs,
)

pytestmark = pytest.mark.django_db


def _source_batch(lot) -> CultureBatch:
    return CultureBatch.objects.get(harvests__isolations__lots=lot)


def _lot_with_source_results(technician, **overrides):
    """A lot with passing lot results whose source batch is tested with `overrides`
    ({assay: pairs}, or None to leave an assay out)."""
    lot = factories.lot(technician)
    batch = _source_batch(lot)
    for code, pairs in SOURCE_CELLS_PASSING.items():
        pairs = overrides.get(code, pairs)
        if pairs is not None:
            record_manual_run(technician, batch, code, pairs)
    return lot_under_review(technician, lot=lot).lot, batch


def test_mycoplasma_detected_in_the_source_cells_opens_an_oos_on_the_batch_and_blocks_the_lot(
    technician, qa_user, make_user
):
    lot, batch = _lot_with_source_results(technician, **{"MYCO-CB": [("mycoplasma", "detected")]})

    oos = Deviation.objects.get(culture_batch=batch, kind="oos")
    assert oos.criterion.test == "Mycoplasma" and oos.lot_id is None
    assert str(batch) in oos.title
    blockers = release_blockers(lot)
    codes = [b.code for b in blockers]
    assert "source_batch_failed" in codes and "oos_open" in codes
    failed = next(b for b in blockers if b.code == "source_batch_failed")
    assert batch.code in failed.message and "Mycoplasma" in failed.message
    assert failed.object == {"type": "culture_batch", "id": batch.pk, "code": batch.code}

    with pytest.raises(ValidationError, match="Mycoplasma"):
        dispose(qa_user, lot, "released")
    lot.refresh_from_db()
    assert lot.status == "under_review"


def test_source_cell_criteria_still_pending_block_the_lot(technician, qa_user):
    # Only mycoplasma tested: viability, the flow panel (six markers and the ISCT verdict) and
    # sterility are the nine criteria still pending, as in the case the release gate reported.
    lot, batch = _lot_with_source_results(
        technician, **{"VIABILITY": None, "ISCT-FLOW": None, "STERILITY-CB": None}
    )

    pending = [b for b in release_blockers(lot) if b.code == "source_batch_incomplete"]
    assert len(pending) == 9
    assert all(batch.code in b.message and "has no result yet" in b.message for b in pending)
    with pytest.raises(ValidationError, match="no result yet"):
        dispose(qa_user, lot, "released")


def test_a_batch_never_tested_blocks_every_lot_made_from_it(technician, make_user):
    lot = factories.lot(technician)
    with committed():
        batch_services.lot_set_status(actor=technician, lot=lot, to="in_testing", reason="QC")
    review_runs(record_passing_results(technician, lot).values())
    lot.refresh_from_db()
    assert lot.status == "under_review"  # moved there by itself (release.lot_progress)

    batch = _source_batch(lot)
    assert not CriterionEvaluation.objects.filter(culture_batch=batch).exists()
    codes = [b.code for b in release_blockers(lot)]
    assert codes == ["source_batch_incomplete"]
    assert batch.code in release_blockers(lot)[0].message


def test_a_fully_passing_source_batch_lets_the_lot_through(technician, make_user):
    lot = lot_under_review(technician).lot
    batch = _source_batch(lot)
    states = set(
        CriterionEvaluation.objects.filter(culture_batch=batch).values_list("status", flat=True)
    )
    assert states == {"pass"}
    assert release_blockers(lot) == []
    assert record_passing_source_cells(technician, lot) == {}  # already tested: nothing to add


def test_the_review_page_and_the_api_name_the_failing_batch_and_criterion(
    technician, qa_user, client
):
    lot, batch = _lot_with_source_results(technician, **{"MYCO-CB": [("mycoplasma", "detected")]})

    client.force_login(qa_user)
    page = client.get(reverse("release:lot_review", args=[lot.pk])).content.decode()
    assert f"Source culture batch {batch.code}: Mycoplasma" in page

    body = client.get(f"/api/v1/lots/{lot.pk}/evaluation/").json()
    assert body["releasable"] is False
    assert {"source_batch_failed", "oos_open"} <= {b["code"] for b in body["blockers"]}
