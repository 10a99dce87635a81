from django.urls import path

from batches import storage_views, views

app_name = "batches"

urlpatterns = [
    path("donors/", views.DonorList.as_view(), name="donor_list"),
    path("donors/new/", views.DonorCreate.as_view(), name="donor_create"),
    path("donors/<int:pk>/", views.DonorDetail.as_view(), name="donor_detail"),
    path("cell-banks/", views.CellBankList.as_view(), name="cellbank_list"),
    path("cell-banks/new/", views.CellBankCreate.as_view(), name="cellbank_create"),
    path("cell-banks/<int:pk>/", views.CellBankDetail.as_view(), name="cellbank_detail"),
    path("reagent-lots/", views.ReagentLotList.as_view(), name="reagentlot_list"),
    path("reagent-lots/new/", views.ReagentLotCreate.as_view(), name="reagentlot_create"),
    path("reagent-lots/<int:pk>/", views.ReagentLotDetail.as_view(), name="reagentlot_detail"),
    path("culture-batches/", views.CultureBatchList.as_view(), name="culturebatch_list"),
    path("culture-batches/new/", views.CultureBatchCreate.as_view(), name="culturebatch_create"),
    path(
        "culture-batches/<int:pk>/", views.CultureBatchDetail.as_view(), name="culturebatch_detail"
    ),
    path(
        "culture-batches/<int:pk>/passages/new/",
        views.PassageCreate.as_view(),
        name="passage_create",
    ),
    path(
        "culture-batches/<int:pk>/harvests/new/",
        views.HarvestCreate.as_view(),
        name="harvest_create",
    ),
    path("isolation-runs/", views.IsolationRunList.as_view(), name="isolationrun_list"),
    path("isolation-runs/new/", views.IsolationRunCreate.as_view(), name="isolationrun_create"),
    path(
        "isolation-runs/<int:pk>/", views.IsolationRunDetail.as_view(), name="isolationrun_detail"
    ),
    path("lots/", views.ExosomeLotList.as_view(), name="exosomelot_list"),
    path("lots/new/", views.ExosomeLotCreate.as_view(), name="exosomelot_create"),
    path("lots/<int:pk>/", views.ExosomeLotDetail.as_view(), name="exosomelot_detail"),
    path("lots/<int:pk>/aliquots/new/", views.AliquotFill.as_view(), name="aliquot_fill"),
    path("lots/<int:pk>/labels/", views.lot_labels, name="lot_labels"),
    path("lots/by-code/<str:code>/", views.lot_redirect, name="lot_by_code"),
    path("aliquots/", views.AliquotList.as_view(), name="aliquot_list"),
    path("aliquots/<int:pk>/", views.AliquotDetail.as_view(), name="aliquot_detail"),
    path("aliquots/<int:pk>/move/", views.AliquotMoveView.as_view(), name="aliquot_move"),
    path("storage/", views.StorageLocationList.as_view(), name="storagelocation_list"),
    path("storage/new/", views.StorageLocationCreate.as_view(), name="storagelocation_create"),
    path("storage/<int:pk>/", views.StorageLocationDetail.as_view(), name="storagelocation_detail"),
    # Storage drawn as boxes (batches/storage_views.py).
    path("storage/freezers/", storage_views.StorageOverview.as_view(), name="storage_overview"),
    path("storage/box/", storage_views.BoxView.as_view(), name="storage_box"),
    path("storage/box/new/", storage_views.BoxCreate.as_view(), name="storage_box_create"),
    path("storage/<int:pk>/place/", storage_views.VialPlace.as_view(), name="storage_place"),
    path("<str:model>/<int:pk>/status/", views.StatusChange.as_view(), name="status_change"),
    path("<str:model>/<int:pk>/correct/", views.RecordCorrect.as_view(), name="record_correct"),
    path("<str:model>/<int:pk>/void/", views.RecordVoid.as_view(), name="record_void"),
]
