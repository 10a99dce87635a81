"""Stability studies at the service: the GMP refusals (reserved vial used elsewhere, wrong
role, back-dated and future pulls, protocol not approved) and a result judged against the
stability specification, kept out of the release evaluation."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from assays import services as qc
from assays.metrics import valid_metrics
from batches import services as batch_services
from lims.models import Signature
from release import specifications, stability
from release.models import Deviation, Specification
from tests import factories
from tests.release.helpers import signer_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def study_setup(technician, qa_user, analyst):
    lot = factories.lot(technician)
    batch_services.aliquots_create(
        actor=technician,
        lot=lot,
        volume_ul=500,
        locations=factories.storage_positions(technician, 4),
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
        lower=1e10,
        unit="particle/mL",
    )
    specifications.specification_approve(
        signer=signer_for(qa_user, Signature.Meaning.APPROVAL), specification=spec
    )
    protocol = stability.protocol_create(
        actor=qa_user,
        code="STP-T",
        title="t",
        specification=spec,
        lots=[lot],
        conditions=["-80C", "2-8C"],
        time_points=[0, 1],
        shelf_life_condition="-80C",
    )
    return lot, protocol


def _approve(qa_user, protocol):
    return stability.protocol_approve(
        signer=signer_for(qa_user, Signature.Meaning.APPROVAL), protocol=protocol
    )


def test_study_refused_on_a_protocol_not_approved(study_setup, analyst):
    lot, protocol = study_setup
    with pytest.raises(ValidationError) as exc:
        stability.study_start(
            actor=analyst, protocol=protocol, lot=lot, started_on=timezone.localdate()
        )
    assert "approved protocol" in exc.value.message_dict["protocol"][0]


def test_technician_cannot_start_a_study(study_setup, technician, qa_user):
    lot, protocol = study_setup
    _approve(qa_user, protocol)
    with pytest.raises((PermissionDenied, ValidationError)):
        stability.study_start(
            actor=technician, protocol=protocol, lot=lot, started_on=timezone.localdate()
        )


def test_technician_cannot_approve_a_protocol(study_setup, technician):
    _, protocol = study_setup
    with pytest.raises((PermissionDenied, ValidationError)):
        _approve(technician, protocol)


def test_study_start_in_the_future_refused(study_setup, analyst, qa_user):
    lot, protocol = study_setup
    _approve(qa_user, protocol)
    with pytest.raises(ValidationError) as exc:
        stability.study_start(
            actor=analyst,
            protocol=protocol,
            lot=lot,
            started_on=timezone.localdate() + timedelta(days=1),
        )
    assert "started_on" in exc.value.message_dict


def test_reserved_vial_used_elsewhere_is_refused_next_to_the_field(
    study_setup, analyst, qa_user, technician
):
    lot, protocol = study_setup
    _approve(qa_user, protocol)
    study = stability.study_start(
        actor=analyst, protocol=protocol, lot=lot, started_on=timezone.localdate()
    )
    assert study.pulls.count() == 4
    vial = study.pulls.first().vials.get().aliquot
    with pytest.raises(ValidationError) as exc:
        batch_services.aliquot_set_status(actor=technician, aliquot=vial, to="used", reason="Assay")
    assert f"reserved for stability study {study.code}" in exc.value.message_dict["to"][0]
    with pytest.raises(ValidationError) as exc:
        batch_services.aliquot_move(actor=technician, aliquot=vial, to_location=None, reason="out")
    assert "reserved for stability" in exc.value.message_dict["to_location"][0]


def test_not_enough_free_vials(study_setup, analyst, qa_user, technician):
    lot, protocol = study_setup
    _approve(qa_user, protocol)
    stability.study_start(
        actor=analyst, protocol=protocol, lot=lot, started_on=timezone.localdate()
    )
    second = stability.protocol_create(
        actor=qa_user,
        code="STP-U",
        title="u",
        specification=protocol.specification,
        lots=[lot],
        conditions=["-20C"],
        time_points=[0],
        shelf_life_condition="-20C",
    )
    _approve(qa_user, second)
    with pytest.raises(ValidationError) as exc:
        stability.study_start(
            actor=analyst, protocol=second, lot=lot, started_on=timezone.localdate()
        )
    assert "only 0 are free" in exc.value.message_dict["lot"][0]


@pytest.mark.parametrize(
    ("offset", "message"),
    [(timedelta(hours=2), "future"), (-timedelta(days=3), "24 hours")],
)
def test_back_dated_and_future_pulls_refused(study_setup, analyst, qa_user, offset, message):
    lot, protocol = study_setup
    _approve(qa_user, protocol)
    study = stability.study_start(
        actor=analyst, protocol=protocol, lot=lot, started_on=timezone.localdate()
    )
    pull = study.pulls.get(condition="-80C", time_point=0)
    with pytest.raises(ValidationError) as exc:
        stability.pull_record(actor=analyst, pull=pull, pulled_at=timezone.now() + offset)
    assert message in exc.value.message_dict["pulled_at"][0]


def test_pull_before_its_window_refused_and_a_pull_is_recorded_once(study_setup, analyst, qa_user):
    lot, protocol = study_setup
    _approve(qa_user, protocol)
    study = stability.study_start(
        actor=analyst, protocol=protocol, lot=lot, started_on=timezone.localdate()
    )
    early = study.pulls.get(condition="-80C", time_point=1)
    with pytest.raises(ValidationError, match="window opens"):
        stability.pull_record(actor=analyst, pull=early, pulled_at=timezone.now())
    t0 = study.pulls.get(condition="-80C", time_point=0)
    stability.pull_record(actor=analyst, pull=t0, pulled_at=timezone.now())
    with pytest.raises(ValidationError, match="pulled already"):
        stability.pull_record(actor=analyst, pull=t0, pulled_at=timezone.now())


def test_oos_stability_point_opens_an_oos_and_stays_out_of_release(
    study_setup, analyst, qa_user, django_capture_on_commit_callbacks
):
    lot, protocol = study_setup
    _approve(qa_user, protocol)
    study = stability.study_start(
        actor=analyst, protocol=protocol, lot=lot, started_on=timezone.localdate()
    )
    pull = study.pulls.get(condition="-80C", time_point=0)
    stability.pull_record(actor=analyst, pull=pull, pulled_at=timezone.now())
    vial = pull.vials.get().aliquot
    with django_capture_on_commit_callbacks(execute=True):
        qc.run_record(
            assay_code="NTA",
            source="manual",
            started_at=timezone.now(),
            actor=analyst,
            results=[
                qc.ResultInput(
                    sample=vial.barcode, analyte="concentration", value=5e9, unit="particle/mL"
                )
            ],
        )
    view = stability.study_view(study)
    point = next(p for p in view.results[pull.pk])
    assert point.status == "fail" and point.metric.value == 5e9
    assert Deviation.objects.filter(lot=lot, kind="oos", criterion=point.criterion).count() == 1
    assert "nta.concentration" not in valid_metrics(lot=lot)
