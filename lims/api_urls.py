"""Everything under /api/, in the "api" namespace: each layer's endpoints, then a JSON 404."""

from django.http import JsonResponse
from django.urls import Resolver404, include, path, re_path, resolve

app_name = "api"


def not_found(request, unknown=""):
    """JSON 404 for any other path under /api/ (the site's HTML 404 page is for people)."""
    message = f"No API endpoint at {request.path}."
    if not request.path.endswith("/"):
        try:
            match = resolve(request.path + "/")
        except Resolver404:
            match = None
        if match is not None and match.func is not not_found:
            message += f" Did you mean {request.path}/ (with the trailing slash)?"
    return JsonResponse({"code": "not_found", "message": message, "errors": {}}, status=404)


urlpatterns = [
    path("", include("assays.api.urls")),
    path("", include("release.api.urls")),
    # [\s\S], not ".": a path with a newline (%0A) is an unknown path too. (No "(?s)" flag:
    # Django's reverse() cannot read it.)
    re_path(r"^(?P<unknown>[\s\S]*)$", not_found),
]
