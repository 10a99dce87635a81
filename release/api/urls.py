"""QA's read-only release endpoints under /api/v1/ (signing happens in the browser only)."""

from django.urls import path

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
]
