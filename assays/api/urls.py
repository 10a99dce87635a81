"""URLs under /api/: the v1 endpoints, the OpenAPI document and its interactive docs."""

from django.http import JsonResponse
from django.urls import Resolver404, path, re_path, resolve
from drf_spectacular.renderers import OpenApiJsonRenderer, OpenApiYamlRenderer
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from assays.api import release_views, views
from assays.api.permissions import ApiPermission

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


_docs_access = {"permission_classes": [ApiPermission]}

urlpatterns = [
    # JSON by default (errors too); ?format=yaml for YAML.
    path(
        "schema/",
        SpectacularAPIView.as_view(
            renderer_classes=[OpenApiJsonRenderer, OpenApiYamlRenderer], **_docs_access
        ),
        name="schema",
    ),
    path(
        "docs/",
        SpectacularSwaggerSplitView.as_view(url_name="api:schema", **_docs_access),
        name="docs",
    ),
    path("v1/culture-batches/", views.CultureBatchListApi.as_view(), name="culture-batch-list"),
    path("v1/lots/", views.LotListApi.as_view(), name="lot-list"),
    path("v1/aliquots/", views.AliquotListApi.as_view(), name="aliquot-list"),
    path("v1/assays/", views.AssayListApi.as_view(), name="assay-list"),
    path("v1/instruments/", views.InstrumentListApi.as_view(), name="instrument-list"),
    path("v1/runs/", views.RunsApi.as_view(), name="runs"),
    path("v1/runs/asm/", views.RunAsmCreateApi.as_view(), name="run-asm-create"),
    path("v1/runs/<int:pk>/", views.RunDetailApi.as_view(), name="run-detail"),
    path("v1/results/", views.ResultListApi.as_view(), name="result-list"),
    path(
        "v1/instrument-files/",
        views.InstrumentFileCreateApi.as_view(),
        name="instrument-file-create",
    ),
    path(
        "v1/instrument-files/<uuid:pk>/",
        views.InstrumentFileDetailApi.as_view(),
        name="instrument-file-detail",
    ),
    path(
        "v1/specifications/",
        release_views.SpecificationListApi.as_view(),
        name="specification-list",
    ),
    path(
        "v1/lots/<int:pk>/evaluation/",
        release_views.LotEvaluationApi.as_view(),
        name="lot-evaluation",
    ),
    path(
        "v1/lots/<int:pk>/certificate/",
        release_views.CertificateApi.as_view(),
        name="lot-certificate",
    ),
    path("v1/deviations/", release_views.DeviationListApi.as_view(), name="deviation-list"),
    path("v1/signatures/", release_views.SignatureListApi.as_view(), name="signature-list"),
    # [\s\S], not ".": a path with a newline (%0A) is an unknown path too. (No "(?s)" flag:
    # Django's reverse() cannot read it.)
    re_path(r"^(?P<unknown>[\s\S]*)$", not_found),
]
