"""Browser forms of stability studies and the annual product quality review; the services
(release.stability, release.apqr) apply the rules and their refusals show next to the field."""

from django import forms
from django.utils import timezone

from batches.models import ExosomeLot
from lims.code_fields import CodeChoiceField, CodeListField
from lims.forms import DATE, DATETIME, BootstrapMixin, SignatureForm
from release.models import Condition, Specification, StabilityProtocol


class ProtocolForm(BootstrapMixin, forms.Form):
    code = forms.CharField(max_length=40)
    title = forms.CharField(max_length=200)
    specification = forms.ModelChoiceField(
        queryset=Specification.objects.filter(product=Specification.Product.STABILITY)
    )
    # Typed codes, not a <select> of every lot (lims.code_fields); the service judges the lots.
    lots = CodeListField(ExosomeLot.objects.all(), help_text="Lot codes, separated by commas.")
    conditions = forms.MultipleChoiceField(
        choices=Condition.choices, widget=forms.CheckboxSelectMultiple
    )
    time_points = forms.CharField(
        initial="0, 1, 3, 6, 12, 24", help_text="Months (cycles for freeze–thaw), comma separated."
    )
    shelf_life_condition = forms.ChoiceField(choices=Condition.choices)
    vials_per_pull = forms.IntegerField(min_value=1, initial=1)
    pull_window_days = forms.IntegerField(min_value=0, initial=7)

    def clean_time_points(self):
        try:
            return [int(p) for p in self.cleaned_data["time_points"].split(",") if p.strip()]
        except ValueError as exc:
            raise forms.ValidationError("Whole numbers, comma separated.") from exc


class StudyStartForm(BootstrapMixin, forms.Form):
    protocol = forms.ModelChoiceField(queryset=StabilityProtocol.objects.all())
    lot = CodeChoiceField(
        ExosomeLot.objects.all(), help_text="Lot code: one of the protocol's lots."
    )
    started_on = forms.DateField(widget=DATE, initial=timezone.localdate)


class PullForm(BootstrapMixin, forms.Form):
    pulled_at = forms.DateTimeField(widget=DATETIME, initial=timezone.now)


class ApqrSignForm(SignatureForm):
    conclusion = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}))
    field_order = ["conclusion", "username", "password", "comment"]


class ApqrReviseForm(SignatureForm):
    # Not required here: the service refuses an empty reason, next to this field.
    reason = forms.CharField(
        required=False,
        label="Reason for the revision",
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="What was wrong or missing in the signed revision.",
    )
    conclusion = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}))
    field_order = ["reason", "conclusion", "username", "password", "comment"]
