"""QA's review and signed disposition through the pages (21 CFR 11.50, 11.70, 11.200, 11.300;
21 CFR 211.192; EU GMP Annex 11 §15)."""

import hashlib
import re
import shutil
import subprocess

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.urls import reverse

from assays import services as assay_services
from batches.models import ExosomeLot
from lims.models import User
from release import deviations
from release.models import CertificateOfAnalysis, Deviation, Disposition
from tests import factories
from tests.release_pages.conftest import sign_data, signed_in


def review_url(lot):
    return reverse("release:lot_review", args=[lot.pk])


def text(response) -> str:
    """The page as a reader sees it: tags dropped, whitespace collapsed."""
    html = response.content.decode()
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("&#x27;", "'")


def pdf_text(data: bytes, tmp_path) -> str:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    path = tmp_path / "coa.pdf"
    path.write_bytes(data)
    out = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, check=True)
    return out.stdout.decode()


def test_qa_releases_a_passing_lot_and_the_signed_coa_is_downloadable(
    passing_lot, qa_signer, settings, tmp_path
):
    settings.TIME_ZONE = "Europe/Berlin"
    client = signed_in(qa_signer)

    page = client.get(review_url(passing_lot))
    assert page.status_code == 200
    assert "Nothing blocks release." in text(page)
    assert "Approved for release — signature meaning: Approval" in text(page)
    assert "Results entered by hand" in text(page)  # every run of this lot was typed in

    response = client.post(
        review_url(passing_lot), sign_data(qa_signer, comment="All release criteria met.")
    )
    assert response.status_code == 302
    assert response["Location"] == passing_lot.get_absolute_url()

    lot = ExosomeLot.objects.get(pk=passing_lot.pk)
    assert lot.status == "released"
    disposition = Disposition.objects.get(lot=lot)
    signature = disposition.signature
    assert (signature.signer, signature.printed_name, signature.meaning) == (
        qa_signer,
        "Rita Release",
        "approval",
    )
    certificate = CertificateOfAnalysis.objects.get(lot=lot)

    page = client.get(response["Location"])
    shown = text(page)
    assert "approved for release, signed by Rita Release (meaning: approval)" in shown
    panel = shown[shown.index("Disposition") :]
    assert "Rita Release" in panel
    assert "meaning: Approval" in panel
    assert "signature valid" in panel and "no longer valid" not in panel
    # The time in the site's time zone, with the zone named (11.50(a)(2)).
    local = signature.signed_at.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Berlin"))
    assert f"{local:%Y-%m-%d %H:%M:%S} {local:%Z} (Europe/Berlin)" in panel
    assert "All release criteria met." in panel
    assert "is released: its records are locked and take no changes" in shown
    assert certificate.sha256 in shown
    coa_url = reverse("release:certificate", args=[lot.pk])
    assert coa_url in page.content.decode()

    first, second = client.get(coa_url), client.get(coa_url)
    assert first.status_code == second.status_code == 200
    assert first["Content-Type"] == "application/pdf"
    assert first.content.startswith(b"%PDF")
    assert first.content == second.content  # stored once, the same bytes on every download
    assert first["X-Content-SHA256"] == hashlib.sha256(first.content).hexdigest()
    assert first["X-Content-SHA256"] == certificate.sha256
    coa = pdf_text(first.content, tmp_path)
    assert "Rita Release" in coa
    assert lot.code in coa
    assert "Approval" in coa
    assert "Approved for release" in coa


def test_release_refused_while_a_deviation_is_open(passing_lot, technician, qa_signer):
    deviation = deviations.deviation_open(
        actor=technician,
        kind=Deviation.Kind.STORAGE,
        title="Freezer ULT-1 at -62 °C for 40 minutes",
        description="Door alarm; the vials of the lot were in the freezer.",
        lot=passing_lot,
    )
    client = signed_in(qa_signer)
    page = text(client.get(review_url(passing_lot)))
    assert "The lot cannot be released because:" in page
    assert f"Deviation {deviation.code} (Freezer ULT-1 at -62 °C for 40 minutes) is open." in page

    response = client.post(review_url(passing_lot), sign_data(qa_signer))
    assert response.status_code == 200
    shown = text(response)
    assert "The lot cannot be released:" in shown
    assert f"Deviation {deviation.code}" in shown
    assert ExosomeLot.objects.get(pk=passing_lot.pk).status == "under_review"
    assert not Disposition.objects.exists()


def test_release_refused_with_a_failing_criterion_and_the_investigation_linked(oos_lot, qa_signer):
    oos = Deviation.objects.get(lot=oos_lot, kind="oos")
    assert oos.criterion.metric_code == "endotoxin.eu_per_ml"
    client = signed_in(qa_signer)
    page = client.get(review_url(oos_lot))
    assert "Endotoxin (&lt; 0.5 EU/mL) fails (OOS)." in page.content.decode()
    assert oos.get_absolute_url() in page.content.decode()

    lot_page = client.get(oos_lot.get_absolute_url()).content.decode()
    assert "Fail (OOS)" in lot_page
    assert f"OOS investigation {oos.code}" in lot_page

    response = client.post(review_url(oos_lot), sign_data(qa_signer))
    assert "Endotoxin (&lt; 0.5 EU/mL) fails (OOS)." in response.content.decode()
    assert not Disposition.objects.exists()


def test_the_qa_who_recorded_a_result_of_the_lot_may_not_sign_it(passing_lot, qa_user):
    # A QA person who also works as an analyst (a QA-only account may not enter results).
    qa_user.groups.add(Group.objects.get(name="analyst"))
    qa_user = User.objects.get(pk=qa_user.pk)
    assay_services.run_record(
        assay_code="BCA",
        reagent_lots=factories.reagents_for("BCA"),
        results=factories.with_run_controls(
            "BCA", [assay_services.ResultInput(passing_lot.code, "protein", value=5.1)]
        ),
        source="manual",
        started_at=passing_lot.created_at,
        actor=qa_user,
    )
    client = signed_in(qa_user)
    page = text(client.get(review_url(passing_lot)))
    assert "You cannot sign this disposition." in page
    assert "another QA person must sign its disposition (21 CFR 211.192)" in page
    assert "Sign the disposition" not in page

    response = client.post(review_url(passing_lot), sign_data(qa_user))
    assert response.status_code == 200
    assert "another QA person must sign its disposition" in text(response)
    assert not Disposition.objects.exists()


def test_an_administrator_cannot_sign_a_disposition(passing_lot, admin_user, make_user):
    assert signed_in(admin_user).get(review_url(passing_lot)).status_code == 403
    response = signed_in(admin_user).post(review_url(passing_lot), sign_data(admin_user))
    assert response.status_code == 403
    # Even an administrator who is also in the QA group.
    both = make_user("qa", username="max.both", first_name="Max", last_name="Both")
    both.groups.add(admin_user.groups.get())
    client = signed_in(both)
    page = text(client.get(review_url(passing_lot)))
    assert "Administrators cannot sign dispositions (segregation of duties)." in page
    assert client.post(review_url(passing_lot), sign_data(both)).status_code == 403
    assert not Disposition.objects.exists()


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("wrong password", "User ID or password is not correct."),
        ("another user's password", "Sign with your own user ID: signatures cannot be delegated."),
        ("missing password", "Enter your password to sign."),
    ],
)
def test_signing_without_ones_own_password_is_refused_and_counted(
    passing_lot, qa_signer, qa_user, case, message
):
    data = {
        "wrong password": sign_data(qa_signer, password="not-my-password-at-all"),
        "another user's password": sign_data(qa_user),
        "missing password": sign_data(qa_signer, password=""),
    }[case]
    response = signed_in(qa_signer).post(review_url(passing_lot), data)
    assert response.status_code == 200
    assert message in text(response)
    assert not Disposition.objects.exists()
    assert ExosomeLot.objects.get(pk=passing_lot.pk).status == "under_review"
    # Counted against the signed-in account by django-axes (11.300(d)), not rolled back with
    # the refused signing transaction.
    attempt = AccessAttempt.objects.get(username=qa_signer.username)
    assert attempt.failures_since_start == 1


def test_repeated_failed_signatures_lock_the_account(passing_lot, qa_signer, settings):
    client = signed_in(qa_signer)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(review_url(passing_lot), sign_data(qa_signer, password="wrong-password-1"))
    response = client.post(review_url(passing_lot), sign_data(qa_signer))  # the right one
    assert response.status_code in (403, 429)
    assert "locked" in text(response).lower()
    assert not Disposition.objects.exists()


def test_a_second_qa_signing_the_same_lot_gets_a_conflict(passing_lot, qa_signer, make_user):
    other = make_user("qa", username="olga.other", first_name="Olga", last_name="Other")
    late = signed_in(qa_signer)
    late.get(review_url(passing_lot))  # Rita has the form open...
    assert signed_in(other).post(review_url(passing_lot), sign_data(other)).status_code == 302
    response = late.post(review_url(passing_lot), sign_data(qa_signer))  # ...and signs second
    assert response.status_code == 200
    shown = text(response)
    assert "Another QA user signed first." in shown
    assert "was already released" in shown
    assert Disposition.objects.filter(lot=passing_lot).count() == 1


def test_rejection_needs_a_reason_and_is_signed_with_the_meaning_rejection(oos_lot, qa_signer):
    client = signed_in(qa_signer)
    response = client.post(review_url(oos_lot), sign_data(qa_signer, "rejected"))
    assert "Give the reason for a rejection or quarantine." in text(response)
    response = client.post(
        review_url(oos_lot), sign_data(qa_signer, "rejected", reason="Endotoxin OOS confirmed")
    )
    assert response.status_code == 302
    disposition = Disposition.objects.get(lot=oos_lot)
    assert (disposition.decision, disposition.signature.meaning) == ("rejected", "rejection")
    page = text(client.get(oos_lot.get_absolute_url()))
    assert "Rejected" in page and "meaning: Rejection" in page
    assert "Endotoxin OOS confirmed" in page
    assert client.get(reverse("release:certificate", args=[oos_lot.pk])).status_code == 404


def test_quarantine_is_signed_with_the_meaning_responsibility(passing_lot, qa_signer):
    response = signed_in(qa_signer).post(
        review_url(passing_lot),
        sign_data(qa_signer, "quarantined", reason="Awaiting the supplier's serum certificate"),
    )
    assert response.status_code == 302
    lot = ExosomeLot.objects.get(pk=passing_lot.pk)
    assert lot.status == "quarantined"
    assert Disposition.objects.get(lot=lot).signature.meaning == "responsibility"


def test_a_change_after_release_shows_the_signature_as_no_longer_valid(
    passing_lot, qa_signer, technician
):
    client = signed_in(qa_signer)
    client.post(review_url(passing_lot), sign_data(qa_signer))
    assert "signature no longer valid" not in text(client.get(passing_lot.get_absolute_url()))
    # A deviation on the released lot changes the content the release signature is bound to.
    deviations.deviation_open(
        actor=technician,
        kind=Deviation.Kind.STORAGE,
        title="Vials found at -40 °C",
        description="Freezer failure after release.",
        lot=passing_lot,
    )
    assert "signature no longer valid" in text(client.get(passing_lot.get_absolute_url()))


def test_the_review_page_lists_what_needs_judgement_and_the_coa_prints_the_changes(
    passing_lot, analyst, technician, qa_signer, django_capture_on_commit_callbacks, tmp_path
):
    from batches import services
    from tests.release.helpers import review_runs

    runs = passing_lot.runs
    assay_services.run_invalidate(actor=analyst, run=runs["BCA"], reason="Standard curve failed")
    with django_capture_on_commit_callbacks(execute=True):
        retest = assay_services.run_record(
            assay_code="BCA",
            reagent_lots=factories.reagents_for("BCA"),
            results=factories.with_run_controls(
                "BCA", [assay_services.ResultInput(passing_lot.code, "protein", value=5.2)]
            ),
            source="manual",
            started_at=passing_lot.created_at,
            actor=analyst,
            retest_of=runs["BCA"],
        )
    review_runs([retest])  # by a second analyst
    services.record_update(
        ExosomeLot.objects.get(pk=passing_lot.pk),
        actor=technician,
        changes={"notes": "Filtered 0.22 µm"},
        reason="Filtration step omitted from the record",
    )
    page = text(signed_in(analyst).get(review_url(passing_lot)))
    assert f"{runs['BCA']} invalidated: Standard curve failed" in page
    assert f"is a retest of {runs['BCA']}" in page
    assert "Filtration step omitted from the record" in page
    assert "Filtered 0.22 µm" in page
    assert "You cannot sign this disposition. Only QA can sign the disposition of a lot." in page

    # Annex 11 §8.2: the printout says the record was changed after first entry.
    client = signed_in(qa_signer)
    assert client.post(review_url(passing_lot), sign_data(qa_signer)).status_code == 302
    pdf = client.get(reverse("release:certificate", args=[passing_lot.pk])).content
    coa = pdf_text(pdf, tmp_path)
    changes = coa[coa.index("Data changed after first entry") : coa.index("Electronic signatures")]
    assert passing_lot.code in changes  # (table cells wrap in the text of the PDF)
    assert "notes: → Filtered" in changes
    assert "Filtration step omitted" in changes


def test_the_review_page_flags_expiring_reagents_and_instruments_due_for_calibration(
    technician, analyst, admin_user
):
    from datetime import timedelta

    from django.utils import timezone

    from tests import factories

    today = timezone.localdate()
    serum = factories.reagent_lot(technician, name="Platelet lysate", expiry_days=10)
    batch = factories.culture_batch(technician, reagent_lots=[serum])
    harvest = factories.harvest(technician, batch)
    lot = factories.lot(technician, runs=[factories.isolation_run(technician, [harvest])])
    reader = assay_services.instrument_register(
        actor=admin_user,
        code="LAL-01",
        instrument_type="Plate reader",
        make="BioTek",
        model="ELx808",
        serial_number="SN-LAL-01",
        location="QC lab 1",
        assay_codes=["ENDOTOXIN"],
    )
    assay_services.instrument_log(
        actor=admin_user,
        instrument=reader,
        kind="calibration",
        performed_on=today - timedelta(days=350),
        due_on=today + timedelta(days=5),
        performed_by="BioTek service",
    )
    run = assay_services.run_record(
        assay_code="ENDOTOXIN",
        reagent_lots=factories.reagents_for("ENDOTOXIN"),
        results=[assay_services.ResultInput(lot.code, "endotoxin", value=0.1)],
        source="api_json",
        started_at=timezone.now(),
        instrument=reader,
    )
    page = text(signed_in(analyst).get(review_url(lot)))
    reagents = page[page.index("Reagent lots expired") : page.index("Instruments near")]
    assert f"{serum}" in reagents and "expiring" in reagents
    assert "production (culture or isolation)" in reagents
    instruments = page[page.index("Instruments near") : page.index("Changes after")]
    assert "LAL-01 : calibration due soon" in instruments
    assert str(run.pk) in instruments


def test_a_released_lot_is_not_re_evaluated_and_its_signature_stays_valid(
    passing_lot, qa_signer, analyst
):
    from release.models import CriterionEvaluation

    client = signed_in(qa_signer)
    client.post(review_url(passing_lot), sign_data(qa_signer))
    before = list(CriterionEvaluation.objects.filter(lot=passing_lot).values_list("status"))
    # An analyst trying to invalidate a run of the released lot afterwards is refused (its
    # results are locked), and the review page does not rewrite the evaluations QA signed.
    with pytest.raises(ValidationError, match="is released: its records are locked"):
        assay_services.run_invalidate(
            actor=analyst, run=passing_lot.runs["ENDOTOXIN"], reason="Late finding"
        )
    page = text(client.get(review_url(passing_lot)))
    assert "The lot is released: its disposition is final." in page
    after = list(CriterionEvaluation.objects.filter(lot=passing_lot).values_list("status"))
    assert after == before
    assert not Deviation.objects.filter(lot=passing_lot).exists()
    assert "signature no longer valid" not in text(client.get(passing_lot.get_absolute_url()))
