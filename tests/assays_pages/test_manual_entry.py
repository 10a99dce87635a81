"""Manual result entry: a form built from the assay definition, validated by run_record."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from assays import services
from assays.models import AssayRun, Result
from tests import factories
from tests.assays_pages.conftest import register_instrument, signed_in

# A BCA plate's standard curve statistics, as the analyst copies them from the plate software
# (the run's validity criteria, assays.qc.suitability.STANDARD_CURVE).
CURVE_FIELDS = {"value__curve_converged": "1", "value__standards_in_tolerance_pct": "100"}


def _when(hours_ago=1) -> str:
    return (timezone.localtime() - timedelta(hours=hours_ago)).strftime("%Y-%m-%dT%H:%M")


def _entry_url(code, **query):
    url = reverse("assays:run_entry", args=[code])
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def _field_errors(response, name) -> list[str]:
    return response.context["form"].errors.get(name, [])


def test_step_one_sends_the_technician_to_the_form_of_the_assay(technician, lot):
    client = signed_in(technician)
    response = client.get(reverse("assays:run_start"), {"assay": "NTA", "sample": lot.code})
    assert response.status_code == 302
    assert response["Location"] == _entry_url("NTA", sample=lot.code)


def test_the_entry_form_has_one_field_per_analyte_of_the_assay_definition(technician, lot):
    client = signed_in(technician)

    nta = client.get(_entry_url("NTA", sample=lot.code))
    assert nta.status_code == 200
    form = nta.context["form"]
    assert form["sample"].value() == lot.code
    assert form.fields["value__concentration"].__class__.__name__ == "FloatField"
    assert form["unit__concentration"].value() == "particle/mL"
    assert "particle/mL" in nta.content.decode()

    markers = client.get(_entry_url("EV-MARKERS", sample=lot.code)).context["form"]
    assert [v for v, _ in markers.fields["value__CD63"].choices] == ["", "positive", "negative"]

    tem = client.get(_entry_url("TEM", sample=lot.code)).context["form"]
    assert tem.fields["value__comment"].__class__.__name__ == "CharField"


def test_manual_entry_records_a_run_with_results_in_the_analytes_units(technician, lot):
    reagent = factories.reagent_lot(
        technician, category="bca_kit", name="BCA kit", lot_number="BCA-24"
    )
    response = signed_in(technician).post(
        _entry_url("BCA"),
        {
            "sample": lot.code,
            "started_at": _when(2),
            "ended_at": _when(1),
            "reagent_lots": [reagent.pk],
            "value__protein": "1.25",
            "unit__protein": "mg/mL",
            "value__absorbance": "0.734",
            "unit__absorbance": "",
            **CURVE_FIELDS,
        },
    )
    run = AssayRun.objects.get()
    assert response.status_code == 302
    assert response["Location"] == run.get_absolute_url()
    assert (run.source, run.operator, run.assay.code) == ("manual", technician, "BCA")
    assert list(run.reagent_lots.all()) == [reagent]
    protein = Result.objects.get(run=run, analyte__code="protein")
    assert protein.value == pytest.approx(1250.0)  # 1.25 mg/mL recorded as µg/mL
    assert protein.unit == "ug/mL"
    assert run.samples.get().lot == lot

    page = signed_in(technician).get(run.get_absolute_url()).content.decode()
    assert "1250" in page and "0.734" in page and "BCA kit lot BCA-24" in page


def test_qualitative_and_below_quantitation_results(technician, lot):
    client = signed_in(technician)
    client.post(
        _entry_url("EV-MARKERS"),
        {"sample": lot.code, "started_at": _when(), "value__CD63": "positive"},
    )
    below = {
        "sample": lot.code,
        "started_at": _when(),
        "qual__endotoxin": "<LLOQ",
        "value__spike_recovery": 92,
        "reagent_lots": factories.reagent_ids_for("ENDOTOXIN"),
    }
    # "< LLOQ" without its limit could never be judged: refused, with the reason on the page.
    refused = client.post(_entry_url("ENDOTOXIN"), below)
    assert refused.status_code == 200
    assert "needs its limit as the value" in refused.content.decode()
    assert not Result.objects.filter(analyte__code="endotoxin").exists()

    client.post(_entry_url("ENDOTOXIN"), {**below, "value__endotoxin": 0.05})
    cd63 = Result.objects.get(analyte__code="CD63")
    endotoxin = Result.objects.get(analyte__code="endotoxin")
    assert (cd63.text_value, cd63.value) == ("positive", None)
    assert (endotoxin.qualifier, endotoxin.value, endotoxin.unit) == ("<LLOQ", 0.05, "EU/mL")


# --- Refusals: shown next to the field, nothing created --------------------------------------


@pytest.fixture
def expired_reagent(technician):
    return factories.reagent_lot(
        technician,
        category="bca_kit",
        name="BCA kit",
        lot_number="OLD-1",
        expiry_days=-3,
        received_on=timezone.localdate() - timedelta(days=400),
    )


def _refusal_cases():
    def expired_reagent_lot(ctx):
        return {"reagent_lots": [ctx["expired_reagent"].pk]}, "reagent_lots", "Expired reagent lot"

    def instrument_out_of_service(ctx):
        services.instrument_set_status(
            actor=ctx["admin"], instrument=ctx["instrument"], to="out_of_service", reason="Leak"
        )
        return {"instrument": ctx["instrument"].pk}, "instrument", "out of service since"

    def calibration_overdue(ctx):
        overdue = register_instrument(
            ctx["admin"], code="PLATE-OLD", assay_codes=["BCA"], due_in_days=-3
        )
        return {"instrument": overdue.pk}, "instrument", "past its calibration due"

    def released_lot(ctx):
        factories.finalize_lot(ctx["qa"], ctx["lot"], "released")
        return {}, "sample", "is released: it takes no new results"

    def unknown_sample(ctx):
        return {"sample": "EXO-NO-SUCH-LOT"}, "sample", "No exosome lot or vial 'EXO-NO-SUCH-LOT'"

    return [
        expired_reagent_lot,
        instrument_out_of_service,
        calibration_overdue,
        released_lot,
        unknown_sample,
    ]


@pytest.mark.parametrize("case", _refusal_cases(), ids=lambda c: c.__name__)
def test_service_refusal_is_shown_next_to_the_field_and_creates_nothing(
    case, technician, admin_user, qa_user, lot, expired_reagent
):
    instrument = register_instrument(admin_user, code="PLATE-1", assay_codes=["BCA"])
    context = {
        "admin": admin_user,
        "qa": qa_user,
        "lot": lot,
        "instrument": instrument,
        "expired_reagent": expired_reagent,
    }
    extra, field, message = case(context)
    data = {
        "sample": lot.code,
        "started_at": _when(),
        "value__protein": "80",
        "reagent_lots": factories.reagent_ids_for("BCA"),
        **extra,
    }

    response = signed_in(technician).post(_entry_url("BCA"), data)

    assert response.status_code == 200
    errors = " ".join(_field_errors(response, field))
    assert message in errors, response.context["form"].errors
    assert message in response.content.decode().replace("&#x27;", "'")
    assert not AssayRun.objects.exists() and not Result.objects.exists()


def test_a_value_not_allowed_is_refused_with_the_allowed_values(technician, lot):
    response = signed_in(technician).post(
        _entry_url("EV-MARKERS"),
        {"sample": lot.code, "started_at": _when(), "value__CD9": "weak"},
    )
    assert "'weak' is not one of positive, negative" in " ".join(
        _field_errors(response, "value__CD9")
    )
    assert not AssayRun.objects.exists()


def test_a_unit_that_does_not_convert_is_refused_next_to_the_unit(technician, lot):
    response = signed_in(technician).post(
        _entry_url("BCA"),
        {"sample": lot.code, "started_at": _when(), "value__protein": "5", "unit__protein": "nm"},
    )
    assert "cannot be converted to 'ug/mL'" in " ".join(_field_errors(response, "unit__protein"))
    assert not AssayRun.objects.exists()


@pytest.mark.parametrize("to", ["released", "rejected"])
def test_step_one_refuses_a_locked_lot_with_the_service_message(technician, qa_user, lot, to):
    factories.finalize_lot(qa_user, lot, to)

    response = signed_in(technician).get(
        reverse("assays:run_start"), {"assay": "BCA", "sample": lot.code}
    )

    assert response.status_code == 200
    assert f"Lot {lot} is {to}: it takes no new results." in _field_errors(response, "sample")


def test_retest_opens_manual_entry_prefilled_and_links_the_runs(technician, analyst, lot):
    first = services.run_record(
        actor=technician,
        source="manual",
        assay_code="BCA",
        reagent_lots=factories.reagents_for("BCA"),
        started_at=timezone.now() - timedelta(days=1),
        results=factories.with_run_controls(
            "BCA", [services.ResultInput(sample=lot.code, analyte="protein", value=2000)]
        ),
    )
    page = signed_in(analyst).get(first.get_absolute_url())
    retest_url = page.context["retest_url"]
    assert retest_url == _entry_url("BCA", sample=lot.code, retest_of=first.pk)

    form = signed_in(technician).get(retest_url).context["form"]
    assert form["retest_of"].value() == first.pk and form["sample"].value() == lot.code

    signed_in(technician).post(
        retest_url,
        {
            "sample": lot.code,
            "started_at": _when(),
            "retest_of": first.pk,
            "value__protein": "210",
            **CURVE_FIELDS,
            "reagent_lots": factories.reagent_ids_for("BCA"),
        },
    )
    retest = AssayRun.objects.exclude(pk=first.pk).get()
    assert retest.retest_of == first
    assert (
        f'href="{retest.get_absolute_url()}"'
        in signed_in(analyst).get(first.get_absolute_url()).content.decode()
    )


def test_an_analyst_reviews_a_run_but_not_their_own(technician, analyst, lot):
    theirs = services.run_record(
        actor=technician,
        source="manual",
        assay_code="BCA",
        reagent_lots=factories.reagents_for("BCA"),
        started_at=timezone.now() - timedelta(hours=1),
        results=factories.with_run_controls(
            "BCA", [services.ResultInput(sample=lot.code, analyte="protein", value=100)]
        ),
    )
    own = services.run_record(
        actor=analyst,
        source="manual",
        assay_code="BCA",
        reagent_lots=factories.reagents_for("BCA"),
        started_at=timezone.now() - timedelta(hours=1),
        results=factories.with_run_controls(
            "BCA", [services.ResultInput(sample=lot.code, analyte="protein", value=100)]
        ),
    )
    client = signed_in(analyst)

    # A signed review (21 CFR 11.200(a)): user ID and password again.
    signed = {"reason": "OK", "username": analyst.username, "password": factories.PASSWORD}
    response = client.post(reverse("assays:run_review", args=[theirs.pk]), signed)
    assert response.status_code == 302
    theirs.refresh_from_db()
    assert (theirs.status, theirs.reviewed_by) == ("reviewed", analyst)

    response = client.post(reverse("assays:run_review", args=[own.pk]), signed)
    assert "performed or recorded it" in " ".join(response.context["form"].non_field_errors())
    own.refresh_from_db()
    assert own.status == "recorded"

    client.post(reverse("assays:run_invalidate", args=[own.pk]), {"reason": "Pipetting error"})
    own.refresh_from_db()
    assert (own.status, own.status_reason) == ("invalidated", "Pipetting error")
