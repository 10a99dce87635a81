"""Browser forms of the release: signing (disposition, approval, closure), specifications,
deviations and CAPA.

The forms collect input; the services in release.services and release.specifications apply the
rules and refuse with the messages the pages show.
"""

from django import forms
from django.utils import timezone

from batches.models import CultureBatch, ExosomeLot, IsolationRun, StorageLocation
from lims.code_fields import CodeChoiceField, StoragePositionField
from lims.forms import DATE, BootstrapMixin, SignatureForm
from lims.models import Signature
from release.models import Criterion, Deviation, Disposition, Specification
from release.services import MEANING


def decision_choices() -> list[tuple[str, str]]:
    meanings = dict(Signature.Meaning.choices)
    return [
        (value, f"{label} — signature meaning: {meanings[MEANING[value]]}")
        for value, label in Disposition.Decision.choices
    ]


class DispositionForm(SignatureForm):
    decision = forms.ChoiceField(widget=forms.RadioSelect)
    reason = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Required for a rejection or a quarantine.",
    )

    field_order = ["decision", "reason", "username", "password", "comment"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["decision"].choices = decision_choices()
        self.fields["decision"].widget.attrs["class"] = "form-check-input"

    def clean(self):
        data = super().clean()
        decision = data.get("decision")
        if decision and decision != Disposition.Decision.RELEASED and not data.get("reason"):
            self.add_error("reason", "Give the reason for a rejection or quarantine.")
        return data


class SpecificationDraftForm(BootstrapMixin, forms.Form):
    product = forms.ChoiceField(choices=Specification.Product.choices)
    title = forms.CharField(
        required=False,
        max_length=200,
        help_text="Leave empty to keep the title of the version it is copied from.",
    )


class CriterionForm(BootstrapMixin, forms.ModelForm):
    class Meta:
        model = Criterion
        fields = [
            "position",
            "test",
            "method",
            "metric_code",
            "comparator",
            "lower",
            "upper",
            "expected_text",
            "unit",
            "alert_lower",
            "alert_upper",
            "required",
            "reference",
            "combination",
            "any_of_codes",
            "endotoxin_k",
            "dose_ml_per_hour",
            "body_mass_kg",
        ]
        labels = {
            "any_of_codes": "Or any one of",
            "endotoxin_k": "K (EU/kg)",
            "dose_ml_per_hour": "Maximum dose per hour (mL)",
            "body_mass_kg": "Body mass (kg)",
        }
        help_texts = {
            "metric_code": "The QC metric judged, e.g. nta.concentration or endotoxin.eu_per_ml.",
            "expected_text": "For 'equals': the accepted call, e.g. 'no growth'.",
            "unit": "The unit of the limits; a metric in another unit is converted.",
            "required": "Unticked: report only, never blocks release.",
            "any_of_codes": "Comma-separated metric codes, e.g. ev_markers.ALIX: the criterion "
            "holds when the metric or any one of these conforms.",
            "endotoxin_k": "With the dose and body mass, the upper limit is derived as K/M "
            "(USP <85>); leave the upper limit empty.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["combination"].required = False

    def clean_combination(self):
        return self.cleaned_data.get("combination") or Criterion.Combination.ALL


class DeviationOpenForm(BootstrapMixin, forms.Form):
    # Typed codes, not <select>s of every lot, batch, run and position the site ever had
    # (lims.code_fields); any record may be the subject of a deviation, a voided one too.
    lot = CodeChoiceField(ExosomeLot.objects.all(), required=False, help_text="Lot code.")
    culture_batch = CodeChoiceField(
        CultureBatch.objects.all(), required=False, help_text="Culture batch code."
    )
    isolation_run = CodeChoiceField(
        IsolationRun.objects.all(), required=False, help_text="Isolation run code."
    )
    storage_location = StoragePositionField(
        StorageLocation.objects.all(), required=False, label="Storage position"
    )
    kind = forms.ChoiceField(choices=Deviation.Kind.choices)
    title = forms.CharField(max_length=200)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}))

    def clean(self):
        data = super().clean()
        targets = ("lot", "culture_batch", "isolation_run", "storage_location")
        if not any(data.get(name) for name in targets):
            raise forms.ValidationError(
                "Say what the deviation concerns: a lot, batch, run or position."
            )
        return data


class InvestigationForm(BootstrapMixin, forms.Form):
    root_cause = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    impact_assessment = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))


class CapaForm(BootstrapMixin, forms.Form):
    description = forms.CharField(
        label="Action", widget=forms.Textarea(attrs={"rows": 2}), max_length=2000
    )
    owner = forms.CharField(max_length=120)
    due_on = forms.DateField(label="Due on", widget=DATE)


class CapaDoneForm(BootstrapMixin, forms.Form):
    done_on = forms.DateField(label="Done on", widget=DATE, initial=timezone.localdate)

    def clean_done_on(self):
        done_on = self.cleaned_data["done_on"]
        if done_on > timezone.localdate():
            raise forms.ValidationError("An action cannot be done in the future.")
        return done_on


class DeviationCloseForm(SignatureForm):
    outcome = forms.ChoiceField(choices=[("", "—")] + Deviation.Outcome.choices)

    field_order = ["outcome", "username", "password", "comment"]


class AuditTrailReviewForm(SignatureForm):
    """A lot's audit trail (review by exception: its changes after first entry) or a period's."""

    lot = CodeChoiceField(
        ExosomeLot.objects.all(),
        required=False,
        help_text="The code of the lot whose trail is reviewed; or leave empty and give a period.",
    )
    period_start = forms.DateField(label="From", required=False, widget=DATE)
    period_end = forms.DateField(label="To", required=False, widget=DATE)
    findings = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="What the review found (none: say so), and any deviation opened.",
    )

    field_order = ["lot", "period_start", "period_end", "findings", "username", "password"]

    def clean(self):
        data = super().clean()
        period = data.get("period_start") or data.get("period_end")
        if data.get("lot") and period:
            raise forms.ValidationError("Review either a lot or a period, not both.")
        if not data.get("lot") and not (data.get("period_start") and data.get("period_end")):
            raise forms.ValidationError("Choose a lot, or give the first and last day of a period.")
        return data
