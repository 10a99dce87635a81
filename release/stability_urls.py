from django.urls import path

from release import stability_views as views

urlpatterns = [
    path("stability/", views.StabilityHome.as_view(), name="stability"),
    path(
        "stability/protocols/new/", views.ProtocolCreate.as_view(), name="stability_protocol_create"
    ),
    path(
        "stability/protocols/<int:pk>/", views.ProtocolDetail.as_view(), name="stability_protocol"
    ),
    path(
        "stability/protocols/<int:pk>/approve/",
        views.ProtocolApprove.as_view(),
        name="stability_protocol_approve",
    ),
    path("stability/studies/new/", views.StudyStart.as_view(), name="stability_study_start"),
    path("stability/studies/<int:pk>/", views.StudyDetail.as_view(), name="stability_study"),
    path(
        "stability/studies/<int:pk>/expiry/", views.ExpiryAssign.as_view(), name="stability_expiry"
    ),
    path("stability/pulls/<int:pk>/", views.PullRecord.as_view(), name="stability_pull"),
    path("apqr/", views.ApqrPage.as_view(), name="apqr"),
    path("apqr/sign/", views.ApqrSign.as_view(), name="apqr_sign"),
    path("apqr/<int:pk>.pdf", views.apqr_pdf, name="apqr_pdf"),
    path("apqr/<int:pk>/revise/", views.ApqrRevise.as_view(), name="apqr_revise"),
]
