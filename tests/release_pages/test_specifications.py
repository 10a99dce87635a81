"""Specification versions through the pages: draft (a copy of the effective version), edit its
criteria, approve with an e-signature, make effective; the previous version is superseded."""

import pytest
from axes.models import AccessAttempt
from django.core.exceptions import ValidationError
from django.urls import reverse

from release import specifications
from release.models import Criterion, Specification
from tests.release_pages.conftest import PASSWORD, signed_in
from tests.release_pages.test_disposition import text


def effective(product="msc_sev_ds") -> Specification:
    return Specification.objects.get(product=product, status="effective")


def test_a_draft_approved_with_a_signature_then_made_effective_supersedes_the_previous(
    qa_user, django_assert_max_num_queries
):
    v1 = effective()
    client = signed_in(qa_user)
    # The installation's MISEV2023 draft (version 2) is withdrawn, with the reason, first.
    installed = Specification.objects.get(product="msc_sev_ds", status="draft")
    withdraw = reverse("release:specification_withdraw", args=[installed.pk])
    assert "This field is required." in text(client.post(withdraw, {"reason": ""}))
    assert not Specification.objects.get(pk=installed.pk).is_voided
    assert client.post(withdraw, {"reason": "Site keeps its own v2"}).status_code == 302
    installed.refresh_from_db()
    assert installed.is_voided and installed.void_reason == "Site keeps its own v2"
    assert "Withdrawn by Quinn QA" in text(client.get(installed.get_absolute_url()))

    response = client.post(reverse("release:specification_create"), {"product": "msc_sev_ds"})
    draft = Specification.objects.get(product="msc_sev_ds", status="draft", voided_at=None)
    assert response["Location"] == draft.get_absolute_url()
    assert draft.version == 3  # the withdrawn draft keeps version 2
    assert draft.criteria.count() == v1.criteria.count()

    endotoxin = draft.criteria.get(metric_code="endotoxin.eu_per_ml")
    edit = reverse("release:criterion_edit", args=[draft.pk, endotoxin.pk])
    form = {
        f: getattr(endotoxin, f) if getattr(endotoxin, f) is not None else ""
        for f in ("position", "test", "method", "metric_code", "comparator", "lower", "upper")
    }
    form.update(expected_text="", unit="EU/mL", required="on", reference="USP <85>, site limit")
    form["upper"] = "0.25"
    assert client.post(edit, form).status_code == 302
    added = {
        "position": "30",
        "test": "Potency: IL-6 inhibition",
        "method": "LPS-stimulated macrophages",
        "metric_code": "potency.il6_inhibition",
        "comparator": "gte",
        "lower": "10",
        "unit": "percent",
        "alert_lower": "15",
        "reference": "site",
    }
    assert client.post(reverse("release:criterion_add", args=[draft.pk]), added).status_code == 302
    assert draft.criteria.get(metric_code="endotoxin.eu_per_ml").upper == 0.25
    assert draft.criteria.filter(metric_code="potency.il6_inhibition", required=False).exists()

    page = text(client.get(draft.get_absolute_url()))
    assert "&lt; 0.25 EU/mL" in client.get(draft.get_absolute_url()).content.decode()
    assert "Not approved yet: a draft judges no lot." in page

    response = client.post(
        reverse("release:specification_approve", args=[draft.pk]),
        {"username": qa_user.username, "password": PASSWORD, "comment": "Tighter endotoxin"},
    )
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.status == "approved"
    assert draft.approval_signature.printed_name == "Quinn QA"
    assert draft.approval_signature.meaning == "approval"
    page = text(client.get(draft.get_absolute_url()))
    assert "Quinn QA" in page and "meaning: Approval" in page and "signature valid" in page
    assert "Make effective" in page

    response = client.post(reverse("release:specification_make_effective", args=[draft.pk]))
    assert response.status_code == 302
    v1.refresh_from_db()
    draft.refresh_from_db()
    assert (v1.status, draft.status) == ("superseded", "effective")
    assert draft.effective_from is not None
    assert effective() == draft

    with django_assert_max_num_queries(12):
        listing = client.get(reverse("release:specification_list"))
    rows = text(listing)
    assert f"v{draft.version} {draft.title} Effective" in rows
    assert f"v{v1.version} {v1.title} Superseded" in rows


def test_the_criteria_of_an_approved_version_never_change(qa_user):
    v1 = effective()
    criterion = v1.criteria.first()
    client = signed_in(qa_user)
    response = client.get(reverse("release:criterion_edit", args=[v1.pk, criterion.pk]))
    assert response.status_code == 302
    assert "its criteria never change" in text(client.get(response["Location"]))
    with pytest.raises(ValidationError, match="never change"):
        specifications.criterion_save(
            actor=qa_user, specification=v1, criterion=criterion, upper=99.0
        )
    assert Criterion.objects.get(pk=criterion.pk).upper == criterion.upper


def test_a_criterion_needs_the_limits_its_comparator_uses(qa_user):
    draft = specifications.specification_draft_create(actor=qa_user, product="msc_source_cells")
    response = signed_in(qa_user).post(
        reverse("release:criterion_add", args=[draft.pk]),
        {
            "position": "9",
            "test": "Doubling time",
            "metric_code": "pd",
            "comparator": "between",
            "lower": "20",
            "unit": "h",
        },
    )
    assert response.status_code == 200
    assert "This comparator needs an upper limit." in text(response)
    assert not draft.criteria.filter(test="Doubling time").exists()


def test_only_one_version_of_a_product_is_drafted_at_a_time(qa_user):
    draft = Specification.objects.get(product="msc_sev_ds", status="draft")  # installed v2
    response = signed_in(qa_user).post(
        reverse("release:specification_create"), {"product": "msc_sev_ds"}
    )
    assert response.status_code == 200
    assert f"{draft} is draft and not yet effective: finish it first." in text(response)


def test_approval_with_a_wrong_password_is_refused_and_counted(qa_user):
    draft = Specification.objects.get(product="msc_sev_ds", status="draft")
    response = signed_in(qa_user).post(
        reverse("release:specification_approve", args=[draft.pk]),
        {"username": qa_user.username, "password": "not-the-password"},
    )
    assert response.status_code == 200
    assert "User ID or password is not correct." in text(response)
    draft.refresh_from_db()
    assert (draft.status, draft.approval_signature) == ("draft", None)
    assert AccessAttempt.objects.get(username=qa_user.username).failures_since_start == 1


def test_only_qa_makes_a_version_effective_and_only_an_approved_one(qa_user, analyst):
    draft = Specification.objects.get(product="msc_sev_ds", status="draft")
    with pytest.raises(ValidationError, match="Only QA"):
        specifications.specification_make_effective(actor=analyst, specification=draft)
    response = signed_in(qa_user).post(
        reverse("release:specification_make_effective", args=[draft.pk])
    )
    assert "only an approved version can be made effective" in text(response)
    assert effective().version == 1
