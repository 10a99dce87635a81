from django.apps import AppConfig


class BatchesConfig(AppConfig):
    name = "batches"
    verbose_name = "Production records"

    def ready(self) -> None:
        from batches import history  # noqa: PLC0415  (models are ready only now)

        history.register()
