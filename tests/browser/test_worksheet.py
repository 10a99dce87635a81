"""A worksheet in a real browser: a block of three rows pasted from a spreadsheet fills the grid,
Enter moves down a column (and never submits), a refused row is shown next to its cell with
nothing saved, and the corrected sheet is saved as one run with its results.

Full-page screenshots go to test-artifacts/screenshots/worksheet/.
"""

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from assays.models import AssayRun, Result
from tests import factories

pytestmark = [pytest.mark.browser]

REPO_ROOT = Path(__file__).resolve().parents[2]
SHOTS = REPO_ROOT / "test-artifacts" / "screenshots" / "worksheet"


def _paste(page: Page, selector: str, text: str) -> None:
    """Paste `text` into the cell as the clipboard would (Ctrl+V of a spreadsheet's copy)."""
    page.focus(selector)
    page.evaluate(
        """([selector, text]) => {
            const data = new DataTransfer();
            data.setData("text/plain", text);
            const event = new ClipboardEvent("paste", {
                clipboardData: data, bubbles: true, cancelable: true,
            });
            document.querySelector(selector).dispatchEvent(event);
        }""",
        [selector, text],
    )


def _choose_reagents(page: Page, ids: list[int]) -> None:
    values = [str(i) for i in ids]
    select = page.locator("select[name=reagent_lots]")
    if select.count():
        select.select_option(values)
        return
    for value in values:  # a list of checkboxes (lims.forms.CheckboxList)
        page.locator(f"input[name=reagent_lots][value='{value}']").check()


def test_a_pasted_block_is_saved_as_one_run(live_server, technician, page: Page):
    lots = [factories.lot(technician) for _ in range(3)]
    codes = [lot.code for lot in lots]
    reagents = factories.reagent_ids_for("BCA")
    SHOTS.mkdir(parents=True, exist_ok=True)
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    url = live_server.url

    page.goto(f"{url}/accounts/login/")
    page.fill("#id_username", technician.username)
    page.fill("#id_password", factories.PASSWORD)
    page.click("button[type=submit]")
    expect(page).not_to_have_url(re.compile(r"/accounts/login/"))

    # From the assay's page to its worksheet.
    page.goto(f"{url}/assays/")
    page.click("a:text-is('BCA')")
    page.click("a:has-text('Worksheet')")
    expect(page.locator("h1")).to_have_text(re.compile(r"^Worksheet: BCA v1, Total protein$"))
    _choose_reagents(page, reagents)

    # Three rows copied from a spreadsheet (Sample, Protein, Absorbance), the last one wrong.
    block = (
        f"{codes[0]}\t1.1\t0.512\r\n"
        f"{codes[1]}\t<LLOQ 0.05\t0.061\r\n"
        "EXO-NO-SUCH-LOT\t3.3\t0.930\r\n"
    )
    _paste(page, "#id_row-0-sample", block)
    expect(page.locator("#id_row-0-a__protein")).to_have_value("1.1")
    expect(page.locator("#id_row-1-a__protein")).to_have_value("<LLOQ 0.05")
    expect(page.locator("#id_row-2-sample")).to_have_value("EXO-NO-SUCH-LOT")
    expect(page.locator("#id_row-2-a__absorbance")).to_have_value("0.930")
    expect(page.locator("#id_row-3-sample")).to_have_value("")
    # Each cell is labelled with its sample and column, kept in step with the paste.
    expect(page.locator("#id_row-1-a__protein")).to_have_attribute(
        "aria-label", f"{codes[1]}: Protein concentration"
    )
    expect(page.locator("#ws-status")).to_have_text("Pasted 3 rows of 3 columns.")

    # The run's standard-curve controls, once: Enter moves down the column, Shift+Enter up,
    # and never submits the sheet.
    page.fill("#id_row-0-a__curve_converged", "1")
    page.press("#id_row-0-a__curve_converged", "Enter")
    expect(page.locator("#id_row-1-a__curve_converged")).to_be_focused()
    page.keyboard.press("Shift+Enter")
    expect(page.locator("#id_row-0-a__curve_converged")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.locator("#id_row-0-a__standards_in_tolerance_pct")).to_be_focused()
    page.keyboard.type("100")
    page.keyboard.press("Enter")
    expect(page.locator("#id_row-1-a__standards_in_tolerance_pct")).to_be_focused()
    assert not AssayRun.objects.exists()
    page.screenshot(path=str(SHOTS / "01-pasted.png"), full_page=True)

    # Saved: refused whole, the error next to the sample it is about, nothing written.
    page.click("#ws-save")
    expect(page.locator("#ws-refused")).to_contain_text("Nothing was saved")
    error = page.locator("#id_row-2-sample_error")
    expect(error).to_have_text("No exosome lot or vial 'EXO-NO-SUCH-LOT'.")
    expect(page.locator("#id_row-2-sample")).to_have_attribute("aria-invalid", "true")
    expect(page.locator(".invalid-feedback")).to_have_count(1)
    expect(page.locator("#id_row-0-a__protein")).to_have_value("1.1")  # the rest is kept
    assert not AssayRun.objects.exists()
    page.screenshot(path=str(SHOTS / "02-refused.png"), full_page=True)

    # The sample scanned in its place (a scanner types the code and Enter), then saved.
    page.fill("#id_row-2-sample", "")
    page.type("#id_row-2-sample", codes[2])
    page.keyboard.press("Enter")
    expect(page.locator("#id_row-3-sample")).to_be_focused()
    page.click("#ws-save")

    expect(page.locator("h1")).to_have_text(re.compile(r"^Total protein: run \d+$"))
    expect(page.locator(".alert-success")).to_contain_text(
        "recorded from the worksheet: 3 samples, 8 results."
    )
    run = AssayRun.objects.get()
    assert page.url.endswith(run.get_absolute_url())
    results = page.locator("table", has=page.locator("th", has_text="Analyte")).locator("tbody tr")
    expect(results).to_have_count(8)  # 3 proteins, 3 absorbances, 2 curve statistics
    for code in codes:
        expect(results.filter(has_text=code).first).to_be_visible()
    protein = results.filter(has_text=codes[1]).filter(has_text="Protein concentration")
    expect(protein).to_contain_text("<LLOQ")
    assert Result.objects.filter(run=run).count() == 8
    assert set(run.samples.values_list("label", flat=True)) == set(codes)
    page.screenshot(path=str(SHOTS / "03-saved.png"), full_page=True)
    assert not violations, violations


def test_picked_samples_and_added_rows_are_posted_with_the_grid(live_server, technician, page):
    """The picker and "add rows" work in the page; the rows they add are counted in the formset's
    management form, so the server reads every one (here: checked, each sample without results
    refused next to it)."""
    lots = [factories.lot(technician) for _ in range(2)]
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", technician.username)
    page.fill("#id_password", factories.PASSWORD)
    page.click("button[type=submit]")
    expect(page).not_to_have_url(re.compile(r"/accounts/login/"))
    page.goto(f"{live_server.url}/runs/worksheet/?assay=BCA")
    expect(page.locator("h1")).to_have_text(re.compile(r"^Worksheet: BCA"))
    sheet_url = page.url

    page.click("#ws-more")
    rows = page.locator("#ws-rows tr.ws-row")
    expect(rows).to_have_count(16)
    expect(page.locator("input[name=row-TOTAL_FORMS]")).to_have_value("16")
    expect(page.locator("#id_row-15-sample")).to_have_attribute("aria-label", "Row 16: Sample")
    expect(rows.nth(15).locator("th")).to_have_text("16")

    page.fill("#id_row-0-sample", lots[0].code)
    page.check(f"input[name=pick][value='{lots[1].code}']")
    page.check(f"input[name=pick][value='{lots[0].code}']")  # already on the sheet
    page.click("#ws-add")
    expect(page.locator("#id_row-1-sample")).to_have_value(lots[1].code)
    expect(page.locator("#id_row-2-sample")).to_have_value("")
    expect(page.locator("#ws-status")).to_have_text("1 sample added to the worksheet.")
    assert page.url == sheet_url  # no round trip

    # Enter in the last row's cell adds a row below it.
    page.fill("#id_row-15-a__protein", "7")
    page.press("#id_row-15-a__protein", "Enter")
    expect(page.locator("#id_row-16-a__protein")).to_be_focused()
    expect(page.locator("input[name=row-TOTAL_FORMS]")).to_have_value("17")
    page.fill("#id_row-15-a__protein", "")

    page.click("button[value=check]")
    for i, lot in enumerate(lots):
        expect(page.locator(f"#id_row-{i}-sample_error")).to_have_text(
            f"No result entered for {lot.code}."
        )
    expect(page.locator("#ws-rows tr.ws-row")).to_have_count(17)
    assert not AssayRun.objects.exists()
