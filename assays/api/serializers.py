"""Output serializers shared by several endpoints (a result, a run). They read the plain rows of
assays.api.selectors; per-endpoint input and output serializers are nested in their views."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.reverse import reverse

from assays.models import AssayRun


class ResultOutput(serializers.Serializer):
    """One stored value, in the analyte's unit (converted from the unit it was sent in)."""

    id = serializers.IntegerField()
    run = serializers.IntegerField(source="run_ref")
    assay = serializers.CharField(source="assay_code")
    analyte = serializers.CharField(source="analyte_code")
    sample = serializers.CharField(source="sample_label", help_text="Identifier as sent.")
    culture_batch = serializers.CharField(source="culture_batch_code", allow_null=True)
    lot = serializers.CharField(source="lot_code", allow_null=True)
    aliquot = serializers.CharField(source="aliquot_barcode", allow_null=True)
    instrument = serializers.CharField(source="instrument_code", allow_null=True)
    value = serializers.FloatField(allow_null=True)
    text_value = serializers.CharField()
    unit = serializers.CharField(help_text="The analyte's unit; empty for qualitative values.")
    qualifier = serializers.CharField()
    replicate = serializers.CharField()
    well = serializers.CharField()
    target = serializers.CharField()
    flags = serializers.ListField(child=serializers.CharField())
    source_sample = serializers.CharField(help_text="The sample name as the instrument wrote it.")
    source_file = serializers.UUIDField(allow_null=True)
    recorded_at = serializers.DateTimeField(source="created_at")
    voided_at = serializers.DateTimeField(allow_null=True)


class RunLinkMixin(serializers.Serializer):
    url = serializers.SerializerMethodField()

    @extend_schema_field(OpenApiTypes.URI)
    def get_url(self, row) -> str:
        return reverse("api:run-detail", args=[row["id"]], request=self.context.get("request"))


class RunSummaryOutput(RunLinkMixin):
    id = serializers.IntegerField()
    assay = serializers.CharField(source="assay_code")
    assay_version = serializers.IntegerField()
    status = serializers.ChoiceField(choices=AssayRun.Status.choices)
    status_reason = serializers.CharField()
    source = serializers.ChoiceField(choices=AssayRun.Source.choices)
    instrument = serializers.CharField(source="instrument_code", allow_null=True)
    operator = serializers.CharField(
        source="operator_username", allow_null=True, help_text="The person, for manual runs."
    )
    started_at = serializers.DateTimeField()
    ended_at = serializers.DateTimeField(allow_null=True)
    external_id = serializers.CharField(help_text="The sender's own run id.")
    backdated = serializers.SerializerMethodField(
        help_text="Recorded more than BACKDATE_DAYS after it started (with a reason): flagged "
        "for review."
    )
    backdate_reason = serializers.CharField(help_text="Why the run was recorded late.")
    retest_of = serializers.IntegerField(allow_null=True)
    source_file = serializers.UUIDField(allow_null=True)
    recorded_at = serializers.DateTimeField(source="created_at")
    voided_at = serializers.DateTimeField(allow_null=True)

    def get_backdated(self, row) -> bool:
        return bool(row["backdate_reason"])


class RunListOutput(RunSummaryOutput):
    samples = serializers.ListField(child=serializers.CharField(), source="sample_labels")
    result_count = serializers.IntegerField()


class RunSampleOutput(serializers.Serializer):
    label = serializers.CharField(help_text="The identifier the sender used.")
    culture_batch = serializers.CharField(source="culture_batch_code", allow_null=True)
    lot = serializers.CharField(source="lot_code", allow_null=True)
    aliquot = serializers.CharField(source="aliquot_barcode", allow_null=True)


class RunReagentLotOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    supplier = serializers.CharField()
    lot_number = serializers.CharField()
    expiry_date = serializers.DateField()


class RunReferenceOutput(serializers.Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField()
    material = serializers.CharField()


class RelativePotencyOutput(serializers.Serializer):
    """Parallel 4PL against the reference (USP <1034>), as a percentage of its assigned
    potency, with its confidence interval and the parallelism (slope-ratio equivalence)."""

    value = serializers.FloatField(allow_null=True)
    unit = serializers.CharField()
    low = serializers.FloatField(allow_null=True, help_text="Lower bound of the interval.")
    high = serializers.FloatField(allow_null=True, help_text="Upper bound of the interval.")
    level = serializers.FloatField(allow_null=True, help_text="Confidence level, e.g. 0.95.")
    parallel = serializers.BooleanField(allow_null=True)
    slope_ratio = serializers.FloatField(allow_null=True)
    slope_ratio_low = serializers.FloatField(allow_null=True)
    slope_ratio_high = serializers.FloatField(allow_null=True)
    slope_ratio_bounds = serializers.CharField()
    reportable = serializers.BooleanField(allow_null=True)
    refusal = serializers.CharField(help_text="Why it cannot be reported, or empty.")


class RunDetailOutput(RunSummaryOutput):
    samples = RunSampleOutput(many=True)
    reagent_lots = RunReagentLotOutput(many=True)
    results = ResultOutput(many=True)
    reference_standard = RunReferenceOutput(
        allow_null=True, help_text="The reference standard the run was tested against."
    )
    relative_potency = RelativePotencyOutput(
        allow_null=True, help_text="Once computed, for a run against a reference standard."
    )
