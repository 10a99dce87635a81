"""Worksheets: one assay for many samples, entered as a grid and saved as one run.

The service (assays.services.worksheet_record) checks every row as run_record checks a result
and records the sheet through run_record, in one transaction with one audit context, or refuses
it whole with each error by row and cell; the page shows them next to the cell.
"""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from assays import services
from assays.forms import NumericCell
from assays.inputs import ResultInput, WorksheetRow
from assays.models import AssayRun, Result, RunSample
from lims.models import AuditEvent
from lims.roles import RoleRefused
from tests import factories
from tests.assays_pages.conftest import signed_in

CURVE = {"curve_converged": 1.0, "standards_in_tolerance_pct": 100.0}


def _when(hours_ago=1) -> str:
    return (timezone.localtime() - timedelta(hours=hours_ago)).strftime("%Y-%m-%dT%H:%M")


def _url(code="BCA") -> str:
    return reverse("assays:worksheet", args=[code])


def _row(sample, protein=None, **values) -> WorksheetRow:
    results = [ResultInput(sample=sample, analyte=k, value=v) for k, v in values.items()]
    if protein is not None:
        results.insert(0, ResultInput(sample=sample, analyte="protein", value=protein))
    return WorksheetRow(sample=sample, results=results)


def _bca_rows(lots, values=None) -> list[WorksheetRow]:
    """One row per lot; the first carries the run's standard-curve controls."""
    values = values or [100.0 + i for i in range(len(lots))]
    rows = [_row(lot.code, value) for lot, value in zip(lots, values, strict=True)]
    rows[0].results += [
        ResultInput(sample=lots[0].code, analyte=k, value=v) for k, v in CURVE.items()
    ]
    return rows


def _record(actor, rows, **kwargs):
    kwargs.setdefault("reagent_lots", factories.reagents_for("BCA"))
    kwargs.setdefault("started_at", timezone.now() - timedelta(hours=1))
    return services.worksheet_record(actor=actor, assay_code="BCA", rows=rows, **kwargs)


@pytest.fixture
def lots(technician):
    return [factories.lot(technician) for _ in range(3)]


# --- The service ------------------------------------------------------------------------------


def test_many_samples_are_recorded_as_one_run_in_one_audit_context(technician, lots):
    run = _record(technician, _bca_rows(lots, [110.0, 220.0, 330.0]))

    assert AssayRun.objects.count() == 1
    assert (run.source, run.operator, run.assay.code) == ("manual", technician, "BCA")
    samples = {s.label: s for s in RunSample.objects.filter(run=run)}
    assert set(samples) == {lot.code for lot in lots}
    assert [samples[lot.code].lot for lot in lots] == lots
    protein = {
        r.sample.label: r.value for r in Result.objects.filter(run=run, analyte__code="protein")
    }
    assert protein == {lots[0].code: 110.0, lots[1].code: 220.0, lots[2].code: 330.0}
    # The run, its samples, its results and its reagent uses: created under one context, with
    # the technician and the reason (21 CFR 11.10(e)).
    created = AuditEvent.objects.filter(
        pgh_label="insert",
        pgh_obj_model__in=[
            "assays.AssayRun",
            "assays.RunSample",
            "assays.Result",
            "assays.RunReagentUse",
        ],
    )
    assert created.filter(pgh_obj_model="assays.Result").count() == 3 + len(CURVE)
    assert created.filter(pgh_obj_model="assays.RunSample").count() == 3
    contexts = set(created.values_list("pgh_context_id", flat=True))
    assert len(contexts) == 1 and None not in contexts
    assert set(created.values_list("username", "reason")) == {(technician.username, "Run recorded")}


def test_one_bad_row_writes_nothing_and_every_error_is_given_by_row_and_cell(technician, lots):
    rows = _bca_rows(lots)
    rows[1].results[0].value = -5.0  # a negative concentration
    rows.append(_row("EXO-NO-SUCH-LOT", 50.0))
    rows.append(
        WorksheetRow(
            sample=lots[2].code,
            results=[ResultInput(sample=lots[2].code, analyte="protein", value=1.0, unit="nm")],
        )
    )
    reagents = factories.reagents_for("BCA")
    events_before = AuditEvent.objects.count()

    with pytest.raises(services.WorksheetRefused) as refused:
        _record(technician, rows, reagent_lots=reagents)

    errors = refused.value.rows
    assert set(errors) == {1, 3, 4}
    assert "is negative" in " ".join(errors[1]["protein"])
    assert errors[3] == {"sample": ["No exosome lot or vial 'EXO-NO-SUCH-LOT'."]}
    assert "already on row 3" in " ".join(errors[4]["sample"])
    assert "cannot be converted to 'ug/mL'" in " ".join(errors[4]["protein"])
    assert not refused.value.fields
    assert not AssayRun.objects.exists() and not Result.objects.exists()
    assert AuditEvent.objects.count() == events_before


def test_the_run_level_errors_come_with_the_row_errors(technician, lots):
    rows = _bca_rows(lots)
    rows[0].results[0].value = None  # "a number is required"
    with pytest.raises(services.WorksheetRefused) as refused:
        _record(technician, rows, reagent_lots=[], started_at=timezone.now() + timedelta(days=1))
    assert "start in the future" in " ".join(refused.value.fields["started_at"])
    assert "needs a reagent lot" not in " ".join(refused.value.fields.get("started_at", []))
    assert "a number is required" in " ".join(refused.value.rows[0]["protein"])
    assert not AssayRun.objects.exists()


@pytest.mark.parametrize("what", ["lot", "vial"])
def test_a_sample_on_two_rows_is_refused(technician, lots, what):
    code = lots[0].code if what == "lot" else _vial(technician, lots[0]).barcode
    rows = [_row(code, 10.0, **CURVE), _row(lots[1].code, 15.0), _row(code, 20.0)]
    with pytest.raises(services.WorksheetRefused) as refused:
        _record(technician, rows)
    assert refused.value.rows == {
        2: {"sample": [f"{code} is already on row 1: one row per sample."]}
    }
    assert not AssayRun.objects.exists()


def _vial(technician, lot):
    from decimal import Decimal

    from batches import services as batch_services

    (vial,) = batch_services.aliquots_create(
        actor=technician,
        lot=lot,
        volume_ul=Decimal("100"),
        locations=factories.storage_positions(technician, 1, box=f"W{lot.pk}"),
    )
    return vial


def test_a_lot_and_one_of_its_vials_are_two_samples(technician, lots):
    vial = _vial(technician, lots[0])
    run = _record(technician, [_row(lots[0].code, 10.0, **CURVE), _row(vial.barcode, 12.0)])
    assert {s.label: s.aliquot for s in run.samples.all()} == {
        lots[0].code: None,
        vial.barcode: vial,
    }


def test_the_assay_decides_which_samples_a_sheet_takes(technician, qa_user, lots, batch):
    factories.finalize_lot(qa_user, lots[1], "released")
    rows = _bca_rows(lots) + [_row(batch.code, 40.0)]
    with pytest.raises(services.WorksheetRefused) as refused:
        _record(technician, rows)
    assert refused.value.rows[1] == {
        "sample": [f"Lot {lots[1]} is released: it takes no new results."]
    }
    assert refused.value.rows[3] == {"sample": [f"No exosome lot or vial '{batch.code}'."]}


def test_a_row_without_a_sample_or_without_results_is_refused(technician, lots):
    rows = _bca_rows(lots[:1]) + [
        WorksheetRow(sample="", results=[ResultInput(sample="", analyte="protein", value=3.0)]),
        WorksheetRow(sample=lots[1].code, results=[]),
    ]
    with pytest.raises(services.WorksheetRefused) as refused:
        _record(technician, rows)
    assert refused.value.rows == {
        1: {"sample": ["Enter the sample these results are of."]},
        2: {"sample": [f"No result entered for {lots[1].code}."]},
    }


@pytest.mark.parametrize("role", ["qa", "admin", "no_role"])
def test_the_service_refuses_a_role_that_does_not_enter_results(personas, make_user, lots, role):
    actor = personas.get(role) or make_user(None, username="nora.norole")
    with pytest.raises(RoleRefused):
        _record(actor, _bca_rows(lots))
    assert not AssayRun.objects.exists()


def test_a_sheet_larger_than_a_plate_is_refused(technician, lots):
    rows = [_row(lots[0].code, 1.0)] * (services.WORKSHEET_MAX_ROWS + 1)
    with pytest.raises(services.WorksheetRefused) as refused:
        _record(technician, rows)
    assert "at most 96 samples" in refused.value.fields["rows"][0]


def test_checking_the_samples_takes_the_same_queries_however_many_rows(technician):
    few = [factories.lot(technician) for _ in range(2)]
    many = few + [factories.lot(technician) for _ in range(10)]
    assay = services.current_assay("BCA")

    def queries(lots):
        with CaptureQueriesContext(connection) as captured:
            errors = services.worksheet_row_errors(assay, _bca_rows(lots))
        assert errors == {}
        return len(captured)

    assert queries(many) == queries(few)


# --- The cells --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "parsed"),
    [
        ("0.734", ("", 0.734)),
        ("  1e9 ", ("", 1e9)),
        ("-0.02", ("", -0.02)),
        ("<LLOQ 0.05", ("<LLOQ", 0.05)),
        ("< lloq0.05", ("<LLOQ", 0.05)),
        ("<LOD 0.1", ("<LOD", 0.1)),
        (">ULOQ 3e9", (">ULOQ", 3e9)),
        ("<LLOQ", ("<LLOQ", None)),  # the service then asks for the limit
        ("", None),
    ],
)
def test_a_numeric_cell_reads_a_number_or_a_qualifier_and_its_limit(typed, parsed):
    assert NumericCell(required=False).clean(typed) == parsed


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("<0.05", "Say which limit"),
        ("1,25", "write decimals with a point"),
        ("nan", "is not a number"),
        ("inf", "is not a number"),
        ("12 mg", "is not a number"),
    ],
)
def test_a_numeric_cell_refuses_what_is_not_a_number(typed, message):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as refused:
        NumericCell(required=False).clean(typed)
    assert message in " ".join(refused.value.messages)


# --- The page ---------------------------------------------------------------------------------


def _post(lots, values, action="save", **extra):
    """The grid as the browser posts it: management form, run fields, one row per sample."""
    data = {
        "row-TOTAL_FORMS": str(len(lots) + 2),  # two blank rows, as a sheet has
        "row-INITIAL_FORMS": "0",
        "row-MIN_NUM_FORMS": "0",
        "row-MAX_NUM_FORMS": "96",
        "started_at": _when(),
        "reagent_lots": factories.reagent_ids_for("BCA"),
        "unit__protein": "ug/mL",
        "action": action,
    }
    for i, (sample, value) in enumerate(zip(lots, values, strict=True)):
        data[f"row-{i}-sample"] = sample
        data[f"row-{i}-a__protein"] = value
    data["row-0-a__curve_converged"] = "1"
    data["row-0-a__standards_in_tolerance_pct"] = "100"
    data.update(extra)
    return data


def test_the_page_saves_the_grid_as_one_run(technician, lots):
    codes = [lot.code for lot in lots]
    client = signed_in(technician)
    response = client.post(
        _url(), _post(codes, ["1.1", "<LLOQ 0.05", "3.3"], unit__protein="mg/mL")
    )

    run = AssayRun.objects.get()
    assert response.status_code == 302 and response["Location"] == run.get_absolute_url()
    protein = {
        r.sample.label: (r.qualifier, r.value, r.unit)
        for r in Result.objects.filter(run=run, analyte__code="protein")
    }
    # The column's unit (mg/mL) converted to the analyte's (µg/mL), as the single form does.
    assert protein == {
        codes[0]: ("", pytest.approx(1100.0), "ug/mL"),
        codes[1]: ("<LLOQ", pytest.approx(50.0), "ug/mL"),
        codes[2]: ("", pytest.approx(3300.0), "ug/mL"),
    }
    page = client.get(run.get_absolute_url()).content.decode()
    assert f"{run} recorded from the worksheet: 3 samples, 5 results." in page


def test_the_page_shows_each_error_next_to_its_cell_and_saves_nothing(technician, lots):
    codes = [lot.code for lot in lots]
    data = _post([codes[0], "EXO-NOPE", codes[0]], ["1", "2", "-3"])
    response = signed_in(technician).post(_url(), data)

    assert response.status_code == 200
    assert not AssayRun.objects.exists()
    forms = response.context["rows"].forms
    assert forms[0].errors == {}
    assert forms[1].errors == {"sample": ["No exosome lot or vial 'EXO-NOPE'."]}
    assert forms[2].errors["sample"] == [f"{codes[0]} is already on row 1: one row per sample."]
    assert "is negative" in forms[2].errors["a__protein"][0]
    html = response.content.decode().replace("&#x27;", "'")
    assert "Nothing was saved" in html
    # The message sits in the cell, tied to its input for assistive technology.
    assert 'aria-describedby="id_row-1-sample_error"' in html
    assert '<div class="invalid-feedback d-block" id="id_row-1-sample_error">' in html
    assert "No exosome lot or vial 'EXO-NOPE'." in html


def test_a_cell_that_is_not_a_number_is_shown_with_the_other_rows_errors(technician, lots):
    codes = [lot.code for lot in lots]
    data = _post([codes[0], "EXO-NOPE"], ["12 mg", "2"], started_at="")
    response = signed_in(technician).post(_url(), data)
    forms = response.context["rows"].forms
    assert "is not a number" in forms[0].errors["a__protein"][0]
    assert "started_at" in response.context["header"].errors
    assert not AssayRun.objects.exists()


def test_the_header_refusals_show_with_the_row_refusals(technician, lots):
    data = _post([lots[0].code, "EXO-NOPE"], ["1", "2"], reagent_lots=[])
    response = signed_in(technician).post(_url(), data)
    assert "needs a reagent lot" in " ".join(response.context["header"].errors["reagent_lots"])
    assert response.context["rows"].forms[1].errors["sample"]
    assert not AssayRun.objects.exists()


def test_a_unit_the_column_cannot_be_entered_in_is_refused_at_its_heading(technician, lots):
    data = _post([lots[0].code], ["1"], unit__protein="nm")
    response = signed_in(technician).post(_url(), data)
    assert response.context["header"].errors["unit__protein"] == [
        "Protein concentration: 'nm' cannot be converted to 'ug/mL'."
    ]
    assert not AssayRun.objects.exists()


def test_check_validates_the_whole_sheet_and_writes_nothing(technician, lots):
    codes = [lot.code for lot in lots]
    response = signed_in(technician).post(_url(), _post(codes, ["1", "2", "3"], action="check"))
    assert response.status_code == 200
    assert response.context["checked"] == 3
    assert "Checked: 3 samples, no error." in response.content.decode()
    assert not AssayRun.objects.exists()


def test_an_empty_sheet_is_refused(technician):
    data = _post([], [])
    del data["row-0-a__curve_converged"], data["row-0-a__standards_in_tolerance_pct"]
    response = signed_in(technician).post(_url(), data)
    assert "Enter at least one sample and its results." in response.content.decode()
    assert not AssayRun.objects.exists()


def test_without_javascript_the_picked_samples_fill_the_empty_rows(technician, lots):
    codes = [lot.code for lot in lots]
    data = _post([codes[0]], ["1"], action="add_samples", pick=[codes[0], codes[1], codes[2]])
    data["row-TOTAL_FORMS"] = "2"
    response = signed_in(technician).post(_url(), data)
    forms = response.context["rows"].forms
    # Already on the sheet: not added twice; the others fill the empty row, then a new one.
    assert [f["sample"].value() for f in forms] == codes
    assert not AssayRun.objects.exists()

    more = signed_in(technician).post(_url(), {**data, "action": "more_rows"})
    assert len(more.context["rows"].forms) == 2 + 8


def test_the_grid_lists_the_samples_the_assay_may_take(technician, qa_user, lots, batch):
    factories.finalize_lot(qa_user, lots[2], "rejected")
    client = signed_in(technician)
    bca = client.get(_url()).context
    assert [code for code, _ in bca["eligible"]][:2] == [lots[1].code, lots[0].code]
    assert lots[2].code not in dict(bca["eligible"]) and batch.code not in dict(bca["eligible"])
    # A culture-batch assay offers the batches still in culture or harvested, never a lot.
    myco = dict(client.get(_url("MYCO-CB")).context["eligible"])
    assert myco[batch.code] == f"{batch.code} (in culture)"
    assert not any(code.startswith("EXO-") for code in myco)


def test_every_cell_is_labelled_with_its_sample_and_column(technician, lots):
    url = _url() + f"?sample={lots[0].code}"
    response = signed_in(technician).get(url)
    html = response.content.decode()
    assert f'aria-label="{lots[0].code}: Protein concentration"' in html
    assert f'aria-label="{lots[0].code}: Sample"' in html
    assert 'aria-label="Row 2: Absorbance 562 nm"' in html
    assert 'aria-label="Unit of Protein concentration"' in html
    rows = response.context["rows"]
    assert len(rows.forms) == 1 + 8
    for form in rows.forms:
        for field in form:
            assert field.field.widget.attrs.get("aria-label"), field.html_name
    # The script is a file of this server (CSP script-src 'self'), never inline.
    assert '<script src="/static/lims/worksheet.js"></script>' in html
    assert "<script>" not in html


def test_the_assay_page_and_the_runs_list_link_the_worksheet(technician, run):
    client = signed_in(technician)
    assay = run.assay
    assert f'href="{_url(assay.code)}"' in client.get(assay.get_absolute_url()).content.decode()
    runs = client.get(reverse("assays:run_list"), {"assay": "BCA"})
    start = reverse("assays:worksheet_start")
    assert f'href="{start}?assay=BCA"' in runs.content.decode()
    assert client.get(start, {"assay": "BCA"})["Location"] == _url("BCA")


@pytest.mark.parametrize("role", ["qa", "admin"])
def test_a_role_that_does_not_enter_results_gets_403_and_writes_nothing(personas, lots, role):
    codes = [lot.code for lot in lots]
    client = signed_in(personas[role])
    assert client.get(_url()).status_code == 403
    assert client.post(_url(), _post(codes, ["1", "2", "3"])).status_code == 403
    assert not AssayRun.objects.exists()


def test_saving_a_sheet_takes_the_same_queries_however_many_rows(technician):
    client = signed_in(technician)
    factories.reagents_for("BCA")

    def queries(n):
        lots = [factories.lot(technician) for _ in range(n)]
        data = _post([lot.code for lot in lots], [str(10 + i) for i in range(n)])
        with CaptureQueriesContext(connection) as captured:
            response = client.post(_url(), data)
        assert response.status_code == 302, response.context["rows"].errors
        return len(captured)

    few, many = queries(2), queries(12)
    assert few == many


def test_a_culture_batch_sheet_with_qualitative_cells(technician):
    """A culture-batch assay (mycoplasma by qPCR): batches as samples, calls typed as text and
    checked against the analyte's allowed values by the service, whatever their case."""
    batches = [factories.culture_batch(technician) for _ in range(2)]
    client = signed_in(technician)
    data = {
        "row-TOTAL_FORMS": "3",
        "row-INITIAL_FORMS": "0",
        "started_at": _when(),
        "reagent_lots": factories.reagent_ids_for("MYCO-CB"),
        "unit__efficiency": "percent",
        "row-0-sample": batches[0].code,
        "row-0-a__mycoplasma": "Not Detected",
        "row-0-a__ntc": "maybe",
        "row-1-sample": batches[1].code,
        "row-1-a__mycoplasma": "detected",
        "action": "save",
    }
    refused = client.post(_url("MYCO-CB"), data)
    ntc = refused.context["rows"].forms[0].errors["a__ntc"][0]
    assert "'maybe' is not one of" in ntc
    assert not AssayRun.objects.exists()

    response = client.post(_url("MYCO-CB"), {**data, "row-0-a__ntc": "no amplification"})
    run = AssayRun.objects.get()
    assert response["Location"] == run.get_absolute_url()
    calls = {
        r.sample.culture_batch.code: r.text_value
        for r in Result.objects.filter(run=run, analyte__code="mycoplasma")
    }
    assert calls == {batches[0].code: "not detected", batches[1].code: "detected"}


def test_a_row_count_beyond_the_limit_is_refused_and_writes_nothing(technician, lots):
    data = _post([lot.code for lot in lots], ["1", "2", "3"])
    data["row-TOTAL_FORMS"] = str(services.WORKSHEET_MAX_ROWS + 1)
    response = signed_in(technician).post(_url(), data)
    assert response.status_code == 200
    assert "Please submit at most 96 forms." in response.content.decode()
    assert not AssayRun.objects.exists()


def test_the_page_takes_the_same_queries_however_many_samples_it_shows(technician):
    client = signed_in(technician)
    codes = [factories.lot(technician).code for _ in range(12)]

    def queries(n):
        with CaptureQueriesContext(connection) as captured:
            response = client.get(_url(), {"sample": codes[:n]})
        assert len(response.context["rows"].forms) == n + 8
        return len(captured)

    assert queries(2) == queries(12)
