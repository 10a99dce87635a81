"""QA's records: specifications and their criteria, the evaluation of lots and batches against
them, deviations and OOS investigations with CAPA, dispositions and certificates of analysis.

These models moved here from `assays` and `batches` (migration release 0001) and keep their
original tables, so their rows, audit events and signatures are the same records as before.
`FORMER_LABELS` names the label each had when signatures bound to it were made.
"""

import pgtrigger
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from assays.models import QCMetric, validate_unit
from batches.models import Aliquot, CultureBatch, ExosomeLot, IsolationRun, StorageLocation
from lims import file_store
from lims.audit import audited
from lims.models import GmpRecord, frozen_once_signed, never_deleted
from lims.transitions import fsm_trigger

SPEC_TRANSITIONS = {
    "draft": {"approved"},
    "approved": {"effective"},
    "effective": {"superseded"},
}


@audited(meta={"db_table": "assays_specificationevent"})
class Specification(GmpRecord):
    """A version of the release criteria of a product, approved by QA with an e-signature.

    One version per product is effective at a time; a lot is judged against the version that
    was effective when it entered testing.
    """

    former_label = "assays.Specification"

    class Product(models.TextChoices):
        DRUG_SUBSTANCE = "msc_sev_ds", "MSC-sEV drug substance"
        SOURCE_CELLS = "msc_source_cells", "MSC source cells"
        STABILITY = "msc_sev_ds_stability", "MSC-sEV drug substance, stability"

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        APPROVED = "approved", "Approved"
        EFFECTIVE = "effective", "Effective"
        SUPERSEDED = "superseded", "Superseded"

    TRANSITIONS = SPEC_TRANSITIONS

    product = models.CharField(max_length=30, choices=Product.choices)
    version = models.PositiveIntegerField()
    title = models.CharField(max_length=200)
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.DRAFT, editable=False
    )
    effective_from = models.DateTimeField(null=True, blank=True, editable=False)
    approval_signature = models.ForeignKey(
        "lims.Signature",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
    )

    class Meta:
        db_table = "assays_specification"
        ordering = ["product", "-version"]
        triggers = [never_deleted(), fsm_trigger(SPEC_TRANSITIONS)]
        constraints = [
            models.UniqueConstraint(fields=["product", "version"], name="spec_version_once"),
            models.UniqueConstraint(
                fields=["product"],
                condition=Q(status="effective"),
                name="one_effective_spec_per_product",
            ),
        ]

    def __str__(self):
        return f"{self.get_product_display()} v{self.version}"

    def get_absolute_url(self):
        return reverse("release:specification_detail", args=[self.pk])

    def signed_content(self) -> dict:
        return {
            "specification": f"{self.product} v{self.version}",
            "title": self.title,
            "criteria": [c.signed_content() for c in self.criteria.order_by("position", "pk")],
        }


@audited(meta={"db_table": "assays_criterionevent"})
class Criterion(GmpRecord):
    """One acceptance criterion: a QC metric compared with limits or an expected call."""

    former_label = "assays.Criterion"

    class Comparator(models.TextChoices):
        GTE = "gte", "≥"
        GT = "gt", ">"
        LTE = "lte", "≤"
        LT = "lt", "<"
        BETWEEN = "between", "between"
        EQUALS = "equals", "equals"
        REPORT = "report", "report"

    class Combination(models.TextChoices):
        # Never "the latest wins": a retest does not replace a valid original result (FDA,
        # Investigating Out-of-Specification Test Results, 2006, section IV.C).
        ALL = "all", "Every valid result conforms"
        MEAN = "mean", "Mean of the valid results conforms, each result within limits"

    specification = models.ForeignKey(
        Specification, on_delete=models.PROTECT, related_name="criteria"
    )
    position = models.PositiveSmallIntegerField(default=0)
    test = models.CharField(max_length=120)
    method = models.CharField(max_length=200, blank=True)
    metric_code = models.CharField(max_length=60)
    comparator = models.CharField(max_length=10, choices=Comparator.choices)
    lower = models.FloatField(null=True, blank=True)
    upper = models.FloatField(null=True, blank=True)
    expected_text = models.CharField(max_length=60, blank=True)
    unit = models.CharField(max_length=40, blank=True, validators=[validate_unit])
    alert_lower = models.FloatField(null=True, blank=True)
    alert_upper = models.FloatField(null=True, blank=True)
    required = models.BooleanField(default=True)
    reference = models.CharField(max_length=200, blank=True)
    combination = models.CharField(
        max_length=10,
        choices=Combination.choices,
        default=Combination.ALL,
        help_text="How several valid results (original and retests) are judged together.",
    )
    # MISEV2023 asks for at least one cytosolic EV protein, whichever the site detects (TSG101
    # or ALIX, ...): the criterion holds when the metric or any one of these conforms.
    any_of_codes = ArrayField(
        models.CharField(max_length=60),
        default=list,
        blank=True,
        help_text="Other metrics, any one of which conforming also satisfies the criterion.",
    )
    # The endotoxin limit K/M (USP <85>, Ph. Eur. 5.1.10): K the threshold pyrogenic dose,
    # M the maximum dose per kg per hour. Given these, the upper limit is derived, not typed.
    endotoxin_k = models.FloatField(
        null=True, blank=True, help_text="K, EU/kg per hour (5 parenteral, 0.2 intrathecal)."
    )
    dose_ml_per_hour = models.FloatField(
        null=True, blank=True, help_text="Maximum dose given within one hour, mL."
    )
    body_mass_kg = models.FloatField(
        null=True, blank=True, help_text="Body mass the dose is given to, kg (70: an adult)."
    )

    class Meta:
        db_table = "assays_criterion"
        ordering = ["specification", "position", "pk"]
        triggers = [never_deleted()]

    def __str__(self):
        return f"{self.test}: {self.acceptance}"

    @property
    def metric_codes(self) -> list[str]:
        """The metric and its alternatives, in the order they are tried."""
        return [self.metric_code, *self.any_of_codes]

    @property
    def derived_from(self) -> str:
        """How a derived limit was computed, for the pages and the CoA ("" when typed)."""
        if self.endotoxin_k is None:
            return ""
        return (
            f"K/M: K = {self.endotoxin_k:g} EU/kg, M = {self.dose_ml_per_hour:g} mL per hour "
            f"/ {self.body_mass_kg:g} kg"
        )

    @property
    def acceptance(self) -> str:
        text = self._limits()
        if self.any_of_codes:
            names = ", ".join(code.rsplit(".", 1)[-1] for code in self.metric_codes)
            text = f"{text}: any one of {names}"
        if self.derived_from:
            text = f"{text} (K/M)"
        return text

    def _limits(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        c = self.Comparator
        if self.comparator == c.BETWEEN:
            return f"{self.lower:g}–{self.upper:g}{unit}"
        if self.comparator in (c.GTE, c.GT):
            return f"{self.get_comparator_display()} {self.lower:g}{unit}"
        if self.comparator in (c.LTE, c.LT):
            return f"{self.get_comparator_display()} {self.upper:g}{unit}"
        if self.comparator == c.EQUALS:
            return self.expected_text
        return "report"

    def signed_content(self) -> dict:
        content: dict[str, object] = {
            "test": self.test,
            "metric": self.metric_code,
            "comparator": self.comparator,
            "lower": self.lower,
            "upper": self.upper,
            "expected": self.expected_text,
            "unit": self.unit,
            "alert_lower": self.alert_lower,
            "alert_upper": self.alert_upper,
            "required": self.required,
        }
        # Added later, and only where set, so signatures over earlier versions stay verifiable.
        if self.combination != self.Combination.ALL:
            content["combination"] = self.combination
        if self.any_of_codes:
            content["any_of"] = self.any_of_codes
        if self.derived_from:
            content["derived_from"] = self.derived_from
        return content


@audited(meta={"db_table": "assays_lotspecificationevent"})
class LotSpecification(models.Model):
    """The specification version a lot or batch is judged against, fixed when testing starts."""

    former_label = "assays.LotSpecification"

    lot = models.OneToOneField(
        ExosomeLot, on_delete=models.PROTECT, null=True, blank=True, related_name="judged_by"
    )
    culture_batch = models.OneToOneField(
        CultureBatch, on_delete=models.PROTECT, null=True, blank=True, related_name="judged_by"
    )
    specification = models.ForeignKey(Specification, on_delete=models.PROTECT, related_name="+")
    assigned_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "assays_lotspecification"
        triggers = [
            never_deleted(),
            pgtrigger.Protect(name="never_reassigned", operation=pgtrigger.Update),
        ]

    def __str__(self):
        return f"{self.lot or self.culture_batch} judged by {self.specification}"


@audited(meta={"db_table": "assays_criterionevaluationevent"})
class CriterionEvaluation(models.Model):
    """Where a lot (or batch) stands on one criterion, with the metric it rests on."""

    former_label = "assays.CriterionEvaluation"

    class Status(models.TextChoices):
        PASS = "pass", "Pass"
        FAIL = "fail", "Fail (OOS)"
        ALERT = "alert", "Alert"
        PENDING = "pending", "Pending"
        INVALID = "invalid", "Invalid"

    lot = models.ForeignKey(
        ExosomeLot, on_delete=models.PROTECT, null=True, blank=True, related_name="evaluations"
    )
    culture_batch = models.ForeignKey(
        CultureBatch, on_delete=models.PROTECT, null=True, blank=True, related_name="evaluations"
    )
    criterion = models.ForeignKey(Criterion, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices)
    metric = models.ForeignKey(
        QCMetric, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    value = models.FloatField(null=True, blank=True)
    text = models.CharField(max_length=60, blank=True)
    note = models.CharField(max_length=300, blank=True)
    evaluated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "assays_criterionevaluation"
        ordering = ["criterion__position", "criterion_id"]
        triggers = [never_deleted()]
        constraints = [
            models.UniqueConstraint(fields=["lot", "criterion"], name="lot_criterion_once"),
            models.UniqueConstraint(
                fields=["culture_batch", "criterion"], name="batch_criterion_once"
            ),
        ]

    def __str__(self):
        return f"{self.criterion.test}: {self.status}"


DEVIATION_TRANSITIONS = {
    "open": {"under_investigation", "closed"},
    "under_investigation": {"closed"},
}


@audited(meta={"db_table": "batches_deviationevent"})
class Deviation(GmpRecord):
    """A deviation or an out-of-specification (OOS) investigation.

    OOS investigations open automatically when a required criterion fails; other deviations are
    opened by hand (a parameter excursion, a temperature excursion in storage). An open one
    blocks the release of the lot it concerns; QA closes it with an e-signature.
    """

    former_label = "batches.Deviation"

    class Kind(models.TextChoices):
        OOS = "oos", "Out of specification"
        PROCESS = "process", "Process deviation"
        STORAGE = "storage", "Storage excursion"
        OTHER = "other", "Other"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        UNDER_INVESTIGATION = "under_investigation", "Under investigation"
        CLOSED = "closed", "Closed"

    class Outcome(models.TextChoices):
        RESULT_INVALIDATED = "result_invalidated", "Result invalidated, retest required"
        OOS_CONFIRMED = "oos_confirmed", "OOS confirmed (lot can only be rejected)"
        NO_PRODUCT_IMPACT = "no_product_impact", "No impact on product quality"
        PRODUCT_IMPACT = "product_impact", "Impact on product quality"

    TRANSITIONS = DEVIATION_TRANSITIONS

    code = models.CharField(max_length=40, unique=True, editable=False)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    title = models.CharField(max_length=200)
    description = models.TextField()
    status = models.CharField(
        max_length=25, choices=Status.choices, default=Status.OPEN, editable=False
    )
    lot = models.ForeignKey(
        ExosomeLot, on_delete=models.PROTECT, null=True, blank=True, related_name="deviations"
    )
    culture_batch = models.ForeignKey(
        CultureBatch, on_delete=models.PROTECT, null=True, blank=True, related_name="deviations"
    )
    isolation_run = models.ForeignKey(
        IsolationRun, on_delete=models.PROTECT, null=True, blank=True, related_name="deviations"
    )
    storage_location = models.ForeignKey(
        StorageLocation, on_delete=models.PROTECT, null=True, blank=True, related_name="deviations"
    )
    criterion = models.ForeignKey(
        Criterion, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    metric = models.ForeignKey(
        QCMetric, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    root_cause = models.TextField(blank=True)
    impact_assessment = models.TextField(blank=True)
    outcome = models.CharField(max_length=30, choices=Outcome.choices, blank=True)
    closure_signature = models.ForeignKey(
        "lims.Signature",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
    )
    closed_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        db_table = "batches_deviation"
        ordering = ["-created_at"]
        triggers = [never_deleted(), fsm_trigger(DEVIATION_TRANSITIONS)]
        constraints = [
            # One automatic OOS investigation per failing metric of a criterion, of a lot or
            # of a culture batch (NULLs are distinct, so the batch's needs its own constraint).
            models.UniqueConstraint(
                fields=["lot", "criterion", "metric"],
                condition=Q(kind="oos"),
                name="one_oos_per_failing_metric",
            ),
            models.UniqueConstraint(
                fields=["culture_batch", "criterion", "metric"],
                condition=Q(kind="oos", lot__isnull=True),
                name="one_batch_oos_per_failing_metric",
            ),
        ]

    def __str__(self):
        return self.code

    def get_absolute_url(self):
        return reverse("release:deviation_detail", args=[self.pk])

    def signed_content(self) -> dict:
        return {
            "deviation": self.code,
            "kind": self.kind,
            "title": self.title,
            "description": self.description,
            "lot": self.lot.code if self.lot else None,
            "root_cause": self.root_cause,
            "impact_assessment": self.impact_assessment,
            "outcome": self.outcome,
            "capa": [
                {"action": a.description, "owner": a.owner, "due": a.due_on, "done": a.done_on}
                for a in self.capa_actions.order_by("pk")
            ],
        }


@audited(meta={"db_table": "batches_capaactionevent"})
class CapaAction(GmpRecord):
    """A corrective or preventive action of a deviation, with owner, due date and completion."""

    former_label = "batches.CapaAction"

    deviation = models.ForeignKey(Deviation, on_delete=models.PROTECT, related_name="capa_actions")
    description = models.TextField()
    owner = models.CharField(max_length=120)
    due_on = models.DateField()
    done_on = models.DateField(null=True, blank=True)

    class Meta:
        db_table = "batches_capaaction"
        ordering = ["due_on", "pk"]
        triggers = [never_deleted()]

    def __str__(self):
        return f"CAPA {self.pk} of {self.deviation}"


@audited(meta={"db_table": "batches_dispositionevent"})
class Disposition(models.Model):
    """QA's signed decision on a lot: released, rejected, or quarantined with a reason."""

    former_label = "batches.Disposition"

    class Decision(models.TextChoices):
        RELEASED = "released", "Approved for release"
        REJECTED = "rejected", "Rejected"
        QUARANTINED = "quarantined", "Quarantined"

    lot = models.ForeignKey(ExosomeLot, on_delete=models.PROTECT, related_name="dispositions")
    decision = models.CharField(max_length=20, choices=Decision.choices)
    reason = models.TextField(blank=True)
    specification = models.ForeignKey(
        Specification, on_delete=models.PROTECT, null=True, related_name="+"
    )
    signature = models.ForeignKey("lims.Signature", on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "batches_disposition"
        ordering = ["-decided_at"]
        # The release board's decided columns: the latest releases and rejections, newest first.
        indexes = [models.Index(fields=["decision", "-decided_at"], name="disposition_latest_idx")]
        triggers = [
            never_deleted(),
            pgtrigger.Protect(name="dispositions_immutable", operation=pgtrigger.Update),
        ]
        constraints = [
            # The database's word on the race of two QA users: one final decision per lot.
            models.UniqueConstraint(
                fields=["lot"],
                condition=Q(decision__in=["released", "rejected"]),
                name="one_final_disposition_per_lot",
            )
        ]

    def __str__(self):
        return f"{self.lot}: {self.get_decision_display()}"


@audited(meta={"db_table": "batches_certificateofanalysisevent"})
class CertificateOfAnalysis(models.Model):
    """The CoA PDF issued at release, stored once under its SHA-256 and never regenerated."""

    former_label = "batches.CertificateOfAnalysis"

    lot = models.OneToOneField(ExosomeLot, on_delete=models.PROTECT, related_name="certificate")
    disposition = models.OneToOneField(Disposition, on_delete=models.PROTECT, related_name="+")
    sha256 = models.CharField(max_length=64)
    size = models.PositiveIntegerField()
    issued_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "batches_certificateofanalysis"
        triggers = [
            never_deleted(),
            pgtrigger.Protect(name="certificates_immutable", operation=pgtrigger.Update),
        ]

    def __str__(self):
        return f"CoA {self.lot}"

    STORE_FOLDER = "certificates"

    @property
    def storage_name(self) -> str:
        return file_store.storage_name(self.STORE_FOLDER, self.sha256, ".pdf")


@audited()
class AuditTrailReview(models.Model):
    """QA's signed review of an audit trail (EU GMP Annex 11 §9: audit trails reviewed
    regularly; FDA, Data Integrity and Compliance With Drug CGMP, 2018, Q7: the audit trail of
    critical data reviewed before the record is approved): either a lot's trail before its
    release (the changes made after first entry: review by exception) or a period of the whole
    trail. Written once with its signature, never changed or deleted."""

    lot = models.ForeignKey(
        ExosomeLot, on_delete=models.PROTECT, null=True, blank=True, related_name="audit_reviews"
    )
    period_start = models.DateField(null=True, blank=True)
    period_end = models.DateField(null=True, blank=True)
    events_reviewed = models.PositiveIntegerField()
    chain_head = models.CharField(
        max_length=64, blank=True, help_text="The audit chain's head when the review was signed"
    )
    findings = models.TextField(blank=True)
    signature = models.ForeignKey(
        "lims.Signature", on_delete=models.PROTECT, null=True, related_name="+"
    )
    reviewed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-reviewed_at", "-pk"]
        triggers = [
            never_deleted(),
            # Written, then bound to its signature once; after that never changed.
            frozen_once_signed("review_signed_once"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(lot__isnull=False, period_start__isnull=True, period_end__isnull=True)
                    | Q(lot__isnull=True, period_start__isnull=False, period_end__isnull=False)
                ),
                name="audit_review_of_a_lot_or_a_period",
            ),
            models.CheckConstraint(
                condition=Q(period_end__gte=models.F("period_start")) | Q(period_start=None),
                name="audit_review_period_in_order",
            ),
        ]

    def __str__(self):
        scope = f"lot {self.lot}" if self.lot_id else f"{self.period_start} to {self.period_end}"
        return f"Audit trail review of {scope}"

    def get_absolute_url(self):
        return reverse("release:audit_review_list")

    def signed_content(self) -> dict:
        return {
            "review": "audit trail",
            "lot": self.lot.code if self.lot is not None else None,
            "period": [str(self.period_start), str(self.period_end)] if not self.lot_id else None,
            "events_reviewed": self.events_reviewed,
            "chain_head": self.chain_head,
            "findings": self.findings,
        }


# Stability studies (ICH Q5C, Q1E) and the annual product quality review (21 CFR 211.180(e)).
#
# A protocol, approved by QA with an e-signature and versioned like a specification, names the
# lots, the storage conditions, the time points and the stability specification (a
# `Specification` of the product "stability": its criteria are the tests of every pull). Starting
# a study for one of its lots reserves vials per condition and time point; a pull is recorded when
# the vials leave storage; results come in as any run does, on the reserved vial, and are judged
# against the stability specification. QA assigns a lot's expiry from a study's supported shelf
# life, signed.

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
    """A signed revision of the annual product quality review of a product and a year (21 CFR
    211.180(e), EU GMP ch. 1.10): its PDF kept once under its SHA-256, like the CoA. A
    correction is a new revision, signed again with its reason, that supersedes the one before;
    the earlier revision is kept as it was (its row and PDF never change), superseded because a
    later one names it."""

    product = models.CharField(max_length=30, choices=Specification.Product.choices)
    year = models.PositiveSmallIntegerField()
    revision = models.PositiveSmallIntegerField(default=1)
    # The revision this one replaces (one-to-one: a revision is superseded once, so two QA
    # revising at once cannot both replace it).
    supersedes = models.OneToOneField(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="superseded_by"
    )
    reason = models.TextField(blank=True, help_text="Why this revision was issued.")
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
            frozen_once_signed("apqr_signed_once"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["product", "year", "revision"], name="one_apqr_revision_per_product_year"
            ),
            models.CheckConstraint(condition=Q(year__gte=2000), name="apqr_year_plausible"),
            # The first revision replaces nothing; every later one replaces one, with a reason.
            models.CheckConstraint(
                condition=Q(revision=1, supersedes__isnull=True)
                | (Q(revision__gt=1, supersedes__isnull=False) & ~Q(reason="")),
                name="apqr_revision_supersedes_with_reason",
            ),
        ]

    def __str__(self):
        revision = f" revision {self.revision}" if self.revision > 1 else ""
        return f"APQR {self.get_product_display()} {self.year}{revision}"

    def get_absolute_url(self):
        return reverse("release:apqr") + f"?product={self.product}&year={self.year}"

    @property
    def storage_name(self) -> str:
        return file_store.storage_name(self.STORE_FOLDER, self.sha256, ".pdf")
