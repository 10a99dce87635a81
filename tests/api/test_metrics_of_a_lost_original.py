"""A metric computed from an original file (the NTA size fraction, from the export's bins) is
not computed when the original is gone or altered: the criterion stays pending, the task does
not fail over and over, and no other bytes stand in for the original (ALCOA+ original)."""

import hashlib
from pathlib import Path

import pytest

from assays import metrics, services
from assays.models import AssayRun, InstrumentFile
from lims import file_store
from tests.api.conftest import DATA

pytestmark = pytest.mark.django_db
NTA = DATA / "nta" / "nanosight_nta32_beads.csv"


@pytest.mark.parametrize("damage", ["missing", "altered"])
def test_the_fraction_waits_for_an_original_that_is_whole(lot, instrument, media_root, damage):
    data = NTA.read_bytes()
    file_store.store(data, folder=InstrumentFile.STORE_FOLDER)
    record = InstrumentFile.objects.create(
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        original_name=NTA.name,
        sample_identifier=lot.code,
        assay_code="NTA",
        instrument=instrument,
        reagent_lot_ids=[],
    )
    parsed = services.instrument_file_parse(record.pk)
    assert parsed.status == "parsed", parsed.error
    run = AssayRun.objects.get(source_file=parsed)
    stored = Path(media_root) / record.storage_name
    if damage == "missing":
        stored.unlink()
    else:
        stored.write_bytes(data + b"\n")

    computed = [m.code for m in metrics.RULES["NTA"](run, _by_analyte(run))]

    assert "nta.fraction_50_400" not in computed
    # What the results give is still computed (the concentration waits for the dilution
    # factor this file does not record: assays.nta_models).
    assert "nta.d50" in computed


def _by_analyte(run):
    grouped = {}
    for result in run.results.all():
        grouped.setdefault(result.analyte.code, []).append(result)
    return grouped
