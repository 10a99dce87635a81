"""Reference standards and critical reagents of the bioassays (USP <1032>/<1034>, ICH Q6B §2.1.7).

A relative potency means something only against a reference that is itself known: an in-house
reference EV lot (a released exosome lot set aside and characterised) or a bought standard, with
assigned values, a qualification approved by QA with an e-signature, an expiry and a storage
place. An assay that reports against a reference names its material
(``AssayDefinition.reference_material``); a run of it names the reference lot it used, and
``assays.reference_services.check_reference_usable`` refuses one that is not qualified for that
assay on the day the run started.
"""

import pgtrigger
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.urls import reverse

from batches.models import ExosomeLot
from lims.audit import audited
from lims.models import GmpRecord, never_deleted
from lims.transitions import fsm_trigger

REFERENCE_STANDARD_TRANSITIONS = {
    "registered": {"qualified", "withdrawn"},
    "qualified": {"withdrawn"},
}
# What QA's qualification signature binds: never changed once recorded (a new lot is a new
# reference standard; a correction is a withdrawal and a new registration).
REFERENCE_STANDARD_CONTENT = (
    "code",
    "material",
    "name",
    "kind",
    "source_lot",
    "supplier",
    "catalogue_number",
    "lot_number",
    "assay_codes",
    "assigned_values",
    "expiry_date",
    "storage",
    "qualification_report",
)


@audited()
class ReferenceStandard(GmpRecord):
    """One lot of reference material (in-house reference EV lot or a bought standard) with its
    assigned values, the assays it is qualified for, its expiry and where it is stored.

    Registered by QC, qualified by QA with an e-signature (meaning: approval) bound to its
    content; only a qualified, unexpired reference can be named by a run, and only by a run that
    started after the qualification. Withdrawal (with a reason) ends its use; it is never deleted.
    """

    class Kind(models.TextChoices):
        IN_HOUSE = "in_house", "In-house reference lot"
        PURCHASED = "purchased", "Purchased standard"

    class Status(models.TextChoices):
        REGISTERED = "registered", "Registered (not qualified)"
        QUALIFIED = "qualified", "Qualified"
        WITHDRAWN = "withdrawn", "Withdrawn"

    TRANSITIONS = REFERENCE_STANDARD_TRANSITIONS
    IDENTIFIER_FIELDS = ("code", "material", "lot_number")

    code = models.CharField(max_length=40, unique=True, help_text="e.g. RS-EV-2026-01.")
    material = models.CharField(
        max_length=40,
        help_text="The reference material an assay names (AssayDefinition.reference_material), "
        "e.g. EV-RS.",
    )
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    source_lot = models.ForeignKey(
        ExosomeLot,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The exosome lot an in-house reference was set aside from.",
    )
    supplier = models.CharField(max_length=120, blank=True)
    catalogue_number = models.CharField(max_length=60, blank=True)
    lot_number = models.CharField(max_length=60, blank=True)
    assay_codes = ArrayField(
        models.CharField(max_length=40), help_text="The assays it is qualified for."
    )
    assigned_values = models.JSONField(
        help_text="Values assigned at qualification: [{analyte, value, unit}], e.g. potency "
        "100 percent (the unit its relative potencies are expressed in)."
    )
    expiry_date = models.DateField()
    storage = models.CharField(max_length=200, help_text="Condition and place, e.g. -80 °C, F-02.")
    qualification_report = models.CharField(
        max_length=120, help_text="The qualification record (protocol and report numbers)."
    )
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.REGISTERED, editable=False
    )
    status_reason = models.TextField(blank=True, editable=False)
    qualified_at = models.DateTimeField(null=True, blank=True, editable=False)
    qualification_signature = models.ForeignKey(
        "lims.Signature",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
    )

    class Meta:
        ordering = ["material", "-created_at"]
        triggers = [
            never_deleted(),
            fsm_trigger(REFERENCE_STANDARD_TRANSITIONS),
            pgtrigger.ReadOnly(
                name="reference_content_never_changes",
                fields=list(REFERENCE_STANDARD_CONTENT),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status="registered")
                | Q(qualification_signature__isnull=False, qualified_at__isnull=False)
                | Q(status="withdrawn"),
                name="reference_qualified_signed",
                violation_error_message="A qualified reference carries QA's signature.",
            ),
            models.CheckConstraint(
                condition=~Q(kind="in_house") | Q(source_lot__isnull=False),
                name="reference_in_house_has_lot",
                violation_error_message="An in-house reference names the lot it came from.",
            ),
            models.CheckConstraint(
                condition=~Q(kind="purchased") | (~Q(supplier="") & ~Q(lot_number="")),
                name="reference_purchased_has_supplier_lot",
                violation_error_message="A purchased standard names its supplier and lot.",
            ),
        ]

    def __str__(self):
        return f"{self.code} ({self.material})"

    def get_absolute_url(self):
        return reverse("assays:reference_detail", args=[self.pk])

    def signed_content(self) -> dict:
        """What QA's qualification signature binds (lims.signatures.content_hash)."""
        content = {name: getattr(self, name) for name in REFERENCE_STANDARD_CONTENT}
        content["source_lot"] = self.source_lot_id
        content["expiry_date"] = self.expiry_date.isoformat()
        return {"reference_standard": self.code, **content}

    def assigned(self, analyte: str) -> dict | None:
        return next((v for v in self.assigned_values if v.get("analyte") == analyte), None)


@audited()
class RunReferenceStandard(GmpRecord):
    """The reference standard an assay run was tested against (one per run)."""

    run = models.OneToOneField(
        "assays.AssayRun", on_delete=models.PROTECT, related_name="reference_use"
    )
    reference = models.ForeignKey(
        ReferenceStandard, on_delete=models.PROTECT, related_name="run_uses"
    )

    class Meta:
        triggers = [never_deleted()]

    def __str__(self):
        return f"{self.reference} in run {self.run_id}"
