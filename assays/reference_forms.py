"""Browser forms of the reference standards: registration, QA qualification (e-signature) and
withdrawal. The rules are the services' (assays.reference_services); these forms only turn
typed text into their arguments and show each refusal next to its field."""

from __future__ import annotations

from typing import Any

from django import forms

from assays.models import AssayDefinition
from assays.reference_models import ReferenceStandard
from batches.models import ExosomeLot
from lims.forms import DATE, BootstrapMixin, CheckboxList, SignatureForm


def parse_assigned_values(text: str) -> list[dict[str, Any]]:
    """One value a line, "analyte value unit" (e.g. ``potency 100 percent``), into the
    service's [{analyte, value, unit}]; the service checks the numbers."""
    values = []
    for number, line in enumerate(text.splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) < 2:
            raise forms.ValidationError(
                f"Line {number}: give the analyte, its value and unit, e.g. potency 100 percent."
            )
        values.append({"analyte": parts[0], "value": parts[1], "unit": " ".join(parts[2:])})
    return values


class ReferenceRegisterForm(BootstrapMixin, forms.Form):
    code = forms.CharField(max_length=40, help_text="e.g. RS-EV-2026-03.")
    material = forms.CharField(
        max_length=40, help_text="The reference material the assays name, e.g. EV-RS."
    )
    name = forms.CharField(max_length=200)
    kind = forms.ChoiceField(choices=ReferenceStandard.Kind.choices)
    source_lot = forms.CharField(
        required=False,
        max_length=60,
        label="Source lot",
        help_text="Code of the exosome lot an in-house reference was set aside from.",
    )
    supplier = forms.CharField(required=False, max_length=120)
    catalogue_number = forms.CharField(required=False, max_length=60)
    lot_number = forms.CharField(
        required=False, max_length=60, help_text="The supplier's lot of a purchased standard."
    )
    assay_codes = forms.MultipleChoiceField(
        label="Assays",
        widget=CheckboxList,
        help_text="The assays this reference is qualified for.",
    )
    assigned_values = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        initial="potency 100 percent",
        help_text="One a line: analyte, value, unit (e.g. potency 100 percent).",
    )
    expiry_date = forms.DateField(widget=DATE)
    storage = forms.CharField(max_length=200, help_text="Condition and place, e.g. -80 °C, F-02.")
    qualification_report = forms.CharField(
        max_length=120, help_text="Protocol and report numbers of the qualification."
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        codes = (
            AssayDefinition.objects.filter(is_current=True)
            .exclude(reference_material="")
            .order_by("code")
            .values_list("code", "name")
        )
        self.fields["assay_codes"].choices = [(c, f"{c}: {n}") for c, n in codes]  # type: ignore[attr-defined]

    def clean_source_lot(self) -> ExosomeLot | None:
        code = self.cleaned_data["source_lot"].strip()
        if not code:
            return None
        lot = ExosomeLot.objects.filter(code=code).first()
        if lot is None:
            raise forms.ValidationError(f"No exosome lot {code}.")
        return lot

    def clean_assigned_values(self) -> list[dict[str, Any]]:
        return parse_assigned_values(self.cleaned_data["assigned_values"])

    def clean(self) -> dict[str, Any] | None:
        data = super().clean() or {}
        kind = data.get("kind")
        if kind == ReferenceStandard.Kind.IN_HOUSE and "source_lot" in data:
            if data["source_lot"] is None:
                self.add_error("source_lot", "An in-house reference names the lot it came from.")
        if kind == ReferenceStandard.Kind.PURCHASED:
            for name in ("supplier", "lot_number"):
                if name in data and not data[name].strip():
                    self.add_error(name, "A purchased standard names its supplier and lot.")
        return data


class ReferenceQualifyForm(SignatureForm):
    """QA's qualification: user ID and password again (meaning: approval)."""

    def __init__(self, *args: Any, reference: ReferenceStandard, user: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.reference = reference
        self.user = user

    def clean_username(self) -> str:
        username: str = self.cleaned_data["username"]
        # Segregation of duties (21 CFR 211.192), shown where the signer names themself; the
        # service refuses it again inside its transaction.
        if self.reference.created_by_id == self.user.pk:
            raise forms.ValidationError(
                f"You registered {self.reference.code}: another QA member qualifies it."
            )
        return username
