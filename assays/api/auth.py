"""Instrument API keys: `Authorization: Api-Key <key>` → the instrument that sent the request.

Keys are djangorestframework-api-key keys (`InstrumentKey`): stored hashed, shown once, with an
expiry, revocable. A request with a valid key is made by a registered instrument; its principal
(`InstrumentPrincipal`) is what the views, the throttle and the idempotency records know it by.
"""

import re
from dataclasses import dataclass

from rest_framework.authentication import BaseAuthentication

from assays.api.errors import ApiKeyExpired, ApiKeyRevoked, InvalidApiKey
from assays.models import Instrument, InstrumentKey

KEYWORD = "Api-Key"
# What KeyGenerator makes: an 8-character prefix, a dot, a 32-character secret. Anything else is
# refused before it reaches the database (no NUL bytes or megabyte headers in a query).
_KEY_FORM = re.compile(r"[A-Za-z0-9]{8}\.[A-Za-z0-9]{32}")


@dataclass(frozen=True, eq=False)
class InstrumentPrincipal:
    """Who sent a request authenticated by an API key: the instrument, through that key."""

    instrument: Instrument
    key: InstrumentKey

    is_authenticated = True
    is_anonymous = False
    is_active = True
    pk = None

    def __str__(self) -> str:
        return f"instrument {self.instrument.code}"

    def get_username(self) -> str:
        return str(self)

    def has_perm(self, perm, obj=None) -> bool:
        # Django permissions are for people; an instrument's rights are its assays.
        return False


def is_instrument(user) -> bool:
    return isinstance(user, InstrumentPrincipal)


class InstrumentKeyAuthentication(BaseAuthentication):
    """`Authorization: Api-Key <prefix>.<secret>` → (InstrumentPrincipal, InstrumentKey)."""

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        keyword, _, key = header.partition(" ")
        if keyword.lower() != KEYWORD.lower():
            return None  # not ours: another scheme, or a browser session
        key = key.strip()
        if not _KEY_FORM.fullmatch(key):
            raise InvalidApiKey()
        prefix = key.partition(".")[0]
        api_key = InstrumentKey.objects.select_related("instrument").filter(prefix=prefix).first()
        # is_valid compares the hash in constant time; only the key's holder learns whether it
        # was revoked or expired.
        if api_key is None or not api_key.is_valid(key):
            raise InvalidApiKey()
        if api_key.revoked:
            raise ApiKeyRevoked()
        if api_key.has_expired:
            raise ApiKeyExpired(
                f"This API key expired on {api_key.expiry_date:%Y-%m-%d %H:%M} UTC; "
                "ask an administrator for a new one."
            )
        return InstrumentPrincipal(instrument=api_key.instrument, key=api_key), api_key

    def authenticate_header(self, request) -> str:
        # Makes DRF answer 401 (not 403) to a request without credentials.
        return f'{KEYWORD} realm="api"'
