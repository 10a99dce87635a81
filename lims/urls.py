from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from lims import account_views, second_factor, views

urlpatterns = [
    path("", include("release.home")),
    # One box finds any record by code, vial barcode or lot number (release/search.py).
    path("", include("release.search")),
    path("accounts/login/", views.SignInView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    # Password change and reset, the security review and unlock (lims.account_views).
    path("accounts/password/", account_views.PasswordChangeView.as_view(), name="password_change"),
    path("accounts/second-factor/", second_factor.verify, name="second_factor"),
    path("accounts/second-factor/setup/", second_factor.setup, name="second_factor_setup"),
    path("accounts/security/", account_views.SecurityReviewView.as_view(), name="security_review"),
    path(
        "accounts/security/log.csv", account_views.security_review_csv, name="security_review_csv"
    ),
    path("accounts/security/unlock/", account_views.UnlockView.as_view(), name="security_unlock"),
    path(
        "accounts/security/reset-password/",
        account_views.PasswordResetView.as_view(),
        name="password_reset",
    ),
    # The administrators' pages of people, roles and accounts (lims.user_admin).
    path("users/", include("lims.user_admin_views")),
    # Training and qualification (lims.training); retained and received samples (batches).
    path("training/", include("lims.training_views")),
    path("custody/", include("batches.custody_views")),
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
