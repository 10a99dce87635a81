"""Shared fixtures: one persona per role (STYLE.md: tests read like the behaviour).

Imports of Django models stay inside fixtures so the pure test packages (tests/parsers,
tests/qc) also run without a database.
"""

import pytest


@pytest.fixture(scope="session", autouse=True)
def _flush_keeps_the_installation_data():
    """Transactional tests (threads, live server, real workers) end with a flush of every table.

    Two things of this project need help there: the audit tables refuse TRUNCATE (that is their
    point), so the flush runs with pgtrigger's triggers ignored in its own connection; and the
    data that migrations install (role groups, the system account, the assay catalogue) is put
    back after it, as a fresh installation has it.
    """
    from django.core.management.commands import flush

    original = flush.Command.handle

    def handle(self, *args, **options):
        import pgtrigger
        from django.apps import apps

        from assays.catalogue import seed_catalogue
        from lims.roles import sync_role_groups
        from release.default_specifications import seed_specifications

        with pgtrigger.ignore():
            result = original(self, *args, **options)
        seed_catalogue(apps)
        seed_specifications(apps)
        sync_role_groups(apps)
        return result

    flush.Command.handle = handle
    yield
    flush.Command.handle = original


@pytest.fixture(autouse=True)
def _eager_celery(settings):
    """Unit and page tests run tasks in-process; tests marked celery_worker use a real worker."""
    from lims.celery import app

    app.conf.task_always_eager = True
    yield


@pytest.fixture
def make_user(db):
    from tests.factories import UserFactory

    def make(role: str | None, **kwargs):
        return UserFactory(role=role, **kwargs)

    return make


@pytest.fixture
def technician(make_user):
    return make_user("technician", username="tess.tech", first_name="Tess", last_name="Tech")


@pytest.fixture
def analyst(make_user):
    return make_user("analyst", username="alan.analyst", first_name="Alan", last_name="Analyst")


@pytest.fixture
def qa_user(make_user):
    return make_user("qa", username="quinn.qa", first_name="Quinn", last_name="QA")


@pytest.fixture
def admin_user(make_user):
    return make_user("admin", username="ada.admin", first_name="Ada", last_name="Admin")


@pytest.fixture
def personas(technician, analyst, qa_user, admin_user):
    return {"technician": technician, "analyst": analyst, "qa": qa_user, "admin": admin_user}
