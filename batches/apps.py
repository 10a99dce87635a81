from django.apps import AppConfig


class BatchesConfig(AppConfig):
    name = "batches"
    verbose_name = "Production records"

    def ready(self) -> None:
        from batches import custody, history, vial_holds  # noqa: PLC0415  (models are ready only now)

        history.register()
        # A retained vial is held until it is withdrawn (batches.custody).
        vial_holds.register(custody.held_reasons, custody.held_subquery)
