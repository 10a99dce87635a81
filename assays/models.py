"""Assays, instruments, runs and results (DOMAIN.md §3, §5).

Every model here is a GMP record: audited by database triggers and never deleted. A result
always points to the run that produced it, the run to the assay version, the instrument (or
the person) that produced it, and, when it came from a file, the original file byte for byte.
"""

import uuid
from datetime import timedelta

import pgtrigger
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from rest_framework_api_key.models import AbstractAPIKey

from assays.qc.control_limits import BASELINE_MIN_N
from assays.qc.flow import FlowGating
from assays.qc.qpcr_analysis import QpcrConfig
from assays.units import is_valid_unit
from batches.models import Aliquot, CultureBatch, ExosomeLot, ReagentLot
from lims import file_store
from lims.audit import audited
from lims.models import GmpRecord, never_deleted
from lims.transitions import fsm_trigger


def validate_unit(value: str):
    if not is_valid_unit(value):
        raise ValidationError(f"'{value}' is not a unit this system knows.")


def validate_flow_gating(value):
    if value:
        try:
            FlowGating.from_json(value)
        except ValueError as exc:
            raise ValidationError(f"Flow gating: {exc}.") from exc


def validate_qpcr(value):
    if value:
        try:
            QpcrConfig.from_json(value)
        except ValueError as exc:
            raise ValidationError(f"qPCR configuration: {exc}.") from exc


@audited()
class AssayDefinition(GmpRecord):
    """One version of a test method: what it measures, on what, by which SOP."""

    class AppliesTo(models.TextChoices):
        CULTURE_BATCH = "culture_batch", "Culture batch"
        LOT = "lot", "Exosome lot"
        ALIQUOT = "aliquot", "Aliquot"

    IDENTIFIER_FIELDS = ("code",)

    code = models.CharField(max_length=40)
    version = models.PositiveIntegerField(default=1)
    name = models.CharField(max_length=200)
    method = models.CharField(max_length=200)
    sop_reference = models.CharField(max_length=100, blank=True)
    applies_to = models.CharField(max_length=20, choices=AppliesTo.choices)
    is_current = models.BooleanField(default=True)
    minimum_days = models.PositiveSmallIntegerField(
        default=0,
        help_text="How long a run takes before its result exists (sterility by culture: 14 days, "
        "USP <71>); a result recorded sooner is refused.",
    )
    suitability = models.JSONField(
        default=list,
        blank=True,
        help_text="Validity criteria of a run (assays.qc.suitability): a run failing them is "
        "invalid, not out of specification.",
    )
    plate_layouts = models.JSONField(
        default=list,
        blank=True,
        help_text="Plate layout templates of a plate assay (assays.qc.plate.PlateLayout, each "
        "with 'reports': the analyte its samples' values are); the first is the default.",
    )
    required_reagents = ArrayField(
        models.CharField(max_length=20, choices=ReagentLot.Category.choices),
        default=list,
        blank=True,
        help_text="Categories of reagent lot a run of this assay must name (e.g. the LAL "
        "reagent of an endotoxin test).",
    )
    reference_material = models.CharField(
        max_length=40,
        blank=True,
        default="",
        help_text="The reference material a run must be tested against (a qualified, in-date "
        "ReferenceStandard of this material, USP <1032>); empty: none.",
    )
    flow_gating = models.JSONField(
        default=dict,
        blank=True,
        validators=[validate_flow_gating],
        help_text="Flow cytometry: the parent gate, each marker's channel and the control "
        "percentile that sets its threshold (assays.qc.flow.FlowGating); empty for other assays.",
    )
    qpcr = models.JSONField(
        default=dict,
        blank=True,
        validators=[validate_qpcr],
        help_text="qPCR relative quantification: targets, reference genes (geometric mean) or a "
        "spike-in, each gene's efficiency (validated, or the run's standard curve) and the "
        "calibrator (assays.qc.qpcr_analysis.QpcrConfig); empty for other assays.",
    )

    class Meta:
        ordering = ["code", "-version"]
        triggers = [never_deleted()]
        constraints = [
            models.UniqueConstraint(fields=["code", "version"], name="assay_version_once"),
            models.UniqueConstraint(
                fields=["code"], condition=Q(is_current=True), name="one_current_assay_version"
            ),
        ]

    def __str__(self):
        return f"{self.code} v{self.version}"

    def get_absolute_url(self):
        return reverse("assays:assay_detail", args=[self.pk])


@audited()
class Analyte(GmpRecord):
    """Something an assay reports: a numeric value with its unit, a qualitative call or text."""

    class ResultType(models.TextChoices):
        NUMERIC = "numeric", "Numeric"
        QUALITATIVE = "qualitative", "Qualitative"
        TEXT = "text", "Text"

    IDENTIFIER_FIELDS = ("code",)

    assay = models.ForeignKey(AssayDefinition, on_delete=models.PROTECT, related_name="analytes")
    code = models.CharField(max_length=60)
    name = models.CharField(max_length=200)
    result_type = models.CharField(max_length=20, choices=ResultType.choices)
    unit = models.CharField(max_length=40, blank=True, validators=[validate_unit])
    allowed_values = ArrayField(models.CharField(max_length=60), default=list, blank=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["assay", "position", "code"]
        triggers = [never_deleted()]
        constraints = [
            models.UniqueConstraint(fields=["assay", "code"], name="analyte_once_per_assay")
        ]

    def __str__(self):
        return f"{self.name} ({self.unit})" if self.unit else self.name


@audited()
class Instrument(GmpRecord):
    """A registered, qualified instrument (21 CFR 11.10(h): results only from these)."""

    class Status(models.TextChoices):
        IN_SERVICE = "in_service", "In service"
        OUT_OF_SERVICE = "out_of_service", "Out of service"

    TRANSITIONS = {"in_service": {"out_of_service"}, "out_of_service": {"in_service"}}
    IDENTIFIER_FIELDS = ("code", "serial_number")

    code = models.CharField(max_length=40, unique=True)
    instrument_type = models.CharField(max_length=80)
    make = models.CharField(max_length=80)
    model = models.CharField(max_length=80)
    serial_number = models.CharField(max_length=80)
    location = models.CharField(max_length=120)
    assay_codes = ArrayField(
        models.CharField(max_length=40),
        default=list,
        blank=True,
        help_text="Codes of the assays this instrument may report.",
    )
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.IN_SERVICE, editable=False
    )
    status_changed_at = models.DateTimeField(default=timezone.now, editable=False)
    status_reason = models.TextField(blank=True, editable=False)
    calibration_due_on = models.DateField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["code"]
        triggers = [
            never_deleted(),
            fsm_trigger({"in_service": {"out_of_service"}, "out_of_service": {"in_service"}}),
        ]

    def __str__(self):
        return self.code

    def get_absolute_url(self):
        return reverse("assays:instrument_detail", args=[self.pk])

    def calibration_overdue(self, on=None) -> bool:
        on = on or timezone.localdate()
        return self.calibration_due_on is not None and self.calibration_due_on < on


@audited()
class InstrumentLogEntry(GmpRecord):
    """A calibration or maintenance of an instrument, with when the next one is due."""

    class Kind(models.TextChoices):
        CALIBRATION = "calibration", "Calibration"
        MAINTENANCE = "maintenance", "Maintenance"

    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="log")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    performed_on = models.DateField()
    due_on = models.DateField(null=True, blank=True, help_text="When the next one is due.")
    performed_by = models.CharField(max_length=120)
    certificate = models.CharField(max_length=120, blank=True)
    notes = models.TextField(blank=True)

    class Meta:
        ordering = ["-performed_on", "-pk"]
        triggers = [never_deleted()]
        constraints = [
            models.CheckConstraint(
                condition=Q(due_on__isnull=True) | Q(due_on__gt=models.F("performed_on")),
                name="log_due_after_performed",
                violation_error_message="The next due date must be after the date performed.",
            )
        ]

    def __str__(self):
        return f"{self.instrument} {self.kind} {self.performed_on}"


@audited()
class InstrumentKey(AbstractAPIKey):
    """An API key of one instrument; stored hashed, shown once, with expiry and revocation."""

    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="api_keys")

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "instrument API key"
        triggers = [never_deleted()]


@audited()
class InstrumentFile(models.Model):
    """An original export file sent by an instrument or uploaded by a person (ALCOA+ original).

    The bytes live in the file store under their SHA-256, never under the client's name.
    """

    STORE_FOLDER = "instrument-files"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        PARSED = "parsed", "Parsed"
        FAILED = "failed", "Failed"

    TRANSITIONS = {"queued": {"parsed", "failed"}}

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    sha256 = models.CharField(max_length=64, db_index=True)
    size = models.BigIntegerField()
    original_name = models.CharField(max_length=255)
    format_hint = models.CharField(max_length=40, blank=True)
    detected_format = models.CharField(max_length=40, blank=True)
    sample_identifier = models.CharField(
        max_length=80,
        blank=True,
        help_text="The LIMS sample named for a file of one sample; empty when the file names its "
        "samples (sample_map).",
    )
    sample_map = models.JSONField(
        default=dict,
        blank=True,
        help_text="How the file's sample names were attributed when it was sent "
        "(assays.sample_matching): each name, its role, wells, and its LIMS sample or why it "
        "was left out.",
    )
    assay_code = models.CharField(max_length=40)
    plate_layout = models.JSONField(
        default=dict,
        blank=True,
        help_text="The plate layout chosen or edited on upload (plate assays); empty: the "
        "file's own layout, else the assay's first template.",
    )
    asm_sha256 = models.CharField(
        max_length=64,
        blank=True,
        help_text="The ASM document allotropy wrote from the file when it was received, kept "
        "in the file store under this SHA-256 (assays.kept_readings): the worker reads it "
        "rather than converting the file again. Empty for a file allotropy does not convert.",
    )
    reagent_lot_ids = ArrayField(
        models.PositiveIntegerField(),
        default=list,
        blank=True,
        help_text="Ids of the reagent lots the run used, named when the file was sent.",
    )
    instrument = models.ForeignKey(
        Instrument, on_delete=models.PROTECT, null=True, blank=True, related_name="files"
    )
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    parsed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        triggers = [never_deleted(), fsm_trigger({"queued": {"parsed", "failed"}})]

    def __str__(self):
        return f"{self.original_name} ({self.sha256[:12]})"

    @property
    def storage_name(self) -> str:
        return file_store.storage_name(self.STORE_FOLDER, self.sha256)

    def original_bytes(self) -> bytes:
        """The file as received, checked against its SHA-256."""
        return file_store.read(self.storage_name, sha256=self.sha256)


RUN_TRANSITIONS = {"recorded": {"reviewed", "invalidated"}, "reviewed": {"invalidated"}}


@audited()
class AssayRun(GmpRecord):
    """One execution of an assay version on one or more samples, by a person or an instrument."""

    class Status(models.TextChoices):
        RECORDED = "recorded", "Recorded"
        REVIEWED = "reviewed", "Reviewed"
        INVALIDATED = "invalidated", "Invalidated"

    class Source(models.TextChoices):
        MANUAL = "manual", "Entered by hand"
        API_JSON = "api_json", "Instrument (JSON)"
        API_ASM = "api_asm", "Instrument (ASM)"
        FILE = "file", "Instrument file"

    TRANSITIONS = RUN_TRANSITIONS
    IDENTIFIER_FIELDS = ("external_id",)

    assay = models.ForeignKey(AssayDefinition, on_delete=models.PROTECT, related_name="runs")
    instrument = models.ForeignKey(
        Instrument, on_delete=models.PROTECT, null=True, blank=True, related_name="runs"
    )
    operator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    source = models.CharField(max_length=20, choices=Source.choices)
    source_file = models.ForeignKey(
        InstrumentFile, on_delete=models.PROTECT, null=True, blank=True, related_name="runs"
    )
    reagent_lots = models.ManyToManyField(
        ReagentLot, through="RunReagentUse", related_name="assay_runs", blank=True
    )
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.RECORDED, editable=False
    )
    status_reason = models.TextField(blank=True, editable=False)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
    )
    retest_of = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="retests"
    )
    external_id = models.CharField(max_length=120, blank=True, help_text="The sender's run id.")
    backdate_reason = models.TextField(
        blank=True,
        default="",
        help_text="Why the run was recorded more than BACKDATE_DAYS after it started; a run "
        "with a reason is flagged as back-dated on review.",
    )
    metrics_computed_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="When QC metrics were last computed; empty means they are still owed.",
    )

    class Meta:
        ordering = ["-started_at", "-pk"]
        triggers = [never_deleted(), fsm_trigger(RUN_TRANSITIONS)]
        constraints = [
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True) | Q(ended_at__gte=models.F("started_at")),
                name="run_times_in_order",
                violation_error_message="The run cannot end before it starts.",
            )
        ]
        # The runs' own order (lists, the API's keyset pages): a page reads its rows from this
        # index and stops at its limit, never a sort of every run (issue 14).
        indexes = [models.Index(fields=["started_at", "id"], name="assayrun_started_id")]

    def __str__(self):
        return f"{self.assay.code} run {self.pk}"

    def get_absolute_url(self):
        return reverse("assays:run_detail", args=[self.pk])

    @property
    def is_backdated(self) -> bool:
        return bool(self.backdate_reason)


@audited()
class RunReagentUse(GmpRecord):
    """A reagent lot (kit, standard, control) used in an assay run."""

    run = models.ForeignKey(AssayRun, on_delete=models.PROTECT, related_name="reagent_uses")
    reagent_lot = models.ForeignKey(ReagentLot, on_delete=models.PROTECT, related_name="+")

    class Meta:
        triggers = [never_deleted()]
        constraints = [
            models.UniqueConstraint(fields=["run", "reagent_lot"], name="run_reagent_once")
        ]

    def __str__(self):
        return f"{self.reagent_lot_id} in run {self.run_id}"


@audited()
class RunSample(GmpRecord):
    """A sample tested in a run: a culture batch, a lot or one of its vials."""

    run = models.ForeignKey(AssayRun, on_delete=models.PROTECT, related_name="samples")
    culture_batch = models.ForeignKey(
        CultureBatch, on_delete=models.PROTECT, null=True, blank=True, related_name="assay_samples"
    )
    lot = models.ForeignKey(
        ExosomeLot, on_delete=models.PROTECT, null=True, blank=True, related_name="assay_samples"
    )
    aliquot = models.ForeignKey(
        Aliquot, on_delete=models.PROTECT, null=True, blank=True, related_name="assay_samples"
    )
    label = models.CharField(max_length=80, help_text="The identifier the sender used.")

    class Meta:
        triggers = [never_deleted()]
        constraints = [
            models.CheckConstraint(
                condition=Q(culture_batch__isnull=False, lot__isnull=True)
                | Q(culture_batch__isnull=True, lot__isnull=False),
                name="sample_is_batch_or_lot",
            )
        ]

    def __str__(self):
        return self.label


@audited()
class Result(GmpRecord):
    """One reported value of one analyte for one sample in a run."""

    run = models.ForeignKey(AssayRun, on_delete=models.PROTECT, related_name="results")
    sample = models.ForeignKey(RunSample, on_delete=models.PROTECT, related_name="results")
    analyte = models.ForeignKey(Analyte, on_delete=models.PROTECT, related_name="results")
    value = models.FloatField(null=True, blank=True)
    text_value = models.CharField(max_length=200, blank=True)
    unit = models.CharField(max_length=40, blank=True)
    qualifier = models.CharField(max_length=10, blank=True, help_text="e.g. <LLOQ, >ULOQ")
    replicate = models.CharField(max_length=40, blank=True)
    well = models.CharField(max_length=10, blank=True)
    target = models.CharField(
        max_length=60,
        blank=True,
        help_text="qPCR target or multiplex analyte, when the assay has one.",
    )
    source_sample = models.CharField(
        max_length=120, blank=True, help_text="The sample name as the instrument wrote it."
    )
    flags = ArrayField(models.CharField(max_length=40), default=list, blank=True)
    source_file = models.ForeignKey(
        InstrumentFile, on_delete=models.PROTECT, null=True, blank=True, related_name="results"
    )

    class Meta:
        ordering = ["run", "sample", "analyte", "replicate", "well"]
        triggers = [never_deleted()]
        indexes = [models.Index(fields=["analyte", "sample"])]

    def __str__(self):
        shown = self.text_value if self.value is None else f"{self.qualifier}{self.value:g}"
        return f"{self.analyte.code} = {shown} {self.unit}".strip()


@audited()
class QCMetric(models.Model):
    """A value computed from results by a validated algorithm (DOMAIN.md §4).

    It describes a run, a lot or a culture batch, and records its inputs (results and files)
    and the algorithm name and version. Rows are never updated: computing again with the same
    inputs and algorithm finds the row already there; a new algorithm version adds rows and the
    old ones stay visible.
    """

    run = models.ForeignKey(
        AssayRun, on_delete=models.PROTECT, null=True, blank=True, related_name="metrics"
    )
    lot = models.ForeignKey(
        ExosomeLot, on_delete=models.PROTECT, null=True, blank=True, related_name="metrics"
    )
    culture_batch = models.ForeignKey(
        CultureBatch, on_delete=models.PROTECT, null=True, blank=True, related_name="metrics"
    )
    code = models.CharField(max_length=60)
    value = models.FloatField(null=True)
    unit = models.CharField(max_length=40, blank=True)
    details = models.JSONField(default=dict, blank=True)
    input_results = ArrayField(models.BigIntegerField(), default=list, blank=True)
    input_files = ArrayField(models.UUIDField(), default=list, blank=True)
    inputs_hash = models.CharField(max_length=64)
    algorithm = models.CharField(max_length=60)
    algorithm_version = models.CharField(max_length=20)
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["code", "-computed_at"]
        triggers = [
            never_deleted(),
            pgtrigger.Protect(name="never_updated", operation=pgtrigger.Update),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["code", "inputs_hash", "algorithm", "algorithm_version"],
                name="metric_once_per_inputs_and_algorithm",
            ),
            models.CheckConstraint(
                condition=Q(run__isnull=False)
                | Q(lot__isnull=False)
                | Q(culture_batch__isnull=False),
                name="metric_describes_something",
            ),
        ]
        indexes = [
            models.Index(fields=["lot", "code"]),
            models.Index(fields=["culture_batch", "code"]),
            # The trend page (assays.qc_selectors): a code's metrics of lots, of batches, of
            # neither (a run's), each newest first by computation, or found absent in one probe.
            models.Index(
                fields=["code", "computed_at"],
                include=["id", "lot"],
                condition=Q(lot__isnull=False),
                name="metric_of_a_lot_computed",
            ),
            models.Index(
                fields=["code", "computed_at"],
                include=["id", "culture_batch"],
                condition=Q(lot__isnull=True, culture_batch__isnull=False),
                name="metric_of_a_batch_computed",
            ),
            models.Index(
                fields=["code", "computed_at"],
                condition=Q(lot__isnull=True, culture_batch__isnull=True),
                name="metric_of_a_run_computed",
            ),
        ]

    def __str__(self):
        return f"{self.code} = {self.value:g} {self.unit}" if self.value is not None else self.code


CONTROL_BASELINE_TRANSITIONS = {"draft": {"approved"}, "approved": {"superseded"}}
# What a baseline's signature binds: its numbers and points never change once recorded.
CONTROL_BASELINE_CONTENT = (
    "metric_code",
    "assay_code",
    "version",
    "mean",
    "sd",
    "n",
    "points",
    "excluded",
    "method",
    "reason",
)


@audited()
class ControlBaseline(GmpRecord):
    """The fixed mean and SD a metric's control chart is judged against (CLSI C24).

    Set from a baseline of at least 20 in-control points of the metric's trend series (the
    first ``n`` in date order, or a set chosen by the analyst or QA), versioned per metric code,
    approved by QA with an e-signature (meaning: approval). Only the approved version judges;
    approving a newer one supersedes it (one approved version per metric at a time). The
    numbers and the points are never changed after they are recorded (a database trigger).
    """

    class Method(models.TextChoices):
        FIRST_N = "first_n", "The first n in-control points, in date order"
        SET = "set", "A set of points chosen"

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        APPROVED = "approved", "Approved"
        SUPERSEDED = "superseded", "Superseded"

    TRANSITIONS = CONTROL_BASELINE_TRANSITIONS

    metric_code = models.CharField(max_length=60)
    assay_code = models.CharField(
        max_length=40, blank=True, help_text="The assay the series is restricted to, if any."
    )
    version = models.PositiveIntegerField()
    mean = models.FloatField()
    sd = models.FloatField()
    n = models.PositiveIntegerField()
    points = models.JSONField(
        help_text="The points the baseline was set from, in date order: "
        "[{metric_id, label, x, value}, ...]."
    )
    excluded = models.JSONField(
        default=list,
        blank=True,
        help_text="Points of the series left out of the baseline (not in control).",
    )
    method = models.CharField(max_length=10, choices=Method.choices)
    reason = models.TextField()
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

    class Meta:
        ordering = ["metric_code", "-version"]
        triggers = [
            never_deleted(),
            fsm_trigger(CONTROL_BASELINE_TRANSITIONS),
            pgtrigger.ReadOnly(
                name="baseline_content_never_changes", fields=list(CONTROL_BASELINE_CONTENT)
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["metric_code", "version"], name="control_baseline_version_once"
            ),
            models.UniqueConstraint(
                fields=["metric_code"],
                condition=Q(status="approved"),
                name="one_approved_control_baseline_per_metric",
            ),
            models.CheckConstraint(
                condition=Q(sd__gt=0) & Q(n__gte=BASELINE_MIN_N),
                name="control_baseline_sd_positive_n_20",
                violation_error_message="A baseline needs at least 20 points and a positive SD.",
            ),
            models.CheckConstraint(
                condition=Q(status="draft") | Q(approval_signature__isnull=False),
                name="control_baseline_approved_signed",
                violation_error_message="An approved baseline carries its approval signature.",
            ),
        ]

    def __str__(self):
        return f"{self.metric_code} baseline v{self.version}"

    def get_absolute_url(self):
        return reverse("qc:baseline_detail", args=[self.pk])

    def signed_content(self) -> dict:
        """What QA's approval signature binds (lims.signatures.content_hash)."""
        return {
            "control_baseline": f"{self.metric_code} v{self.version}",
            **{name: getattr(self, name) for name in CONTROL_BASELINE_CONTENT},
        }


class RecomputeJob(models.Model):
    """A bulk recomputation of QC metrics started by an analyst, with its progress."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    assay_code = models.CharField(max_length=40, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    metrics_added = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"Recompute {self.assay_code or 'all'} ({self.status})"

    @property
    def percent(self) -> int:
        return 100 if not self.total else int(100 * self.done / self.total)


def idempotency_lease_deadline():
    """Until when a request that claims an Idempotency-Key holds it unless it renews."""
    return timezone.now() + timedelta(seconds=settings.IDEMPOTENCY_LEASE_SECONDS)


class IdempotencyRecord(models.Model):
    """The stored answer to a POST sent with an Idempotency-Key, replayed on a retry."""

    principal = models.CharField(max_length=80)
    key = models.CharField(max_length=200)
    request_hash = models.CharField(max_length=64)
    path = models.CharField(max_length=200)
    completed = models.BooleanField(default=False)
    response_status = models.PositiveSmallIntegerField(null=True)
    response_body = models.JSONField(null=True)
    created_at = models.DateTimeField(default=timezone.now)
    lease_until = models.DateTimeField(
        default=idempotency_lease_deadline,
        help_text="While not completed: renewed by the request that holds the key; once past, "
        "the request is taken for dead and a retry with the same key may take over.",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["principal", "key"], name="idempotency_key_once")
        ]

    def __str__(self):
        return f"{self.principal}:{self.key}"


from assays.nta_models import NtaDilutionRecord, NtaRunSummary  # noqa: E402, F401
from assays.plate_models import PlateAnalysis  # noqa: E402, F401
from assays.reference_models import ReferenceStandard, RunReferenceStandard  # noqa: E402, F401
