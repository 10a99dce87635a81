from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from lims import views

urlpatterns = [
    path("", include("release.home")),
    path("accounts/login/", views.SignInView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("audit/", views.AuditTrailView.as_view(), name="audit_trail"),
    path("audit/export.csv", views.audit_trail_csv, name="audit_trail_csv"),
    # Status code for everyone; the components only for staff and this machine (lims/health.py).
    path("health/", include("lims.health")),
    path("admin/", admin.site.urls),
    path("qc/", include("assays.qc_urls")),
    # QA's review, disposition and certificate; specifications; deviations; the dashboard.
    path("release/", include("release.urls")),
    # The instrument REST API (v1), its OpenAPI document and interactive docs.
    path("api/", include("lims.api_urls")),
    # Before batches: its catch-all "<model>/<pk>/status/" would take "instruments/1/status/".
    path("", include("assays.urls")),
    path("", include("batches.urls")),
]
