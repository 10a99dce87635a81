from django.apps import AppConfig


class AssaysConfig(AppConfig):
    name = "assays"
    verbose_name = "Assays and instruments"

    def ready(self) -> None:
        from assays import history, receivers  # noqa: F401, PLC0415  (connects the receivers once apps are ready)

        history.register()
