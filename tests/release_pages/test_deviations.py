"""Deviations through the pages: opened by hand or automatically (OOS), investigated, CAPA,
closed by QA with an e-signature; an OOS closed as 'result invalidated' asks for a retest."""

from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from assays import services as assay_services
from release import deviations, selectors
from release.models import Deviation
from tests import factories
from tests.release.helpers import review_runs
from tests.release_pages.conftest import PASSWORD, sign_data, signed_in
from tests.release_pages.test_disposition import text


def test_a_deviation_goes_from_opened_by_hand_to_closed_with_a_signature(
    passing_lot, technician, qa_user
):
    run = passing_lot.isolation_runs.get()
    response = signed_in(technician).post(
        reverse("release:deviation_create"),
        {
            "isolation_run": run.code,
            "kind": "process",
            "title": "TFF transmembrane pressure above 1.5 bar",
            "description": "TMP 1.8 bar for 6 minutes during diafiltration.",
        },
    )
    deviation = Deviation.objects.get(isolation_run=run)
    assert response["Location"] == deviation.get_absolute_url()
    assert deviation.status == "open"
    # Open on a run of the lot's genealogy: it blocks the lot's release.
    assert any(deviation.code in b.message for b in selectors.release_blockers(passing_lot))

    qa = signed_in(qa_user)
    url = deviation.get_absolute_url()
    qa.post(
        reverse("release:deviation_investigate", args=[deviation.pk]),
        {"root_cause": "Membrane fouling", "impact_assessment": "Size and purity within spec."},
    )
    deviation.refresh_from_db()
    assert deviation.status == "under_investigation"
    due = (timezone.localdate() + timedelta(days=14)).isoformat()
    qa.post(
        reverse("release:capa_add", args=[deviation.pk]),
        {
            "description": "Pre-filter conditioned medium at 0.45 µm",
            "owner": "Production",
            "due_on": due,
        },
    )
    action = deviation.capa_actions.get()
    close = reverse("release:deviation_close", args=[deviation.pk])
    closing = {"outcome": "no_product_impact", "username": qa_user.username, "password": PASSWORD}
    refused = qa.post(close, closing)
    assert "Every CAPA action must be done before the deviation is closed." in text(refused)

    done = reverse("release:capa_done", args=[deviation.pk, action.pk])
    qa.post(done, {"done_on": timezone.localdate().isoformat()})
    response = qa.post(close, {**closing, "comment": "Effective CAPA"})
    assert response["Location"] == url
    deviation.refresh_from_db()
    assert (deviation.status, deviation.outcome) == ("closed", "no_product_impact")
    assert deviation.closure_signature.signer == qa_user

    page = text(qa.get(url))
    assert "Closed" in page and "No impact on product quality" in page
    assert "Quinn QA" in page and "meaning: Approval" in page and "signature valid" in page
    assert "Pre-filter conditioned medium at 0.45 µm" in page
    assert "Close (e-signature)" not in page
    assert not any(deviation.code in b.message for b in selectors.release_blockers(passing_lot))


def test_an_oos_closed_as_result_invalidated_asks_for_a_retest(
    oos_lot, qa_signer, analyst, django_capture_on_commit_callbacks
):
    oos = Deviation.objects.get(lot=oos_lot, kind="oos")
    run = oos.metric.run
    qa = signed_in(qa_signer)
    qa.post(
        reverse("release:deviation_investigate", args=[oos.pk]),
        {"root_cause": "Pipetting error in the LAL plate", "impact_assessment": "None: retest"},
    )
    with django_capture_on_commit_callbacks(execute=True):  # the re-evaluation, once committed
        response = qa.post(
            reverse("release:deviation_close", args=[oos.pk]),
            {"outcome": "result_invalidated", "username": qa_signer.username, "password": PASSWORD},
        )
    assert response.status_code == 302
    run.refresh_from_db()
    assert run.status == "invalidated"
    lot_page = qa.get(oos_lot.get_absolute_url()).content.decode()
    assert "Fail (OOS)" not in lot_page  # re-evaluated: pending until the retest
    assert f"OOS investigation {oos.code}" in lot_page
    blockers = selectors.release_blockers(oos_lot)
    assert "Endotoxin (< 0.5 EU/mL) has no result yet." in [b.message for b in blockers]

    with django_capture_on_commit_callbacks(execute=True):
        retest = assay_services.run_record(
            assay_code="ENDOTOXIN",
            reagent_lots=factories.reagents_for("ENDOTOXIN"),
            results=[
                assay_services.ResultInput(oos_lot.code, "endotoxin", value=0.12),
                assay_services.ResultInput(oos_lot.code, "spike_recovery", value=96.0),
            ],
            source="manual",
            started_at=timezone.now(),
            actor=analyst,
            retest_of=run,
        )
    assert [b.code for b in selectors.release_blockers(oos_lot)] == ["run_unreviewed"]
    review_runs([retest])  # the second person's signed review lets it count
    assert selectors.release_blockers(oos_lot) == []
    review = text(qa.get(reverse("release:lot_review", args=[oos_lot.pk])))
    assert "Nothing blocks release." in review
    assert f"is a retest of {run}" in review
    response = qa.post(reverse("release:lot_review", args=[oos_lot.pk]), sign_data(qa_signer))
    assert response.status_code == 302


def test_a_closed_deviation_takes_no_changes(passing_lot, technician, qa_user):
    deviation = deviations.deviation_open(
        actor=technician, kind="other", title="Label misprint", description="x", lot=passing_lot
    )
    qa = signed_in(qa_user)
    qa.post(
        reverse("release:deviation_investigate", args=[deviation.pk]),
        {"root_cause": "Printer", "impact_assessment": "None"},
    )
    qa.post(
        reverse("release:deviation_close", args=[deviation.pk]),
        {"outcome": "no_product_impact", "username": qa_user.username, "password": PASSWORD},
    )
    response = qa.post(
        reverse("release:deviation_investigate", args=[deviation.pk]),
        {"root_cause": "Rewritten after closure"},
    )
    assert "is closed: its record takes no changes." in text(response)
    deviation.refresh_from_db()
    assert deviation.root_cause == "Printer"


def test_the_deviation_list_filters_by_status_kind_and_lot(
    oos_lot, passing_lot, technician, analyst, django_assert_max_num_queries
):
    deviations.deviation_open(
        actor=technician, kind="storage", title="Freezer alarm", description="x", lot=passing_lot
    )
    client = signed_in(analyst)
    url = reverse("release:deviation_list")
    with django_assert_max_num_queries(10):
        everything = text(client.get(url))
    assert "Freezer alarm" in everything and "OOS: Endotoxin" in everything
    only_oos = text(client.get(url, {"kind": "oos"}))
    assert "OOS: Endotoxin" in only_oos and "Freezer alarm" not in only_oos
    by_lot = text(client.get(url, {"lot": passing_lot.code, "status": "open"}))
    assert "Freezer alarm" in by_lot and "OOS: Endotoxin" not in by_lot
    assert "No deviations." in text(client.get(url, {"status": "closed"}))
