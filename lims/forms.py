"""Form building blocks every app's pages use: Bootstrap styling with field errors marked, the
date widgets, and the reason and status-move forms of corrections and transitions."""

from django import forms

DATE = forms.DateInput(attrs={"type": "date"})
DATETIME = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


class BootstrapMixin:
    """Bootstrap classes on every widget, and the invalid state on fields with errors."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            widget = field.widget
            base = "form-select" if isinstance(widget, forms.Select) else "form-control"
            if isinstance(widget, forms.CheckboxInput):
                base = "form-check-input"
            if isinstance(widget, forms.SelectMultiple):
                base = "form-select"
            css = widget.attrs.get("class", "") + " " + base
            widget.attrs["class"] = css.strip()

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
