"""Forms of the QC pages: the trend (control chart) query and the bulk recompute."""

from django import forms

from assays import qc_selectors
from lims.forms import BootstrapMixin


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
        return data


class RecomputeForm(BootstrapMixin, forms.Form):
    assay_code = forms.ChoiceField(label="Assay", required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assay_code"].choices = [("", "All assays")] + [
            (code, code) for code in qc_selectors.assay_codes()
        ]
