"""An NTA file that says "Not recorded" for its dilution: flagged, the run does not count until
an analyst records the factor with a reason (a GMP correction); printed values are the results,
the recomputed ones beside them; particles per frame and the software's warnings on the page."""

from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from assays import metrics, services
from assays.models import AssayRun, NtaDilutionRecord, NtaRunSummary, QCMetric, Result
from assays.nta_services import nta_dilution_record
from lims.models import AuditEvent
from lims.roles import RoleRefused
from tests import factories
from tests.api.conftest import register_instrument
from tests.parsers.nta34_export import nta34_export
from tests.release.helpers import committed, signer_for

pytestmark = pytest.mark.django_db

NTA32 = Path(__file__).resolve().parents[1] / "data" / "nta" / "nanosight_nta32_beads.csv"
# The file's per-video concentrations (particles/mL, "Not recorded" dilution, so unadjusted).
NTA32_CONCENTRATIONS = [1.43e9, 1.28e9, 1.18e9, 2.51e9, 1.80e9, 1.52e9,
                        1.30e9, 1.36e9, 1.18e9, 1.46e9, 1.40e9, 1.18e9]  # fmt: skip


@pytest.fixture(autouse=True)
def _store(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "files"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def lot(technician):
    return factories.lot(technician)


def _parsed_run(technician, admin_user, lot, data: bytes, name: str) -> AssayRun:
    instrument = register_instrument(admin_user, assays=["NTA"])
    with committed():
        record = services.instrument_file_receive(
            data=data,
            filename=name,
            sample_identifier=lot.code,
            assay_code="NTA",
            instrument=instrument,
            uploaded_by=technician,
            reagent_lots=factories.reagents_for("NTA"),
        )
    record.refresh_from_db()
    assert record.status == "parsed", record.error
    return AssayRun.objects.get(source_file=record)


@pytest.fixture
def pending_run(technician, admin_user, lot):
    return _parsed_run(technician, admin_user, lot, NTA32.read_bytes(), NTA32.name)


def _codes(lot) -> set[str]:
    return set(metrics.valid_metrics(lot=lot))


def test_unrecorded_dilution_is_flagged_and_the_run_does_not_count(pending_run, lot):
    summary = NtaRunSummary.objects.get(run=pending_run)
    assert summary.dilution_pending and summary.dilution_in_file is None
    assert summary.cumulative_at == "lower_edge"
    # Size metrics are computed but do not count; no concentration is computed at all.
    codes = set(QCMetric.objects.filter(run=pending_run).values_list("code", flat=True))
    assert "nta.d50" in codes and "nta.concentration" not in codes
    assert _codes(lot) == set()


def test_printed_values_are_the_results_with_recomputed_beside_them(pending_run):
    d50 = Result.objects.filter(run=pending_run, analyte__code="d50").order_by("pk")
    assert [r.value for r in d50][:3] == [96.0, 95.0, 97.0]  # as printed
    video = NtaRunSummary.objects.get(run=pending_run).videos[0]
    assert video["printed"]["d50_nm"] == 96.0
    assert video["recomputed"]["d50_nm"] == pytest.approx(96.0, abs=0.05)
    assert video["particles_per_frame"] == 156.3
    assert video["warnings"]["Concentration Warnings: Particles per frame"] == "OK"


def test_review_is_refused_until_the_dilution_is_recorded(pending_run, analyst):
    with pytest.raises(ValidationError, match="does not record its dilution factor"):
        services.run_review(signer=signer_for(analyst, "review"), run=pending_run)


@pytest.mark.parametrize("role", ["technician", "qa", "admin"])
def test_only_an_analyst_records_the_dilution(pending_run, make_user, role):
    with pytest.raises(RoleRefused):
        nta_dilution_record(
            actor=make_user(role), run=pending_run, dilution_factor=10, reason="bench sheet"
        )
    assert not NtaDilutionRecord.objects.exists()


@pytest.mark.parametrize(
    ("factor", "reason", "field"),
    [(10, "", "reason"), (10, "   ", "reason"), (0.5, "bench", "dilution_factor"),
     (-10, "bench", "dilution_factor"), (float("nan"), "bench", "dilution_factor"),
     (float("inf"), "bench", "dilution_factor")],
)  # fmt: skip
def test_a_dilution_without_a_reason_or_below_one_is_refused(
    pending_run, analyst, factor, reason, field
):
    with pytest.raises(ValidationError) as refused:
        nta_dilution_record(actor=analyst, run=pending_run, dilution_factor=factor, reason=reason)
    assert field in refused.value.message_dict
    assert NtaRunSummary.objects.get(run=pending_run).dilution_pending


def test_recorded_dilution_makes_the_run_count_with_the_adjusted_concentration(
    pending_run, analyst, lot
):
    with committed():
        record = nta_dilution_record(
            actor=analyst, run=pending_run, dilution_factor=10, reason="Bench sheet BS-12: 1:10"
        )
    assert not NtaRunSummary.objects.get(run=pending_run).dilution_pending
    concentration = metrics.current_metrics(lot=lot)["nta.concentration"]
    expected = 10 * sum(NTA32_CONCENTRATIONS) / len(NTA32_CONCENTRATIONS)
    assert concentration.value == pytest.approx(expected)
    assert concentration.details["dilution_record"] == record.pk
    assert {"nta.concentration", "nta.d50"} <= _codes(lot)
    # Audited, with who and why.
    event = AuditEvent.objects.get(pgh_obj_model="assays.NtaDilutionRecord", pgh_label="insert")
    assert event.actor == analyst.username or analyst.username in event.actor
    assert "Bench sheet BS-12" in event.pgh_context["reason"]

    # A correction of the correction is a new record; the newest counts.
    with committed():
        nta_dilution_record(
            actor=analyst, run=pending_run, dilution_factor=20, reason="Sheet misread: 1:20"
        )
    assert metrics.current_metrics(lot=lot)["nta.concentration"].value == pytest.approx(
        2 * expected
    )
    assert NtaDilutionRecord.objects.filter(run=pending_run).count() == 2


def test_a_dilution_record_is_never_changed(pending_run, analyst):
    record = nta_dilution_record(actor=analyst, run=pending_run, dilution_factor=10, reason="x")
    from django.db import ProgrammingError, transaction

    with pytest.raises(ProgrammingError, match="Cannot update"), transaction.atomic():
        NtaDilutionRecord.objects.filter(pk=record.pk).update(dilution_factor=100)


def test_a_file_that_states_its_dilution_cannot_be_overridden(technician, admin_user, lot, analyst):
    run = _parsed_run(technician, admin_user, lot, nta34_export(dilution="100"), "nta34.csv")
    summary = NtaRunSummary.objects.get(run=run)
    assert summary.dilution_in_file == 100.0 and not summary.dilution_pending
    assert summary.cumulative_at == "upper_edge"
    with pytest.raises(ValidationError, match="states its dilution factor"):
        nta_dilution_record(actor=analyst, run=run, dilution_factor=10, reason="bench")


def test_run_page_shows_the_flag_the_videos_and_the_softwares_warnings(
    technician, admin_user, lot, analyst
):
    run = _parsed_run(technician, admin_user, lot, nta34_export(), "nta34.csv")
    url = reverse("assays:run_detail", args=[run.pk])
    as_analyst = Client()
    as_analyst.force_login(analyst)
    page = as_analyst.get(url).content.decode()
    assert 'id="nta-dilution-pending"' in page
    assert reverse("assays:run_nta_dilution", args=[run.pk]) in page
    assert "Concentration Warnings: Particles per frame: Too low" in page
    assert "upper edge (NTA 3.3 and later" in page
    assert ">42.5<" in page  # particles per frame

    as_technician = Client()
    as_technician.force_login(technician)
    assert (
        reverse("assays:run_nta_dilution", args=[run.pk])
        not in as_technician.get(url).content.decode()
    )
    refused = as_technician.post(
        reverse("assays:run_nta_dilution", args=[run.pk]), {"dilution_factor": 5, "reason": "x"}
    )
    assert refused.status_code == 403

    form = as_analyst.post(
        reverse("assays:run_nta_dilution", args=[run.pk]), {"dilution_factor": 5, "reason": ""}
    )
    assert form.status_code == 200 and "This field is required" in form.content.decode()
    done = as_analyst.post(
        reverse("assays:run_nta_dilution", args=[run.pk]),
        {"dilution_factor": 5, "reason": "Bench sheet: 1:5"},
    )
    assert done.status_code == 302
    assert "×5.0 recorded by" in as_analyst.get(url).content.decode()
