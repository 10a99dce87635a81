from django.apps import AppConfig


class AssaysConfig(AppConfig):
    name = "assays"
    verbose_name = "Assays and instruments"

    def ready(self) -> None:
        from assays import history, receivers  # noqa: F401, PLC0415  (connects the receivers once apps are ready)

        history.register()
        from assays import sample_targets  # noqa: PLC0415
        from batches import vial_holds  # noqa: PLC0415

        # A vial a test drew from is opened: never set aside as a sealed retained sample.
        vial_holds.register_opened(sample_targets.tested_vials)
