"""/health/: whether the services this server depends on answer, and who is told which.

django-health-check's page names every component (database, file store, broker, worker) with
its state and error: what an operator needs, and a map of the installation for anyone else
(OWASP ASVS 4.0.3 V14.3: no unintended disclosure). So the detail goes to staff accounts and to
the machine itself (the compose health check, monitoring on the host); any other caller, a load
balancer included, gets the status code (200 healthy, 500 not) and "ok" or "error".
"""

import ipaddress

from django.http import HttpResponse
from django.urls import path
from django.utils.cache import add_never_cache_headers
from health_check.views import MainView  # type: ignore[import-untyped]  # no stubs

app_name = "health_check"

# A request that came through a proxy: its REMOTE_ADDR is the proxy's, loopback or not, and says
# nothing about who is asking.
FORWARDING_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP")


def sees_detail(request) -> bool:
    """Staff, or a request made on this machine (loopback, not forwarded by a proxy)."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and user.is_active and user.is_staff:
        return True
    if any(request.META.get(header) for header in FORWARDING_HEADERS):
        return False
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


class HealthView(MainView):
    def get(self, request, *args, **kwargs):
        if sees_detail(request):
            return super().get(request, *args, **kwargs)
        failed = self.check(kwargs.get("subset"))
        response = HttpResponse(
            "error\n" if failed else "ok\n",
            status=500 if failed else 200,
            content_type="text/plain; charset=utf-8",
        )
        add_never_cache_headers(response)
        return response


urlpatterns = [
    path("", HealthView.as_view(), name="health_check_home"),
    path("<str:subset>/", HealthView.as_view(), name="health_check_subset"),
]
