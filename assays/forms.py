"""Browser forms for instruments, manual result entry and instrument-file upload.

Forms collect and pre-check input; the rules live in assays.services, which the API calls too,
and the views show the services' refusals next to the field they name.
"""

import datetime
import re
from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

from assays import selectors, services
from assays.inputs import ResultInput, WorksheetRow
from assays.models import Analyte, AssayDefinition, AssayRun, Instrument, InstrumentLogEntry
from assays.reference_models import ReferenceStandard
from assays.reference_services import check_reference_usable
from batches.forms import usable_reagent_lots
from batches.models import ReagentLot
from lims.forms import DATETIME, NO_AUTOFILL, BootstrapMixin, CheckboxList, SignatureForm

# ISO format, or a browser's date input shows an initial value as empty.
DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
QUALIFIERS = [("", ""), ("<LLOQ", "<LLOQ"), (">ULOQ", ">ULOQ"), ("<LOD", "<LOD")]


def current_assays():
    return AssayDefinition.objects.filter(is_current=True).order_by("code")


class CurrentAssayField(forms.ModelChoiceField):
    """The current version of an assay, chosen (and posted) by its code."""

    def __init__(self, **kwargs):
        super().__init__(queryset=current_assays(), to_field_name="code", **kwargs)

    def label_from_instance(self, obj):
        return f"{obj.code} v{obj.version}: {obj.name}"


class InstrumentChoiceField(forms.ModelChoiceField):
    """Offers only instruments in service, but accepts any in its queryset.

    A page left open while an instrument went out of service then posts it anyway, and the
    service's refusal (which says since when and why) is shown instead of a bare "not a valid
    choice".
    """

    def __init__(self, queryset, **kwargs):
        super().__init__(queryset=queryset, required=False, **kwargs)

    def label_from_instance(self, obj):
        label = f"{obj.code}: {obj.make} {obj.model} ({obj.location})"
        state = selectors.calibration_state(obj)
        if state == "overdue":
            return f"{label}, calibration overdue since {obj.calibration_due_on:%Y-%m-%d}"
        if obj.calibration_due_on:
            return f"{label}, calibration due {obj.calibration_due_on:%Y-%m-%d}"
        return label

    def offer_in_service(self):
        self.choices = [("", "None")] + [
            (obj.pk, self.label_from_instance(obj))
            for obj in self.queryset
            if obj.status == Instrument.Status.IN_SERVICE
        ]


class ReagentLotChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj):
        expired = " EXPIRED" if obj.is_expired() else ""
        return f"{obj} (exp. {obj.expiry_date:%Y-%m-%d}{expired})"


class OfferedChoiceField(forms.ChoiceField):
    """Offers the analyte's allowed values; whether a posted value is allowed is decided by the
    service, whose message names the allowed values (the API gets the same one)."""

    def valid_value(self, value):
        return True


def _not_in_future(value, what: str):
    if value and value > timezone.now() + settings.RUN_FUTURE_TOLERANCE:
        raise ValidationError(f"The {what} cannot be in the future.")
    return value


# --- Instruments ---------------------------------------------------------------------------


class InstrumentForm(BootstrapMixin, forms.ModelForm):
    assay_codes = forms.MultipleChoiceField(
        choices=(),
        required=False,
        label="Assays it may report",
        widget=forms.SelectMultiple(attrs={"size": 8}),
    )

    class Meta:
        model = Instrument
        fields = [
            "code",
            "instrument_type",
            "make",
            "model",
            "serial_number",
            "location",
            "assay_codes",
        ]
        labels = {"instrument_type": "Type"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assay_codes"].choices = [
            (a.code, f"{a.code}: {a.name}") for a in current_assays()
        ]


class InstrumentLogForm(BootstrapMixin, forms.ModelForm):
    class Meta:
        model = InstrumentLogEntry
        fields = ["kind", "performed_on", "due_on", "performed_by", "certificate", "notes"]
        widgets = {
            "performed_on": DATE,
            "due_on": DATE,
            "notes": forms.Textarea(attrs={"rows": 2}),
        }
        labels = {"due_on": "Next due on", "performed_by": "Performed by (person or company)"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["performed_on"].initial = timezone.localdate()

    def clean_performed_on(self):
        value = self.cleaned_data["performed_on"]
        if value > timezone.localdate():
            raise ValidationError("The date performed cannot be in the future.")
        return value


class KeyIssueForm(BootstrapMixin, forms.Form):
    name = forms.CharField(
        max_length=50, required=False, help_text="To tell keys apart, e.g. the host it is on."
    )
    expires_on = forms.DateField(widget=DATE, help_text="The key stops working after this day.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["expires_on"].initial = timezone.localdate() + datetime.timedelta(
            days=settings.INSTRUMENT_KEY_DAYS
        )

    def clean_expires_on(self):
        value = self.cleaned_data["expires_on"]
        if value < timezone.localdate():
            raise ValidationError("The expiry date cannot be in the past.")
        # The service's rule (a key is never issued already expired), said next to the field.
        try:
            services.check_key_expiry(self._end_of(value))
        except ValidationError as exc:
            raise ValidationError(exc.message_dict["expiry_date"]) from exc
        return value

    @staticmethod
    def _end_of(day: datetime.date) -> datetime.datetime:
        return timezone.make_aware(datetime.datetime.combine(day, datetime.time.max))

    def expiry_datetime(self) -> datetime.datetime:
        """The end of the expiry day, in the site's time zone."""
        return self._end_of(self.cleaned_data["expires_on"])


# --- Manual result entry -------------------------------------------------------------------


class RunStartForm(BootstrapMixin, forms.Form):
    """Step 1 of manual entry: which assay, on which sample (checked as the service will)."""

    assay = CurrentAssayField()
    sample = forms.CharField(
        max_length=80,
        label="Sample identifier",
        help_text="Culture batch code, lot code or vial barcode, as the assay requires.",
    )

    def clean(self):
        data = super().clean()
        if data.get("assay") and data.get("sample"):
            try:
                services.resolve_sample(data["sample"], data["assay"])
            except ValidationError as exc:
                self.add_error("sample", exc.message_dict["sample"])
        return data


def reference_standard_field(assay: AssayDefinition) -> forms.ModelChoiceField:
    """The reference lots of the assay's material, each labelled with what stops its use (the
    check itself is the service's, against the run's start)."""
    return ReferenceChoiceField(
        queryset=ReferenceStandard.objects.filter(material=assay.reference_material).exclude(
            status=ReferenceStandard.Status.WITHDRAWN
        ),
        required=False,
        label="Reference standard",
        help_text=f"{assay.code} is reported against a qualified, in-date "
        f"{assay.reference_material} reference (USP <1032>).",
    )


class ReferenceChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        if obj.status != ReferenceStandard.Status.QUALIFIED:
            state = "not qualified"
        elif obj.expiry_date < timezone.localdate():
            state = f"expired {obj.expiry_date:%Y-%m-%d}"
        else:
            state = f"qualified, expires {obj.expiry_date:%Y-%m-%d}"
        return f"{obj.code} — {obj.name} ({state})"


def reagents_help(assay: AssayDefinition | None = None) -> str:
    text = "Kits, standards and controls used."
    if assay is not None and assay.required_reagents:
        labels = dict(ReagentLot.Category.choices)
        needed = ", ".join(str(labels.get(c, c)) for c in assay.required_reagents)
        text += f" {assay.code} needs: {needed}."
    return text


class _RunFieldsForm(forms.Form):
    """The fields of a run itself, whatever its samples: when it ran, on which instrument, with
    which reagent lots, and why it is entered late. `clean` applies the service's date and
    reagent rules so that each refusal shows at once next to its field; the service checks
    everything again."""

    started_at = forms.DateTimeField(widget=DATETIME, label="Started")
    ended_at = forms.DateTimeField(widget=DATETIME, label="Ended", required=False)

    def __init__(self, *args, assay: AssayDefinition, **kwargs):
        super().__init__(*args, **kwargs)
        self.assay = assay
        self.fields["started_at"].initial = timezone.localtime().replace(second=0, microsecond=0)
        instrument = InstrumentChoiceField(
            selectors.instruments_for_assay(assay.code),
            help_text=f"Instruments in service qualified for {assay.code}.",
        )
        instrument.offer_in_service()
        self.fields["instrument"] = instrument
        self.fields["reagent_lots"] = ReagentLotChoiceField(
            queryset=usable_reagent_lots(),
            required=False,
            widget=CheckboxList(),
            help_text=reagents_help(assay),
        )
        self.fields["backdate_reason"] = forms.CharField(
            required=False,
            max_length=2000,
            label="Reason for late entry",
            widget=forms.Textarea(attrs={"rows": 2}),
            help_text=f"Required when the run started more than {settings.BACKDATE_DAYS} days "
            "ago; the run is then flagged as back-dated for review.",
        )
        if assay.reference_material:
            self.fields["reference_standard"] = reference_standard_field(assay)

    def clean_started_at(self):
        return _not_in_future(self.cleaned_data["started_at"], "start")

    def clean_ended_at(self):
        return _not_in_future(self.cleaned_data["ended_at"], "end")

    def clean(self):
        data = super().clean()
        start, end = data.get("started_at"), data.get("ended_at")
        if start and end and end < start:
            self.add_error("ended_at", "The run cannot end before it starts.")
        checks = []
        if "reagent_lots" in data:
            lots = data["reagent_lots"]
            checks.append(lambda: services.check_required_reagents(self.assay, lots))
        if start and "reference_standard" in self.fields and "reference_standard" in data:
            reference = data["reference_standard"]
            checks.append(
                lambda: check_reference_usable(reference, assay=self.assay, started_at=start)
            )
        if start:
            checks.append(
                lambda: services.check_run_dates(
                    started_at=start,
                    ended_at=data.get("ended_at"),
                    backdate_reason=data.get("backdate_reason", ""),
                    assay=self.assay,
                )
            )
        for check in checks:
            try:
                check()
            except ValidationError as exc:
                for key, messages in exc.message_dict.items():
                    if key not in self.errors:
                        self.add_error(key, messages)
        return data


class _AnalyteFieldsForm(_RunFieldsForm):
    """The fields of a run of one assay on one sample, built from its definition (one per
    analyte)."""

    sample = forms.CharField(max_length=80, label="Sample identifier")
    retest_of = forms.ModelChoiceField(
        queryset=AssayRun.objects.none(), required=False, widget=forms.HiddenInput
    )

    def __init__(self, *args, assay: AssayDefinition, **kwargs):
        super().__init__(*args, assay=assay, **kwargs)
        self.fields["retest_of"].queryset = AssayRun.objects.filter(assay__code=assay.code)
        self.analytes = list(assay.analytes.all())
        for analyte in self.analytes:
            self.fields.update(self._analyte_fields(analyte))

    @staticmethod
    def names(analyte: Analyte) -> tuple[str, ...]:
        if analyte.result_type == Analyte.ResultType.NUMERIC:
            return (f"value__{analyte.code}", f"unit__{analyte.code}", f"qual__{analyte.code}")
        return (f"value__{analyte.code}",)

    def _analyte_fields(self, analyte: Analyte) -> dict[str, forms.Field]:
        names = self.names(analyte)
        if analyte.result_type == Analyte.ResultType.NUMERIC:
            return {
                names[0]: forms.FloatField(required=False, label=analyte.name),
                names[1]: forms.CharField(
                    required=False, max_length=40, initial=analyte.unit, label="Unit"
                ),
                names[2]: forms.ChoiceField(choices=QUALIFIERS, required=False, label="Qualifier"),
            }
        if analyte.result_type == Analyte.ResultType.QUALITATIVE:
            choices = [("", "Not tested"), *((v, v) for v in analyte.allowed_values)]
            return {
                names[0]: OfferedChoiceField(choices=choices, required=False, label=analyte.name)
            }
        return {names[0]: forms.CharField(required=False, max_length=200, label=analyte.name)}


class RunEntryForm(BootstrapMixin, _AnalyteFieldsForm):
    """Step 2 of manual entry: the run's details and one field per analyte of the assay.

    Each value is checked with the same function `services.run_record` applies, so every bad
    value is reported next to its own field at once; the service then checks everything again.
    """

    def analyte_rows(self):
        """(analyte, value field, unit field or None, qualifier field or None) for the template."""
        rows = []
        for analyte in self.analytes:
            bound = [self[name] for name in self.names(analyte)]
            rows.append((analyte, bound[0], *(bound[1:] or (None, None))))
        return rows

    def clean(self):
        # The run's dates and reagents (_RunFieldsForm), then the sample and each value.
        data = super().clean()
        sample = data.get("sample", "")
        if sample:
            try:
                services.resolve_sample(sample, self.assay)
            except ValidationError as exc:
                self.add_error("sample", exc.message_dict["sample"])
        self.result_inputs = []
        for analyte in self.analytes:
            item = self._result_input(analyte, sample)
            if item is None:
                continue
            try:
                services.result_check(analyte, item)
            except ValidationError as exc:
                value_field, *rest = self.names(analyte)
                for key, messages in exc.message_dict.items():
                    field = rest[0] if key == "unit" and rest else value_field
                    if field not in self.errors:
                        self.add_error(field, messages)
            self.result_inputs.append(item)
        if not self.result_inputs and not self.errors:
            self.add_error(None, "Enter at least one result.")
        return data

    def _result_input(self, analyte: Analyte, sample: str) -> services.ResultInput | None:
        names = self.names(analyte)
        value = self.cleaned_data.get(names[0])
        if analyte.result_type == Analyte.ResultType.NUMERIC:
            if names[0] in self.errors:
                return None
            qualifier = self.cleaned_data.get(names[2]) or ""
            if value is None and not qualifier:
                return None
            return services.ResultInput(
                sample=sample,
                analyte=analyte.code,
                value=value,
                unit=self.cleaned_data.get(names[1]) or analyte.unit,
                qualifier=qualifier,
            )
        if not value:
            return None
        return services.ResultInput(sample=sample, analyte=analyte.code, text_value=value)


# --- Worksheets: one assay, many samples ------------------------------------------------------


class WorksheetStartForm(BootstrapMixin, forms.Form):
    """The assay of a worksheet: its grid has one column per analyte."""

    assay = CurrentAssayField()


# A numeric cell: a number, or a qualifier and its limit ("<LLOQ 0.05", "<LOD 0.1", ">ULOQ 3e9"),
# as a plate reader's export or a bench spreadsheet writes it.
_QUALIFIED = re.compile(r"^(<\s*LLOQ|>\s*ULOQ|<\s*LOD)(?![A-Za-z])\s*(.*)$", re.IGNORECASE)
_NUMBER = re.compile(r"^[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?$")
_CANONICAL_QUALIFIER = {q.replace(" ", "").upper(): q for q, _ in QUALIFIERS if q}


class NumericCell(forms.CharField):
    """A numeric result typed or pasted into one grid cell: (qualifier, number or None), or
    None when empty. Whether the value is possible is the service's to say."""

    def to_python(self, value):
        text = super().to_python(value)
        if not text:
            return None
        qualifier = ""
        found = _QUALIFIED.match(text)
        if found:
            qualifier = _CANONICAL_QUALIFIER[re.sub(r"\s+", "", found.group(1)).upper()]
            text = found.group(2).strip()
        elif text[0] in "<>":
            raise ValidationError(
                "Say which limit, then the number: <LLOQ 0.05, <LOD 0.05 or >ULOQ 3e9."
            )
        if not text:
            return (qualifier, None)
        if not _NUMBER.match(text):
            if "," in text and _NUMBER.match(text.replace(",", ".", 1)):
                raise ValidationError(f"'{text}' is not a number: write decimals with a point.")
            raise ValidationError(f"'{text}' is not a number.")
        return (qualifier, float(text))


class WorksheetHeaderForm(BootstrapMixin, _RunFieldsForm):
    """The run a worksheet becomes, and the unit each numeric column is entered in."""

    def __init__(self, *args, assay: AssayDefinition, analytes: list[Analyte], **kwargs):
        super().__init__(*args, assay=assay, **kwargs)
        self.analytes = analytes
        for analyte in analytes:
            if analyte.result_type == Analyte.ResultType.NUMERIC:
                self.fields[self.unit_name(analyte)] = forms.CharField(
                    required=False,
                    max_length=40,
                    initial=analyte.unit,
                    label=f"Unit of {analyte.name}",
                    # Shown under the column's heading, without a <label> of its own.
                    widget=forms.TextInput(
                        attrs={
                            "class": "form-control form-control-sm",
                            "size": 8,
                            "aria-label": f"Unit of {analyte.name}",
                        }
                    ),
                )

    @staticmethod
    def unit_name(analyte: Analyte) -> str:
        return f"unit__{analyte.code}"

    def unit_of(self, analyte: Analyte) -> str:
        return self.cleaned_data.get(self.unit_name(analyte)) or analyte.unit

    def clean(self):
        data = super().clean()
        for analyte in self.analytes:
            name = self.unit_name(analyte)
            if name in self.fields and data.get(name):
                try:
                    services.unit_check(analyte, data[name])
                except ValidationError as exc:
                    self.add_error(name, exc.messages)
        return data


class WorksheetRowForm(BootstrapMixin, forms.Form):
    """One row of the grid: a sample (typed, scanned or picked) and one cell per analyte.

    Each input is labelled for assistive technology with its row's sample and its column
    (the grid's headings are not `<label>`s); lims/static/lims/worksheet.js keeps the labels
    in step when the sample is typed."""

    sample = forms.CharField(max_length=80, required=False, label="Sample")

    def __init__(self, *args, analytes: list[Analyte], index: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.analytes = analytes
        self.row_number = "" if index is None else str(index + 1)
        for analyte in analytes:
            if analyte.result_type == Analyte.ResultType.NUMERIC:
                field: forms.Field = NumericCell(required=False, max_length=60)
            else:
                field = forms.CharField(required=False, max_length=200)
            field.label = analyte.name
            self.fields[self.cell_name(analyte)] = field
        sample = self["sample"].value() or ""
        row = f"Row {self.row_number}" if self.row_number else "New row"
        for name, field in self.fields.items():
            column = "Sample" if name == "sample" else str(field.label)
            attrs = field.widget.attrs
            # The analyte cells come after BootstrapMixin styled the declared fields.
            classes = attrs.get("class", "").split()
            wanted = ("form-control", "form-control-sm", "ws-cell")
            attrs["class"] = " ".join(classes + [c for c in wanted if c not in classes])
            attrs["aria-label"] = f"{sample or row}: {column}"
            attrs["data-column"] = column
            attrs["data-row-label"] = row
            attrs["autocomplete"] = "off"
            if name == "sample":
                attrs["list"] = "ws-eligible"
                attrs.update(NO_AUTOFILL)
        for analyte in analytes:
            if analyte.result_type == Analyte.ResultType.QUALITATIVE:
                # The allowed values offered as the cell is typed (a <datalist>); a pasted value
                # outside them is refused by the service with the list, not dropped.
                widget = self.fields[self.cell_name(analyte)].widget
                widget.attrs["list"] = f"ws-values-{analyte.code}"

    @staticmethod
    def cell_name(analyte: Analyte) -> str:
        return f"a__{analyte.code}"

    def cells(self):
        """(analyte, bound field) of each column, for the template."""
        return [(analyte, self[self.cell_name(analyte)]) for analyte in self.analytes]

    def is_blank(self) -> bool:
        data = getattr(self, "cleaned_data", {})
        return not data.get("sample") and all(
            data.get(self.cell_name(a)) in (None, "") for a in self.analytes
        )

    def worksheet_row(self, header: WorksheetHeaderForm) -> WorksheetRow:
        data = self.cleaned_data
        sample: str = data.get("sample", "")
        results = []
        for analyte in self.analytes:
            cell = data.get(self.cell_name(analyte))
            if cell is None or cell == "":
                continue
            if analyte.result_type == Analyte.ResultType.NUMERIC:
                qualifier, value = cell
                results.append(
                    ResultInput(
                        sample=sample,
                        analyte=analyte.code,
                        value=value,
                        qualifier=qualifier,
                        unit=header.unit_of(analyte) if header.is_bound else analyte.unit,
                    )
                )
            else:
                results.append(ResultInput(sample=sample, analyte=analyte.code, text_value=cell))
        return WorksheetRow(sample=sample, results=results)


class _WorksheetRows(forms.BaseFormSet):
    def get_form_kwargs(self, index):
        return {**super().get_form_kwargs(index), "index": index}


WorksheetRows = forms.formset_factory(
    WorksheetRowForm,
    formset=_WorksheetRows,
    extra=0,
    max_num=services.WORKSHEET_MAX_ROWS,
    absolute_max=services.WORKSHEET_MAX_ROWS,
    validate_max=True,
)


# --- Instrument files ----------------------------------------------------------------------


def format_hint_choices():
    # Imported when the form is shown: the vendor list lives next to allotropy, slow to import.
    from assays.parsers.asm import VENDORS  # noqa: PLC0415

    return [
        ("", "Detect from the file"),
        ("nanosight", "NanoSight NTA experiment summary (CSV)"),
        ("fcs", "Flow cytometry standard (FCS)"),
        *((alias, f"{alias} (via allotropy)") for alias in sorted(VENDORS)),
    ]


class InstrumentFileUploadForm(BootstrapMixin, forms.Form):
    file = forms.FileField(help_text="The instrument's export, exactly as it wrote it.")
    sample = forms.CharField(
        max_length=80,
        required=False,
        label="Sample identifier (a file of one sample)",
        help_text="Only for a file of one sample that may not name it (NanoSight, FCS): its "
        "culture batch code, lot code or vial barcode. A file naming its samples is matched by "
        "those names on the next page.",
    )
    assay = CurrentAssayField()
    format_hint = forms.ChoiceField(choices=format_hint_choices, required=False, label="Format")
    instrument = InstrumentChoiceField(Instrument.objects.order_by("code"))
    plate_template = forms.ChoiceField(
        required=False,
        label="Plate layout",
        help_text="Plate assays (BCA, LAL, multiplex cytokines): the layout template the plate "
        "was set up with; its values are then computed from the standards (issue 10).",
    )
    plate_layout = forms.JSONField(
        required=False,
        label="Plate layout, edited",
        widget=forms.Textarea(attrs={"rows": 4, "class": "font-monospace"}),
        help_text="Optional: the layout as JSON (a template's, edited), overriding the template: "
        'groups of wells with role, name (the LIMS sample), "concentration", "dilution".',
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The instrument's checks are never skipped: a file names the instrument it came from.
        self.fields["instrument"].required = True
        self.templates = {
            f"{assay.code}:{i}": layout
            for assay in AssayDefinition.objects.filter(is_current=True).exclude(plate_layouts=[])
            for i, layout in enumerate(assay.plate_layouts)
        }
        self.fields["plate_template"].choices = [("", "none (not a plate, or no layout)")] + [
            (key, f"{key.split(':')[0]}: {layout.get('name', '')}")
            for key, layout in self.templates.items()
        ]
        self.fields["instrument"].offer_in_service()
        self.fields["instrument"].choices = [
            c for c in self.fields["instrument"].choices if c[0] != ""
        ]
        self.fields["reagent_lots"] = ReagentLotChoiceField(
            queryset=usable_reagent_lots(),
            required=False,
            widget=CheckboxList(),
            help_text=reagents_help()
            + " Some assays need a given kind (the LAL reagent of an endotoxin test).",
        )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        # Refused before its bytes are read into memory; the service checks the size again.
        if upload.size > settings.FILE_UPLOAD_MAX_BYTES:
            raise ValidationError("The file is larger than the upload limit.")
        return upload

    def clean(self):
        data = super().clean()
        layout = data.get("plate_layout") or self.templates.get(data.get("plate_template") or "")
        if layout is not None and not isinstance(layout, dict):
            self.add_error("plate_layout", "The layout is a JSON object with its groups.")
            layout = None
        data["layout"] = layout or None
        return data


class InstrumentFileConfirmForm(InstrumentFileUploadForm):
    """The upload's second step: what the first step was given, carried in hidden fields and
    checked again, the signed ticket of the stashed file (assays.upload_stash), and for each
    sample name of the file the LIMS does not know, its LIMS sample or the reason it is left
    out (`name-<n>-sample`, `name-<n>-reason`, numbered in the order the server reads the
    names from the file, never by names the browser sends)."""

    ticket = forms.CharField(widget=forms.HiddenInput, max_length=1000)

    def __init__(self, *args: Any, names: list[Any], subject: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        del self.fields["file"]
        for name in ("assay", "format_hint", "instrument", "sample", "plate_layout"):
            self.fields[name].widget = forms.HiddenInput()
        del self.fields["plate_template"]  # its layout is carried in plate_layout
        self.fields["reagent_lots"].widget = forms.MultipleHiddenInput()
        self.names = names
        for n, name in enumerate(names):
            self.fields[f"name-{n}-sample"] = forms.CharField(
                max_length=80,
                required=False,
                label=f"LIMS sample for {name.shown_name}",
                widget=forms.TextInput(attrs={"class": "form-control", "placeholder": subject}),
            )
            self.fields[f"name-{n}-reason"] = forms.CharField(
                max_length=200,
                required=False,
                label=f"Reason to leave {name.shown_name} out",
                widget=forms.TextInput(attrs={"class": "form-control"}),
            )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        for n in range(len(self.names)):
            sample = cleaned.get(f"name-{n}-sample", "").strip()
            reason = cleaned.get(f"name-{n}-reason", "").strip()
            if sample and reason:
                self.add_error(
                    f"name-{n}-reason",
                    "Either give its LIMS sample or leave it out with a reason, not both.",
                )
            elif not sample and not reason:
                self.add_error(
                    f"name-{n}-sample",
                    "Give its LIMS sample, or leave it out with a reason.",
                )
        return cleaned

    def name_rows(self) -> list[dict[str, Any]]:
        """Each name needing the user, with its two fields (bound)."""
        return [
            {"name": name, "sample": self[f"name-{n}-sample"], "reason": self[f"name-{n}-reason"]}
            for n, name in enumerate(self.names)
        ]

    def sample_map(self) -> dict[str, str]:
        return {
            name.identifier: self.cleaned_data[f"name-{n}-sample"].strip()
            for n, name in enumerate(self.names)
            if self.cleaned_data.get(f"name-{n}-sample", "").strip()
        }

    def excluded(self) -> dict[str, str]:
        return {
            name.identifier: self.cleaned_data[f"name-{n}-reason"].strip()
            for n, name in enumerate(self.names)
            if self.cleaned_data.get(f"name-{n}-reason", "").strip()
        }


class RunReviewForm(SignatureForm):
    """Second-person review: what was checked, signed with user ID and password (meaning:
    review)."""

    field_order = ["reason", "username", "password"]
    reason = forms.CharField(
        label="What was reviewed",
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Kept with the signature and in the audit trail.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        del self.fields["comment"]  # the reason is the signature's comment
