"""Fixtures of the release tests: a cheap password hasher, a temporary file store for the
certificates, the people of the release workflow and a lot whose results all pass."""

import pytest


@pytest.fixture(autouse=True)
def _release_settings(settings, tmp_path):
    """Every persona re-authenticates with a password: hash it cheaply (the hashing algorithm
    is not under test); certificates go to a temporary file store."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.MEDIA_ROOT = str(tmp_path / "files")


@pytest.fixture
def qa_approver(make_user):
    """A QA person who had nothing to do with the lot's records or results."""
    return make_user("qa", username="vera.qa", first_name="Vera", last_name="Approver")


@pytest.fixture
def passing(technician):
    """A lot under review whose required criteria all pass."""
    from tests.release.helpers import lot_under_review

    return lot_under_review(technician)


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """Run on their own (`pytest tests/release`), these tests use a test database of their own:
    the race test commits for real and ends with a flush of every table, which must never hit
    another suite running against the shared test database at the same time. In a whole-suite
    run the session's database is already set up and this changes nothing."""
    from django.conf import settings

    default = settings.DATABASES["default"]
    test = default.setdefault("TEST", {})
    test["NAME"] = f"{test.get('NAME') or 'test_' + default['NAME']}_release"
