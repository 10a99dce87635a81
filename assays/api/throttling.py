"""Requests per instrument (or per signed-in person), at settings.API_THROTTLE_RATE."""

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

from assays.api.auth import is_instrument


class InstrumentRateThrottle(SimpleRateThrottle):
    """One budget per instrument, whichever of its keys it uses; people get one each too.

    The counters live in the default cache: with several web processes it must be a shared
    cache (Redis) for the limit to hold across them.
    """

    scope = "instrument"

    def get_rate(self) -> str:
        # Read per request, so a deployment (or a test) changes it through settings alone.
        return settings.API_THROTTLE_RATE

    def get_cache_key(self, request, view) -> str | None:
        user = request.user
        if is_instrument(user):
            ident = f"instrument:{user.instrument.code}"
        elif user.is_authenticated:
            ident = f"user:{user.pk}"
        else:
            return None  # anonymous requests are refused with 401 before they count
        return self.cache_format % {"scope": self.scope, "ident": ident}
