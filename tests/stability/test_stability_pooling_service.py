"""ICH Q1E poolability in the study's shelf life (release.stability.pool_lots): the lots of one
protocol are compared per test at the storage condition, the chosen model sets the study's
supported shelf life, the page and the API show the tests beside it; one lot alone, and a
bound beyond its limit at time zero, are stated, never turned into a number."""

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from assays import services as qc
from assays.qc import stability_pooling
from batches import services as batch_services
from lims.models import Signature
from release import specifications, stability
from release.models import Specification, StabilityPull
from tests import factories
from tests.release.helpers import signer_for

pytestmark = pytest.mark.django_db
BACKEND = "django.contrib.auth.backends.ModelBackend"
TIMES = (0, 1, 3)


def _protocol(technician, qa_user, lots, lower=1e11):
    for lot in lots:
        batch_services.aliquots_create(
            actor=technician,
            lot=lot,
            volume_ul=500,
            locations=factories.storage_positions(technician, 3, box=f"B{lot.pk}"),
        )
    spec = specifications.specification_draft_create(
        actor=qa_user, product=Specification.Product.STABILITY
    )
    specifications.criterion_save(
        actor=qa_user,
        specification=spec,
        test="Particle concentration",
        metric_code="nta.concentration",
        comparator="gte",
        lower=lower,
        unit="particle/mL",
    )
    specifications.specification_approve(
        signer=signer_for(qa_user, Signature.Meaning.APPROVAL), specification=spec
    )
    protocol = stability.protocol_create(
        actor=qa_user,
        code=f"STP-P{lots[0].pk}",
        title="poolability",
        specification=spec,
        lots=lots,
        conditions=["-80C"],
        time_points=list(TIMES),
        shelf_life_condition="-80C",
    )
    return stability.protocol_approve(
        signer=signer_for(qa_user, Signature.Meaning.APPROVAL), protocol=protocol
    )


def _study_with_results(analyst, protocol, lot, values, capture):
    study = stability.study_start(
        actor=analyst, protocol=protocol, lot=lot, started_on=timezone.localdate()
    )
    # Test setup only: the later pulls are marked as taken (their windows open in months).
    StabilityPull.objects.filter(study=study).update(pulled_at=timezone.now(), pulled_by=analyst)
    for pull in study.pulls.order_by("time_point"):
        if pull.time_point not in values:
            continue
        vial = pull.vials.get().aliquot
        with capture(execute=True):
            qc.run_record(
                assay_code="NTA",
                source="manual",
                started_at=timezone.now(),
                actor=analyst,
                results=[
                    qc.ResultInput(
                        sample=vial.barcode,
                        analyte="concentration",
                        value=values[pull.time_point],
                        unit="particle/mL",
                    )
                ],
            )
    return study


LOT_A = {0: 2.00e11, 1: 1.90e11, 3: 1.72e11}
LOT_B = {0: 2.30e11, 1: 2.18e11, 3: 2.02e11}


@pytest.fixture
def two_lots(technician, qa_user, analyst, django_capture_on_commit_callbacks):
    lots = [factories.lot(technician), factories.lot(technician)]
    protocol = _protocol(technician, qa_user, lots)
    studies = [
        _study_with_results(analyst, protocol, lot, values, django_capture_on_commit_callbacks)
        for lot, values in zip(lots, (LOT_A, LOT_B), strict=True)
    ]
    return lots, studies


def test_the_study_shelf_life_rests_on_the_lots_compared(two_lots):
    lots, studies = two_lots
    view = stability.study_view(studies[0])
    (trend,) = view.trends
    expected = stability_pooling.pooled_shelf_life(
        {
            lots[0].code: (list(TIMES), [LOT_A[t] for t in TIMES]),
            lots[1].code: (list(TIMES), [LOT_B[t] for t in TIMES]),
        },
        lower=1e11,
    )
    got = trend.pooling
    assert got is not None and trend.pooling_note == "" and trend.governing is got
    assert (got.model, got.governing, got.limited_by) == (
        expected.model,
        expected.governing,
        expected.limited_by,
    )
    for name in ("p_slopes", "p_intercepts", "f_slopes", "f_intercepts", "estimate"):
        assert getattr(got, name) == pytest.approx(getattr(expected, name), rel=1e-9), name
    assert view.supported_months == int(expected.supported)
    assert expected.model_label in view.basis and "p slopes" in view.basis
    # The other lot's study reads the same comparison.
    other = stability.study_view(studies[1]).trends[0].pooling
    assert other.p_slopes == got.p_slopes and other.estimate == got.estimate


def test_the_page_and_the_api_show_the_poolability_decision(two_lots, qa_user):
    _, studies = two_lots
    client = Client()
    client.force_login(qa_user, backend=BACKEND)
    page = client.get(reverse("release:stability_study", args=[studies[0].pk]))
    assert page.status_code == 200
    text = page.content.decode()
    pooling = stability.study_view(studies[0]).trends[0].pooling
    assert "Lots compared (ICH Q1E" in text and pooling.model_label in text
    assert f"{pooling.p_slopes:.4f}".rstrip("0").rstrip(".")[:5] in text
    api_client = APIClient()
    api_client.force_authenticate(qa_user)
    api = api_client.get(reverse("api:stability-study", args=[studies[0].pk]))
    assert api.status_code == 200
    (trend,) = api.json()["trends"]
    assert trend["pooling_model"] == pooling.model
    assert trend["pooling_p_slopes"] == pytest.approx(pooling.p_slopes)


def test_one_lot_is_stated_not_compared(
    technician, qa_user, analyst, django_capture_on_commit_callbacks
):
    lot = factories.lot(technician)
    protocol = _protocol(technician, qa_user, [lot])
    study = _study_with_results(analyst, protocol, lot, LOT_A, django_capture_on_commit_callbacks)
    (trend,) = stability.study_view(study).trends
    assert trend.pooling is None and "one lot" in trend.pooling_note
    assert trend.governing is trend.shelf_life


def test_a_bound_beyond_the_limit_at_time_zero_supports_no_shelf_life(
    technician, qa_user, analyst, django_capture_on_commit_callbacks
):
    lots = [factories.lot(technician), factories.lot(technician)]
    protocol = _protocol(technician, qa_user, lots, lower=2.1e11)  # lot A starts below it
    studies = [
        _study_with_results(analyst, protocol, lot, values, django_capture_on_commit_callbacks)
        for lot, values in zip(lots, (LOT_A, LOT_B), strict=True)
    ]
    view = stability.study_view(studies[1])
    assert view.trends[0].pooling.beyond_at_start
    assert view.supported_months is None and "already at time 0" in view.not_supported
    with pytest.raises(ValidationError, match="already at time 0"):
        stability.expiry_assign(
            signer=signer_for(qa_user, Signature.Meaning.APPROVAL), study=studies[1]
        )


def test_a_lot_with_fewer_than_three_time_points_is_stated_not_pooled(
    technician, qa_user, analyst, django_capture_on_commit_callbacks
):
    lots = [factories.lot(technician), factories.lot(technician)]
    protocol = _protocol(technician, qa_user, lots)
    early = {0: 2.30e11, 1: 2.18e11}  # the second lot has reached one month only
    studies = [
        _study_with_results(analyst, protocol, lot, values, django_capture_on_commit_callbacks)
        for lot, values in zip(lots, (LOT_A, early), strict=True)
    ]
    view = stability.study_view(studies[0])
    (trend,) = view.trends
    assert trend.pooling is None
    assert "lots not compared" in trend.pooling_note and lots[1].code in trend.pooling_note
    assert "at least three time points" in trend.pooling_note
    # This lot keeps its own line, and says so.
    assert trend.governing is trend.shelf_life and view.supported_months == 3
