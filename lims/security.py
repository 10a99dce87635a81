"""A Content Security Policy for every page: scripts only from this server, no eval."""

from django.conf import settings

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
