"""Pages for the assay catalogue, instruments and their keys, runs and results, and files.

Every write goes through assays.services, the same functions the API calls, so a technician's
form and an instrument's post meet the same rules; a refusal is shown next to the field it names.
"""

import base64
import hashlib

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.forms import Form as DjangoForm
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.http import content_disposition_header, urlencode
from django.views.generic import DetailView, FormView, TemplateView

from assays import (
    filters,
    flow_selectors,
    forms,
    qpcr_views,
    sample_matching,
    selectors,
    services,
    upload_stash,
)
from assays.models import (
    AssayDefinition,
    AssayRun,
    Instrument,
    InstrumentFile,
    InstrumentKey,
    NtaDilutionRecord,
    NtaRunSummary,
    RunReagentUse,
    RunSample,
)
from assays.nta_services import can_record_nta_dilution
from assays.parsers import ParseError
from assays.reference_views import run_reference_context
from lims import file_store
from lims.forms import ReasonForm, StatusForm
from lims.models import Signature
from lims.pages import (
    PredicateRequiredMixin,
    RecordDetailView,
    RecordListView,
    ServiceFormView,
    ViewRecordsMixin,
    add_service_errors,
    original_unavailable,
)
from lims.roles import can_enter_results, can_manage_instruments, can_review_runs
from lims.transitions import moves_for

# --- Lists ----------------------------------------------------------------------------------


class AssayListBase(RecordListView):
    """A list whose first column links to `detail_url_name`; "New" shows to who may create."""

    template_name = "assays/list.html"
    detail_url_name = ""
    create_label = "New"
    create_predicate = None

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        predicate = self.create_predicate
        context.update(
            detail_url_name=self.detail_url_name,
            create_label=self.create_label,
            can_create=bool(self.create_url_name and predicate and predicate(self.request.user)),
        )
        return context


class AssayList(AssayListBase):
    model = AssayDefinition
    queryset = selectors.assays_with_counts()
    filterset_class = filters.AssayFilter
    title = "Assay catalogue"
    default_sort = "code"
    detail_url_name = "assays:assay_detail"
    columns = [
        ("Code", "code", "code"),
        ("Version", "version", "version"),
        ("Name", "name", "name"),
        ("Method", "method", None),
        ("Tests", "get_applies_to_display", "applies_to"),
        ("SOP", "sop_reference", None),
        ("Analytes", "analyte_count", None),
        ("Runs", "run_count", "run_count"),
        ("Current", "is_current", "is_current"),
    ]


class InstrumentList(AssayListBase):
    model = Instrument
    filterset_class = filters.InstrumentFilter
    title = "Instruments"
    default_sort = "code"
    detail_url_name = "assays:instrument_detail"
    create_url_name = "assays:instrument_create"
    create_label = "Register an instrument"
    create_predicate = staticmethod(can_manage_instruments)
    columns = [
        ("Code", "code", "code"),
        ("Type", "instrument_type", "instrument_type"),
        ("Make", "make", "make"),
        ("Model", "model", "model"),
        ("Location", "location", "location"),
        ("Status", "status", "status"),
        ("Calibration due", "calibration_due_on", "calibration_due_on"),
        ("May report", "assay_codes", None),
    ]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        for instrument in context["object_list"]:
            instrument.calibration_state = selectors.calibration_state(instrument)
        return context


class RunList(AssayListBase):
    model = AssayRun
    queryset = selectors.runs_listed()
    filterset_class = filters.RunFilter
    title = "Assay runs"
    default_sort = "-started_at"
    detail_url_name = "assays:run_detail"
    create_url_name = "assays:run_start"
    create_label = "Enter results"
    create_predicate = staticmethod(can_enter_results)
    columns = [
        ("Run", "__str__", None),
        ("Assay", "assay", "assay__code"),
        ("Status", "status", "status"),
        ("Source", "get_source_display", "source"),
        ("Samples", "sample_labels", None),
        ("Results", "result_count", "result_count"),
        ("Instrument", "instrument", "instrument__code"),
        ("Operator", "operator.printed_name", "operator__username"),
        ("Started", "started_at", "started_at"),
    ]

    def annotate(self, qs):
        # The count over every run only when the list is sorted by it; otherwise the page's
        # 25 runs are chosen first and summarised after (selectors.with_run_summaries).
        if self.sort_key().lstrip("-") == "result_count":
            return qs.annotate(result_count=Count("results"))
        return qs

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["object_list"] = selectors.with_run_summaries(context["object_list"])
        if can_enter_results(self.request.user):
            # Many samples of one assay at once; of the assay the list is filtered to, if one.
            assay = self.request.GET.get("assay", "")
            url = reverse("assays:worksheet_start")
            context["worksheet_url"] = f"{url}?{urlencode({'assay': assay})}" if assay else url
        return context


class InstrumentFileList(AssayListBase):
    model = InstrumentFile
    filterset_class = filters.InstrumentFileFilter
    select_related = ("instrument", "uploaded_by")
    title = "Instrument files"
    detail_url_name = "assays:file_detail"
    create_url_name = "assays:file_upload"
    create_label = "Upload a file"
    create_predicate = staticmethod(can_enter_results)
    columns = [
        ("File", "original_name", "original_name"),
        ("Status", "status", "status"),
        ("Assay", "assay_code", "assay_code"),
        ("Sample", "sample_identifier", "sample_identifier"),
        ("Format", "detected_format", None),
        ("Bytes", "size", "size"),
        ("Instrument", "instrument", "instrument__code"),
        ("Uploaded by", "uploaded_by.printed_name", None),
        ("Received", "created_at", "created_at"),
    ]


# --- Details --------------------------------------------------------------------------------


class AssayDetail(RecordDetailView):
    model = AssayDefinition
    template_name = "assays/assay_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        assay = self.object
        context.update(
            analytes=assay.analytes.all(),
            versions=selectors.assays_with_counts().filter(code=assay.code).order_by("-version"),
            run_count=assay.runs.count(),
            recent_runs=selectors.runs_with_summary().filter(assay=assay)[:10],
            instruments=selectors.instruments_for_assay(assay.code),
        )
        return context


class InstrumentDetail(RecordDetailView):
    model = Instrument
    template_name = "assays/instrument_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        instrument = self.object
        context.update(
            calibration_state=selectors.calibration_state(instrument),
            assays=AssayDefinition.objects.filter(
                code__in=instrument.assay_codes, is_current=True
            ).order_by("code"),
            log_entries=instrument.log.select_related("created_by"),
            recent_runs=selectors.runs_with_summary().filter(instrument=instrument)[:10],
            status_moves=sorted(Instrument.TRANSITIONS.get(instrument.status, ())),
        )
        if can_manage_instruments(self.request.user):
            context["keys"] = instrument.api_keys.order_by("-created")
        return context


class RunDetail(RecordDetailView):
    model = AssayRun
    template_name = "assays/run_detail.html"
    queryset = AssayRun.objects.select_related(
        "assay", "instrument", "operator", "reviewed_by", "source_file", "retest_of__assay"
    )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        run = self.object
        samples = list(
            RunSample.objects.filter(run=run).select_related("culture_batch", "lot", "aliquot")
        )
        context.update(
            samples=samples,
            results=run.results.select_related("analyte", "sample", "source_file"),
            reagent_uses=RunReagentUse.objects.filter(run=run).select_related("reagent_lot"),
            retests=run.retests.select_related("assay"),
            status_moves=sorted(AssayRun.TRANSITIONS.get(run.status, ())),
            **run_reference_context(run),
            nta=NtaRunSummary.objects.filter(run=run).first(),
            nta_dilutions=NtaDilutionRecord.objects.filter(run=run).select_related("created_by"),
            can_record_nta_dilution=can_record_nta_dilution(self.request.user),
        )
        if run.assay.flow_gating:
            context["flow"] = flow_selectors.flow_section(run)
        if run.assay.qpcr:
            context["qpcr"] = qpcr_views.run_section(run)
        if samples:
            query = urlencode({"sample": samples[0].label, "retest_of": run.pk})
            context["retest_url"] = reverse("assays:run_entry", args=[run.assay.code]) + "?" + query
        return context


def _runs_of_file(instrument_file):
    return instrument_file.runs.select_related("assay").annotate(result_count=Count("results"))


class InstrumentFileDetail(RecordDetailView):
    model = InstrumentFile
    template_name = "assays/file_detail.html"
    queryset = InstrumentFile.objects.select_related("instrument", "uploaded_by")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["runs"] = _runs_of_file(self.object)
        return context


class InstrumentFileStatus(ViewRecordsMixin, DetailView):
    """The status panel of a file, polled by htmx while the file is queued."""

    model = InstrumentFile
    template_name = "assays/_file_status.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["runs"] = _runs_of_file(self.object)
        return context


class InstrumentFileDownload(ViewRecordsMixin, DetailView):
    """The original bytes of a file, as received, under the name the sender gave it."""

    model = InstrumentFile

    def get(self, request, *args, **kwargs):
        record = self.get_object()
        try:
            data = record.original_bytes()
        except file_store.OriginalUnavailable as exc:
            # The store no longer holds what was received: say so, never serve other bytes.
            return original_unavailable(
                request,
                exc,
                what=f"instrument file {record.original_name}",
                sha256=record.sha256,
                back_url=reverse("assays:file_detail", args=[record.pk]),
            )
        response = HttpResponse(data, content_type="application/octet-stream")
        response["Content-Disposition"] = content_disposition_header(
            as_attachment=True, filename=record.original_name
        )
        response["X-Content-SHA256"] = record.sha256
        digest = base64.b64encode(hashlib.sha256(data).digest()).decode()
        response["Repr-Digest"] = f"sha-256=:{digest}:"
        return response


# --- Instruments: registry, log, status and keys (administrators) --------------------------


class ManageInstrumentsMixin:
    predicate = staticmethod(can_manage_instruments)


class InstrumentCreate(ManageInstrumentsMixin, ServiceFormView):
    form_class = forms.InstrumentForm
    title = "Register an instrument"

    def perform(self, form):
        return services.instrument_register(actor=self.request.user, **form.cleaned_data)

    def success_message(self):
        return f"Instrument {self.result} registered."


class _OfInstrument(ManageInstrumentsMixin, ServiceFormView):
    def dispatch(self, request, *args, **kwargs):
        self.instrument = get_object_or_404(Instrument, pk=kwargs["pk"])
        return super().dispatch(request, *args, **kwargs)

    def get_success_url(self):
        return self.instrument.get_absolute_url()


class InstrumentLogCreate(_OfInstrument):
    form_class = forms.InstrumentLogForm

    @property
    def title(self):
        return f"Log a calibration or maintenance of {self.instrument}"

    def get_initial(self):
        return {"kind": self.request.GET.get("kind", "calibration")}

    def perform(self, form):
        return services.instrument_log(
            actor=self.request.user, instrument=self.instrument, **form.cleaned_data
        )

    def success_message(self):
        message = f"{self.result.get_kind_display()} of {self.instrument} logged."
        if self.result.kind == "calibration" and self.result.due_on:
            message += f" Next calibration due {self.result.due_on:%Y-%m-%d}."
        return message


class InstrumentStatusChange(_OfInstrument):
    @property
    def title(self):
        return f"Change the status of {self.instrument}"

    def get_form(self, form_class=None):
        labels = dict(Instrument.Status.choices)
        moves = moves_for(self.instrument, services.INSTRUMENT_MOVES, self.request.user)
        return StatusForm(choices=[(s, labels[s]) for s in moves], **self.get_form_kwargs())

    def perform(self, form):
        return services.instrument_set_status(
            actor=self.request.user, instrument=self.instrument, **form.cleaned_data
        )

    def success_message(self):
        return f"{self.result} is now {self.result.get_status_display().lower()}."


def _new_key_session_name(instrument) -> str:
    return f"assays:new-instrument-key:{instrument.pk}"


class InstrumentKeyIssue(_OfInstrument):
    form_class = forms.KeyIssueForm

    @property
    def title(self):
        return f"Issue an API key for {self.instrument}"

    def perform(self, form):
        key, plain = services.instrument_key_issue(
            actor=self.request.user,
            instrument=self.instrument,
            name=form.cleaned_data["name"],
            expiry_date=form.expiry_datetime(),
        )
        # Kept in the server-side session only until the next page shows it, once.
        self.request.session[_new_key_session_name(self.instrument)] = {
            "plain": plain,
            "key": key.pk,
        }
        return key

    def success_message(self):
        return f"Key {self.result.prefix} issued for {self.instrument}."

    def get_success_url(self):
        return reverse("assays:instrument_key_shown", args=[self.instrument.pk])


class InstrumentKeyShown(ManageInstrumentsMixin, PredicateRequiredMixin, TemplateView):
    """The plain key of a key just issued: shown on this one page view, never again."""

    template_name = "assays/instrument_key_shown.html"

    def get(self, request, *args, **kwargs):
        instrument = get_object_or_404(Instrument, pk=kwargs["pk"])
        issued = request.session.pop(_new_key_session_name(instrument), None)
        if issued is None:
            messages.info(request, "An API key is shown only once, when it is issued.")
            return redirect(instrument)
        key = get_object_or_404(InstrumentKey, pk=issued["key"], instrument=instrument)
        response = self.render_to_response(
            self.get_context_data(instrument=instrument, key=key, plain=issued["plain"])
        )
        add_never_cache_headers(response)
        return response


class InstrumentKeyRevoke(_OfInstrument):
    form_class = ReasonForm

    def dispatch(self, request, *args, **kwargs):
        self.key = get_object_or_404(
            InstrumentKey, instrument_id=kwargs["pk"], prefix=kwargs["prefix"]
        )
        return super().dispatch(request, *args, **kwargs)

    @property
    def title(self):
        return f"Revoke key {self.key.prefix} ({self.key.name}) of {self.instrument}"

    def perform(self, form):
        return services.instrument_key_revoke(
            actor=self.request.user, key=self.key, reason=form.cleaned_data["reason"]
        )

    def success_message(self):
        return f"Key {self.key.prefix} of {self.instrument} revoked."


# --- Runs: manual entry, review, invalidation ----------------------------------------------


class EnterResultsMixin:
    predicate = staticmethod(can_enter_results)


class RunStart(EnterResultsMixin, PredicateRequiredMixin, FormView):
    """Step 1 of manual entry: the assay and the sample; step 2 is a form built for the assay."""

    form_class = forms.RunStartForm
    template_name = "assays/run_start.html"
    http_method_names = ["get"]

    def get_form_kwargs(self):
        kwargs = {"initial": {"sample": self.request.GET.get("sample", "")}}
        if "assay" in self.request.GET:
            kwargs["data"] = self.request.GET
        return kwargs

    def get(self, request, *args, **kwargs):
        form = self.get_form()
        if form.is_bound and form.is_valid():
            query = urlencode({"sample": form.cleaned_data["sample"]})
            url = reverse("assays:run_entry", args=[form.cleaned_data["assay"].code])
            return redirect(f"{url}?{query}")
        return self.render_to_response(self.get_context_data(form=form))


class RunEntry(EnterResultsMixin, ServiceFormView):
    template_name = "assays/run_entry.html"

    # The service names the assay when an instrument is not qualified for it: the instrument
    # is what the person chose on this form.
    SERVICE_FIELDS = {"assay": "instrument"}

    def dispatch(self, request, *args, **kwargs):
        self.assay = get_object_or_404(AssayDefinition, code=kwargs["code"], is_current=True)
        return super().dispatch(request, *args, **kwargs)

    @property
    def title(self):
        return f"Enter results: {self.assay.code} v{self.assay.version}, {self.assay.name}"

    def get_form(self, form_class=None):
        return forms.RunEntryForm(assay=self.assay, **self.get_form_kwargs())

    def get_initial(self):
        initial = {"sample": self.request.GET.get("sample", "")}
        retest_of = self.request.GET.get("retest_of", "")
        if retest_of.isdigit():
            initial["retest_of"] = int(retest_of)
        return initial

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["assay"] = self.assay
        retest_of = context["form"]["retest_of"].value()
        if retest_of:
            context["retest_of"] = AssayRun.objects.filter(pk=retest_of).first()
        return context

    def form_valid(self, form):
        try:
            self.result = self.perform(form)
        except ValidationError as exc:
            if hasattr(exc, "error_dict"):
                exc = ValidationError(
                    {self.SERVICE_FIELDS.get(k, k): v for k, v in exc.error_dict.items()}
                )
            add_service_errors(form, exc)
            return self.form_invalid(form)
        messages.success(self.request, self.success_message())
        return redirect(self.get_success_url())

    def perform(self, form):
        data = form.cleaned_data
        return services.run_record(
            actor=self.request.user,
            source=AssayRun.Source.MANUAL,
            assay_code=self.assay.code,
            results=form.result_inputs,
            started_at=data["started_at"],
            ended_at=data["ended_at"],
            instrument=data["instrument"],
            reagent_lots=data["reagent_lots"],
            retest_of=data["retest_of"],
            backdate_reason=data["backdate_reason"],
            reference_standard=data.get("reference_standard"),
        )

    def success_message(self):
        return f"{self.result} recorded with {self.result.results.count()} results."


class WorksheetStart(EnterResultsMixin, PredicateRequiredMixin, FormView):
    """The assay of a worksheet (from the runs list); the grid is then built for it."""

    form_class = forms.WorksheetStartForm
    template_name = "assays/worksheet_start.html"
    http_method_names = ["get"]

    def get_form_kwargs(self):
        return {"data": self.request.GET} if "assay" in self.request.GET else {}

    def get(self, request, *args, **kwargs):
        form = self.get_form()
        if form.is_bound and form.is_valid():
            return redirect("assays:worksheet", code=form.cleaned_data["assay"].code)
        return self.render_to_response(self.get_context_data(form=form))


def _count(value, default: int = 0) -> int:
    try:
        return max(int(value), 0)
    except (TypeError, ValueError):
        return default


class WorksheetEntry(EnterResultsMixin, PredicateRequiredMixin, TemplateView):
    """One assay for many samples: a grid, one row per sample and one column per analyte, saved
    as one run by services.worksheet_record, or refused whole with each error next to its cell.

    A plain form: without JavaScript, Enter checks the sheet (the form's first button) and the
    "add" buttons post it back with more rows or the picked samples, writing nothing;
    lims/static/lims/worksheet.js adds moving with Enter, pasting a block from a spreadsheet,
    and adding rows and samples in the page.
    """

    template_name = "assays/worksheet.html"
    ROWS_SHOWN = 8  # rows of a new sheet, and rows each "add rows" adds
    PREFIX = "row"
    # The service names the assay when an instrument is not qualified for it: the instrument is
    # what the person chose on this form.
    SERVICE_FIELDS = {"assay": "instrument"}

    def dispatch(self, request, *args, **kwargs):
        self.assay = get_object_or_404(AssayDefinition, code=kwargs["code"], is_current=True)
        self.analytes = list(self.assay.analytes.all())
        return super().dispatch(request, *args, **kwargs)

    def header_form(self, data=None):
        return forms.WorksheetHeaderForm(data, assay=self.assay, analytes=self.analytes)

    def row_forms(self, data=None, initial=None):
        rows = forms.WorksheetRows(
            data, initial=initial, prefix=self.PREFIX, form_kwargs={"analytes": self.analytes}
        )
        rows.extra = self.ROWS_SHOWN
        return rows

    def get(self, request, *args, **kwargs):
        picked = request.GET.getlist("sample")[: services.WORKSHEET_MAX_ROWS]
        initial = [{"sample": code} for code in picked] or None
        return self.render_sheet(self.header_form(), self.row_forms(initial=initial))

    def post(self, request, *args, **kwargs):
        action = request.POST.get("action", "check")
        data = request.POST.copy()
        if action == "more_rows":
            self._grow(data, self.ROWS_SHOWN)
        elif action == "add_samples":
            self._place_samples(data, request.POST.getlist("pick"))
        header, rows = self.header_form(data), self.row_forms(data)
        if action not in ("check", "save"):
            return self.render_sheet(header, rows)
        header_valid, rows_valid = header.is_valid(), rows.is_valid()
        if not rows_valid:
            return self.render_sheet(header, rows)
        filled = [form for form in rows.forms if not form.is_blank()]
        sheet = [form.worksheet_row(header) for form in filled]
        if not sheet:
            header.add_error(None, "Enter at least one sample and its results.")
            return self.render_sheet(header, rows)
        if not header_valid:
            # The rows are still checked, so that every error shows on the first try.
            self._show_errors(header, filled, {}, services.worksheet_row_errors(self.assay, sheet))
            return self.render_sheet(header, rows)
        run_fields = {
            name: header.cleaned_data[name]
            for name in ("started_at", "ended_at", "instrument", "reagent_lots", "backdate_reason")
        }
        run_fields["reference_standard"] = header.cleaned_data.get("reference_standard")
        try:
            if action == "save":
                run = services.worksheet_record(
                    actor=request.user, assay_code=self.assay.code, rows=sheet, **run_fields
                )
                results = sum(len(row.results) for row in sheet)
                messages.success(
                    request,
                    f"{run} recorded from the worksheet: {len(sheet)} samples, {results} results.",
                )
                return redirect(run)
            fields, row_errors = services.worksheet_errors(
                assay=self.assay, rows=sheet, **run_fields
            )
        except services.WorksheetRefused as exc:
            fields, row_errors = exc.fields, exc.rows
        except ValidationError as exc:
            add_service_errors(header, exc)
            return self.render_sheet(header, rows)
        self._show_errors(header, filled, fields, row_errors)
        checked = not (fields or row_errors)
        return self.render_sheet(header, rows, checked=len(sheet) if checked else None)

    def _show_errors(self, header, filled, fields, row_errors) -> None:
        for key, messages_ in fields.items():
            name = self.SERVICE_FIELDS.get(key, key)
            header.add_error(name if name in header.fields else None, messages_)
        for index, cells in row_errors.items():
            form = filled[index]
            for key, messages_ in cells.items():
                name = "sample" if key == "sample" else f"a__{key}"
                form.add_error(name if name in form.fields else None, messages_)

    def _grow(self, data, more: int) -> int:
        key = f"{self.PREFIX}-TOTAL_FORMS"
        total = min(_count(data.get(key)) + more, services.WORKSHEET_MAX_ROWS)
        data[key] = str(total)
        return total

    def _place_samples(self, data, picked: list[str]) -> None:
        """The picked samples into the first rows without a sample, each once."""
        total = _count(data.get(f"{self.PREFIX}-TOTAL_FORMS"))
        names = [f"{self.PREFIX}-{i}-sample" for i in range(total)]
        present = {data.get(name, "").strip() for name in names}
        free = [name for name in names if not data.get(name, "").strip()]
        for code in dict.fromkeys(code.strip() for code in picked):
            if not code or code in present:
                continue
            if not free:
                if total >= services.WORKSHEET_MAX_ROWS:
                    break
                free.append(f"{self.PREFIX}-{total}-sample")
                total = self._grow(data, 1)
            data[free.pop(0)] = code
            present.add(code)

    def render_sheet(self, header, rows, checked=None):
        rules = self.assay.suitability or []
        controls = {rule.get("analyte") for rule in rules}
        units = [
            header[header.unit_name(a)] if header.unit_name(a) in header.fields else None
            for a in self.analytes
        ]
        has_row_errors = any(form.errors for form in rows.forms) if rows.is_bound else False
        context = self.get_context_data(
            title=f"Worksheet: {self.assay.code} v{self.assay.version}, {self.assay.name}",
            assay=self.assay,
            header=header,
            rows=rows,
            columns=[
                (analyte, unit, analyte.code in controls)
                for analyte, unit in zip(self.analytes, units, strict=True)
            ],
            choices=[a for a in self.analytes if a.result_type == "qualitative"],
            eligible=selectors.eligible_samples(self.assay),
            max_rows=services.WORKSHEET_MAX_ROWS,
            more_rows=self.ROWS_SHOWN,
            has_row_errors=has_row_errors,
            checked=checked,
        )
        return self.render_to_response(context)


class _RunStatusChange(ServiceFormView):
    predicate = staticmethod(can_review_runs)
    form_class: type[DjangoForm] = ReasonForm
    template_name = "assays/run_status.html"

    def dispatch(self, request, *args, **kwargs):
        self.run = get_object_or_404(AssayRun.objects.select_related("assay"), pk=kwargs["pk"])
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["run"] = self.run
        return context

    def success_message(self):
        return f"{self.result} is now {self.result.get_status_display().lower()}."


class RunReview(_RunStatusChange):
    """Second-person review, e-signed: the run counts toward release once reviewed."""

    form_class = forms.RunReviewForm

    @property
    def title(self):
        return f"Review {self.run}"

    def get_initial(self):
        return {"reason": "Results and raw data reviewed.", "username": ""}

    def perform(self, form):
        return services.run_review(
            signer=form.signer(self.request, Signature.Meaning.REVIEW),
            run=self.run,
            reason=form.cleaned_data["reason"],
        )


class RunInvalidate(_RunStatusChange):
    @property
    def title(self):
        return f"Invalidate {self.run}"

    def perform(self, form):
        return services.run_invalidate(
            actor=self.request.user, run=self.run, reason=form.cleaned_data["reason"]
        )


# --- Instrument files: upload from the browser ---------------------------------------------


class InstrumentFileUpload(EnterResultsMixin, PredicateRequiredMixin, FormView):
    """The browser's way to send a raw export, in two steps.

    1. The form (file, assay, instrument, reagent lots) is checked as the service checks it and
       the file is read: nothing is written but the bytes, held in assays.upload_stash.
    2. The confirmation page shows the file's samples by the names it gives them: those the LIMS
       knows (linked), those it does not (each given its LIMS sample or left out with a reason)
       and the standards, blanks and controls (attributed to no sample). Confirming hands the
       held bytes and the attribution to `services.instrument_file_receive`, the API's service.

    A POST carrying a `ticket` is the confirmation; anything else is step 1.
    """

    form_class = forms.InstrumentFileUploadForm
    template_name = "assays/file_upload.html"
    confirm_template_name = "assays/file_upload_confirm.html"

    def get_initial(self):
        return {
            "sample": self.request.GET.get("sample", ""),
            "assay": self.request.GET.get("assay", ""),
        }

    def post(self, request, *args, **kwargs):
        if "ticket" in request.POST:
            return self.confirm()
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        data = form.cleaned_data
        upload = data["file"]
        content = upload.read()
        filename = (upload.name or "upload").replace("\x00", "")
        try:
            assay = services.instrument_file_check(
                data=content,
                filename=filename,
                assay_code=data["assay"].code,
                instrument=data["instrument"],
                uploaded_by=self.request.user,
                reagent_lots=data["reagent_lots"],
                plate_layout=data["layout"],
            )
            fmt, _, matching = services.instrument_file_preview(
                data=content,
                filename=filename,
                assay=assay,
                format_hint=data["format_hint"],
                sample_identifier=data["sample"],
                plate_layout=data["layout"],
            )
        except ParseError as exc:
            form.add_error("file", f"The file could not be read: {exc}")
            return self.form_invalid(form)
        except ValidationError as exc:
            add_service_errors(form, exc)
            return self.form_invalid(form)
        # Before any mapping, only the one-sample identifier can be wrong.
        if matching.errors or matching.sample_errors:
            form.add_error("sample", matching.errors + matching.sample_errors)
            return self.form_invalid(form)
        ticket = upload_stash.stash(content, filename=filename, user_pk=self.request.user.pk)
        confirm = forms.InstrumentFileConfirmForm(
            initial={
                **{k: data[k] for k in ("assay", "format_hint", "instrument", "sample")},
                "reagent_lots": list(data["reagent_lots"]),
                # The layout as used (a template's, or edited), so the confirmation reads the
                # wells exactly as this page showed them.
                "plate_layout": data["layout"],
                "ticket": ticket,
            },
            names=matching.unmatched,
            subject=_subject_of(assay),
        )
        return self._confirm_page(
            confirm, matching=matching, fmt=fmt, filename=filename, content=content, chosen=data
        )

    def confirm(self):
        request = self.request
        try:
            held = upload_stash.take(request.POST.get("ticket", ""), user_pk=request.user.pk)
        except upload_stash.StashExpired:
            messages.error(
                request,
                "The file waiting for confirmation is no longer held (it is kept for two hours, "
                "and only for who uploaded it): choose it again.",
            )
            return redirect("assays:file_upload")
        # The form of step 1, posted back in hidden fields, checked again; the names to map
        # are read again from the held bytes, never taken from the browser.
        step1 = forms.InstrumentFileConfirmForm(request.POST, names=[], subject="")
        if not step1.is_valid():
            problems = [
                f"{step1[name].label if name in step1.fields else 'Upload'}: {error}"
                for name, errors in step1.errors.items()
                for error in errors
            ]
            messages.error(request, "Upload again: " + "; ".join(problems))
            return redirect("assays:file_upload")
        data = step1.cleaned_data
        assay = data["assay"]
        try:
            fmt, records, matching = services.instrument_file_preview(
                data=held.data,
                filename=held.filename,
                assay=assay,
                format_hint=data["format_hint"],
                sample_identifier=data["sample"],
                plate_layout=data["layout"],
            )
        except ValidationError as exc:  # the layout no longer fits (the step-1 check passed)
            messages.error(request, "Upload again: " + "; ".join(exc.messages))
            return redirect("assays:file_upload")
        except ParseError:
            messages.error(request, "The held file can no longer be read: choose it again.")
            return redirect("assays:file_upload")
        form = forms.InstrumentFileConfirmForm(
            request.POST, names=matching.unmatched, subject=_subject_of(assay)
        )
        form.is_valid()  # every row checked, and each given LIMS sample, errors all at once
        mapped = sample_matching.match_samples(
            records,
            assay,
            mapping=form.sample_map(),
            excluded=form.excluded(),
            sample=data["sample"],
        )
        still = {n.identifier: n for n in mapped.unmatched}
        for n, name in enumerate(form.names):
            field = f"name-{n}-sample"
            if (
                name.identifier in still
                and form.cleaned_data.get(field)
                and field not in form.errors
            ):
                form.add_error(field, still[name.identifier].reason)
        if mapped.errors:
            form.add_error(None, mapped.errors)
        elif form.is_valid() and not mapped.attributed:
            form.add_error(None, "No sample of the file is left to record: map one.")
        if form.is_valid():
            try:
                # No transaction around it: the service writes the file first, then its record.
                record = services.instrument_file_receive(
                    data=held.data,
                    filename=held.filename,
                    sample_identifier=data["sample"],
                    sample_map=form.sample_map(),
                    excluded=form.excluded(),
                    assay_code=assay.code,
                    format_hint=data["format_hint"],
                    instrument=data["instrument"],
                    uploaded_by=request.user,
                    reagent_lots=data["reagent_lots"],
                    plate_layout=data["layout"],
                )
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                upload_stash.discard(request.POST["ticket"])
                messages.success(request, f"{record.original_name} received; it is being read.")
                return redirect("assays:file_detail", pk=record.pk)
        return self._confirm_page(
            form, matching=matching, fmt=fmt, filename=held.filename, content=held.data, chosen=data
        )

    def _confirm_page(self, form, *, matching, fmt, filename, content, chosen):
        return render(
            self.request,
            self.confirm_template_name,
            {
                "form": form,
                "matched": matching.of_status(sample_matching.MATCHED, sample_matching.MAPPED),
                "recognised": matching.recognised,
                "rows": form.name_rows(),
                "filename": filename,
                "size": len(content),
                "sha256": hashlib.sha256(content).hexdigest(),
                "detected_format": fmt,
                "chosen": chosen,
                "hidden_errors": [
                    (form[name].label, error)
                    for name in form.errors
                    if name in form.fields and form[name].is_hidden
                    for error in form.errors[name]
                ],
            },
        )


def _subject_of(assay) -> str:
    if assay.applies_to == AssayDefinition.AppliesTo.CULTURE_BATCH:
        return "Culture batch code"
    return "Lot code or vial barcode"
