"""A file of many samples recorded through the service: each LIMS sample gets the values of its
own wells under the file's name for them (Result.source_sample), never another's, never a mean.
Gen5 (plate layout names), QuantStudio (sample names with their targets) and Luminex xPONENT
(wells named by sample type), on the real exports of tests/data/instruments."""

from pathlib import Path

import pytest

from assays import services
from assays.ingest import records_from_file
from assays.models import InstrumentFile, Result
from assays.parsers.file_samples import Role
from tests import factories
from tests.assays_pages.conftest import register_instrument

pytestmark = pytest.mark.django_db

DATA = Path(__file__).resolve().parents[1] / "data" / "instruments"


@pytest.mark.parametrize(
    ("name", "assay", "value_name"),
    [
        ("gen5_absorbance_stdcurve_singleplate.txt", "BCA", "absorbance"),
        ("quantstudio_example01.txt", "MIRNA-QPCR", "cycle threshold result"),
        ("luminex_xponent_example02.csv", "POTENCY-MAC", "Net MFI"),
    ],
)
def test_each_lot_gets_its_own_wells_under_the_files_name(
    name, assay, value_name, technician, admin_user, settings, tmp_path,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    settings.MEDIA_ROOT = tmp_path / "files"
    data = (DATA / name).read_bytes()
    _, records = records_from_file(data, filename=name)
    samples = list(dict.fromkeys(r.identifier for r in records if r.role == Role.SAMPLE))
    mapped, left_out = samples[:2], samples[2:]
    lots = {file_name: factories.lot(technician) for file_name in mapped}
    instrument = register_instrument(admin_user, code="PLATE-01", assay_codes=(assay,))

    with django_capture_on_commit_callbacks(execute=True):
        record = services.instrument_file_receive(
            data=data,
            filename=name,
            assay_code=assay,
            instrument=instrument,
            sample_map={file_name: lot.code for file_name, lot in lots.items()},
            excluded={file_name: "not in this study" for file_name in left_out},
            uploaded_by=technician,
            reagent_lots=factories.reagents_for(assay),
        )

    record.refresh_from_db()
    assert record.status == InstrumentFile.Status.PARSED, record.error
    for file_name, lot in lots.items():
        expected = sorted(
            v.value
            for r in records
            if r.identifier == file_name and r.role == Role.SAMPLE
            for v in r.values
            if v.name == value_name and v.value is not None
        )
        results = Result.objects.filter(source_file=record, sample__lot=lot)
        assert expected and sorted(r.value for r in results if r.value is not None) == (
            pytest.approx(expected)
        )
        labels = {r.label or r.identifier for r in records if r.identifier == file_name}
        assert {r.source_sample for r in results} <= labels
    # Standards, blanks and the names left out are no LIMS sample's results.
    assert Result.objects.filter(source_file=record, value__isnull=False).count() == sum(
        1
        for r in records
        if r.identifier in lots and r.role == Role.SAMPLE
        for v in r.values
        if v.name == value_name and v.value is not None
    )
