from django.urls import include, path

from assays import flow_views, nta_views, qpcr_views, views

app_name = "assays"

urlpatterns = [
    path("assays/", views.AssayList.as_view(), name="assay_list"),
    path("assays/<int:pk>/", views.AssayDetail.as_view(), name="assay_detail"),
    path("assays/<int:pk>/qpcr/", qpcr_views.QpcrConfigure.as_view(), name="qpcr_configure"),
    path("reference-standards/", include("assays.reference_urls")),
    path("instruments/", views.InstrumentList.as_view(), name="instrument_list"),
    path("instruments/new/", views.InstrumentCreate.as_view(), name="instrument_create"),
    path("instruments/<int:pk>/", views.InstrumentDetail.as_view(), name="instrument_detail"),
    path("instruments/<int:pk>/log/", views.InstrumentLogCreate.as_view(), name="instrument_log"),
    path(
        "instruments/<int:pk>/status/",
        views.InstrumentStatusChange.as_view(),
        name="instrument_status",
    ),
    path(
        "instruments/<int:pk>/keys/new/",
        views.InstrumentKeyIssue.as_view(),
        name="instrument_key_issue",
    ),
    path(
        "instruments/<int:pk>/keys/issued/",
        views.InstrumentKeyShown.as_view(),
        name="instrument_key_shown",
    ),
    path(
        "instruments/<int:pk>/keys/<str:prefix>/revoke/",
        views.InstrumentKeyRevoke.as_view(),
        name="instrument_key_revoke",
    ),
    path("runs/", views.RunList.as_view(), name="run_list"),
    path("runs/new/", views.RunStart.as_view(), name="run_start"),
    path("runs/new/<str:code>/", views.RunEntry.as_view(), name="run_entry"),
    path("runs/worksheet/", views.WorksheetStart.as_view(), name="worksheet_start"),
    path("runs/worksheet/<str:code>/", views.WorksheetEntry.as_view(), name="worksheet"),
    path("runs/<int:pk>/", views.RunDetail.as_view(), name="run_detail"),
    path("runs/<int:pk>/review/", views.RunReview.as_view(), name="run_review"),
    path("runs/<int:pk>/invalidate/", views.RunInvalidate.as_view(), name="run_invalidate"),
    path(
        "runs/<int:pk>/nta-dilution/",
        nta_views.NtaDilutionRecordView.as_view(),
        name="run_nta_dilution",
    ),
    path("instrument-files/", views.InstrumentFileList.as_view(), name="file_list"),
    path("instrument-files/upload/", views.InstrumentFileUpload.as_view(), name="file_upload"),
    path("runs/flow/upload/", flow_views.FlowUpload.as_view(), name="flow_upload"),
    path("instrument-files/<uuid:pk>/", views.InstrumentFileDetail.as_view(), name="file_detail"),
    path(
        "instrument-files/<uuid:pk>/status/",
        views.InstrumentFileStatus.as_view(),
        name="file_status",
    ),
    path(
        "instrument-files/<uuid:pk>/download/",
        views.InstrumentFileDownload.as_view(),
        name="file_download",
    ),
]
