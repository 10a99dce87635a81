"""Form building blocks every app's pages use: Bootstrap styling with field errors marked, the
date widgets, the reason and status-move forms of corrections and transitions, and the
e-signature form."""

from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Q

from lims.roles import TECHNICIAN
from lims.signatures import Signer, reauthenticate

# <input type=date> takes only YYYY-MM-DD (HTML Living Standard, "valid date string"): a date
# written in the locale's format (21/10/2026 under en-GB) shows as blank and is lost on save.
ISO_DATE = "%Y-%m-%d"
DATE = forms.DateInput(attrs={"type": "date"}, format=ISO_DATE)
DATETIME = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


class CheckboxList(forms.CheckboxSelectMultiple):
    """Several choices as a scrolling list of checkboxes.

    A <select multiple> needs Ctrl-click, and one click without it silently drops every earlier
    choice (a reagent lot lost from a batch record); a checkbox is one tap on a bench tablet.
    """

    template_name = "lims/widgets/checkbox_list.html"

    def __init__(self, attrs=None, choices=()):
        attrs = {key: value for key, value in (attrs or {}).items() if key != "size"}
        super().__init__(attrs, choices)


def person_label(user) -> str:
    """A person by full name with the user name beside it (two Sams are told apart)."""
    name = user.get_full_name()
    return f"{name} ({user.username})" if name else user.username


def operators(current_id=None):
    """Who may be named as the operator of production work: active technicians.

    QA and administrators do not perform production steps (EU GMP Part I 2.5 separates
    production from quality); a record already naming someone keeps offering that person, so a
    correction of another field does not fail on a colleague who has since left.
    """
    people = Q(is_active=True, groups__name=TECHNICIAN)
    if current_id:
        people |= Q(pk=current_id)
    return (
        get_user_model()
        .objects.filter(pk__in=get_user_model().objects.filter(people).values("pk"))
        .order_by("first_name", "last_name", "username")
    )


class BootstrapMixin:
    """Bootstrap classes on every widget, and the invalid state on fields with errors."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            widget = field.widget
            base = "form-select" if isinstance(widget, forms.Select) else "form-control"
            if isinstance(widget, forms.CheckboxInput):
                base = "form-check-input"
            if type(widget) is forms.SelectMultiple:
                widget = field.widget = CheckboxList(widget.attrs, widget.choices)
            if isinstance(widget, forms.CheckboxSelectMultiple):
                base = "form-check-input"
            css = widget.attrs.get("class", "") + " " + base
            widget.attrs["class"] = css.strip()
            if isinstance(widget, forms.DateInput) and "date" in (
                widget.input_type,
                widget.attrs.get("type"),
            ):
                widget.format = ISO_DATE  # whatever declared it, never the locale's format

    def add_error(self, field, error):
        # Mark fields as invalid when their errors arrive, not in __init__: reading self.errors
        # there would validate the form before subclasses set their querysets and choices.
        super().add_error(field, error)
        for name in self._errors or ():
            if name in self.fields:
                widget = self.fields[name].widget
                if "is-invalid" not in widget.attrs.get("class", "").split():
                    widget.attrs["class"] = (widget.attrs.get("class", "") + " is-invalid").strip()


class ReasonForm(BootstrapMixin, forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Why this change is made (kept in the audit trail).",
    )


class StatusForm(BootstrapMixin, forms.Form):
    to = forms.ChoiceField(label="New status")
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, choices, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["to"].choices = choices


NO_AUTOFILL = {"autocomplete": "off", "autocapitalize": "none", "spellcheck": "false"}


class SignatureForm(BootstrapMixin, forms.Form):
    """User ID and password again, and an optional comment (21 CFR 11.200(a)).

    The password is not required here: a missing password goes to reauthenticate(), which
    refuses it and counts it as a failed attempt (11.300(d)), as it does a wrong one.
    """

    username = forms.CharField(label="User ID", widget=forms.TextInput(attrs=NO_AUTOFILL))
    password = forms.CharField(
        label="Password",
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
    )
    comment = forms.CharField(
        label="Comment", required=False, widget=forms.Textarea(attrs={"rows": 2})
    )

    def signer(self, request, meaning: str) -> Signer:
        """Re-authenticate the signed-in user for a signature of `meaning` (SignatureRefused,
        a ValidationError, when it fails). Call it outside the transaction of the signed
        change, so a refused attempt stays counted."""
        return reauthenticate(
            request=request,
            username=self.cleaned_data["username"],
            password=self.cleaned_data["password"],
            meaning=meaning,
        )


class SignedStatusForm(StatusForm, SignatureForm):
    """A status move that is signed (a lot's quarantine lifted by QA): the move and its reason,
    then the user ID and password again (21 CFR 11.200(a))."""

    field_order = ["to", "reason", "username", "password", "comment"]
