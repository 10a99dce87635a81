"""Bench-friendly choices: operators by name and only those who do production work, several
choices as checkboxes instead of a Ctrl-click <select multiple>."""

import pytest

from batches.forms import IsolationRunForm
from batches.models import IsolationRun

pytestmark = pytest.mark.django_db


def test_the_operator_list_offers_active_technicians_by_name(personas, make_user):
    gone = make_user("technician", username="gone.tech", first_name="Gil", is_active=False)
    form = IsolationRunForm()
    offered = list(form.fields["operator"].queryset)
    assert offered == [personas["technician"]]  # not the analyst, QA, the administrator, Gil
    assert gone not in offered
    html = str(form["operator"])
    assert "Tess Tech (tess.tech)" in html
    assert "quinn.qa" not in html and "ada.admin" not in html


def test_a_record_naming_someone_who_left_still_offers_them(personas, make_user):
    gone = make_user("technician", username="gone.tech", first_name="Gil", is_active=False)
    form = IsolationRunForm(instance=IsolationRun(operator=gone))
    assert set(form.fields["operator"].queryset) == {personas["technician"], gone}


def test_several_choices_are_checkboxes_in_a_labelled_group(db):
    form = IsolationRunForm()
    html = str(form["harvests"])
    assert "<select" not in html
    assert 'class="checkbox-list' in html
    assert form["harvests"].use_fieldset  # rendered under a <legend>, each box with its label
