"""A plate assay run computed from its plate (issue 10 item 5): the layout, the reader's value
of every well, the fitted standard curve and its parameters (assays.qc.plate)."""

from django.db import models

from lims.audit import audited
from lims.models import GmpRecord, never_deleted


@audited()
class PlateAnalysis(GmpRecord):
    """How a plate run's reportable values were computed: what each well held (the layout), what
    the reader read there, the curve fitted to the standards (method, parameters, statistics) and
    why the plate is not usable, if it is not. Written once with the run; never edited (a new
    computation is a new run)."""

    run = models.OneToOneField("assays.AssayRun", on_delete=models.PROTECT, related_name="plate")
    source_file = models.ForeignKey(
        "assays.InstrumentFile", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    layout = models.JSONField(help_text="The plate layout used (assays.qc.plate.PlateLayout).")
    layout_origin = models.CharField(
        max_length=200, help_text="Where the layout came from: a template, the file, the uploader."
    )
    readings = models.JSONField(help_text="plate → well → the reader's value, as in the file.")
    fit = models.CharField(max_length=10)
    parameters = models.JSONField(default=dict, blank=True)
    statistics = models.JSONField(default=dict, blank=True)
    failures = models.JSONField(default=list, blank=True)
    blank_mean = models.FloatField(null=True, blank=True)
    wavelengths_nm = models.JSONField(
        default=list, blank=True, help_text="Wavelengths the file says it read."
    )
    algorithm_version = models.CharField(max_length=20)

    class Meta:
        triggers = [never_deleted()]

    def __str__(self):
        return f"plate of run {self.run_id} ({self.fit})"
