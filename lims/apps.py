from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _secure_database(sender, using="default", **kwargs):
    """After every migrate: the guards that keep the audit trail out of the app role's reach
    (each pgtrigger installation replaces its ignore switch), and the app role's privileges
    when DATABASE_APP_ROLE names one (lims.db_roles)."""
    from django.conf import settings  # noqa: PLC0415  (apps load before models)

    from lims import db_roles  # noqa: PLC0415

    db_roles.install_guards(using)
    role = getattr(settings, "DATABASE_APP_ROLE", "")
    if role:
        db_roles.grant_app_role(
            role, using, password=getattr(settings, "DATABASE_APP_PASSWORD", "") or None
        )


class LimsConfig(AppConfig):
    name = "lims"
    verbose_name = "LIMS"

    def ready(self):
        # After the last app's migrations (pghistory installs its context function then too).
        post_migrate.connect(_secure_database, dispatch_uid="lims.secure_database")
        from lims import second_factor  # noqa: F401, PLC0415  (its sign-in receiver)
