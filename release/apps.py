from django.apps import AppConfig


class ReleaseConfig(AppConfig):
    name = "release"
    verbose_name = "Quality assurance and release"

    def ready(self) -> None:
        # The layers below announce what happened (lims.events); release listens.
        from release import receivers  # noqa: F401, PLC0415  (connects the receivers once apps are ready)
