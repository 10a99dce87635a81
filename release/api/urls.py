"""QA's read-only release endpoints under /api/v1/ (signing happens in the browser only)."""

from django.urls import path

from release import stability_api
from release.api import views

urlpatterns = [
    path("v1/specifications/", views.SpecificationListApi.as_view(), name="specification-list"),
    path("v1/lots/<int:pk>/evaluation/", views.LotEvaluationApi.as_view(), name="lot-evaluation"),
    path(
        "v1/culture-batches/<int:pk>/evaluation/",
        views.CultureBatchEvaluationApi.as_view(),
        name="culture-batch-evaluation",
    ),
    path("v1/lots/<int:pk>/certificate/", views.CertificateApi.as_view(), name="lot-certificate"),
    path("v1/deviations/", views.DeviationListApi.as_view(), name="deviation-list"),
    path("v1/signatures/", views.SignatureListApi.as_view(), name="signature-list"),
    path(
        "v1/stability/protocols/",
        stability_api.ProtocolListApi.as_view(),
        name="stability-protocol-list",
    ),
    path(
        "v1/stability/studies/<int:pk>/",
        stability_api.StudyDetailApi.as_view(),
        name="stability-study",
    ),
    path("v1/apqr/", stability_api.ApqrApi.as_view(), name="apqr"),
]
