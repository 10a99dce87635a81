"""What a NanoSight NTA run read from its file, beside its results, and the dilution factor
an analyst records when the file has none (DOMAIN.md §4 "NTA summary")."""

import pgtrigger
from django.core.validators import MinValueValidator
from django.db import models

from lims.audit import audited
from lims.models import GmpRecord, never_deleted


@audited()
class NtaRunSummary(GmpRecord):
    """One NTA run's reading of its original Experiment Summary file.

    The run's results are the values the file prints (the original record); ``videos`` keeps,
    per video, those printed values with the ones recomputed from the size distribution beside
    them, the particles per frame and the software's own warnings. ``disagreements`` lists the
    statistics whose recomputation differs by more than 0.1 nm (1 % for the concentration).
    ``dilution_pending``: the file says "Not recorded" and nobody has recorded the factor yet;
    the run does not count (its metrics are left out, it cannot be reviewed) until someone does
    (assays.nta_services.nta_dilution_record).
    """

    run = models.OneToOneField(
        "assays.AssayRun", on_delete=models.PROTECT, related_name="nta_summary"
    )
    software_version = models.CharField(max_length=80, blank=True)
    cumulative_at = models.CharField(
        max_length=20, help_text="Where each bin's cumulative fraction is placed for D-values."
    )
    dilution_in_file = models.FloatField(
        null=True, blank=True, help_text="The factor the file states; empty for 'Not recorded'."
    )
    dilution_pending = models.BooleanField(default=False)
    videos = models.JSONField(default=list)
    disagreements = models.JSONField(default=list, blank=True)
    notes = models.JSONField(default=list, blank=True)

    class Meta:
        triggers = [never_deleted()]

    def __str__(self):
        return f"NTA reading of run {self.run_id}"

    @property
    def alerts(self) -> list[tuple[str, str, str]]:
        """(video, warning, value) for every warning of the software that is not OK."""
        return [
            (video["name"], label, value)
            for video in self.videos
            for label, value in video.get("alerts", {}).items()
        ]


@audited()
class NtaDilutionRecord(GmpRecord):
    """A dilution factor recorded by an analyst for an NTA run whose file says "Not recorded"
    (a GMP correction: who, when, why). Never changed: a second record with its reason
    supersedes the first; the newest one counts. ``created_by`` is the analyst."""

    run = models.ForeignKey(
        "assays.AssayRun", on_delete=models.PROTECT, related_name="nta_dilution_records"
    )
    dilution_factor = models.FloatField(
        validators=[MinValueValidator(1.0)],
        help_text="How many times the sample was diluted before measurement (1 = undiluted).",
    )
    reason = models.TextField()

    class Meta:
        ordering = ["-created_at", "-pk"]
        # Never changed nor deleted: a correction of a correction is a new record.
        triggers = [
            pgtrigger.Protect(
                name="nta_dilution_immutable", operation=pgtrigger.Update | pgtrigger.Delete
            )
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(dilution_factor__gte=1.0),
                name="nta_dilution_at_least_one",
                violation_error_message="A dilution factor is at least 1 (1 = undiluted).",
            )
        ]

    def __str__(self):
        return f"Dilution ×{self.dilution_factor:g} for run {self.run_id}"
