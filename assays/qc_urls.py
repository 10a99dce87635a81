"""QC pages, mounted under /qc/ (namespace "qc")."""

from django.urls import path

from assays import qc_views

app_name = "qc"

urlpatterns = [
    path("runs/<int:pk>/", qc_views.RunQCView.as_view(), name="run_detail"),
    path("trends/", qc_views.TrendView.as_view(), name="trends"),
    path("baselines/", qc_views.BaselineList.as_view(), name="baseline_list"),
    path("baselines/new/", qc_views.BaselinePropose.as_view(), name="baseline_propose"),
    path("baselines/<int:pk>/", qc_views.BaselineDetail.as_view(), name="baseline_detail"),
    path(
        "baselines/<int:pk>/approve/",
        qc_views.BaselineApprove.as_view(),
        name="baseline_approve",
    ),
    path("recompute/", qc_views.RecomputeStart.as_view(), name="recompute"),
    path("recompute/<int:pk>/", qc_views.RecomputeJobDetail.as_view(), name="recompute_job"),
    path(
        "recompute/<int:pk>/progress/",
        qc_views.RecomputeProgress.as_view(),
        name="recompute_progress",
    ),
]
