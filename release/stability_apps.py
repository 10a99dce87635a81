"""What the stability module connects when the apps are ready: its vial holds (batches and
assays ask them) and its receiver (release.stability_tasks)."""


def ready() -> None:
    from batches import vial_holds  # noqa: PLC0415
    from release import stability, stability_tasks  # noqa: F401, PLC0415

    vial_holds.register(stability.held_reasons, stability.held_subquery)
