from django.urls import path

from release import stability_urls, views

app_name = "release"

urlpatterns = [
    path("", views.Dashboard.as_view(), name="dashboard"),
    path("board/", views.DashboardBoard.as_view(), name="dashboard_board"),
    path("lots/<int:pk>/review/", views.LotReview.as_view(), name="lot_review"),
    path("lots/<int:pk>/certificate.pdf", views.certificate_download, name="certificate"),
    path("specifications/", views.SpecificationList.as_view(), name="specification_list"),
    path("specifications/new/", views.SpecificationCreate.as_view(), name="specification_create"),
    path(
        "specifications/<int:pk>/",
        views.SpecificationDetail.as_view(),
        name="specification_detail",
    ),
    path(
        "specifications/<int:pk>/criteria/new/",
        views.CriterionAdd.as_view(),
        name="criterion_add",
    ),
    path(
        "specifications/<int:pk>/criteria/<int:criterion>/edit/",
        views.CriterionEdit.as_view(),
        name="criterion_edit",
    ),
    path(
        "specifications/<int:pk>/approve/",
        views.SpecificationApprove.as_view(),
        name="specification_approve",
    ),
    path(
        "specifications/<int:pk>/withdraw/",
        views.SpecificationWithdraw.as_view(),
        name="specification_withdraw",
    ),
    path(
        "specifications/<int:pk>/make-effective/",
        views.SpecificationMakeEffective.as_view(),
        name="specification_make_effective",
    ),
    path("audit-reviews/", views.AuditTrailReviewList.as_view(), name="audit_review_list"),
    path("audit-reviews/new/", views.AuditTrailReviewCreate.as_view(), name="audit_review_create"),
    path("deviations/", views.DeviationList.as_view(), name="deviation_list"),
    path("deviations/new/", views.DeviationCreate.as_view(), name="deviation_create"),
    path("deviations/<int:pk>/", views.DeviationDetail.as_view(), name="deviation_detail"),
    path(
        "deviations/<int:pk>/investigate/",
        views.DeviationInvestigate.as_view(),
        name="deviation_investigate",
    ),
    path("deviations/<int:pk>/capa/new/", views.CapaAdd.as_view(), name="capa_add"),
    path(
        "deviations/<int:pk>/capa/<int:action>/done/",
        views.CapaDone.as_view(),
        name="capa_done",
    ),
    path("deviations/<int:pk>/close/", views.DeviationClose.as_view(), name="deviation_close"),
    *stability_urls.urlpatterns,
]
