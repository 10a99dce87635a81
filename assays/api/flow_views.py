"""POST a flow cytometry tube and its control as FCS files (issue 10): the instrument's own way
in to what the browser's "Upload sample and control FCS files" does (assays.flow_services).

The run is recorded at once (both files are read and gated in well under a second, as in the
browser), or refused whole: nothing is kept of a refused request, not even the originals.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError as RefusedError
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from assays import flow_services
from assays.api import schema, selectors
from assays.api.errors import PayloadTooLarge, django_errors
from assays.api.idempotency import idempotent
from assays.api.parsers import MultiPartParser, UploadLimitHandler
from assays.api.permissions import require_assay_allowed
from assays.api.serializers import RunDetailOutput
from assays.api.views import MAX_ID, ApiView, check_times, run_response, validated
from lims.identifiers import validate_visible

FILE_FIELDS = ("sample_file", "control_file")


def _marker_channels(value: object) -> dict[str, str]:
    """A JSON object of marker → channel ($PnN or $PnS), both short visible text."""
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and 0 < len(k) <= 40 and 0 < len(v) <= 80
        for k, v in value.items()
    ):
        raise serializers.ValidationError(
            'A JSON object of marker to channel ($PnN or $PnS): `{"CD73": "BL1-A"}`.'
        )
    if len(value) > 40:
        raise serializers.ValidationError("At most 40 markers.")
    for text in (*value, *value.values()):
        validate_visible(text)
    return value


class FlowRunCreateApi(ApiView):
    class FlowInput(serializers.Serializer):
        assay = serializers.CharField(
            max_length=40, help_text="Code of an assay carrying a flow gating, e.g. ISCT-FLOW."
        )
        sample = serializers.CharField(
            max_length=80,
            validators=[validate_visible],
            help_text="The LIMS sample the tube holds: culture batch code, lot code or vial "
            "barcode (an FCS file does not name it).",
        )
        sample_file = serializers.FileField(
            allow_empty_file=False, help_text="The stained tube's FCS file, unchanged."
        )
        control_file = serializers.FileField(
            allow_empty_file=False,
            help_text="Its isotype (or unstained, FMO) control's FCS file, unchanged: it sets "
            "each marker's threshold (the gating's percentile of its gated events).",
        )
        markers = serializers.JSONField(
            binary=True,
            required=False,
            default=dict,
            help_text="JSON object naming, for this run, the channel ($PnN or $PnS) of markers "
            'whose stain labels ($PnS) do not name them: `{"CD73": "BL1-A"}`. Only the '
            "gating's markers; the others are found by their label as the gating says.",
        )
        started_at = serializers.DateTimeField(
            required=False, default=None, help_text="When the tube was acquired (default: now)."
        )
        external_id = serializers.CharField(
            max_length=120,
            required=False,
            allow_blank=True,
            default="",
            validators=[validate_visible],
            help_text="The sender's own run id.",
        )
        reagent_lots = serializers.ListField(
            child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
            required=False,
            default=list,
            max_length=50,
            help_text="Ids of the reagent lots (antibody panel, isotype controls) used.",
        )
        backdate_reason = serializers.CharField(
            max_length=2000,
            required=False,
            allow_blank=True,
            default="",
            help_text="Required when `started_at` is more than BACKDATE_DAYS (2) days ago.",
        )

        def validate_markers(self, value: object) -> dict[str, str]:
            return _marker_channels(value)

    parser_classes = [MultiPartParser]

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        request.upload_handlers.insert(0, UploadLimitHandler(request))

    @extend_schema(
        summary="Record a flow cytometry run from its sample and control FCS files",
        description="Multipart: `sample_file` (the stained tube) and `control_file` (its "
        "isotype, unstained or FMO control), one of each per request, `assay` (its definition "
        "carries the gating: parent gate, markers, control percentile), `sample` (the LIMS "
        "sample), optional `markers` (JSON, marker → channel), `started_at`, `external_id`, "
        "`reagent_lots` (ids, repeated) and `backdate_reason`. Both files are read, gated and "
        "kept byte for byte; % positive per marker and the event count are the run's results "
        "and the ISCT verdict is computed from them, as in the browser upload. A file that is "
        "not a readable FCS file is 400 (`validation_error`, the reader's reason under its "
        "field); a readable file the gating cannot use (a gate channel missing, no event in "
        "the gate) is 422 under its field. Nothing is kept of a refused request. Instrument "
        "keys only.",
        request={"multipart/form-data": FlowInput},
        parameters=[schema.IDEMPOTENCY_KEY, schema.REPLAYED],
        responses={201: RunDetailOutput},
    )
    @idempotent
    def post(self, request):
        for field in FILE_FIELDS:
            if len(request.FILES.getlist(field)) > 1:
                raise ValidationError({field: ["One file per field: one tube per request."]})
        data = validated(self.FlowInput, request.data)
        require_assay_allowed(request.user, data["assay"])
        uploads = {}
        for field in FILE_FIELDS:
            upload = data[field]
            limit = settings.FILE_UPLOAD_MAX_BYTES
            if upload.size > limit:
                raise PayloadTooLarge(
                    f"The file is {upload.size} bytes, over the limit of {limit}."
                )
            name = (upload.name or f"{field}.fcs").replace("\x00", "")
            uploads[field] = flow_services.FcsUpload(name, upload.read())
        started_at = data["started_at"] or timezone.now()
        check_times(started_at, None)
        try:
            run = flow_services.flow_run_record(
                actor=None,
                instrument=request.user.instrument,
                assay_code=data["assay"],
                sample_identifier=data["sample"],
                sample_file=uploads["sample_file"],
                control_file=uploads["control_file"],
                started_at=started_at,
                reagent_lots=selectors.reagent_lots_by_id(data["reagent_lots"]),
                backdate_reason=data["backdate_reason"],
                marker_channels=data["markers"],
                external_id=data["external_id"],
            )
        except RefusedError as exc:
            if _unreadable_only(exc):
                # Not an FCS file, truncated: the request is wrong, not refused by the records.
                raise ValidationError(django_errors(exc)) from exc
            raise
        return run_response(request, run.pk)


def _unreadable_only(exc: RefusedError) -> bool:
    if not hasattr(exc, "error_dict"):
        return False
    codes = [e.code for errors in exc.error_dict.values() for e in errors]
    return bool(codes) and all(c == flow_services.UNREADABLE for c in codes)
