import pytest


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Every persona gets a password: hash it cheaply, the hashing algorithm is not under test."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
