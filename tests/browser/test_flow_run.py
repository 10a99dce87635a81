"""A flow run in a real browser (issue 10 item 4): from the ISCT-FLOW assay page, the sample and
isotype control FCS files are uploaded; the run page draws each marker's histogram with its
threshold and the gate on FSC-A × SSC-A (WebGL scattergl under the CSP, no eval).

Full-page screenshots go to test-artifacts/screenshots/flow/.
"""

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from assays.models import AssayRun
from tests import factories, fcs_files

pytestmark = [pytest.mark.browser]

REPO_ROOT = Path(__file__).resolve().parents[2]
SHOTS = REPO_ROOT / "test-artifacts" / "screenshots" / "flow"


def test_flow_run_page_draws_histograms_with_thresholds_and_the_gate(
    live_server, technician, page: Page
):
    batch = factories.culture_batch(technician)
    sample, control = fcs_files.isct_tubes()
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

    page.goto(f"{url}/assays/")
    page.click("a:text-is('ISCT-FLOW')")
    page.click("a:has-text('Upload sample and control FCS files')")
    page.fill("#id_sample", batch.code)
    page.set_input_files(
        "#id_sample_file",
        files=[{"name": "msc_panel.fcs", "mimeType": "application/octet-stream", "buffer": sample}],
    )
    page.set_input_files(
        "#id_control_file",
        files=[{"name": "isotype.fcs", "mimeType": "application/octet-stream", "buffer": control}],
    )
    page.screenshot(path=str(SHOTS / "1-upload.png"), full_page=True)
    page.click("button:has-text('Record the run')")

    run = AssayRun.objects.get(source_file__original_name="msc_panel.fcs")
    expect(page).to_have_url(re.compile(rf"/runs/{run.pk}/$"))
    charts = page.locator("#flow [data-chart]")
    expect(charts).to_have_count(1 + 8)  # the gate and eight markers of the panel
    for i in range(charts.count()):
        expect(charts.nth(i)).to_have_attribute("data-chart-ready", "1")
    gate = page.locator("#plot-flow-gate")
    assert gate.locator("canvas").count() > 0  # scattergl draws on WebGL canvases
    histogram = page.locator("#plot-flow-hist-CD73")
    expect(histogram).to_contain_text("threshold")
    expect(page.locator("#flow-markers")).to_contain_text("CD105")
    page.screenshot(path=str(SHOTS / "2-run-page.png"), full_page=True)
    page.locator("#flow").screenshot(path=str(SHOTS / "3-flow-section.png"))
    assert violations == []
