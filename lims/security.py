"""Headers and request checks every response gets: a Content Security Policy (scripts only from
this server, no eval), no caching of what a signed-in person or an API client reads, a session
cookie that cannot be a session key ignored, and a NUL byte in a URL path answered 404."""

from django.conf import settings
from django.http import Http404, JsonResponse
from django.utils.cache import add_never_cache_headers, patch_vary_headers

POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        # Plotly and Bootstrap set inline style attributes on elements they draw.
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "frame-ancestors 'none'",
        "base-uri 'self'",
        "form-action 'self'",
    ]
)


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if not getattr(settings, "CSP_DISABLED", False):
            response.headers.setdefault("Content-Security-Policy", POLICY)
        return response


class DropMalformedSessionCookie:
    """Ignore a session cookie that cannot be a session key.

    Django's database session store sends the cookie's value to PostgreSQL as it comes; a NUL
    byte (or other garbage) there makes the query fail and every page answer 500. A session key
    is 32 lower-case letters and digits, so anything else is treated as no session at all.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        name = settings.SESSION_COOKIE_NAME
        value = request.COOKIES.get(name)
        if value is not None and not (value.isascii() and value.isalnum() and len(value) <= 64):
            del request.COOKIES[name]
        return self.get_response(request)


class NoStoreForSignedIn:
    """`Cache-Control: no-store` (with Django's never-cache set: max-age=0, no-cache,
    must-revalidate, private) on every response to a signed-in person and on every API
    response: GMP records must not stay in a shared or browser cache after the session ends
    (OWASP ASVS 4.0.3 V8.2.1; RFC 9111 §5.2.2.5). Static files (WhiteNoise, before this) keep
    their long caching: they hold no records.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        # DRF puts the instrument that authenticated on request.user, like a person's session.
        user = getattr(request, "user", None)
        signed_in = user is not None and user.is_authenticated
        if signed_in or request.path.startswith("/api/"):
            add_never_cache_headers(response)
            patch_vary_headers(response, ["Cookie", "Authorization"])
        return response


class NotFoundForNulInPath:
    """A URL path with a NUL byte names no page or record: 404 before any view sends it to
    PostgreSQL, which refuses NUL in text and would make it a 500 (PostgreSQL documentation,
    8.3 "Character Types": the character with code zero cannot be stored). JSON under /api/,
    the site's 404 page elsewhere."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "\x00" in request.path:
            if request.path.startswith("/api/"):
                return JsonResponse(
                    {"code": "not_found", "message": "No API endpoint at this path.", "errors": {}},
                    status=404,
                )
            raise Http404("No page at a path with a NUL byte.")
        return self.get_response(request)
