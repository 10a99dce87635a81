"""URLs of the reference-standard pages, included under the assays namespace."""

from django.urls import path

from assays import reference_views as views

urlpatterns = [
    path("", views.ReferenceList.as_view(), name="reference_list"),
    path("new/", views.ReferenceRegister.as_view(), name="reference_register"),
    path("<int:pk>/", views.ReferenceDetail.as_view(), name="reference_detail"),
    path("<int:pk>/qualify/", views.ReferenceQualify.as_view(), name="reference_qualify"),
    path("<int:pk>/withdraw/", views.ReferenceWithdraw.as_view(), name="reference_withdraw"),
]
