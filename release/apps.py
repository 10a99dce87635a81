from django.apps import AppConfig


class ReleaseConfig(AppConfig):
    name = "release"
    verbose_name = "Quality assurance and release"

    def ready(self) -> None:
        # The layers below announce what happened (lims.events); release listens.
        from assays.qc_selectors import register_specification_limits  # noqa: PLC0415
        from release import receivers  # noqa: F401, PLC0415  (connects the receivers once apps are ready)
        from release.specifications import metric_specification_limits  # noqa: PLC0415

        # The trend chart (assays) takes a metric's LSL/USL from the specification by default.
        register_specification_limits(metric_specification_limits)
        from release.stability_apps import ready as stability_ready  # noqa: PLC0415

        stability_ready()
