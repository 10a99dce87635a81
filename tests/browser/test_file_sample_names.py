"""An instrument file of many samples uploaded in a real browser: the Vi-CELL BLU export names
ten culture batches (CLB001…CLB011). Five are LIMS culture batches of those codes and match by
name; four are mapped by hand (one first to a code that does not exist, refused next to its
field); CLB008, the instrument's error row, is left out with a reason. Confirmed, the run keeps
each value under its own culture batch and the file's name for it, never a mean. The Gen5
plate, the QuantStudio run and the xPONENT plate of tests/data/instruments go the same way.

Full-page screenshots go to test-artifacts/screenshots/file-sample-names/.
"""

import re
from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from assays.models import AssayRun, InstrumentFile
from assays.parsers import asm  # noqa: F401  imported here: allotropy takes seconds to import
from batches.models import CultureBatch
from tests import factories
from tests.assays_pages.conftest import register_instrument
from tests.browser.test_worksheet import _choose_reagents

pytestmark = [pytest.mark.browser]

REPO_ROOT = Path(__file__).resolve().parents[2]
SHOTS = REPO_ROOT / "test-artifacts" / "screenshots" / "file-sample-names"
VICELL = REPO_ROOT / "tests" / "data" / "instruments" / "vicell_blu_example01.csv"
BY_NAME = ["CLB001", "CLB002", "CLB003", "CLB005", "CLB006"]
BY_HAND = ["CLB007", "CLB009", "CLB010", "CLB011"]


def _row(page: Page, name: str):
    return page.locator("#unmatched tbody tr").filter(has_text=name)


def test_vicell_samples_matched_mapped_and_left_out(
    live_server, settings, tmp_path, technician, admin_user, page: Page
):
    settings.MEDIA_ROOT = tmp_path / "files"
    counter = register_instrument(admin_user, code="VC-01", assay_codes=("VIABILITY",))
    batches = {}
    for name in BY_NAME + BY_HAND:
        batch = factories.culture_batch(technician)
        if name in BY_NAME:  # a culture batch the LIMS knows by the file's name for it
            CultureBatch.objects.filter(pk=batch.pk).update(code=name)
            batch.refresh_from_db()
        batches[name] = batch
    reagents = factories.reagent_ids_for("VIABILITY")
    SHOTS.mkdir(parents=True, exist_ok=True)
    url = live_server.url

    page.goto(f"{url}/accounts/login/")
    page.fill("#id_username", technician.username)
    page.fill("#id_password", factories.PASSWORD)
    page.click("button[type=submit]")
    expect(page).not_to_have_url(re.compile(r"/accounts/login/"))

    page.goto(f"{url}{reverse('assays:file_upload')}")
    page.set_input_files("#id_file", str(VICELL))
    page.select_option("#id_assay", "VIABILITY")
    page.select_option("#id_instrument", str(counter.pk))
    _choose_reagents(page, reagents)
    page.screenshot(path=str(SHOTS / "01-upload-form.png"), full_page=True)
    page.click("button:has-text('Read the file')")

    # The confirmation page: nothing is recorded yet.
    expect(page.locator("h1")).to_have_text("Confirm the samples of vicell_blu_example01.csv")
    matched = page.locator("#matched tbody tr")
    expect(matched).to_have_count(len(BY_NAME))
    for name in BY_NAME:
        link = matched.filter(has_text=name).locator("a")
        expect(link).to_have_attribute("href", batches[name].get_absolute_url())
    expect(page.locator("#unmatched tbody tr")).to_have_count(len(BY_HAND) + 1)
    expect(page.locator("#recognised")).to_have_count(0)  # a cell counter has no standards
    assert not InstrumentFile.objects.exists()
    page.screenshot(path=str(SHOTS / "02-confirm.png"), full_page=True)

    _row(page, "CLB007").locator("input[name$='-sample']").fill("CB-NO-SUCH")
    for name in BY_HAND[1:]:
        _row(page, name).locator("input[name$='-sample']").fill(batches[name].code)
    _row(page, "CLB008").locator("input[name$='-reason']").fill("instrument error row, no count")
    page.click("button:has-text('Confirm and record')")

    # Refused next to its field, the rest kept as typed; still nothing recorded.
    error = _row(page, "CLB007").locator(".invalid-feedback")
    expect(error).to_have_text(
        "No culture batch 'CB-NO-SUCH' (assay VIABILITY tests culture batches)."
    )
    expect(_row(page, "CLB009").locator("input[name$='-sample']")).to_have_value(
        batches["CLB009"].code
    )
    assert not InstrumentFile.objects.exists()
    page.screenshot(path=str(SHOTS / "03-refused-next-to-the-field.png"), full_page=True)

    _row(page, "CLB007").locator("input[name$='-sample']").fill(batches["CLB007"].code)
    page.click("button:has-text('Confirm and record')")

    expect(page.locator("h1")).to_have_text("Instrument file vicell_blu_example01.csv")
    samples = page.locator("#file-samples tbody tr")
    expect(samples.filter(has_text="CLB008")).to_contain_text("left out: instrument error row")
    expect(samples.filter(has_text="CLB001")).to_contain_text("CLB001 (by name)")
    expect(samples.filter(has_text="CLB011")).to_contain_text(f"{batches['CLB011'].code} (mapped)")
    page.screenshot(path=str(SHOTS / "04-file.png"), full_page=True)

    run = AssayRun.objects.get(source_file=InstrumentFile.objects.get())
    page.goto(f"{url}{run.get_absolute_url()}")
    rows = page.locator("table tbody tr").filter(has_text="Viability")
    expect(rows).to_have_count(9)  # one per culture batch, none for CLB008, no mean
    clb011 = rows.filter(has_text="CLB011")
    expect(clb011).to_contain_text(batches["CLB011"].code)
    expect(clb011).to_contain_text("72.06")  # its own value, not the 93.4 % mean of the file
    expect(page.locator("body")).not_to_contain_text("CLB008")
    page.screenshot(path=str(SHOTS / "05-run.png"), full_page=True)


MANY_SAMPLE_FILES = [
    ("gen5_absorbance_stdcurve_singleplate.txt", "BCA"),
    ("quantstudio_example01.txt", "MIRNA-QPCR"),
    ("luminex_xponent_example02.csv", "POTENCY-MAC"),
]


@pytest.mark.parametrize(("name", "assay"), MANY_SAMPLE_FILES)
def test_plate_qpcr_and_multiplex_samples_mapped_in_the_browser(
    name, assay, live_server, settings, tmp_path, technician, admin_user, page: Page
):
    """The Gen5 plate, the QuantStudio run and the xPONENT plate: the confirmation page lists
    the file's own sample names (standards and blanks recognised apart, where the file has
    them); two are mapped to lots, the rest left out with a reason; the run keeps each lot's
    own values under the file's name for them."""
    from assays.ingest import records_from_file
    from assays.models import Result
    from assays.parsers.file_samples import Role

    settings.MEDIA_ROOT = tmp_path / "files"
    path = REPO_ROOT / "tests" / "data" / "instruments" / name
    _, records = records_from_file(path.read_bytes(), filename=name)
    samples = list(dict.fromkeys(r.identifier for r in records if r.role == Role.SAMPLE))
    others = {r.identifier for r in records if r.role != Role.SAMPLE}
    mapped, left_out = samples[:2], samples[2:]
    lots = {file_name: factories.lot(technician) for file_name in mapped}
    instrument = register_instrument(admin_user, code="READER-01", assay_codes=(assay,))
    reagents = factories.reagent_ids_for(assay)  # before the form lists the usable lots
    shots = SHOTS / Path(name).stem
    shots.mkdir(parents=True, exist_ok=True)
    url = live_server.url

    page.goto(f"{url}/accounts/login/")
    page.fill("#id_username", technician.username)
    page.fill("#id_password", factories.PASSWORD)
    page.click("button[type=submit]")
    expect(page).not_to_have_url(re.compile(r"/accounts/login/"))
    page.goto(f"{url}{reverse('assays:file_upload')}")
    page.set_input_files("#id_file", str(path))
    page.select_option("#id_assay", assay)
    page.select_option("#id_instrument", str(instrument.pk))
    _choose_reagents(page, reagents)
    page.click("button:has-text('Read the file')")

    expect(page.locator("h1")).to_have_text(f"Confirm the samples of {name}")
    expect(page.locator("#matched tbody tr")).to_have_count(0)  # no lot has the file's names
    expect(page.locator("#unmatched tbody tr")).to_have_count(len(samples))
    if others:
        expect(page.locator("#recognised")).to_be_visible()
    assert not InstrumentFile.objects.exists()
    page.screenshot(path=str(shots / "01-confirm.png"), full_page=True)

    for file_name, lot in lots.items():
        _row(page, file_name).locator("input[name$='-sample']").fill(lot.code)
    for file_name in left_out:
        _row(page, file_name).locator("input[name$='-reason']").fill("not in this study")
    page.click("button:has-text('Confirm and record')")

    expect(page.locator("h1")).to_have_text(f"Instrument file {name}")
    rows = page.locator("#file-samples tbody tr")
    for file_name, lot in lots.items():
        expect(rows.filter(has_text=file_name).first).to_contain_text(f"{lot.code} (mapped)")
    expect(rows.filter(has_text=left_out[0]).first).to_contain_text("left out: not in this study")
    page.screenshot(path=str(shots / "02-file.png"), full_page=True)

    record = InstrumentFile.objects.get()
    for file_name, lot in lots.items():
        results = Result.objects.filter(source_file=record, sample__lot=lot)
        assert results.exists(), (file_name, record.status, record.error)
        labels = {r.label or r.identifier for r in records if r.identifier == file_name}
        assert {r.source_sample for r in results} <= labels
    run = AssayRun.objects.get(source_file=record)
    page.goto(f"{url}{run.get_absolute_url()}")
    for lot in lots.values():
        expect(page.locator("#content")).to_contain_text(lot.code)
    page.screenshot(path=str(shots / "03-run.png"), full_page=True)
