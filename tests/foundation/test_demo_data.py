"""The demo data of a first start (`manage.py seed_demo`): every status, and safe to run twice."""

from io import StringIO

import pytest
from django.apps import apps
from django.core.management import call_command
from django.urls import reverse

from batches.models import Aliquot, CultureBatch, ExosomeLot
from lims.models import AuditEvent, User
from release.demo import DEMO_USERS


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def row_counts() -> dict[str, int]:
    models = [*apps.get_app_config("batches").get_models(), User, AuditEvent]
    return {model._meta.label: model.objects.count() for model in models}


@pytest.fixture
def seeded(db):
    output = seed()
    assert output.startswith("Demo data loaded.")
    return output


def test_seeding_twice_creates_nothing_new(seeded):
    before = row_counts()

    output = seed()

    assert output.startswith("Demo data already present.")
    assert row_counts() == before
    assert before["batches.CultureBatch"] > 0 and before["lims.AuditEvent"] > 0


def test_demo_has_a_culture_batch_in_every_status(seeded):
    statuses = set(CultureBatch.objects.values_list("status", flat=True))
    assert statuses == set(CultureBatch.Status.values)


def test_demo_has_lots_in_several_statuses_with_vials_in_storage(seeded):
    assert set(ExosomeLot.objects.values_list("status", flat=True)) >= {
        "in_process",
        "in_testing",
        "under_review",
    }
    stored = Aliquot.objects.filter(location__isnull=False)
    assert stored.count() >= 10
    assert set(stored.values_list("lot__status", flat=True)) == set(
        ExosomeLot.objects.values_list("status", flat=True)
    )


def test_demo_people_have_their_roles_and_can_sign_in(seeded, client):
    for username, role, _, password in DEMO_USERS:
        user = User.objects.get(username=username)
        assert list(user.groups.values_list("name", flat=True)) == [role]
        response = client.post(reverse("login"), {"username": username, "password": password})
        assert response.status_code == 302, username
        assert client.session["_auth_user_id"] == str(user.pk)
        client.post(reverse("logout"))


def test_demo_records_were_written_through_the_services(seeded):
    """Every demo record has an audit trail naming the demo technician."""
    batch = CultureBatch.objects.order_by("code").first()
    (created,) = AuditEvent.objects.tracks(batch).filter(pgh_label="insert")
    assert (created.username, created.reason) == ("tech", "Created")


def test_demo_nta_run_counts_and_opens_its_oos(db, django_capture_on_commit_callbacks):
    """The bead export says "Not recorded" for its dilution: the demo's analyst records it with a
    reason, so the run counts and its low concentration opens the OOS QA finds on the home page."""
    from assays.models import AssayRun
    from assays.nta_services import current_dilution
    from release.models import Deviation

    with django_capture_on_commit_callbacks(execute=True):
        seed()

    run = AssayRun.objects.get(nta_summary__isnull=False)  # the one read from a file
    dilution = current_dilution(run)
    assert dilution is not None and dilution.dilution_factor == 1 and dilution.reason
    assert not run.nta_summary.dilution_pending
    oos = Deviation.objects.filter(kind=Deviation.Kind.OOS, status=Deviation.Status.OPEN)
    assert oos.count() == 1
