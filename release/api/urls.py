"""QA's read-only release endpoints under /api/v1/ (signing happens in the browser only)."""

from django.urls import path

from release import stability_api
from release.api import qa_records_views, views

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
    path("v1/audit-reviews/", views.AuditTrailReviewListApi.as_view(), name="audit-review-list"),
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
    path(
        "v1/apqr/revisions/",
        stability_api.ApqrRevisionListApi.as_view(),
        name="apqr-revision-list",
    ),
    # Training and qualification; retained and received samples (release/api/qa_records_views).
    path(
        "v1/training-records/",
        qa_records_views.TrainingRecordListApi.as_view(),
        name="training-record-list",
    ),
    path(
        "v1/training-matrix/", qa_records_views.TrainingMatrixApi.as_view(), name="training-matrix"
    ),
    path(
        "v1/retained-samples/",
        qa_records_views.RetainedSetListApi.as_view(),
        name="retained-sample-list",
    ),
    path(
        "v1/sample-receipts/",
        qa_records_views.SampleReceiptListApi.as_view(),
        name="sample-receipt-list",
    ),
]
