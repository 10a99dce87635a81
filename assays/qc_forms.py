"""Forms of the QC pages: the trend (control chart) query, control baselines and the bulk
recompute."""

from django import forms

from assays import qc_selectors
from assays.models import ControlBaseline
from assays.qc.control_limits import BASELINE_MIN_N
from lims.forms import DATE, BootstrapMixin


class TrendForm(BootstrapMixin, forms.Form):
    """What to chart: a metric code, optionally from one assay, with optional established
    mean/SD (else from the data) and specification limits (for Cpk)."""

    X_AXIS = [
        ("date", "Lot manufactured / batch started"),
        ("order", "Sequence (in date order)"),
        ("computed", "Metric computed"),
    ]

    code = forms.ChoiceField(label="Metric")
    assay = forms.ChoiceField(label="Assay", required=False)
    x = forms.ChoiceField(label="x axis", choices=X_AXIS, required=False, initial="date")
    mean = forms.FloatField(label="Established mean", required=False)
    sd = forms.FloatField(label="Established SD", required=False, min_value=0)
    lsl = forms.FloatField(label="LSL", required=False)
    usl = forms.FloatField(label="USL", required=False)
    # The chart shows the latest points (qc_selectors.TREND_WINDOW); these look further back.
    since = forms.DateField(label="From", required=False, widget=DATE)
    until = forms.DateField(label="To", required=False, widget=DATE)

    def __init__(self, *args, codes: list[str], assays: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["code"].choices = [("", "—")] + [(c, c) for c in codes]
        self.fields["assay"].choices = [("", "Any")] + [(a, a) for a in assays]

    def clean(self):
        data = super().clean()
        mean, sd = data.get("mean"), data.get("sd")
        if (mean is None) != (sd is None):
            raise forms.ValidationError("Give both the established mean and SD, or neither.")
        if sd is not None and sd <= 0:
            self.add_error("sd", "The SD must be positive.")
        lsl, usl = data.get("lsl"), data.get("usl")
        if lsl is not None and usl is not None and lsl >= usl:
            self.add_error("usl", "USL must be above LSL.")
        since, until = data.get("since"), data.get("until")
        if since is not None and until is not None and since > until:
            self.add_error("until", "To must not be before From.")
        return data


class BaselineProposeForm(BootstrapMixin, forms.Form):
    """A baseline from the metric's trend series: the first n points (less those left out) or
    the points ticked. The page draws the point checkboxes itself, one row per point."""

    code = forms.CharField(widget=forms.HiddenInput)
    assay = forms.CharField(widget=forms.HiddenInput, required=False)
    method = forms.ChoiceField(
        label="Points",
        choices=ControlBaseline.Method.choices,
        initial=ControlBaseline.Method.FIRST_N,
        widget=forms.RadioSelect,
    )
    n = forms.IntegerField(
        label="n",
        min_value=BASELINE_MIN_N,
        initial=BASELINE_MIN_N,
        help_text=f"At least {BASELINE_MIN_N} points (CLSI C24).",
    )
    points = forms.TypedMultipleChoiceField(coerce=int, required=False, label="Points chosen")
    exclude = forms.TypedMultipleChoiceField(coerce=int, required=False, label="Left out")
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Why this baseline, and why any point is left out (kept in the audit trail).",
    )

    def __init__(self, *args, series, **kwargs):
        super().__init__(*args, **kwargs)
        choices = [(p.metric_id, p.label) for p in series]
        self.fields["points"].choices = choices
        self.fields["exclude"].choices = choices
        self.fields["method"].widget.attrs["class"] = "form-check-input"


class RecomputeForm(BootstrapMixin, forms.Form):
    assay_code = forms.ChoiceField(label="Assay", required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assay_code"].choices = [("", "All assays")] + [
            (code, code) for code in qc_selectors.assay_codes()
        ]
