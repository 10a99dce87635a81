"""Shared fixtures: one persona per role (STYLE.md: tests read like the behaviour).

Imports of Django models stay inside fixtures so the pure test packages (tests/parsers,
tests/qc) also run without a database.
"""

import pytest


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
