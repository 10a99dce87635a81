"""Form pages that offered every lot, batch, run, cell bank or position of the history as an
<option> (issue 14): the record is now typed by its code (lims.code_fields), so the page stays
the same size as the history grows, a valid code (in any case) is taken, and an unknown or
ineligible code is refused next to its field."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from batches import custody, services
from batches.correction_forms import CORRECTION_FORMS
from batches.custody_views import ReceiptForm, RetainForm
from batches.forms import CellBankForm, CultureBatchForm, ExosomeLotForm
from release.forms import AuditTrailReviewForm, DeviationOpenForm
from release.stability_forms import ProtocolForm, StudyStartForm
from tests import factories

pytestmark = pytest.mark.django_db

# url name -> (who opens it, the typed fields)
PAGES = {
    "batches:culturebatch_create": ("technician", ["cell_bank"]),
    "batches:exosomelot_create": ("technician", ["isolation_runs"]),
    "batches:cellbank_create": ("technician", ["donor", "parent_bank"]),
    "release:deviation_create": (
        "technician",
        ["lot", "culture_batch", "isolation_run", "storage_location"],
    ),
    "release:audit_review_create": ("qa_user", ["lot"]),
    "custody:retain_create": ("qa_user", ["lot"]),
    "custody:receipt_create": ("technician", ["lot"]),
    "release:stability_protocol_create": ("qa_user", ["lots"]),
    "release:stability_study_start": ("qa_user", ["lot"]),
}


def _options(client, url) -> int:
    response = client.get(url)
    assert response.status_code == 200
    return len(re.findall(r"<option\b", response.content.decode()))


def _grow(actor, n):
    """n more lots, each with its own cell bank, batch and run, and n more positions."""
    for _ in range(n):
        factories.lot(actor)
    factories.storage_positions(actor, n, box=f"G{n}")


@pytest.mark.parametrize("name", PAGES)
def test_the_form_page_does_not_list_the_history(name, client, request, technician):
    who, fields = PAGES[name]
    client.force_login(request.getfixturevalue(who))
    url = reverse(name)
    _grow(technician, 1)
    before = _options(client, url)
    _grow(technician, 8)
    assert _options(client, url) == before
    page = client.get(url).content.decode()
    for field in fields:
        assert re.search(rf'<input type="text" name="{field}"', page), field


def test_a_culture_batch_takes_its_bank_by_code_in_any_case(technician):
    bank = factories.cell_bank(technician)
    form = CultureBatchForm({"cell_bank": f" {bank.code.lower()} ", "started_on": "2026-01-05"})
    assert form.is_valid(), form.errors
    assert form.cleaned_data["cell_bank"] == bank


def test_an_unknown_or_voided_bank_is_refused_next_to_its_field(technician):
    form = CultureBatchForm({"cell_bank": "CB-NOPE", "started_on": "2026-01-05"})
    assert form.errors["cell_bank"] == ["No cell bank has the code “CB-NOPE”."]
    bank = factories.cell_bank(technician)
    services.record_void(bank, actor=technician, reason="Label misprinted")
    form = CultureBatchForm({"cell_bank": bank.code, "started_on": "2026-01-05"})
    assert form.errors["cell_bank"] == [f"Cell bank {bank.code} is voided."]


def test_a_correction_shows_the_batch_bank_code(technician):
    batch = factories.culture_batch(technician)
    form = CultureBatchForm(instance=batch)
    assert f'value="{batch.cell_bank.code}"' in str(form["cell_bank"])


def test_a_deviation_names_its_records_by_code(technician):
    lot = factories.lot(technician)
    run = lot.isolation_runs.get()
    position = factories.storage_positions(technician, 1)[0]
    form = DeviationOpenForm(
        {
            "lot": lot.code.lower(),
            "isolation_run": run.code,
            "storage_location": "ULT-1 / R1 / B1 / A01",
            "kind": "process",
            "title": "Pump stopped",
            "description": "x",
        }
    )
    assert form.is_valid(), form.errors
    assert form.cleaned_data["lot"] == lot
    assert form.cleaned_data["isolation_run"] == run
    assert form.cleaned_data["storage_location"] == position


def test_a_deviation_refuses_an_unknown_code_next_to_its_field(client, technician):
    client.force_login(technician)
    data = {
        "lot": "EXO-NOPE",
        "culture_batch": "CUL-NOPE",
        "storage_location": "ULT-9 / R1",
        "kind": "process",
        "title": "Pump stopped",
        "description": "x",
    }
    response = client.post(reverse("release:deviation_create"), data)
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert errors["lot"] == ["No exosome lot has the code “EXO-NOPE”."]
    assert errors["culture_batch"] == ["No culture batch has the code “CUL-NOPE”."]
    assert "storage_location" in errors


def test_a_lots_page_links_a_deviation_and_a_review_by_its_code(client, qa_user, technician):
    lot = factories.lot(technician)
    client.force_login(qa_user)
    page = client.get(reverse("release:audit_review_create"), {"lot": lot.code}).content
    assert f'value="{lot.code}"' in page.decode()
    form = AuditTrailReviewForm({"lot": "EXO-NOPE"})
    assert form.errors["lot"] == ["No exosome lot has the code “EXO-NOPE”."]


def test_retains_refuse_a_lot_not_yet_under_review_next_to_the_field(technician):
    lot = factories.lot(technician)
    form = RetainForm({"lot": lot.code, "vials": 1, "location": "F1"})
    assert form.errors["lot"] == [custody.retain_refusal(lot)]
    assert ReceiptForm({"lot": lot.code}).errors.get("lot") is None


def test_a_protocol_takes_its_lots_as_codes_and_names_every_unknown_one(technician):
    first, second = factories.lot(technician), factories.lot(technician)
    form = ProtocolForm({"lots": f"{first.code}, {second.code.lower()},{first.code}"})
    form.is_valid()
    assert "lots" not in form.errors
    assert form.cleaned_data["lots"] == [first, second]
    form = ProtocolForm({"lots": f"{first.code} EXO-X1; EXO-X2"})
    assert form.errors["lots"] == [
        "No exosome lot has the code “EXO-X1”.",
        "No exosome lot has the code “EXO-X2”.",
    ]
    assert StudyStartForm({"lot": "EXO-X1"}).errors["lot"] == [
        "No exosome lot has the code “EXO-X1”."
    ]


def test_a_lot_takes_its_runs_as_codes_and_refuses_a_voided_one(technician):
    first, second = factories.isolation_run(technician), factories.isolation_run(technician)
    form = ExosomeLotForm({"isolation_runs": f"{first.code},{second.code}"})
    form.is_valid()
    assert form.cleaned_data["isolation_runs"] == [first, second]
    services.record_void(second, actor=technician, reason="Entered twice")
    form = ExosomeLotForm({"isolation_runs": f"{first.code} {second.code} ISO-NOPE"})
    assert form.errors["isolation_runs"] == [
        f"Isolation run {second.code} is voided.",
        "No isolation run has the code “ISO-NOPE”.",
    ]


def test_a_cell_bank_names_its_donor_and_parent_by_code(technician):
    master = factories.cell_bank(technician, bank_type="master")
    data = {"donor": master.donor.code, "parent_bank": master.code.lower(), "bank_type": "working"}
    form = CellBankForm(data)
    form.is_valid()
    assert form.cleaned_data["donor"] == master.donor
    assert form.cleaned_data["parent_bank"] == master
    form = CellBankForm({"donor": "D-NOPE", "parent_bank": "CB-NOPE"})
    assert form.errors["donor"] == ["No donor has the code “D-NOPE”."]
    assert form.errors["parent_bank"] == ["No cell bank has the code “CB-NOPE”."]


def test_a_bank_correction_shows_its_donor_and_parent_codes(technician):
    master = factories.cell_bank(
        technician, bank_type="master", frozen_on=timezone.localdate() - timedelta(days=60)
    )
    working = factories.cell_bank(technician, parent_bank=master, donor=master.donor, passage=5)
    form = CORRECTION_FORMS["cellbank"][1](instance=working)
    assert f'value="{master.code}"' in str(form["parent_bank"])
    assert f'value="{master.donor.code}"' in str(form["donor"])
    data = {"donor": master.donor.code, "parent_bank": master.code.lower()}
    bound = CORRECTION_FORMS["cellbank"][1](data, instance=working)
    # A correction of another field changes neither (the parent typed in another case).
    assert {"donor", "parent_bank"}.isdisjoint(bound.changed_data)
