"""Training and qualification records (21 CFR 211.25(a), 21 CFR 11.10(i), EU GMP Part I 2.11).

A person may perform a run, enter a result, review or sign only for what they are trained on:
the SOPs an assay or a step requires (TrainingRequirement, keyed by a generic subject such as an
assay code, so the layers above refer to it by code), one version at a time (Sop), each
training a signed, append-only record (TrainingRecord). lims.training decides who is qualified.
"""

import pgtrigger
from django.conf import settings
from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models import F, Q

from lims.audit import audited
from lims.models import GmpRecord, never_deleted


class Step(models.TextChoices):
    """What a person does that a training may be required for."""

    PERFORM = "perform", "Perform a run"
    ENTER = "enter", "Enter results"
    REVIEW = "review", "Review a run"
    SIGN = "sign", "Sign a disposition"


@audited()
class Sop(GmpRecord):
    """One version of a standard operating procedure people are trained on.

    A new version makes training on the earlier ones lapse `grace_days` after it takes effect
    (the time the lab gives itself to retrain everyone)."""

    IDENTIFIER_FIELDS = ("code",)

    code = models.CharField(max_length=40)
    version = models.PositiveIntegerField()
    title = models.CharField(max_length=200)
    effective_on = models.DateField()
    grace_days = models.PositiveSmallIntegerField(
        default=30,
        validators=[MaxValueValidator(365)],
        help_text="Training on an earlier version stays valid this many days after this version "
        "takes effect.",
    )

    class Meta:
        ordering = ["code", "version"]
        verbose_name = "SOP version"
        triggers = [
            never_deleted(),
            pgtrigger.ReadOnly(
                name="sop_version_fixed", fields=["code", "version", "effective_on"]
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["code", "version"], name="sop_version_once"),
        ]

    def __str__(self):
        return f"{self.code} v{self.version}"


@audited()
class TrainingRequirement(GmpRecord):
    """That doing `step` on `subject` (an assay code, or "release") needs training on the
    current version of SOP `sop_code`. Where a subject has none, nobody is refused for it."""

    IDENTIFIER_FIELDS = ("subject", "sop_code")

    subject = models.CharField(max_length=40, help_text='An assay code, or "release".')
    step = models.CharField(max_length=20, choices=Step.choices)
    sop_code = models.CharField(max_length=40)

    class Meta:
        ordering = ["subject", "step", "sop_code"]
        triggers = [never_deleted()]
        constraints = [
            models.UniqueConstraint(
                fields=["subject", "step", "sop_code"],
                condition=Q(voided_at__isnull=True),
                name="training_requirement_once",
            )
        ]

    def __str__(self):
        return f"{self.subject} / {self.get_step_display()}: {self.sop_code}"


@audited()
class TrainingRecord(GmpRecord):
    """A person trained on one SOP version: when, by whom, until when, recorded and signed by
    QA (21 CFR 211.25(a): training in the particular operations the employee performs).
    Append-only: a mistake is voided with a reason and recorded again. QA's signature
    (lims.signatures.signatures_of) is bound to its content."""

    trainee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="trainings"
    )
    sop = models.ForeignKey(Sop, on_delete=models.PROTECT, related_name="trainings")
    trained_on = models.DateField()
    trainer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    expires_on = models.DateField(help_text="Requalification due: the training lapses after it.")

    class Meta:
        ordering = ["trainee", "sop", "-trained_on"]
        triggers = [
            never_deleted(),
            pgtrigger.ReadOnly(
                name="training_record_fixed",
                fields=["trainee", "sop", "trained_on", "trainer", "expires_on"],
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(expires_on__gt=F("trained_on")), name="training_expires_after"
            ),
            models.CheckConstraint(
                condition=~Q(trainer=F("trainee")), name="training_not_self_given"
            ),
        ]

    def __str__(self):
        return f"{self.trainee} trained on {self.sop} ({self.trained_on})"
