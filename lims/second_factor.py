"""An optional second factor at sign-in: a time-based one-time password (TOTP, RFC 6238) from an
authenticator app, with django-otp (21 CFR 11.300; NIST SP 800-63B §5.1.4: a single-factor OTP
device next to the password makes the sign-in multi-factor).

Whoever has a confirmed device enters its code after the password, before anything else. The
roles in OTP_REQUIRED_ROLES (e.g. "qa,admin": those who release lots and manage accounts) must
set one up at their first sign-in. Whether a person must do either is decided once, at sign-in,
and kept in the session, so pages pay no query for it. Instrument API keys carry no session and
are not concerned. E-signatures stay user ID and password (11.200(a)).
"""

from __future__ import annotations

from base64 import b32encode

import django_otp
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.shortcuts import redirect, render
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp.util import random_hex

from lims.forms import BootstrapMixin
from lims.roles import has_role

PENDING = "second_factor"  # session key: "verify" or "enrol" until done
SETUP_KEY = "second_factor_setup_key"  # the secret being set up, until its first code


@receiver(user_logged_in, dispatch_uid="lims.second_factor.at_sign_in")
def _at_sign_in(sender, request, user, **kwargs):
    if request is None or not hasattr(request, "session"):
        return
    if TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        request.session[PENDING] = "verify"
    elif any(has_role(user, role) for role in settings.OTP_REQUIRED_ROLES):
        request.session[PENDING] = "enrol"


class SecondFactorMiddleware:
    """Until the second factor is done, a signed-in person sees only its page (and sign-out)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        session = getattr(request, "session", None)
        pending = session.get(PENDING) if session is not None else None
        if pending and request.user.is_authenticated:
            page = "second_factor" if pending == "verify" else "second_factor_setup"
            allowed = {reverse(page), reverse("logout")}
            if request.path not in allowed and not request.path.startswith(settings.STATIC_URL):
                return redirect(page)
        return self.get_response(request)


class TokenForm(BootstrapMixin, forms.Form):
    token = forms.CharField(
        label="Code from your authenticator app",
        max_length=8,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )


def _done(request, device) -> None:
    django_otp.login(request, device)
    request.session.pop(PENDING, None)


@login_required
def verify(request):
    """The code after the password."""
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        token = form.cleaned_data["token"].strip()
        for device in TOTPDevice.objects.filter(user=request.user, confirmed=True):
            if device.verify_token(token):
                _done(request, device)
                return redirect(settings.LOGIN_REDIRECT_URL)
        form.add_error("token", "This code is not right, or has expired. Enter the current one.")
    return render(request, "registration/second_factor.html", {"form": form, "setup": None})


@login_required
def setup(request):
    """Set up an authenticator app: the secret (as text and as an otpauth:// URI), then the
    first code, which confirms the device. The secret waits in the session until then: showing
    the page writes no record (GET never writes)."""
    key = request.session.get(SETUP_KEY) or random_hex(20)
    request.session[SETUP_KEY] = key
    device = TOTPDevice(user=request.user, name="authenticator", key=key, confirmed=False)
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        # Saved before it is checked: django-otp records failures on it (throttling).
        device, _ = TOTPDevice.objects.get_or_create(
            user=request.user, key=key, defaults={"name": "authenticator", "confirmed": False}
        )
        if not device.confirmed and device.verify_token(form.cleaned_data["token"].strip()):
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            request.session.pop(SETUP_KEY, None)
            _done(request, device)
            messages.success(request, "Second factor set up: you will be asked for a code.")
            return redirect(settings.LOGIN_REDIRECT_URL)
        form.add_error("token", "This code does not match the secret. Check the app's clock.")
    secret = b32encode(device.bin_key).decode()
    context = {"form": form, "setup": {"secret": secret, "uri": device.config_url}}
    return render(request, "registration/second_factor.html", context)
