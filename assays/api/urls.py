"""The instrument API's v1 endpoints, the OpenAPI document and its interactive docs (included
by lims.api_urls under the "api" namespace)."""

from django.urls import path
from drf_spectacular.renderers import OpenApiJsonRenderer, OpenApiYamlRenderer
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from assays.api import views
from assays.api.permissions import ApiPermission

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
]
