"""The instrument REST API, v1: one class per endpoint, thin (STYLE.md §4).

Each view validates its input with a nested serializer, calls a service (writes) or a selector
(reads), and serializes the output. Authentication (instrument key or browser session),
permissions, throttling and the error format are set for all of them in settings.REST_FRAMEWORK.
"""

import re

from django.conf import settings
from django.core.exceptions import ValidationError as RefusedError
from django.utils import timezone
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.generics import ListAPIView
from rest_framework.pagination import BasePagination
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from assays import ingest, services
from assays.api import schema, selectors
from assays.api.auth import is_instrument
from assays.api.errors import MalformedRequest, PayloadTooLarge
from assays.api.idempotency import idempotent
from assays.api.pagination import (
    AliquotPagination,
    CultureBatchPagination,
    LotPagination,
    Pagination,
    ResultPagination,
    RunPagination,
)
from assays.api.parsers import (
    JSONParser,
    MultiPartParser,
    UploadLimitHandler,
    check_storable_text,
)
from assays.api.permissions import require_assay_allowed
from assays.api.serializers import ResultOutput, RunDetailOutput, RunListOutput, RunSummaryOutput
from assays.filters import AssayFilter, InstrumentFilter, ResultFilter, RunFilter
from assays.models import Analyte, AssayDefinition, AssayRun, Instrument, InstrumentFile
from assays.parsers import ParseError
from batches.filters import AliquotFilter, CultureBatchFilter, ExosomeLotFilter
from batches.models import Aliquot, CultureBatch, ExosomeLot
from lims.identifiers import validate_visible

MAX_ID = 2**63 - 1
# Room for the multipart boundaries and the small text fields around an uploaded file.
MULTIPART_OVERHEAD = 16 * 1024
# A run posted with a clock slightly ahead of the server's is not "in the future".


def validated(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class ApiView(APIView):
    """Refuses a body over its limit from its Content-Length, before reading it."""

    # Whether an instrument key may GET the endpoint (assays.api.permissions): only where an
    # instrument needs it to post its results.
    instrument_reads = False

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if request.method == "POST":
            _check_content_length(request)


def _check_content_length(request) -> None:
    """A file upload (multipart) may be as large as FILE_UPLOAD_MAX_BYTES; any other body (JSON)
    only API_JSON_MAX_BYTES: a JSON document is parsed whole in memory."""
    if request.content_type.startswith("multipart/"):
        limit, allowed = settings.FILE_UPLOAD_MAX_BYTES, "the upload limit"
        overhead = MULTIPART_OVERHEAD
    else:
        limit, allowed = settings.API_JSON_MAX_BYTES, "the JSON body limit"
        overhead = 0
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError as exc:
        raise MalformedRequest("The Content-Length header is not a number.") from exc
    if length > limit + overhead:
        raise PayloadTooLarge(f"The request is {length} bytes, over {allowed} of {limit} bytes.")


class ListApi(ListAPIView, ApiView):
    """A paginated, filtered list of plain rows from a selector."""

    pagination_class: type[BasePagination] = Pagination
    filter_backends = [DjangoFilterBackend]


def _summary(summary: str, **kwargs):
    return extend_schema(summary=summary, **kwargs)


# --- Production records ----------------------------------------------------------------------


@extend_schema_view(get=_summary("List culture batches"))
class CultureBatchListApi(ListApi):
    """Culture batches (MSC expansions), newest first."""

    instrument_reads = True

    class CultureBatchOutput(serializers.Serializer):
        id = serializers.IntegerField()
        code = serializers.CharField()
        status = serializers.ChoiceField(choices=CultureBatch.Status.choices)
        started_on = serializers.DateField()
        cell_bank = serializers.CharField(source="cell_bank_code")
        donor = serializers.CharField(source="donor_code")
        created_at = serializers.DateTimeField()
        voided_at = serializers.DateTimeField(allow_null=True)

    serializer_class = CultureBatchOutput
    filterset_class = CultureBatchFilter
    pagination_class = CultureBatchPagination  # offset in a window, then cursor

    def get_queryset(self):
        return selectors.culture_batch_rows()


class LotGenealogyOutput(serializers.Serializer):
    isolation_runs = serializers.ListField(
        child=serializers.CharField(), source="isolation_run_codes"
    )
    culture_batches = serializers.ListField(
        child=serializers.CharField(), source="culture_batch_codes"
    )
    cell_banks = serializers.ListField(child=serializers.CharField(), source="cell_bank_codes")
    donors = serializers.ListField(child=serializers.CharField(), source="donor_codes")


GENEALOGY = OpenApiParameter(
    name="genealogy",
    type=OpenApiTypes.BOOL,
    description="Include each lot's isolation runs, culture batches, cell banks and donors.",
)


@extend_schema_view(get=_summary("List exosome lots", parameters=[GENEALOGY]))
class LotListApi(ListApi):
    """Exosome lots, newest first; with `?genealogy=true`, where each came from."""

    instrument_reads = True

    class LotQuery(serializers.Serializer):
        genealogy = serializers.BooleanField(required=False, default=False)

    class LotOutput(serializers.Serializer):
        id = serializers.IntegerField()
        code = serializers.CharField()
        status = serializers.ChoiceField(choices=ExosomeLot.Status.choices)
        manufactured_on = serializers.DateField()
        volume_ml = serializers.DecimalField(
            max_digits=10, decimal_places=3, coerce_to_string=False
        )
        created_at = serializers.DateTimeField()
        voided_at = serializers.DateTimeField(allow_null=True)
        genealogy = serializers.SerializerMethodField()

        @extend_schema_field(LotGenealogyOutput(allow_null=True))
        def get_genealogy(self, row):
            if "isolation_run_codes" not in row:
                return None
            return LotGenealogyOutput(row).data

    serializer_class = LotOutput
    filterset_class = ExosomeLotFilter
    pagination_class = LotPagination  # offset in a window, then cursor

    def get_queryset(self):
        query = validated(self.LotQuery, self.request.query_params) if self.request else {}
        return selectors.lot_rows(genealogy=query.get("genealogy", False))


class StorageOutput(serializers.Serializer):
    freezer = serializers.CharField(source="location_freezer")
    rack = serializers.CharField(source="location_rack")
    box = serializers.CharField(source="location_box")
    position = serializers.CharField(source="location_position")


@extend_schema_view(get=_summary("List aliquots (vials)"))
class AliquotListApi(ListApi):
    """Vials filled from lots, and where each is stored."""

    instrument_reads = True

    class AliquotOutput(serializers.Serializer):
        id = serializers.IntegerField()
        barcode = serializers.CharField()
        lot = serializers.CharField(source="lot_code")
        number = serializers.IntegerField()
        volume_ul = serializers.DecimalField(
            max_digits=10, decimal_places=1, coerce_to_string=False
        )
        status = serializers.ChoiceField(choices=Aliquot.Status.choices)
        location = serializers.SerializerMethodField()
        created_at = serializers.DateTimeField()
        voided_at = serializers.DateTimeField(allow_null=True)

        @extend_schema_field(StorageOutput(allow_null=True))
        def get_location(self, row):
            return StorageOutput(row).data if row["location_freezer"] is not None else None

    serializer_class = AliquotOutput
    filterset_class = AliquotFilter
    pagination_class = AliquotPagination  # offset in a window, then cursor

    def get_queryset(self):
        return selectors.aliquot_rows()


# --- Assays and instruments ------------------------------------------------------------------


class AnalyteOutput(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    result_type = serializers.ChoiceField(choices=Analyte.ResultType.choices)
    unit = serializers.CharField(help_text="Unit results are stored in; empty if none.")
    allowed_values = serializers.ListField(
        child=serializers.CharField(), help_text="For qualitative analytes."
    )


@extend_schema_view(get=_summary("List assays and their analytes"))
class AssayListApi(ListApi):
    """The assay catalogue, every version, with the analytes each reports."""

    instrument_reads = True

    class AssayOutput(serializers.Serializer):
        id = serializers.IntegerField()
        code = serializers.CharField()
        version = serializers.IntegerField()
        name = serializers.CharField()
        method = serializers.CharField()
        sop_reference = serializers.CharField()
        applies_to = serializers.ChoiceField(choices=AssayDefinition.AppliesTo.choices)
        is_current = serializers.BooleanField()
        analytes = AnalyteOutput(many=True, source="analyte_list")

    serializer_class = AssayOutput
    filterset_class = AssayFilter

    def get_queryset(self):
        return selectors.assay_rows()


@extend_schema_view(get=_summary("List instruments"))
class InstrumentListApi(ListApi):
    """Registered instruments: status, the assays each may report, calibration due date."""

    instrument_reads = True

    class InstrumentOutput(serializers.Serializer):
        id = serializers.IntegerField()
        code = serializers.CharField()
        instrument_type = serializers.CharField()
        make = serializers.CharField()
        model = serializers.CharField()
        serial_number = serializers.CharField()
        location = serializers.CharField()
        assay_codes = serializers.ListField(child=serializers.CharField())
        status = serializers.ChoiceField(choices=Instrument.Status.choices)
        status_changed_at = serializers.DateTimeField()
        status_reason = serializers.CharField()
        calibration_due_on = serializers.DateField(allow_null=True)
        calibration_overdue = serializers.SerializerMethodField()

        def get_calibration_overdue(self, row) -> bool:
            due = row["calibration_due_on"]
            return due is not None and due < timezone.localdate()

    serializer_class = InstrumentOutput
    filterset_class = InstrumentFilter

    def get_queryset(self):
        return selectors.instrument_rows()


# --- Runs and results ------------------------------------------------------------------------


def _unit_form(value: str) -> None:
    # pint evaluates the arithmetic in a unit: "10^999999999 nm" is a denial of service.
    if re.search(r"\d{4,}", value):
        raise serializers.ValidationError("A unit has no number longer than three digits.")


class ResultInputSerializer(serializers.Serializer):
    sample = serializers.CharField(
        max_length=80,
        validators=[validate_visible],
        help_text="Culture batch code, lot code or vial barcode (LIMS identifier).",
    )
    analyte = serializers.CharField(max_length=60, help_text="Analyte code of the assay.")
    value = serializers.FloatField(
        required=False, allow_null=True, help_text="Numeric value, in `unit`."
    )
    unit = serializers.CharField(
        max_length=40,
        required=False,
        allow_blank=True,
        default="",
        validators=[_unit_form],
        help_text="Unit of `value`; converted to the analyte's unit (empty: the analyte's).",
    )
    text_value = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        default="",
        help_text="Qualitative or text result (e.g. `not detected`).",
    )
    qualifier = serializers.CharField(
        max_length=10, required=False, allow_blank=True, default="", help_text="e.g. `<LLOQ`."
    )
    replicate = serializers.CharField(max_length=40, required=False, allow_blank=True, default="")
    well = serializers.CharField(max_length=10, required=False, allow_blank=True, default="")
    target = serializers.CharField(
        max_length=60,
        required=False,
        allow_blank=True,
        default="",
        help_text="qPCR target or multiplex analyte.",
    )
    source_sample = serializers.CharField(
        max_length=120,
        required=False,
        allow_blank=True,
        default="",
        help_text="The sample name as the instrument wrote it.",
    )
    flags = serializers.ListField(
        child=serializers.CharField(max_length=40), required=False, default=list, max_length=20
    )


def check_times(started_at, ended_at) -> None:
    errors = {}
    if started_at > timezone.now() + settings.RUN_FUTURE_TOLERANCE:
        errors["started_at"] = ["A run cannot start in the future."]
    if ended_at is not None and ended_at < started_at:
        errors["ended_at"] = ["The run cannot end before it starts."]
    if errors:
        raise ValidationError(errors)


def run_response(request, run_id: int, status: int = 201) -> Response:
    row = selectors.run_detail(run_id)
    return Response(RunDetailOutput(row, context={"request": request}).data, status=status)


@extend_schema_view(get=_summary("List assay runs"))
class RunsApi(ListApi):
    """GET lists runs, newest first; POST records a run sent by an instrument as JSON."""

    instrument_reads = True

    class RunInput(serializers.Serializer):
        assay = serializers.CharField(max_length=40, help_text="Assay code, e.g. NTA.")
        started_at = serializers.DateTimeField()
        ended_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
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
            help_text="Ids of the reagent lots (kits, standards) used. An assay may require "
            "some kinds (ENDOTOXIN: a LAL reagent, BCA: a BCA kit, qPCR assays: a master mix; "
            "see `required_reagents` of the assay).",
        )
        backdate_reason = serializers.CharField(
            max_length=2000,
            required=False,
            allow_blank=True,
            default="",
            help_text="Required when `started_at` is more than BACKDATE_DAYS (2) days ago: why "
            "the run is recorded late. The run is then flagged as back-dated.",
        )
        retest_of = serializers.IntegerField(
            min_value=1,
            max_value=MAX_ID,
            required=False,
            allow_null=True,
            default=None,
            help_text="Id of the run this one repeats.",
        )
        reference_standard = serializers.IntegerField(
            min_value=1,
            max_value=MAX_ID,
            required=False,
            allow_null=True,
            default=None,
            help_text="Id of the reference standard the run was tested against: required by an "
            "assay with a `reference_material` (qualified, in date, qualified before the run).",
        )
        results = ResultInputSerializer(many=True, allow_empty=False, max_length=10000)

        def validate(self, data):
            check_times(data["started_at"], data["ended_at"])
            return data

    serializer_class = RunListOutput
    filterset_class = RunFilter
    parser_classes = [JSONParser]
    pagination_class = RunPagination  # keyset: a deep page costs what the first does

    def get_queryset(self):
        return selectors.run_rows()

    @extend_schema(
        summary="Record a run with its results (JSON)",
        description="Instrument keys only. The run and all its results are recorded in one "
        "transaction, or refused whole. Values are converted to each analyte's unit.",
        request=RunInput,
        parameters=[schema.IDEMPOTENCY_KEY, schema.REPLAYED],
        responses={201: RunDetailOutput},
    )
    @idempotent
    def post(self, request):
        data = validated(self.RunInput, request.data)
        require_assay_allowed(request.user, data["assay"])
        run = services.run_record(
            assay_code=data["assay"],
            results=[services.ResultInput(**item) for item in data["results"]],
            source=AssayRun.Source.API_JSON,
            started_at=data["started_at"],
            ended_at=data["ended_at"],
            instrument=request.user.instrument,
            reagent_lots=selectors.reagent_lots_by_id(data["reagent_lots"]),
            retest_of=selectors.run_by_id(data["retest_of"]),
            external_id=data["external_id"],
            backdate_reason=data["backdate_reason"],
            reference_standard=selectors.reference_by_id(data["reference_standard"]),
        )
        return run_response(request, run.pk)


class RunAsmCreateApi(ApiView):
    """POST an ASM document: one run of `assay` on `sample`."""

    class AsmQuery(serializers.Serializer):
        assay = serializers.CharField(max_length=40, help_text="Assay code, e.g. VIABILITY.")
        sample = serializers.CharField(
            max_length=80,
            validators=[validate_visible],
            help_text="Culture batch code, lot code or vial barcode.",
        )
        started_at = serializers.DateTimeField(
            required=False, default=None, help_text="When the run started (default: now)."
        )
        external_id = serializers.CharField(
            max_length=120,
            required=False,
            allow_blank=True,
            default="",
            validators=[validate_visible],
        )
        reagent_lots = serializers.ListField(
            child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
            required=False,
            default=list,
            max_length=50,
            help_text="Ids of the reagent lots (kits, standards) used. An assay may require "
            "some kinds (ENDOTOXIN: a LAL reagent, BCA: a BCA kit, qPCR assays: a master mix; "
            "see `required_reagents` of the assay).",
        )
        backdate_reason = serializers.CharField(
            max_length=2000,
            required=False,
            allow_blank=True,
            default="",
            help_text="Required when `started_at` is more than BACKDATE_DAYS (2) days ago: why "
            "the run is recorded late. The run is then flagged as back-dated.",
        )

    parser_classes = [JSONParser]

    @extend_schema(
        summary="Record a run from an Allotrope Simple Model (ASM) document",
        description="The body is the ASM JSON document as `allotropy` (or instrument "
        "middleware) emits it; every value whose ASM name maps to an analyte of the assay "
        "becomes a result of the one `sample`. Instrument keys only.",
        request={"application/json": OpenApiTypes.OBJECT},
        parameters=[AsmQuery, schema.IDEMPOTENCY_KEY, schema.REPLAYED],
        responses={201: RunDetailOutput},
    )
    @idempotent
    def post(self, request):
        query = validated(self.AsmQuery, request.query_params)
        require_assay_allowed(request.user, query["assay"])
        started_at = query["started_at"] or timezone.now()
        check_times(started_at, None)
        if not isinstance(request.data, dict) or not request.data:
            raise ValidationError({"document": ["The body must be an ASM JSON object."]})
        check_storable_text(request.data)
        assay = services.current_assay(query["assay"])
        try:
            items = ingest.results_from_asm_document(
                request.data, assay=assay, sample=query["sample"]
            )
        except ingest.NoResultsForAssay as exc:
            # Well formed, but nothing in it is a result of this assay: a refusal (422).
            raise RefusedError({"document": exc.detail}) from exc
        except ParseError as exc:
            raise ValidationError({"document": [exc.detail]}) from exc
        run = services.run_record(
            assay_code=assay.code,
            results=items,
            source=AssayRun.Source.API_ASM,
            started_at=started_at,
            instrument=request.user.instrument,
            reagent_lots=selectors.reagent_lots_by_id(query["reagent_lots"]),
            external_id=query["external_id"],
            backdate_reason=query["backdate_reason"],
        )
        return run_response(request, run.pk)


@extend_schema_view(
    get=extend_schema(
        summary="A run with its samples, reagent lots and results",
        responses={200: RunDetailOutput},
    )
)
class RunDetailApi(ApiView):
    instrument_reads = True

    def get(self, request, pk: int):
        row = selectors.run_detail(pk)
        if row is None:
            raise NotFound(f"No run {pk}.")
        return Response(RunDetailOutput(row, context={"request": request}).data)


@extend_schema_view(get=_summary("List results"))
class ResultListApi(ListApi):
    """Stored results, newest runs first, each in its analyte's unit."""

    instrument_reads = True

    serializer_class = ResultOutput
    filterset_class = ResultFilter
    pagination_class = ResultPagination  # keyset: a deep page costs what the first does

    def get_queryset(self):
        return selectors.result_rows()


# --- Instrument files ------------------------------------------------------------------------


class FileReceivedOutput(serializers.Serializer):
    id = serializers.UUIDField()
    sha256 = serializers.CharField()
    status = serializers.ChoiceField(choices=InstrumentFile.Status.choices)
    status_url = serializers.URLField()


def _names_to_text(value: object) -> dict[str, str]:
    """A JSON object of file sample names to text (a LIMS identifier, a reason)."""
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and len(v) <= 200 for k, v in value.items()
    ):
        raise serializers.ValidationError(
            "A JSON object of the file's sample names to text (at most 200 characters each)."
        )
    if len(value) > 400:
        raise serializers.ValidationError("At most 400 names.")
    return value


class InstrumentFileCreateApi(ApiView):
    class FileInput(serializers.Serializer):
        file = serializers.FileField(allow_empty_file=False, help_text="The export, unchanged.")
        sample = serializers.CharField(
            max_length=80,
            required=False,
            default="",
            validators=[validate_visible],
            help_text="Only for a file of one sample that the file may not name (NanoSight, "
            "FCS): its culture batch code, lot code or vial barcode. A file naming several "
            "samples is matched by its names.",
        )
        samples = serializers.JSONField(
            binary=True,
            required=False,
            default=dict,
            help_text="JSON object mapping a sample name of the file to a LIMS identifier, "
            'for the names the LIMS does not know: `{"SPL1": "EXO-2026-0001"}`.',
        )
        exclude = serializers.JSONField(
            binary=True,
            required=False,
            default=dict,
            help_text="JSON object leaving sample names of the file out, each with the reason "
            '(recorded): `{"SPL6": "spilled well"}`.',
        )
        plate_layout = serializers.JSONField(
            binary=True,
            required=False,
            default=None,
            help_text="Plate assays (BCA, ENDOTOXIN, POTENCY-MAC's multiplex): the layout the "
            "plate was set up with, as the upload form takes it (a template of the assay's "
            "`plate_layouts`, edited): "
            '`{"fit": "4pl", "groups": [{"role": "sample", "name": "EXO-2026-0001", '
            '"wells": "A4:A6", "dilution": 2}, ...]}`. The plate is then computed from its '
            "standards and the wells are named as the layout names them.",
        )
        assay = serializers.CharField(max_length=40, help_text="Assay code.")
        format = serializers.CharField(
            max_length=40,
            required=False,
            allow_blank=True,
            default="",
            help_text="Format hint when detection is not enough: `nanosight`, `fcs`, or an "
            "allotropy vendor alias (`vicell_blu`, `gen5`, `softmax_pro`, `quantstudio`, "
            "`luminex_xponent`, `nanodrop`, `qubit`, `msd`, `cfx_maestro`...).",
        )
        reagent_lots = serializers.ListField(
            child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
            required=False,
            default=list,
            max_length=50,
            help_text="Ids of the reagent lots (kits, standards) used. An assay may require "
            "some kinds (ENDOTOXIN: a LAL reagent, BCA: a BCA kit, qPCR assays: a master mix; "
            "see `required_reagents` of the assay).",
        )

        def validate_samples(self, value: object) -> dict[str, str]:
            return _names_to_text(value)

        def validate_exclude(self, value: object) -> dict[str, str]:
            return _names_to_text(value)

        def validate_plate_layout(self, value: object) -> dict | None:
            if value is None or value == {}:
                return None
            if not isinstance(value, dict):
                raise serializers.ValidationError("A JSON object: the layout with its groups.")
            return value

        def validate_format(self, value: str) -> str:
            value = value.strip()
            if value.lower() in ("", "nanosight", "fcs"):
                return value
            # Imported only when a hint is given: importing allotropy takes about a second.
            from assays.parsers import asm  # noqa: PLC0415

            try:
                asm.vendor_for_alias(value)
            except ParseError as exc:
                raise serializers.ValidationError(exc.detail) from exc
            return value

    parser_classes = [MultiPartParser]

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        request.upload_handlers.insert(0, UploadLimitHandler(request))

    @extend_schema(
        summary="Upload a raw instrument export file",
        description="Multipart: `file`, `assay` (code), optional `format` hint and "
        "`reagent_lots` (ids, repeated), and for a plate assay its `plate_layout` (JSON; a "
        "layout that cannot be used is refused naming what is wrong under `plate_layout`). "
        "Each sample the file names is matched to the LIMS sample of that identifier; "
        "`samples` maps the names the LIMS does not know and "
        "`exclude` leaves names out with a reason; an unattributed name refuses the file "
        "(422, `errors.unmatched` lists them). Standards, blanks and controls are recognised "
        "and attributed to no sample. `sample` names the one sample of a file that does not "
        "name it (NanoSight, FCS). The original is kept byte for byte "
        "under its SHA-256 and parsed in the background: poll `status_url`. Instrument keys "
        "only.",
        request=FileInput,
        parameters=[schema.IDEMPOTENCY_KEY, schema.REPLAYED],
        responses={202: OpenApiResponse(FileReceivedOutput, description="Received and queued.")},
    )
    @idempotent
    def post(self, request):
        data = validated(self.FileInput, request.data)
        require_assay_allowed(request.user, data["assay"])
        upload = data["file"]
        limit = settings.FILE_UPLOAD_MAX_BYTES
        if upload.size > limit:
            raise PayloadTooLarge(f"The file is {upload.size} bytes, over the limit of {limit}.")
        record = services.instrument_file_receive(
            data=upload.read(),
            filename=(upload.name or "upload").replace("\x00", ""),
            sample_identifier=data["sample"],
            sample_map=data["samples"],
            excluded=data["exclude"],
            assay_code=data["assay"],
            format_hint=data["format"],
            instrument=request.user.instrument,
            reagent_lots=selectors.reagent_lots_by_id(data["reagent_lots"]),
            plate_layout=data["plate_layout"],
        )
        url = reverse("api:instrument-file-detail", args=[record.pk], request=request)
        body = {
            "id": record.pk,
            "sha256": record.sha256,
            "status": record.status,
            "status_url": url,
        }
        return Response(FileReceivedOutput(body).data, status=202)


class FileDetailOutput(serializers.Serializer):
    id = serializers.UUIDField()
    sha256 = serializers.CharField()
    size = serializers.IntegerField()
    original_name = serializers.CharField()
    format_hint = serializers.CharField()
    detected_format = serializers.CharField()
    sample = serializers.CharField(source="sample_identifier")
    assay = serializers.CharField(source="assay_code")
    instrument = serializers.CharField(source="instrument_code", allow_null=True)
    status = serializers.ChoiceField(choices=InstrumentFile.Status.choices)
    error = serializers.CharField(help_text="Why the file could not be parsed, when failed.")
    received_at = serializers.DateTimeField(source="created_at")
    parsed_at = serializers.DateTimeField(allow_null=True)
    run = RunSummaryOutput(allow_null=True)
    results = ResultOutput(many=True)


@extend_schema_view(
    get=extend_schema(
        summary="Status of an uploaded file: queued, parsed or failed, with its run and results",
        responses={200: FileDetailOutput},
    )
)
class InstrumentFileDetailApi(ApiView):
    """A key reads only its own instrument's files; people with a role read any."""

    instrument_reads = True

    def get(self, request, pk):
        instrument = request.user.instrument if is_instrument(request.user) else None
        row = selectors.instrument_file_detail(pk, instrument=instrument)
        if row is None:
            raise NotFound(f"No instrument file {pk}.")
        return Response(FileDetailOutput(row, context={"request": request}).data)
