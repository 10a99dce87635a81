"""The optional second factor (RFC 6238 TOTP, django-otp; 21 CFR 11.300): the roles that must
use it set it up at their first sign-in; whoever has one enters its code after the password,
and sees nothing else until then; a wrong or replayed code is refused."""

import time
from base64 import b32encode

import pytest
from django.urls import reverse
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def _sign_in(client, user):
    response = client.post(reverse("login"), {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302, response.content.decode()[:500]


def _code(device) -> str:
    return f"{TOTP(device.bin_key, device.step, device.t0, device.digits).token():06d}"


def test_a_required_role_sets_up_its_second_factor_first(client, qa_user, settings):
    settings.OTP_REQUIRED_ROLES = ["qa"]
    _sign_in(client, qa_user)
    home = client.get(reverse("release:dashboard"))
    assert home.status_code == 302 and home["Location"] == reverse("second_factor_setup")

    page = client.get(reverse("second_factor_setup")).content.decode()
    assert "otpauth://totp/" in page
    assert not TOTPDevice.objects.filter(user=qa_user).exists()  # showing it writes nothing
    wrong = client.post(reverse("second_factor_setup"), {"token": "000000"})
    assert "does not match" in wrong.content.decode()
    device = TOTPDevice.objects.get(user=qa_user)
    assert not device.confirmed
    assert b32encode(device.bin_key).decode() in page  # the secret shown is the one kept
    time.sleep(1.1)  # django-otp throttles after a failure: 1 s, doubling with each one

    done = client.post(reverse("second_factor_setup"), {"token": _code(device)})
    assert done.status_code == 302
    assert TOTPDevice.objects.get(pk=device.pk).confirmed
    assert client.get(reverse("release:dashboard")).status_code == 200


def test_whoever_has_a_device_enters_its_code_after_the_password(client, technician):
    device = TOTPDevice.objects.create(user=technician, name="phone", confirmed=True)
    _sign_in(client, technician)
    blocked = client.get(reverse("release:dashboard"))
    assert blocked["Location"] == reverse("second_factor")
    assert client.get("/api/v1/lots/").status_code in (302, 401, 403)  # no data before the code

    refused = client.post(reverse("second_factor"), {"token": "123456"})
    assert "not right" in refused.content.decode()
    assert client.get(reverse("release:dashboard"))["Location"] == reverse("second_factor")
    # Right code, but straight after a wrong one: throttled (brute force of 10^6 codes).
    assert (
        "not right"
        in client.post(reverse("second_factor"), {"token": _code(device)}).content.decode()
    )
    time.sleep(2.1)

    code = _code(device)
    assert client.post(reverse("second_factor"), {"token": code}).status_code == 302
    assert client.get(reverse("release:dashboard")).status_code == 200

    # The same code again, at the next sign-in within its 30 s: a replay, refused.
    client.post(reverse("logout"))
    _sign_in(client, technician)
    replay = client.post(reverse("second_factor"), {"token": code})
    assert "not right" in replay.content.decode()


def test_no_device_and_a_role_not_required_signs_in_as_before(client, technician, settings):
    settings.OTP_REQUIRED_ROLES = ["qa", "admin"]
    _sign_in(client, technician)
    assert client.get(reverse("release:dashboard")).status_code == 200
    assert not TOTPDevice.objects.filter(user=technician).exists()
