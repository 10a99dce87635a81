"""Dates that tell the truth: a run's start is not in the future, a late entry says why and is
flagged, the instrument and the reagent lots are checked on the run's day and on the recording
day, and a run names the reagent lots its assay requires. Through the service and the API; every
refusal leaves nothing written."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from assays import services
from assays.models import AssayRun, Result, RunReagentUse
from release.selectors import lot_review
from tests import factories
from tests.api.conftest import a_run
from tests.assays_pages.conftest import signed_in

pytestmark = pytest.mark.django_db

RUNS = "/api/v1/runs/"
REASON = "Bench sheet found in the incubator room; entered from the signed sheet."


def written() -> tuple[int, int, int]:
    return AssayRun.objects.count(), Result.objects.count(), RunReagentUse.objects.count()


def days_ago(n: float):
    return timezone.now() - timedelta(days=n)


def record(actor, lot, *, assay="BCA", analyte="protein", value=120.0, **kwargs):
    kwargs.setdefault("reagent_lots", factories.reagents_for(assay, actor=actor))
    kwargs.setdefault("started_at", days_ago(0.1))
    return services.run_record(
        actor=actor,
        source="manual",
        assay_code=assay,
        results=factories.with_run_controls(
            assay, [services.ResultInput(sample=lot.code, analyte=analyte, value=value)]
        ),
        **kwargs,
    )


def refused(field: str, call, *args, **kwargs) -> str:
    before = written()
    with pytest.raises(ValidationError) as caught:
        call(*args, **kwargs)
    assert field in caught.value.message_dict, caught.value.message_dict
    assert written() == before
    return " ".join(caught.value.message_dict[field])


def calibrated_until(admin, instrument, due_on):
    services.instrument_log(
        actor=admin,
        instrument=instrument,
        kind="calibration",
        performed_on=due_on - timedelta(days=365),
        due_on=due_on,
        performed_by="Vendor field service",
    )
    instrument.refresh_from_db()
    return instrument


@pytest.fixture
def lot(technician):
    return factories.lot(technician)


# --- Through the service ---------------------------------------------------------------------


def test_a_run_thirty_days_in_the_future_is_refused(technician, lot):
    message = refused("started_at", record, technician, lot, started_at=days_ago(-30))
    assert "future" in message


def test_a_few_minutes_of_clock_drift_is_tolerated(technician, lot):
    run = record(technician, lot, started_at=timezone.now() + timedelta(minutes=3))
    assert not run.is_backdated


def test_a_run_back_dated_five_days_needs_a_reason(technician, lot):
    message = refused("backdate_reason", record, technician, lot, started_at=days_ago(5))
    assert "2 days" in message
    refused("backdate_reason", record, technician, lot, started_at=days_ago(5), backdate_reason=" ")


def test_with_a_reason_it_is_recorded_and_flagged(technician, qa_user, lot):
    run = record(technician, lot, started_at=days_ago(5), backdate_reason=f"  {REASON} ")

    run.refresh_from_db()
    assert run.backdate_reason == REASON and run.is_backdated
    page = signed_in(technician).get(run.get_absolute_url())
    assert b"Back-dated" in page.content and REASON.encode() in page.content
    review = lot_review(lot)
    assert review.backdated_runs == [run]


def test_a_run_within_the_backdate_window_needs_no_reason(technician, lot, settings):
    assert not record(technician, lot, started_at=days_ago(1.5)).is_backdated
    settings.BACKDATE_DAYS = 7
    assert not record(technician, lot, started_at=days_ago(5)).is_backdated


def test_calibration_due_between_the_run_date_and_today_is_refused(technician, admin_user, lot):
    """The bug: a run back-dated to before the due date escaped the calibration check."""
    from tests.assays_pages.conftest import register_instrument

    instrument = register_instrument(admin_user, code="PLATE-9", due_in_days=None)
    calibrated_until(admin_user, instrument, timezone.localdate() - timedelta(days=2))

    message = refused(
        "instrument",
        record,
        technician,
        lot,
        instrument=instrument,
        started_at=days_ago(5),
        backdate_reason=REASON,
    )
    assert "calibration" in message


def test_an_instrument_out_of_service_today_is_refused_for_an_older_run(
    technician, admin_user, lot
):
    from tests.assays_pages.conftest import register_instrument

    instrument = register_instrument(admin_user, code="PLATE-8")
    services.instrument_set_status(
        actor=admin_user, instrument=instrument, to="out_of_service", reason="Lamp failed"
    )
    refused("instrument", record, technician, lot, instrument=instrument, started_at=days_ago(1))


def test_a_reagent_expired_at_recording_is_refused_for_a_back_dated_run(technician, lot):
    """The bug: an expired lot passed when the run was dated before its expiry."""
    kit = factories.reagent_lot(
        technician, category="bca_kit", name="BCA kit", catalogue_number="BCA-X", expiry_days=-2
    )
    message = refused(
        "reagent_lots",
        record,
        technician,
        lot,
        reagent_lots=[kit],
        started_at=days_ago(5),
        backdate_reason=REASON,
    )
    assert "expired" in message


def test_a_reagent_expired_at_the_run_date_is_refused(technician, lot):
    kit = factories.reagent_lot(
        technician, category="bca_kit", name="BCA kit", catalogue_number="BCA-Y", expiry_days=-10
    )
    refused(
        "reagent_lots",
        record,
        technician,
        lot,
        reagent_lots=[kit],
        started_at=days_ago(5),
        backdate_reason=REASON,
    )


@pytest.mark.parametrize(
    "assay, analyte, missing",
    [
        ("ENDOTOXIN", "endotoxin", "LAL reagent"),
        ("BCA", "protein", "BCA protein assay kit"),
        ("MIRNA-QPCR", "ct", "qPCR master mix"),
    ],
)
def test_a_run_without_the_reagents_its_assay_requires_is_refused(
    technician, lot, assay, analyte, missing
):
    medium = factories.reagent_lot(technician)  # a reagent, but not the one required
    for given in ([], [medium]):
        message = refused(
            "reagent_lots",
            record,
            technician,
            lot,
            assay=assay,
            analyte=analyte,
            value=0.1,
            reagent_lots=given,
        )
        assert missing in message


def test_the_catalogue_says_which_reagents_an_assay_needs():
    from assays.models import AssayDefinition

    needs = dict(
        AssayDefinition.objects.filter(is_current=True).values_list("code", "required_reagents")
    )
    assert needs["ENDOTOXIN"] == ["lal_reagent"]
    assert needs["BCA"] == ["bca_kit"]
    assert needs["MYCO"] == needs["MYCO-CB"] == needs["MIRNA-QPCR"] == ["qpcr_master_mix"]
    assert needs["NTA"] == []


def test_an_instrument_file_without_the_required_reagents_is_refused_on_receipt(
    technician, lot, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path / "files"
    from assays.models import InstrumentFile

    with pytest.raises(ValidationError) as caught:
        services.instrument_file_receive(
            data=b"Well,Ct\nA1,24.1\n",
            filename="plate.csv",
            sample_identifier=lot.code,
            assay_code="MIRNA-QPCR",
            uploaded_by=technician,
        )
    assert "qPCR master mix" in " ".join(caught.value.message_dict["reagent_lots"])
    assert not InstrumentFile.objects.exists()


def test_the_manual_entry_form_shows_the_date_errors_next_to_the_fields(
    technician, lot, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path / "files"
    client = signed_in(technician)
    data = {
        "sample": lot.code,
        "started_at": timezone.localtime(days_ago(5)).strftime("%Y-%m-%dT%H:%M"),
        "value__protein": "120",
        "unit__protein": "ug/mL",
    }
    before = written()
    response = client.post(reverse("assays:run_entry", args=["BCA"]), data)
    assert response.status_code == 200
    form = response.context["form"]
    assert "backdate_reason" in form.errors
    assert "reagent_lots" in form.errors
    assert written() == before


# --- Through the API -------------------------------------------------------------------------


def test_api_refuses_a_run_thirty_days_in_the_future(client_for_key, lot):
    before = written()
    response = client_for_key.post(
        RUNS, a_run(lot.code, started_at=days_ago(-30).isoformat()), format="json"
    )
    assert response.status_code == 400
    assert "started_at" in response.json()["errors"]
    assert written() == before


def test_api_refuses_a_back_dated_run_without_a_reason(client_for_key, lot):
    before = written()
    response = client_for_key.post(
        RUNS, a_run(lot.code, started_at=days_ago(5).isoformat()), format="json"
    )
    assert response.status_code == 422, response.json()
    assert "backdate_reason" in response.json()["errors"]
    assert written() == before


def test_api_records_a_back_dated_run_with_a_reason_and_flags_it(client_for_key, lot):
    response = client_for_key.post(
        RUNS,
        a_run(lot.code, started_at=days_ago(5).isoformat(), backdate_reason=REASON),
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["backdated"] is True and body["backdate_reason"] == REASON
    assert client_for_key.get(body["url"]).json()["backdated"] is True
    listed = client_for_key.get(RUNS).json()
    rows = listed["results"] if isinstance(listed, dict) else listed
    assert next(r for r in rows if r["id"] == body["id"])["backdated"] is True


def test_api_refuses_a_run_whose_instrument_calibration_fell_due_since(
    client_for_key, instrument, admin_user, lot
):
    calibrated_until(admin_user, instrument, timezone.localdate() - timedelta(days=2))
    before = written()
    response = client_for_key.post(
        RUNS,
        a_run(lot.code, started_at=days_ago(5).isoformat(), backdate_reason=REASON),
        format="json",
    )
    assert response.status_code == 422, response.json()
    assert "instrument" in response.json()["errors"]
    assert written() == before


def test_api_refuses_a_reagent_expired_at_recording(client_for_key, technician, lot):
    kit = factories.reagent_lot(
        technician, category="bca_kit", name="BCA kit", catalogue_number="BCA-Z", expiry_days=-2
    )
    before = written()
    response = client_for_key.post(
        RUNS,
        a_run(
            lot.code,
            started_at=days_ago(5).isoformat(),
            backdate_reason=REASON,
            reagent_lots=[kit.pk],
        ),
        format="json",
    )
    assert response.status_code == 422, response.json()
    assert "reagent_lots" in response.json()["errors"]
    assert written() == before


def test_api_refuses_a_run_without_its_required_reagents(client_for_key, lot):
    before = written()
    response = client_for_key.post(RUNS, a_run(lot.code, reagent_lots=[]), format="json")
    assert response.status_code == 422, response.json()
    assert "BCA protein assay kit" in " ".join(response.json()["errors"]["reagent_lots"])
    assert written() == before


def test_api_refuses_an_asm_run_dated_in_the_future(client_for_key, culture_batch, vicell_asm):
    before = written()
    response = client_for_key.post(
        "/api/v1/runs/asm/?assay=VIABILITY&sample="
        + culture_batch.code
        + "&started_at="
        + days_ago(-30).strftime("%Y-%m-%dT%H:%M:%SZ"),
        vicell_asm,
        format="json",
    )
    assert response.status_code == 400, response.json()
    assert "started_at" in response.json()["errors"]
    assert written() == before


# --- A result cannot exist before its assay's minimum duration --------------------------------


def test_sterility_no_growth_recorded_the_evening_the_14_day_test_started_is_refused(
    technician, lot
):
    message = refused(
        "started_at",
        record,
        technician,
        lot,
        assay="STERILITY",
        analyte="sterility",
        value=None,
        started_at=days_ago(0.4),
    )
    assert "Sterility takes 14 days" in message


def test_sterility_recorded_when_its_14_days_are_over_is_on_time(technician, lot):
    ended = days_ago(0.1)
    run = services.run_record(
        actor=technician,
        source="manual",
        assay_code="STERILITY",
        results=[
            services.ResultInput(sample=lot.code, analyte="sterility", text_value="no growth")
        ],
        started_at=ended - timedelta(days=14, hours=2),
        ended_at=ended,
    )
    assert run.backdate_reason == "" and not run.is_backdated


def test_an_end_before_the_minimum_duration_is_refused_next_to_the_end(technician, lot):
    message = refused(
        "ended_at",
        services.run_record,
        actor=technician,
        source="manual",
        assay_code="STERILITY",
        results=[
            services.ResultInput(sample=lot.code, analyte="sterility", text_value="no growth")
        ],
        started_at=days_ago(1.5),
        ended_at=days_ago(0.5),
    )
    assert "has no result before" in message
