import pytest


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Every persona gets a password: hash it cheaply, the hashing algorithm is not under test."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def tech_client(client, technician):
    """The test client signed in as the technician."""
    client.force_login(technician, backend="django.contrib.auth.backends.ModelBackend")
    return client
