"""Production records: from donor to labelled vials in the freezer (DOMAIN.md §1).

Every model here is a GMP record: audited by database triggers (lims.audit), never deleted
(the database refuses DELETE; records are voided with a reason instead), and written only
through batches.services.
"""

import math
from collections.abc import Iterable
from datetime import date
from decimal import Decimal

import pgtrigger
from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q, Sum
from django.db.models.functions import Upper
from django.urls import reverse
from django.utils import timezone

from lims.audit import audited
from lims.models import GmpRecord, never_deleted
from lims.transitions import fsm_trigger

NON_NEGATIVE = [MinValueValidator(0)]
PERCENT = [MinValueValidator(0), MaxValueValidator(100)]


@audited()
class Donor(GmpRecord):
    """A tissue donor, known only by a code: no personal identifiers are stored."""

    class Tissue(models.TextChoices):
        BONE_MARROW = "bone_marrow", "Bone marrow"
        UMBILICAL_CORD = "umbilical_cord", "Umbilical cord"
        ADIPOSE = "adipose", "Adipose tissue"
        OTHER = "other", "Other"

    IDENTIFIER_FIELDS = ("code", "consent_reference")

    code = models.CharField(max_length=40, unique=True, help_text="Pseudonymous donor code.")
    tissue_source = models.CharField(max_length=30, choices=Tissue.choices)
    consent_reference = models.CharField(
        max_length=100, help_text="Reference of the signed consent held by the tissue bank."
    )
    notes = models.TextField(blank=True)

    class Meta:
        ordering = ["code"]
        triggers = [never_deleted()]

    def __str__(self):
        return self.code

    def get_absolute_url(self):
        return reverse("batches:donor_detail", args=[self.pk])


@audited()
class CellBank(GmpRecord):
    """A master or working bank of MSC vials derived from one donor's tissue."""

    class BankType(models.TextChoices):
        MASTER = "master", "Master cell bank"
        WORKING = "working", "Working cell bank"

    code = models.CharField(max_length=40, unique=True, editable=False)
    donor = models.ForeignKey(Donor, on_delete=models.PROTECT, related_name="cell_banks")
    bank_type = models.CharField(max_length=10, choices=BankType.choices)
    parent_bank = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="derived_banks"
    )
    passage = models.PositiveSmallIntegerField(validators=NON_NEGATIVE)
    vials = models.PositiveIntegerField(help_text="Vials frozen in the bank.")
    frozen_on = models.DateField()
    storage = models.CharField(
        max_length=120, help_text="Where the bank is stored (LN2 tank, rack)."
    )

    class Meta:
        ordering = ["-created_at"]
        triggers = [never_deleted()]
        # The culture batches list is filtered by a bank's code typed in any case
        # (`UPPER(code) = UPPER(%s)`, batches.filters.CodeField).
        indexes = [models.Index(Upper("code"), name="batches_cellbank_code_upper")]
        constraints = [
            models.CheckConstraint(
                condition=Q(parent_bank__isnull=True) | ~Q(parent_bank=models.F("id")),
                name="cell_bank_not_own_parent",
                violation_error_message="A cell bank cannot be its own parent.",
            )
        ]

    def __str__(self):
        return self.code

    def get_absolute_url(self):
        return reverse("batches:cellbank_detail", args=[self.pk])


@audited()
class ReagentLot(GmpRecord):
    """A received lot of a medium, serum, platelet lysate, supplement or kit."""

    class Category(models.TextChoices):
        MEDIUM = "medium", "Medium"
        SERUM = "serum", "Serum / platelet lysate"
        SUPPLEMENT = "supplement", "Supplement"
        KIT = "kit", "Kit"
        # Reagents an assay of the catalogue may require (AssayDefinition.required_reagents).
        LAL_REAGENT = "lal_reagent", "LAL reagent (endotoxin)"
        BCA_KIT = "bca_kit", "BCA protein assay kit"
        QPCR_MASTER_MIX = "qpcr_master_mix", "qPCR master mix"
        OTHER = "other", "Other"

    IDENTIFIER_FIELDS = ("catalogue_number", "lot_number")

    category = models.CharField(max_length=20, choices=Category.choices)
    name = models.CharField(max_length=120)
    supplier = models.CharField(max_length=120)
    catalogue_number = models.CharField(max_length=60)
    lot_number = models.CharField(max_length=60)
    expiry_date = models.DateField()
    received_on = models.DateField(default=date.today)

    class Meta:
        ordering = ["expiry_date", "name"]
        triggers = [never_deleted()]
        constraints = [
            models.UniqueConstraint(
                fields=["supplier", "catalogue_number", "lot_number"],
                name="reagent_lot_unique",
                violation_error_message="This supplier lot is already registered.",
            )
        ]

    def __str__(self):
        return f"{self.name} lot {self.lot_number}"

    def get_absolute_url(self):
        return reverse("batches:reagentlot_detail", args=[self.pk])

    def is_expired(self, on: date | None = None) -> bool:
        return self.expiry_date < (on or timezone.localdate())


CULTURE_BATCH_TRANSITIONS = {
    "in_culture": {"harvested", "discarded"},
    "harvested": {"closed", "discarded"},
}


@audited()
class CultureBatch(GmpRecord):
    """An MSC expansion from a cell bank, through passages, to conditioned-medium harvests."""

    class Status(models.TextChoices):
        IN_CULTURE = "in_culture", "In culture"
        HARVESTED = "harvested", "Harvested"
        CLOSED = "closed", "Closed"
        DISCARDED = "discarded", "Discarded"

    TRANSITIONS = CULTURE_BATCH_TRANSITIONS

    code = models.CharField(max_length=40, unique=True, editable=False)
    cell_bank = models.ForeignKey(CellBank, on_delete=models.PROTECT, related_name="batches")
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.IN_CULTURE, editable=False
    )
    started_on = models.DateField()
    reagent_lots = models.ManyToManyField(
        ReagentLot, through="BatchReagentUse", related_name="culture_batches", blank=True
    )
    status_reason = models.TextField(blank=True, editable=False)
    notes = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "culture batches"
        triggers = [never_deleted(), fsm_trigger(CULTURE_BATCH_TRANSITIONS)]
        indexes = [
            # The trend page reads batches newest first by start date (assays.qc_selectors).
            models.Index(fields=["started_on", "code"], name="batch_started_on_code"),
            # The list's default order (lims.pages.RecordListView: newest first, then id): its
            # first page is read from this index, joined to banks and donors for 25 rows only.
            models.Index(F("created_at").desc(), "id", name="culturebatch_newest"),
        ]

    def __str__(self):
        return self.code

    def get_absolute_url(self):
        return reverse("batches:culturebatch_detail", args=[self.pk])


@audited()
class BatchReagentUse(GmpRecord):
    """A reagent lot used in a culture batch (medium, serum, supplement)."""

    batch = models.ForeignKey(CultureBatch, on_delete=models.PROTECT, related_name="reagent_uses")
    reagent_lot = models.ForeignKey(ReagentLot, on_delete=models.PROTECT, related_name="+")

    class Meta:
        triggers = [never_deleted()]
        constraints = [
            models.UniqueConstraint(fields=["batch", "reagent_lot"], name="batch_reagent_once")
        ]

    def __str__(self):
        return f"{self.reagent_lot_id} in {self.batch_id}"


@audited()
class Passage(GmpRecord):
    """One passage of a culture batch: seeding, counts, viability and confluence."""

    batch = models.ForeignKey(CultureBatch, on_delete=models.PROTECT, related_name="passages")
    number = models.PositiveSmallIntegerField(help_text="Passage number (P).")
    seeded_on = models.DateField()
    harvested_on = models.DateField(null=True, blank=True)
    seeding_density_per_cm2 = models.FloatField(
        validators=NON_NEGATIVE, help_text="Cells per cm² at seeding."
    )
    cells_seeded = models.BigIntegerField(validators=[MinValueValidator(1)])
    cells_harvested = models.BigIntegerField(null=True, blank=True, validators=NON_NEGATIVE)
    viability_pct = models.FloatField(null=True, blank=True, validators=PERCENT)
    confluence_pct = models.FloatField(null=True, blank=True, validators=PERCENT)

    class Meta:
        ordering = ["batch", "number"]
        triggers = [never_deleted()]
        constraints = [
            models.UniqueConstraint(
                fields=["batch", "number"],
                name="passage_number_once_per_batch",
                violation_error_message="This passage number is already recorded for the batch.",
            ),
            models.CheckConstraint(
                condition=Q(viability_pct__isnull=True)
                | Q(viability_pct__gte=0, viability_pct__lte=100),
                name="passage_viability_0_100",
            ),
            models.CheckConstraint(
                condition=Q(confluence_pct__isnull=True)
                | Q(confluence_pct__gte=0, confluence_pct__lte=100),
                name="passage_confluence_0_100",
            ),
            models.CheckConstraint(
                condition=Q(harvested_on__isnull=True) | Q(harvested_on__gte=models.F("seeded_on")),
                name="passage_dates_in_order",
                violation_error_message="The harvest date cannot be before the seeding date.",
            ),
        ]

    def __str__(self):
        return f"{self.batch} P{self.number}"

    @property
    def population_doublings(self) -> float | None:
        """PD = log2(cells harvested / cells seeded)."""
        if not self.cells_harvested or not self.cells_seeded:
            return None
        return math.log2(self.cells_harvested / self.cells_seeded)


@audited()
class Harvest(GmpRecord):
    """A collection of conditioned medium from a culture batch."""

    class Medium(models.TextChoices):
        EV_DEPLETED = "ev_depleted", "EV-depleted medium"
        SERUM_FREE = "serum_free", "Serum-free medium"

    batch = models.ForeignKey(CultureBatch, on_delete=models.PROTECT, related_name="harvests")
    harvested_at = models.DateTimeField()
    volume_ml = models.DecimalField(
        max_digits=10, decimal_places=2, validators=[MinValueValidator(0.01)]
    )
    medium = models.CharField(max_length=20, choices=Medium.choices)
    notes = models.TextField(blank=True)

    _taken_ml: Decimal  # cache of taken_volume_ml

    class Meta:
        ordering = ["-harvested_at"]
        triggers = [never_deleted()]
        constraints = [
            models.CheckConstraint(condition=Q(volume_ml__gt=0), name="harvest_volume_positive")
        ]

    def __str__(self):
        return f"{self.batch} harvest {timezone.localtime(self.harvested_at):%Y-%m-%d %H:%M}"

    @property
    def taken_volume_ml(self) -> Decimal:
        """What isolation runs (not voided) have taken from this harvest, in mL."""
        if "_taken_ml" in self.__dict__:  # set for a whole page by with_taken_volumes()
            return self._taken_ml
        return harvest_taken_volumes([self.pk]).get(self.pk) or Decimal(0)

    @property
    def remaining_volume_ml(self) -> Decimal:
        """What is left of the harvest for further isolation runs, in mL."""
        return self.volume_ml - self.taken_volume_ml


@audited()
class IsolationRun(GmpRecord):
    """A separation of exosomes (sEV) from one or more harvests of conditioned medium."""

    class Method(models.TextChoices):
        ULTRACENTRIFUGATION = "uc", "Differential ultracentrifugation"
        TFF = "tff", "Tangential flow filtration"
        SEC = "sec", "Size-exclusion chromatography"
        TFF_SEC = "tff_sec", "TFF + SEC"
        UC_SEC = "uc_sec", "Ultracentrifugation + SEC"
        OTHER = "other", "Other combination"

    code = models.CharField(max_length=40, unique=True, editable=False)
    method = models.CharField(max_length=20, choices=Method.choices)
    harvests = models.ManyToManyField(Harvest, through="IsolationInput", related_name="isolations")
    reagent_lots = models.ManyToManyField(
        ReagentLot, through="IsolationReagentUse", related_name="isolation_runs", blank=True
    )
    parameters = models.JSONField(
        default=dict, blank=True, help_text="g-force, time, membrane cut-off, flow rates..."
    )
    input_volume_ml = models.DecimalField(
        max_digits=10, decimal_places=2, validators=[MinValueValidator(0.01)]
    )
    output_volume_ml = models.DecimalField(
        max_digits=10, decimal_places=3, validators=[MinValueValidator(0.001)]
    )
    operator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="isolation_runs"
    )
    equipment = models.CharField(max_length=200)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField()

    class Meta:
        ordering = ["-started_at"]
        triggers = [never_deleted()]
        constraints = [
            models.CheckConstraint(
                condition=Q(ended_at__gte=models.F("started_at")),
                name="isolation_times_in_order",
                violation_error_message="The run cannot end before it starts.",
            ),
            models.CheckConstraint(
                condition=Q(input_volume_ml__gt=0, output_volume_ml__gt=0),
                name="isolation_volumes_positive",
            ),
            models.CheckConstraint(
                condition=Q(output_volume_ml__lte=models.F("input_volume_ml")),
                name="isolation_output_within_input",
                violation_error_message="The output volume cannot exceed the input volume.",
            ),
        ]

    def __str__(self):
        return self.code

    def get_absolute_url(self):
        return reverse("batches:isolationrun_detail", args=[self.pk])


@audited()
class IsolationInput(GmpRecord):
    """A harvest processed by an isolation run, and the volume the run took from it."""

    run = models.ForeignKey(IsolationRun, on_delete=models.PROTECT, related_name="inputs")
    harvest = models.ForeignKey(Harvest, on_delete=models.PROTECT, related_name="+")
    # Required (the check constraint below refuses NULL); nullable in the column only so that
    # the append-only audit events of inputs recorded before the volume was kept stay valid.
    volume_ml = models.DecimalField(
        max_digits=10,
        decimal_places=2,
        null=True,
        validators=[MinValueValidator(Decimal("0.01"))],
        help_text="Volume of the harvest the run took (mL).",
    )

    class Meta:
        triggers = [never_deleted()]
        constraints = [
            models.UniqueConstraint(fields=["run", "harvest"], name="isolation_input_once"),
            models.CheckConstraint(
                condition=Q(volume_ml__isnull=False, volume_ml__gt=0),
                name="isolation_input_volume_positive",
                violation_error_message="The volume taken from a harvest must be positive.",
            ),
        ]

    def __str__(self):
        return f"harvest {self.harvest_id} into {self.run_id}"


def harvest_taken_volumes(harvest_ids: Iterable[int]) -> dict[int, Decimal]:
    """Volume (mL) taken so far from each of these harvests by inputs and runs not voided."""
    rows = (
        IsolationInput.objects.filter(
            harvest_id__in=list(harvest_ids), voided_at__isnull=True, run__voided_at__isnull=True
        )
        .values("harvest_id")
        .annotate(taken=Sum("volume_ml"))
    )
    return {row["harvest_id"]: row["taken"] for row in rows}


def with_taken_volumes(harvests: Iterable[Harvest]) -> list[Harvest]:
    """The harvests, each knowing what was taken of it, in one query (for lists and pages)."""
    harvests = list(harvests)
    taken = harvest_taken_volumes(h.pk for h in harvests)
    for harvest in harvests:
        harvest._taken_ml = taken.get(harvest.pk) or Decimal(0)
    return harvests


@audited()
class IsolationReagentUse(GmpRecord):
    """A reagent lot (buffer, column, kit) used in an isolation run."""

    run = models.ForeignKey(IsolationRun, on_delete=models.PROTECT, related_name="reagent_uses")
    reagent_lot = models.ForeignKey(ReagentLot, on_delete=models.PROTECT, related_name="+")

    class Meta:
        triggers = [never_deleted()]
        constraints = [
            models.UniqueConstraint(fields=["run", "reagent_lot"], name="isolation_reagent_once")
        ]

    def __str__(self):
        return f"{self.reagent_lot_id} in {self.run_id}"


# Released and rejected are final (21 CFR 11.10(f): no release out of sequence).
LOT_TRANSITIONS = {
    "in_process": {"in_testing", "quarantined", "rejected"},
    "in_testing": {"under_review", "quarantined", "rejected"},
    "under_review": {"released", "rejected", "quarantined", "in_testing"},
    "quarantined": {"in_testing", "under_review", "rejected"},
}
# A released or rejected lot is locked: the one statement of the rule, read by the services
# (ExosomeLot.lock_reason) and by the database trigger final_lot_locked below.
LOCKED_STATUSES = ("released", "rejected")


@audited()
class ExosomeLot(GmpRecord):
    """A drug-substance lot of MSC-derived exosomes: the unit QA releases or rejects."""

    class Status(models.TextChoices):
        IN_PROCESS = "in_process", "In process"
        IN_TESTING = "in_testing", "In testing"
        UNDER_REVIEW = "under_review", "Under review"
        RELEASED = "released", "Released"
        REJECTED = "rejected", "Rejected"
        QUARANTINED = "quarantined", "Quarantined"

    TRANSITIONS = LOT_TRANSITIONS

    code = models.CharField(max_length=40, unique=True, editable=False)
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.IN_PROCESS, editable=False
    )
    isolation_runs = models.ManyToManyField(IsolationRun, through="LotSource", related_name="lots")
    manufactured_on = models.DateField()
    volume_ml = models.DecimalField(
        max_digits=10, decimal_places=3, validators=[MinValueValidator(0.001)]
    )
    status_reason = models.TextField(blank=True, editable=False)
    notes = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "exosome lot"
        constraints = [
            models.CheckConstraint(condition=Q(volume_ml__gt=0), name="lot_volume_positive")
        ]
        indexes = [
            # The trend page reads lots newest first by manufacturing date (assays.qc_selectors).
            models.Index(fields=["manufactured_on", "code"], name="lot_manufactured_on_code"),
            # The lots list's default order (newest first, then id), read from the index.
            models.Index(F("created_at").desc(), "id", name="exosomelot_newest"),
            # The release board counts and lists the lots of each status: a handful in
            # progress, thousands released, read every 5 seconds (release_board).
            models.Index(fields=["status", "manufactured_on"], name="lot_status_made_idx"),
        ]
        triggers = [
            never_deleted(),
            fsm_trigger(LOT_TRANSITIONS),
            # Released or rejected only with a signed final disposition recorded first.
            pgtrigger.Trigger(
                name="final_status_needs_disposition",
                when=pgtrigger.Before,
                operation=pgtrigger.Update,
                condition=pgtrigger.Q(new__status__in=["released", "rejected"])
                & pgtrigger.Q(old__status__df=pgtrigger.F("new__status")),
                func="""
                    IF NOT EXISTS (
                        SELECT 1 FROM batches_disposition
                        WHERE lot_id = NEW.id AND decision = NEW.status
                    ) THEN
                        RAISE EXCEPTION 'Lot % can be % only by a signed QA disposition',
                            NEW.code, NEW.status;
                    END IF;
                    RETURN NEW;
                """,
            ),
            # A released or rejected lot is locked: no write path may change it any more.
            pgtrigger.Protect(
                name="final_lot_locked",
                operation=pgtrigger.Update,
                condition=pgtrigger.Q(old__status__in=list(LOCKED_STATUSES)),
            ),
        ]

    def __str__(self):
        return self.code

    def get_absolute_url(self):
        return reverse("batches:exosomelot_detail", args=[self.pk])

    @property
    def is_locked(self) -> bool:
        return self.status in LOCKED_STATUSES

    @property
    def filled_volume_ml(self) -> Decimal:
        """The volume filled into vials (not voided) so far, in mL."""
        filled_ul = self.aliquots.filter(voided_at__isnull=True).aggregate(total=Sum("volume_ul"))[
            "total"
        ]
        return (filled_ul or Decimal(0)) / 1000

    @property
    def remaining_volume_ml(self) -> Decimal:
        """What is left of the lot to fill into vials, in mL."""
        return (self.volume_ml - self.filled_volume_ml).quantize(Decimal("0.001"))

    @property
    def lock_reason(self) -> str | None:
        """Why the lot and its records take no more changes (None: they do)."""
        if not self.is_locked:
            return None
        return (
            f"Lot {self} is {self.get_status_display().lower()}: its records are locked and "
            "take no changes."
        )


@audited()
class LotSource(GmpRecord):
    """An isolation run whose output went into a lot."""

    lot = models.ForeignKey(ExosomeLot, on_delete=models.PROTECT, related_name="sources")
    run = models.ForeignKey(IsolationRun, on_delete=models.PROTECT, related_name="+")

    class Meta:
        triggers = [never_deleted()]
        constraints = [models.UniqueConstraint(fields=["lot", "run"], name="lot_source_once")]

    def __str__(self):
        return f"run {self.run_id} into lot {self.lot_id}"


@audited()
class StorageLocation(GmpRecord):
    """One position in a freezer / rack / box that holds at most one vial."""

    IDENTIFIER_FIELDS = ("freezer", "rack", "box", "position")

    freezer = models.CharField(max_length=60)
    rack = models.CharField(max_length=20)
    box = models.CharField(max_length=20)
    position = models.CharField(max_length=10)

    class Meta:
        ordering = ["freezer", "rack", "box", "position"]
        triggers = [never_deleted()]
        # A position is typed on the fill and move forms as its label in any case
        # (`UPPER(part) = UPPER(%s)` on all four, lims.code_fields.StoragePositionField).
        indexes = [
            models.Index(
                Upper("freezer"),
                Upper("rack"),
                Upper("box"),
                Upper("position"),
                name="storage_position_upper",
            )
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["freezer", "rack", "box", "position"],
                name="storage_position_unique",
                violation_error_message="This storage position is already registered.",
            )
        ]

    def __str__(self):
        return f"{self.freezer} / {self.rack} / {self.box} / {self.position}"

    def get_absolute_url(self):
        return reverse("batches:storagelocation_detail", args=[self.pk])


# Vials follow their lot: quarantine until the lot's disposition, then available (released) or
# rejected (rejected: destroyed or kept as a retain sample only). The moves out of quarantine
# are made by batches.services.aliquots_follow_lot in the disposition's transaction.
ALIQUOT_TRANSITIONS = {
    "quarantine": {"available", "rejected", "destroyed"},
    "available": {"used", "shipped", "destroyed"},
    "rejected": {"retain", "destroyed"},
    "retain": {"destroyed"},
}
# Statuses only the lot's disposition gives a vial (never a plain status change).
ALIQUOT_FOLLOWS_LOT = {"available": "released", "rejected": "rejected"}


@audited()
class Aliquot(GmpRecord):
    """A labelled vial filled from a lot, and where it is stored."""

    class Status(models.TextChoices):
        QUARANTINE = "quarantine", "Quarantine"
        AVAILABLE = "available", "Available"
        USED = "used", "Used"
        SHIPPED = "shipped", "Shipped"
        REJECTED = "rejected", "Rejected"
        RETAIN = "retain", "Retain sample"
        DESTROYED = "destroyed", "Destroyed"

    TRANSITIONS = ALIQUOT_TRANSITIONS

    barcode = models.CharField(max_length=60, unique=True, editable=False)
    lot = models.ForeignKey(ExosomeLot, on_delete=models.PROTECT, related_name="aliquots")
    number = models.PositiveIntegerField(editable=False)
    volume_ul = models.DecimalField(
        max_digits=10, decimal_places=1, validators=[MinValueValidator(0.1)]
    )
    # One vial per position: the unique index is the guarantee, the form check only the message.
    location = models.OneToOneField(
        StorageLocation,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="aliquot",
    )
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.QUARANTINE, editable=False
    )
    status_reason = models.TextField(blank=True, editable=False)

    class Meta:
        ordering = ["lot", "number"]
        triggers = [never_deleted(), fsm_trigger(ALIQUOT_TRANSITIONS)]
        constraints = [
            models.UniqueConstraint(fields=["lot", "number"], name="aliquot_number_once_per_lot"),
            models.CheckConstraint(condition=Q(volume_ul__gt=0), name="aliquot_volume_positive"),
        ]

    def __str__(self):
        return self.barcode

    def get_absolute_url(self):
        return reverse("batches:aliquot_detail", args=[self.pk])


@audited()
class AliquotMove(GmpRecord):
    """A vial moved from one storage position to another (or in/out of storage)."""

    aliquot = models.ForeignKey(Aliquot, on_delete=models.PROTECT, related_name="moves")
    from_location = models.ForeignKey(
        StorageLocation, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    to_location = models.ForeignKey(
        StorageLocation, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reason = models.TextField()

    class Meta:
        ordering = ["-created_at"]
        triggers = [never_deleted()]

    def __str__(self):
        return f"{self.aliquot_id}: {self.from_location_id} -> {self.to_location_id}"


# Samples kept and samples received: a lot's retained vials (EU GMP Annex 19; 21 CFR 211.170)
# and samples that arrive from outside with their condition, temperature and chain of custody
# (21 CFR 211.84 and EU GMP Part I 5.27: incoming material examined on receipt; Annex 19 §4.1).
# Written only through batches.custody.


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
class RetainedVial(models.Model):
    """One vial picked into a retained set when it was set aside: held from then on (no use,
    shipping, move out of storage, nor a stability study: batches.vial_holds) until a withdrawal
    takes it out. One vial is retained once (the one-to-one is the database's guarantee)."""

    retained_set = models.ForeignKey(
        RetainedSet, on_delete=models.PROTECT, related_name="retained_vials"
    )
    aliquot = models.OneToOneField(Aliquot, on_delete=models.PROTECT, related_name="retained")
    withdrawal = models.ForeignKey(
        RetainWithdrawal,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="retained_vials",
    )

    class Meta:
        ordering = ["retained_set", "aliquot"]
        triggers = [
            never_deleted(),
            pgtrigger.ReadOnly(name="retained_vial_fixed", fields=["retained_set", "aliquot"]),
            # Withdrawn once, by the withdrawal that took it; never put back.
            pgtrigger.Protect(
                name="retained_vial_withdrawn_once",
                operation=pgtrigger.Update,
                condition=pgtrigger.Q(old__withdrawal_id__isnull=False),
            ),
        ]

    def __str__(self):
        return f"{self.aliquot_id} in {self.retained_set_id}"


@audited()
class SampleReceipt(GmpRecord):
    """A sample that arrived from a CMO, a clinical site or a contract lab: what it is, how it
    arrived (container condition, the shipment's temperature record) and, through its custody
    transfers, who held it. A receipt of a lot is tested like any sample of that lot, by its
    code (assays.sample_targets.resolve_samples)."""

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
