"""The instrument API's v1 endpoints, the OpenAPI document and its interactive docs (included
by lims.api_urls under the "api" namespace)."""

from django.urls import path
from drf_spectacular.renderers import (
    OpenApiJsonRenderer,
    OpenApiJsonRenderer2,
    OpenApiYamlRenderer,
    OpenApiYamlRenderer2,
)
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from assays.api import flow_views, reference_views, views
from assays.api.permissions import ApiPermission


class SchemaView(SpectacularAPIView):
    """The OpenAPI document: JSON by default (errors too), for `Accept: application/json` as for
    the OpenAPI media type `application/vnd.oai.openapi+json`; YAML for `?format=yaml` or
    `Accept: application/yaml`. Instrument keys read it too: it documents what they call."""

    permission_classes = [ApiPermission]
    renderer_classes = [
        OpenApiJsonRenderer,
        OpenApiJsonRenderer2,
        OpenApiYamlRenderer,
        OpenApiYamlRenderer2,
    ]
    instrument_reads = True


class DocsView(SpectacularSwaggerSplitView):
    permission_classes = [ApiPermission]
    instrument_reads = True


urlpatterns = [
    path("schema/", SchemaView.as_view(), name="schema"),
    path("docs/", DocsView.as_view(url_name="api:schema"), name="docs"),
    path("v1/culture-batches/", views.CultureBatchListApi.as_view(), name="culture-batch-list"),
    path("v1/lots/", views.LotListApi.as_view(), name="lot-list"),
    path("v1/aliquots/", views.AliquotListApi.as_view(), name="aliquot-list"),
    path("v1/assays/", views.AssayListApi.as_view(), name="assay-list"),
    path("v1/instruments/", views.InstrumentListApi.as_view(), name="instrument-list"),
    path("v1/runs/", views.RunsApi.as_view(), name="runs"),
    path("v1/runs/asm/", views.RunAsmCreateApi.as_view(), name="run-asm-create"),
    path("v1/runs/flow/", flow_views.FlowRunCreateApi.as_view(), name="run-flow-create"),
    path("v1/runs/<int:pk>/", views.RunDetailApi.as_view(), name="run-detail"),
    path("v1/results/", views.ResultListApi.as_view(), name="result-list"),
    path(
        "v1/reference-standards/",
        reference_views.ReferenceStandardListApi.as_view(),
        name="reference-standard-list",
    ),
    path(
        "v1/reference-standards/<int:pk>/",
        reference_views.ReferenceStandardDetailApi.as_view(),
        name="reference-standard-detail",
    ),
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
