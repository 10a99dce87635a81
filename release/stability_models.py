"""Stability studies (ICH Q5C, Q1E) and the annual product quality review (21 CFR 211.180(e)).

A protocol, approved by QA with an e-signature and versioned like a specification, names the
lots, the storage conditions, the time points and the stability specification (a
`Specification` of the product "stability": its criteria are the tests of every pull). Starting
a study for one of its lots reserves vials per condition and time point; a pull is recorded when
the vials leave storage; results come in as any run does, on the reserved vial, and are judged
against the stability specification. QA assigns a lot's expiry from a study's supported shelf
life, signed.
"""

import pgtrigger
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from batches.models import Aliquot, ExosomeLot
from lims import file_store
from lims.audit import audited
from lims.models import GmpRecord, never_deleted
from lims.transitions import fsm_trigger
from release.models import Specification

PROTOCOL_TRANSITIONS = {"draft": {"approved"}, "approved": {"superseded"}}


class Condition(models.TextChoices):
    """Storage conditions of a stability protocol (ICH Q5C §5: the intended storage, and
    conditions that show the effect of excursions: freeze-thaw for a frozen product)."""

    MINUS_80 = "-80C", "−80 °C"
    MINUS_20 = "-20C", "−20 °C"
    FRIDGE = "2-8C", "2–8 °C"
    FREEZE_THAW = "freeze_thaw", "Freeze–thaw cycles"


@audited()
class StabilityProtocol(GmpRecord):
    """A version of a stability protocol: which lots, at which conditions, pulled when, tested
    against which stability specification. Approved by QA with an e-signature; a change is a
    new version, approved again."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        APPROVED = "approved", "Approved"
        SUPERSEDED = "superseded", "Superseded"

    TRANSITIONS = PROTOCOL_TRANSITIONS

    code = models.CharField(max_length=40)
    version = models.PositiveIntegerField(default=1)
    title = models.CharField(max_length=200)
    specification = models.ForeignKey(
        Specification,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The stability specification: its criteria are the tests of every pull.",
    )
    lots = models.ManyToManyField(ExosomeLot, related_name="stability_protocols")
    conditions = ArrayField(models.CharField(max_length=20, choices=Condition.choices))
    time_points = ArrayField(
        models.PositiveSmallIntegerField(),
        help_text="Months after the start (cycles for freeze–thaw), e.g. 0, 1, 3, 6, 12, 24.",
    )
    vials_per_pull = models.PositiveSmallIntegerField(default=1)
    pull_window_days = models.PositiveSmallIntegerField(
        default=7, help_text="A pull is done within this many days of its due date."
    )
    shelf_life_condition = models.CharField(
        max_length=20,
        choices=Condition.choices,
        help_text="The intended storage condition: its data support the expiry.",
    )
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.DRAFT, editable=False
    )
    approval_signature = models.ForeignKey(
        "lims.Signature",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
    )

    IDENTIFIER_FIELDS = ("code",)

    class Meta:
        ordering = ["code", "-version"]
        triggers = [never_deleted(), fsm_trigger(PROTOCOL_TRANSITIONS)]
        constraints = [
            models.UniqueConstraint(fields=["code", "version"], name="stability_protocol_version")
        ]

    def __str__(self):
        return f"{self.code} v{self.version}"

    def get_absolute_url(self):
        return reverse("release:stability_protocol", args=[self.pk])

    def signed_content(self) -> dict:
        return {
            "protocol": f"{self.code} v{self.version}",
            "title": self.title,
            "specification": f"{self.specification.product} v{self.specification.version}",
            "lots": sorted(lot.code for lot in self.lots.all()),
            "conditions": list(self.conditions),
            "time_points": list(self.time_points),
            "vials_per_pull": self.vials_per_pull,
            "pull_window_days": self.pull_window_days,
            "shelf_life_condition": self.shelf_life_condition,
        }

    def condition_labels(self) -> list[str]:
        return [Condition(c).label for c in self.conditions]


@audited()
class StabilityStudy(GmpRecord):
    """One lot on one approved protocol, from its start date: its pulls and reserved vials."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Completed"

    code = models.CharField(max_length=60, unique=True, editable=False)
    protocol = models.ForeignKey(
        StabilityProtocol, on_delete=models.PROTECT, related_name="studies"
    )
    lot = models.ForeignKey(ExosomeLot, on_delete=models.PROTECT, related_name="stability_studies")
    started_on = models.DateField()
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.RUNNING, editable=False
    )

    class Meta:
        ordering = ["-started_on", "-pk"]
        triggers = [never_deleted()]
        constraints = [
            models.UniqueConstraint(fields=["protocol", "lot"], name="one_study_per_protocol_lot")
        ]

    def __str__(self):
        return self.code

    def get_absolute_url(self):
        return reverse("release:stability_study", args=[self.pk])


@audited()
class StabilityPull(models.Model):
    """One condition and time point of a study: when it is due, and when its vials were taken
    out of storage for testing (recorded once, contemporaneously)."""

    study = models.ForeignKey(StabilityStudy, on_delete=models.PROTECT, related_name="pulls")
    condition = models.CharField(max_length=20, choices=Condition.choices)
    time_point = models.PositiveSmallIntegerField()
    due_on = models.DateField()
    pulled_at = models.DateTimeField(null=True, blank=True, editable=False)
    pulled_by = models.ForeignKey(
        "lims.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["due_on", "condition", "time_point"]
        triggers = [
            never_deleted(),
            # A pull is recorded once; after that its row never changes.
            pgtrigger.Protect(
                name="pull_recorded_once",
                operation=pgtrigger.Update,
                condition=pgtrigger.Q(old__pulled_at__isnull=False),
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["study", "condition", "time_point"], name="one_pull_per_point"
            )
        ]

    def __str__(self):
        return f"{self.study} {self.get_condition_display()} {self.time_label}"

    @property
    def time_label(self) -> str:
        unit = "cycles" if self.condition == Condition.FREEZE_THAW else "months"
        return f"{self.time_point} {unit}"

    def is_overdue(self, today=None) -> bool:
        today = today or timezone.localdate()
        window = self.study.protocol.pull_window_days
        return self.pulled_at is None and (today - self.due_on).days > window


@audited()
class StabilityVial(models.Model):
    """A vial reserved for a pull: it leaves normal use (no use, shipping or move out of
    storage elsewhere) and its results are stability results, not release results."""

    pull = models.ForeignKey(StabilityPull, on_delete=models.PROTECT, related_name="vials")
    aliquot = models.OneToOneField(Aliquot, on_delete=models.PROTECT, related_name="stability")
    reserved_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["pull", "aliquot"]
        triggers = [
            never_deleted(),
            pgtrigger.Protect(name="reservation_immutable", operation=pgtrigger.Update),
        ]

    def __str__(self):
        return f"{self.aliquot} for {self.pull}"


@audited()
class ShelfLifeAssignment(models.Model):
    """QA's signed expiry of a lot, resting on the supported shelf life of a study (ICH Q5C
    §6: real-time data). A new assignment replaces the previous one; none is changed."""

    lot = models.ForeignKey(ExosomeLot, on_delete=models.PROTECT, related_name="expiries")
    study = models.ForeignKey(StabilityStudy, on_delete=models.PROTECT, related_name="+")
    shelf_life_months = models.PositiveSmallIntegerField()
    expires_on = models.DateField()
    basis = models.TextField(help_text="Which tests and bounds the shelf life rests on.")
    signature = models.ForeignKey("lims.Signature", on_delete=models.PROTECT, related_name="+")
    assigned_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-assigned_at", "-pk"]
        triggers = [
            never_deleted(),
            pgtrigger.Protect(name="expiry_immutable", operation=pgtrigger.Update),
        ]

    def __str__(self):
        return f"{self.lot} expires {self.expires_on}"

    def signed_content(self) -> dict:
        return {
            "lot": self.lot.code,
            "study": self.study.code,
            "shelf_life_months": self.shelf_life_months,
            "expires_on": str(self.expires_on),
            "basis": self.basis,
        }


@audited()
class AnnualProductReview(models.Model):
    """The signed annual product quality review of a product and a year (21 CFR 211.180(e),
    EU GMP ch. 1.10): its PDF kept once under its SHA-256, like the CoA."""

    product = models.CharField(max_length=30, choices=Specification.Product.choices)
    year = models.PositiveSmallIntegerField()
    conclusion = models.TextField()
    content_sha256 = models.CharField(max_length=64)
    sha256 = models.CharField(max_length=64)
    size = models.PositiveIntegerField()
    signature = models.ForeignKey(
        "lims.Signature", on_delete=models.PROTECT, null=True, related_name="+"
    )
    issued_at = models.DateTimeField(default=timezone.now)

    STORE_FOLDER = "apqr"

    class Meta:
        ordering = ["-year", "product"]
        triggers = [
            never_deleted(),
            # Written, then bound to its signature once; after that never changed.
            pgtrigger.Protect(
                name="apqr_signed_once",
                operation=pgtrigger.Update,
                condition=pgtrigger.Q(old__signature_id__isnull=False),
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["product", "year"], name="one_apqr_per_product_year"),
            models.CheckConstraint(condition=Q(year__gte=2000), name="apqr_year_plausible"),
        ]

    def __str__(self):
        return f"APQR {self.get_product_display()} {self.year}"

    def get_absolute_url(self):
        return reverse("release:apqr") + f"?product={self.product}&year={self.year}"

    @property
    def storage_name(self) -> str:
        return file_store.storage_name(self.STORE_FOLDER, self.sha256, ".pdf")
