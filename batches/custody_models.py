"""Samples kept and samples received: a lot's retained vials (EU GMP Annex 19; 21 CFR 211.170)
and samples that arrive from outside with their condition, temperature and chain of custody
(21 CFR 211.84 and EU GMP Part I 5.27: incoming material examined on receipt; Annex 19 §4.1).
Written only through batches.custody."""

import pgtrigger
from django.db import models
from django.db.models import F, Q
from django.urls import reverse

from batches.models import ExosomeLot
from lims.audit import audited
from lims.models import GmpRecord, never_deleted


@audited()
class RetainedSet(GmpRecord):
    """Vials of a lot set aside at release as retention samples, where they are kept and until
    when: the lot's expiry plus the retention period (Annex 19 §3.1, 21 CFR 211.170(b): at
    least one year after expiry). Vials leave it only by a withdrawal with a reason."""

    lot = models.ForeignKey(ExosomeLot, on_delete=models.PROTECT, related_name="retained_sets")
    vials = models.PositiveIntegerField()
    location = models.CharField(
        max_length=200, help_text="Freezer, shelf and box they are kept in."
    )
    lot_expiry = models.DateField(help_text="The lot's expiry date.")
    retain_until = models.DateField(editable=False)
    set_aside_on = models.DateField()

    IDENTIFIER_FIELDS = ("location",)

    class Meta:
        ordering = ["-set_aside_on", "-pk"]
        triggers = [
            never_deleted(),
            pgtrigger.ReadOnly(
                name="retained_set_fixed",
                fields=["lot", "vials", "lot_expiry", "retain_until", "set_aside_on"],
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(vials__gt=0), name="retained_vials_positive"),
            models.CheckConstraint(
                condition=Q(retain_until__gt=F("lot_expiry")), name="retained_past_expiry"
            ),
            models.UniqueConstraint(
                fields=["lot"], condition=Q(voided_at__isnull=True), name="one_retained_set_per_lot"
            ),
        ]

    def __str__(self):
        return f"Retains of {self.lot}"

    def get_absolute_url(self):
        return reverse("custody:retain_detail", args=[self.pk])


@audited()
class RetainWithdrawal(GmpRecord):
    """Vials taken out of a lot's retained set, how many and why (an investigation, a complaint,
    a regulator's request)."""

    retained_set = models.ForeignKey(
        RetainedSet, on_delete=models.PROTECT, related_name="withdrawals"
    )
    vials = models.PositiveIntegerField()
    reason = models.TextField()
    withdrawn_at = models.DateTimeField()

    class Meta:
        ordering = ["withdrawn_at", "pk"]
        triggers = [
            never_deleted(),
            pgtrigger.Protect(name="retain_withdrawal_fixed", operation=pgtrigger.Update),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(vials__gt=0), name="withdrawn_vials_positive"),
            models.CheckConstraint(condition=~Q(reason=""), name="withdrawal_has_reason"),
        ]

    def __str__(self):
        return f"{self.vials} vial(s) from {self.retained_set}"


@audited()
class SampleReceipt(GmpRecord):
    """A sample that arrived from a CMO, a clinical site or a contract lab: what it is, how it
    arrived (container condition, the shipment's temperature record) and, through its custody
    transfers, who held it. A receipt of a lot is tested like any sample of that lot, by its
    code (assays.services.resolve_samples)."""

    class Sender(models.TextChoices):
        CMO = "cmo", "Contract manufacturer (CMO)"
        CLINICAL_SITE = "clinical_site", "Clinical site"
        CONTRACT_LAB = "contract_lab", "Contract laboratory"

    class Condition(models.TextChoices):
        INTACT = "intact", "Intact"
        DAMAGED = "damaged", "Container damaged"
        LEAKING = "leaking", "Leaking"
        THAWED = "thawed", "Thawed or warm"

    class Shipping(models.TextChoices):
        FROZEN = "frozen", "Frozen, dry ice (-60 °C or colder)"
        REFRIGERATED = "refrigerated", "Refrigerated (2 to 8 °C)"
        AMBIENT = "ambient", "Ambient (15 to 25 °C)"

    # The range each shipping condition must stay within, °C (low, high; None: unbounded).
    RANGES = {
        "frozen": (None, -60.0),
        "refrigerated": (2.0, 8.0),
        "ambient": (15.0, 25.0),
    }

    IDENTIFIER_FIELDS = ("code", "sender_name", "logger_id")

    code = models.CharField(max_length=40, unique=True, editable=False)
    sender_kind = models.CharField(max_length=20, choices=Sender.choices)
    sender_name = models.CharField(max_length=200)
    description = models.CharField(max_length=200, help_text="What was sent, as labelled.")
    lot = models.ForeignKey(
        ExosomeLot,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="receipts",
        help_text="The lot it is a sample of, if any: it is tested as a sample of that lot.",
    )
    containers = models.PositiveSmallIntegerField()
    courier = models.CharField(max_length=200)
    shipped_at = models.DateTimeField()
    received_at = models.DateTimeField()
    late_reason = models.TextField(blank=True)
    condition = models.CharField(max_length=20, choices=Condition.choices)
    condition_notes = models.TextField(blank=True)
    shipping_condition = models.CharField(max_length=20, choices=Shipping.choices)
    temperature_min_c = models.DecimalField(max_digits=5, decimal_places=1)
    temperature_max_c = models.DecimalField(max_digits=5, decimal_places=1)
    logger_id = models.CharField(max_length=60, blank=True, help_text="Temperature logger.")
    excursion = models.BooleanField(default=False, editable=False)

    class Meta:
        ordering = ["-received_at", "-pk"]
        triggers = [
            never_deleted(),
            pgtrigger.ReadOnly(
                name="receipt_fixed",
                fields=[
                    "code",
                    "received_at",
                    "shipped_at",
                    "condition",
                    "temperature_min_c",
                    "temperature_max_c",
                    "excursion",
                ],
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(containers__gt=0), name="receipt_containers"),
            models.CheckConstraint(
                condition=Q(received_at__gte=F("shipped_at")), name="received_after_shipped"
            ),
            models.CheckConstraint(
                condition=Q(temperature_max_c__gte=F("temperature_min_c")),
                name="receipt_temperature_order",
            ),
        ]

    def __str__(self):
        return self.code

    def get_absolute_url(self):
        return reverse("custody:receipt_detail", args=[self.pk])

    @property
    def acceptable(self) -> bool:
        """Arrived intact and within its temperature range: it may be tested."""
        return self.condition == self.Condition.INTACT and not self.excursion


@audited()
class CustodyTransfer(GmpRecord):
    """One hand-over of a received sample: from whom, to whom, when."""

    receipt = models.ForeignKey(SampleReceipt, on_delete=models.PROTECT, related_name="custody")
    from_party = models.CharField(max_length=200)
    to_party = models.CharField(max_length=200)
    at = models.DateTimeField()
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["at", "pk"]
        triggers = [
            never_deleted(),
            pgtrigger.Protect(name="custody_transfer_fixed", operation=pgtrigger.Update),
        ]

    def __str__(self):
        return f"{self.from_party} → {self.to_party}"
