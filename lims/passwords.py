"""Passwords: what is accepted, how they change, and how old they may get.

* **Accepted** (NIST SP 800-63B §5.1.1.2; OWASP ASVS 4.0.3 V2.1): at least 12 characters; not
  like the user's ID or names; not on a list of common or breached passwords, checked offline
  (an air-gapped plant calls no online service): Django's list of 20,000 by default, or a
  larger list the plant provides (PASSWORD_LIST_PATH, one password a line, gzip or plain); not
  all digits; and not made of repeated or sequential characters (``CharacterVarietyValidator``:
  ``aaaaaaaaaaaa``, ``abcdefghijkl``, ``qwertyuiop12``, ``abcabcabcabc``).
* **Changed** by its owner on /accounts/password/ (the current password checked through
  ``authenticate()``, so a wrong one counts towards the lockouts of lims.signin), or reset by an
  administrator with a reason, after which the owner must choose a new one before doing
  anything else. Both are in the audit trail (the user's ``password_changed_at`` and
  ``must_change_password``; the password itself never is).
* **Aged** (21 CFR 11.300(b): passwords periodically checked, recalled or revised): with
  PASSWORD_MAX_AGE_DAYS above 0, a signed-in person whose password is older is sent to the
  change page (``PasswordAgeingMiddleware``). Instrument API keys are not passwords: unaffected.
"""

from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone

from lims.audit import audit_context
from lims.roles import SYSTEM_USERNAME, can_reset_passwords, require

# --- What is accepted -------------------------------------------------------------------------

_SEQUENCES = (
    "abcdefghijklmnopqrstuvwxyz",
    "0123456789",
    # Keyboard rows (QWERTY, QWERTZ, AZERTY), walked either way.
    "qwertyuiop",
    "asdfghjkl",
    "zxcvbnm",
    "qwertzuiop",
    "yxcvbnm",
    "azertyuiop",
    "qsdfghjklm",
    "wxcvbn",
    "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p",
)
_NEXT: set[tuple[str, str]] = set()
for _row in _SEQUENCES:
    for _a, _b in zip(_row, _row[1:], strict=False):
        _NEXT.add((_a, _b))
        _NEXT.add((_b, _a))


def effective_length(password: str) -> int:
    """Characters that neither repeat the one before nor follow it in an alphabetic, numeric or
    keyboard sequence (either way): ``aaaa`` and ``1234`` count 1, ``ab12`` counts 2."""
    lowered = password.lower()
    count = 0
    for i, char in enumerate(lowered):
        if i and (char == lowered[i - 1] or (lowered[i - 1], char) in _NEXT):
            continue
        count += 1
    return count


def repeated_unit(password: str) -> str | None:
    """The shorter string the password only repeats (``abcabcabc`` → ``abc``), or None."""
    lowered = password.lower()
    for size in range(1, len(lowered) // 2 + 1):
        if len(lowered) % size == 0 and lowered[:size] * (len(lowered) // size) == lowered:
            return lowered[:size]
    return None


class CharacterVarietyValidator:
    """Refuse passwords made of repeated or sequential characters (NIST SP 800-63B §5.1.1.2:
    "repetitive or sequential characters (e.g. 'aaaaaa', '1234abcd')"): a password must have at
    least `min_effective` characters that neither repeat nor continue a sequence, and must not
    be one shorter string over and over."""

    def __init__(self, min_effective: int = 8):
        self.min_effective = min_effective

    def validate(self, password: str, user=None) -> None:
        if repeated_unit(password) is not None or effective_length(password) < self.min_effective:
            raise ValidationError(
                "This password is made of repeated or sequential characters (such as aaaa, "
                "1234, abcd or qwerty). Use a longer mix, for example several unrelated words.",
                code="password_too_repetitive",
            )

    def get_help_text(self) -> str:
        return "Your password cannot be made of repeated or sequential characters."


# --- Changes ----------------------------------------------------------------------------------


def password_change(*, user, new_password: str) -> None:
    """The owner's own change (the page has checked the current password): validated, stored,
    the age restarted and any forced change satisfied; audited."""
    validate_password(new_password, user)
    with transaction.atomic(), audit_context(actor=user, reason="Password changed by its owner"):
        user.set_password(new_password)
        user.password_changed_at = timezone.now()
        user.must_change_password = False
        user.save(update_fields=["password", "password_changed_at", "must_change_password"])


def password_reset(*, actor, user, new_password: str, reason: str) -> None:
    """An administrator's reset of someone else's password: validated, stored, and the owner
    must choose a new one at their next request; audited with the reason."""
    require(can_reset_passwords, actor, "Only an administrator resets passwords.")
    if user.pk == actor.pk:
        raise ValidationError("Change your own password on the password page.")
    if user.username == SYSTEM_USERNAME:
        raise ValidationError("The system account has no password.")
    if not reason.strip():
        raise ValidationError({"reason": "Give the reason for the reset."})
    validate_password(new_password, user)
    with transaction.atomic(), audit_context(actor=actor, reason=reason.strip()):
        user.set_password(new_password)
        user.password_changed_at = timezone.now()
        user.must_change_password = True
        user.save(update_fields=["password", "password_changed_at", "must_change_password"])


# --- Ageing -----------------------------------------------------------------------------------


def password_change_due(user) -> str:
    """Why `user` must change their password now ("" when they need not)."""
    if not user.is_authenticated:
        return ""
    if user.must_change_password:
        return "An administrator reset your password: choose a new one to continue."
    days = settings.PASSWORD_MAX_AGE_DAYS
    if days > 0 and user.password_changed_at < timezone.now() - timedelta(days=days):
        return f"Your password is more than {days} days old: choose a new one to continue."
    return ""


class PasswordAgeingMiddleware:
    """Send a signed-in person whose password must change to the change page, whatever they
    asked for, until they have changed it (sign-out and static files excepted). Requests
    authenticated by an instrument's API key carry no session user and pass untouched."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            reason = password_change_due(user)
            if reason and not self._exempt(request.path):
                messages.warning(request, reason)
                return redirect("password_change")
        return self.get_response(request)

    @staticmethod
    def _exempt(path: str) -> bool:
        return path in (reverse("password_change"), reverse("logout")) or path.startswith(
            settings.STATIC_URL
            if settings.STATIC_URL.startswith("/")
            else "/" + settings.STATIC_URL
        )
