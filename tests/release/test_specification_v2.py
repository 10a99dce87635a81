"""Version 2 of the drug-substance specification (issue: what the gate tests): installed as a
draft QA approves; what MISEV2023 (Welsh et al., J Extracell Vesicles 2024;13:e12404) and
Witwer et al. (J Extracell Vesicles 2019;8:1609206) expect; criteria that accept one of several
markers; alert limits; the endotoxin limit derived as K/M (USP <85>); lots already in testing
stay on version 1."""

import pytest
from django.core.exceptions import ValidationError

from batches import services as batch_services
from release.models import CriterionEvaluation, Deviation, LotSpecification, Specification
from release.specifications import (
    criterion_save,
    evaluate,
    specification_approve,
    specification_draft_create,
    specification_make_effective,
    specification_withdraw,
)
from tests import factories
from tests.release.helpers import (
    PASSING,
    committed,
    dispose,
    record_manual_run,
    record_passing_source_cells,
    review_runs,
    signer_for,
)

pytestmark = pytest.mark.django_db

# What version 2 adds, beside version 1's results (tests.release.helpers.PASSING).
V2_ADDED = {
    "EV-MARKERS": [("ALIX", "positive"), ("GM130", "negative")],
    "EV-IDENTITY": [("CD73", "positive"), ("CD90", "positive"), ("CD105", "positive")]
    + [("CD45", "negative"), ("CD14", "negative")],
    "EV-COISOLATES": [("ApoA1", "negative"), ("ApoB", "negative"), ("albumin", "negative")],
    "DSDNA": [("dsdna", 2.5)],
    "APPEARANCE": [("appearance", "conforms")],
    "PH": [("ph", 7.4)],
    "OSMOLALITY": [("osmolality", 295.0)],
    "BIOBURDEN": [("bioburden", 0.0)],
}


def installed_v2() -> Specification:
    return Specification.objects.get(product="msc_sev_ds", version=2)


def make_v2_effective(qa) -> Specification:
    approved = specification_approve(
        signer=signer_for(qa, "approval"), specification=installed_v2()
    )
    return specification_make_effective(actor=qa, specification=approved)


def lot_in_testing(technician):
    lot = factories.lot(technician)
    with committed():
        batch_services.lot_set_status(actor=technician, lot=lot, to="in_testing", reason="QC")
    return lot


def record(technician, lot, plan) -> list:
    return [record_manual_run(technician, lot, code, pairs) for code, pairs in plan.items()]


def v2_plan(**changes) -> dict:
    """Every assay version 2 needs, passing; `changes` {assay: {analyte: value}}."""
    plan = {code: list(pairs) for code, pairs in PASSING.items()}
    for code, pairs in V2_ADDED.items():
        plan[code] = plan.get(code, []) + list(pairs)
    for code, values in changes.items():
        plan[code] = [(a, values.get(a, v)) for a, v in plan[code] if values.get(a, v) is not None]
    return plan


def status(lot, test_prefix) -> CriterionEvaluation:
    return CriterionEvaluation.objects.select_related("criterion").get(
        lot=lot, criterion__test__startswith=test_prefix
    )


def test_installed_as_a_draft_with_each_addition_and_its_source():
    v1 = Specification.objects.get(product="msc_sev_ds", version=1)
    v2 = installed_v2()
    assert (v1.status, v2.status, v2.approval_signature) == ("effective", "draft", None)
    criteria = {c.metric_code: c for c in v2.criteria.all()}
    assert all(c.reference for c in criteria.values())
    added = {
        "ev_identity.CD73": "positive",
        "ev_identity.CD90": "positive",
        "ev_identity.CD105": "positive",
        "ev_identity.CD45": "negative",
        "ev_identity.CD14": "negative",
        "ev_coisolates.ApoA1": "negative",
        "ev_coisolates.ApoB": "negative",
        "ev_coisolates.albumin": "negative",
        "ev_markers.GM130": "negative",
        "appearance.appearance": "conforms",
    }
    for code, call in added.items():
        assert criteria[code].expected_text == call and criteria[code].required, code
    assert "Witwer" in criteria["ev_identity.CD73"].reference
    assert "MISEV2023" in criteria["ev_coisolates.ApoB"].reference
    for code in ("ph", "osmolality", "dsdna.ng_per_ml", "bioburden.cfu"):
        assert code in criteria, code
    assert criteria["bioburden.cfu"].upper == 10 and criteria["bioburden.cfu"].unit == "CFU/100 mL"
    cytosolic = criteria["ev_markers.TSG101"]
    assert cytosolic.any_of_codes == ["ev_markers.ALIX"]
    assert cytosolic.acceptance == "positive: any one of TSG101, ALIX"
    # Alert limits on the quantitative tests, inside the acceptance limits.
    for c in criteria.values():
        if (
            c.comparator in ("gte", "gt", "lt", "lte", "between")
            and c.metric_code != "bioburden.cfu"
        ):
            assert c.alert_lower is not None or c.alert_upper is not None, c.test
            if c.alert_lower is not None and c.lower is not None:
                assert c.alert_lower > c.lower, c.test
            if c.alert_upper is not None and c.upper is not None:
                assert c.alert_upper < c.upper, c.test
    # K/M: K = 5 EU/kg, 10 mL within an hour into 70 kg, M = 0.1429 mL/kg → 35 EU/mL.
    endotoxin = criteria["endotoxin.eu_per_ml"]
    assert endotoxin.upper == 35.0 and endotoxin.acceptance == "< 35 EU/mL (K/M)"
    assert endotoxin.derived_from == "K/M: K = 5 EU/kg, M = 10 mL per hour / 70 kg"
    assert endotoxin.signed_content()["derived_from"] == endotoxin.derived_from


def test_a_lot_in_testing_stays_on_v1_and_a_new_lot_is_judged_by_every_v2_test(
    technician, make_user, qa_approver
):
    qa = make_user("qa", first_name="Spec", last_name="Writer")
    old = lot_in_testing(technician)
    make_v2_effective(qa)
    assert LotSpecification.objects.get(lot=old).specification.version == 1

    new = lot_in_testing(technician)
    assert LotSpecification.objects.get(lot=new).specification.version == 2
    # Version 1's results are not enough under version 2: its additions are pending.
    runs = record(technician, new, {code: pairs for code, pairs in PASSING.items()})
    pending = {
        e.criterion.metric_code
        for e in CriterionEvaluation.objects.filter(lot=new, status="pending").select_related(
            "criterion"
        )
    }
    assert {"ev_identity.CD73", "ev_coisolates.albumin", "ph", "bioburden.cfu"} <= pending
    assert "ev_markers.TSG101" not in pending  # TSG101 positive is enough: ALIX not needed

    runs += record(technician, new, V2_ADDED)
    runs += list(record_passing_source_cells(technician, new).values())
    review_runs(runs)
    evaluate(lot=new)
    states = dict(
        CriterionEvaluation.objects.filter(lot=new, criterion__required=True).values_list(
            "criterion__test", "status"
        )
    )
    assert set(states.values()) == {"pass"}, states
    new.refresh_from_db()
    assert new.status == "under_review"  # moved there by itself (release.lot_progress)
    assert dispose(qa_approver, new).specification.version == 2


def test_one_of_several_markers_tsg101_or_alix(technician, make_user):
    make_v2_effective(make_user("qa"))
    # TSG101 not detected, ALIX positive: the cytosolic-protein criterion holds, no OOS.
    lot = lot_in_testing(technician)
    record(technician, lot, {"EV-MARKERS": [("TSG101", "negative"), ("ALIX", "positive")]})
    row = status(lot, "EV marker, cytosolic")
    assert (row.status, row.metric.code) == ("pass", "ev_markers.ALIX")
    assert "ALIX conforms" in row.note
    assert not Deviation.objects.filter(lot=lot, kind="oos").exists()

    # TSG101 not detected and ALIX not tested yet: pending, no OOS yet.
    waiting = lot_in_testing(technician)
    record(technician, waiting, {"EV-MARKERS": [("TSG101", "negative")]})
    row = status(waiting, "EV marker, cytosolic")
    assert row.status == "pending" and "ALIX: no result yet" in row.note
    assert not Deviation.objects.filter(lot=waiting, kind="oos").exists()

    # Neither detected: out of specification, an OOS for each failing result.
    record(technician, waiting, {"EV-MARKERS": [("ALIX", "negative")]})
    row = status(waiting, "EV marker, cytosolic")
    assert row.status == "fail" and row.note == "neither TSG101 or ALIX conforms"
    oos = Deviation.objects.filter(lot=waiting, kind="oos", criterion=row.criterion)
    assert oos.count() == 2


def test_alert_limits_and_the_new_tests_judge(technician, make_user):
    make_v2_effective(make_user("qa"))
    lot = lot_in_testing(technician)
    # pH 7.7: within 7.0-7.8, outside the 7.2-7.6 alert limits. Osmolality 350: out.
    # Endotoxin 0.8 EU/mL: within K/M (35), above the 0.5 alert. Bioburden 12 CFU/100 mL: out.
    record(
        technician,
        lot,
        {
            "PH": [("ph", 7.7)],
            "OSMOLALITY": [("osmolality", 350.0)],
            "ENDOTOXIN": [("endotoxin", 0.8)],
            "BIOBURDEN": [("bioburden", 12.0)],
            "EV-COISOLATES": [("albumin", "positive")],
        },
    )
    assert status(lot, "pH").status == "alert"
    assert status(lot, "Osmolality").status == "fail"
    assert status(lot, "Endotoxin").status == "alert"
    assert status(lot, "Bioburden").status == "fail"
    assert status(lot, "Co-isolate albumin").status == "fail"


def test_impossible_values_of_the_new_tests_are_refused(technician):
    lot = lot_in_testing(technician)
    for code, analyte, value in (
        ("PH", "ph", 15.0),
        ("PH", "ph", -1.0),
        ("OSMOLALITY", "osmolality", -5.0),
        ("BIOBURDEN", "bioburden", -1.0),
    ):
        with pytest.raises(ValidationError, match="ph|osmolality|bioburden|negative|outside"):
            record_manual_run(technician, lot, code, [(analyte, value)])
    assert not lot.assay_samples.exists()  # nothing half-written


def test_the_km_limit_is_derived_and_checked(qa_user, technician):
    specification_withdraw(actor=qa_user, specification=installed_v2(), reason="Own version")
    draft = specification_draft_create(actor=qa_user, product="msc_sev_ds")
    endotoxin = draft.criteria.get(metric_code="endotoxin.eu_per_ml")
    # The worked example of USP <85>: a 2 mL bolus into a 70 kg adult, K = 5 → 175 EU/mL.
    saved = criterion_save(
        actor=qa_user,
        specification=draft,
        criterion=endotoxin,
        upper=None,
        endotoxin_k=5.0,
        dose_ml_per_hour=2.0,
        body_mass_kg=70.0,
    )
    assert saved.upper == 175.0
    # Intrathecal: K = 0.2 → 7 EU/mL, derived again when the inputs change.
    assert (
        criterion_save(actor=qa_user, specification=draft, criterion=saved, endotoxin_k=0.2).upper
        == 7.0
    )
    refusals = [
        ({"upper": 0.5}, "upper"),  # a typed limit that is not K/M
        ({"body_mass_kg": None}, "body_mass_kg"),  # M needs the body mass
        ({"comparator": "gte", "lower": 1.0}, "comparator"),  # K/M is an upper limit
        ({"dose_ml_per_hour": -2.0}, "endotoxin_k"),  # no negative dose
    ]
    for change, field in refusals:
        with pytest.raises(ValidationError) as refused:
            criterion_save(actor=qa_user, specification=draft, criterion=saved, **change)
        assert field in refused.value.message_dict, change
    saved.refresh_from_db()
    assert (saved.upper, saved.endotoxin_k) == (7.0, 0.2)
    with pytest.raises(ValidationError, match="Only QA"):
        criterion_save(actor=technician, specification=draft, criterion=saved, endotoxin_k=5.0)


def test_a_draft_is_withdrawn_only_by_qa_with_a_reason_and_never_approved_after(
    qa_user, technician
):
    v2 = installed_v2()
    with pytest.raises(ValidationError, match="Only QA"):
        specification_withdraw(actor=technician, specification=v2, reason="No")
    with pytest.raises(ValidationError, match="Say why"):
        specification_withdraw(actor=qa_user, specification=v2, reason="  ")
    specification_withdraw(actor=qa_user, specification=v2, reason="Not adopted")
    with pytest.raises(ValidationError, match="withdrawn: Not adopted"):
        specification_approve(signer=signer_for(qa_user, "approval"), specification=v2)
    with pytest.raises(ValidationError, match="withdrawn"):
        criterion_save(actor=qa_user, specification=v2, criterion=v2.criteria.first(), upper=1.0)
    with pytest.raises(ValidationError, match="withdrawn"):
        specification_withdraw(actor=qa_user, specification=v2, reason="Again")
    # An approved version is never withdrawn.
    v3 = specification_draft_create(actor=qa_user, product="msc_sev_ds")
    assert v3.version == 3
    specification_approve(signer=signer_for(qa_user, "approval"), specification=v3)
    with pytest.raises(ValidationError, match="only a draft can be withdrawn"):
        specification_withdraw(actor=qa_user, specification=v3, reason="Changed my mind")
