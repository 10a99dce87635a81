"""Form fields naming a record by its code, typed, where a <select> would list every record.

Lots, culture batches, isolation runs, cell banks and storage positions grow with a site's
history (thousands after ten years): a <select> of them makes every form page that offers one
grow with the history, and a list of 5,000 codes is no help to the person choosing. The code
is printed on the label and the record's page, so it is typed; the record is found by its
unique index, and an unknown or ineligible code is a form error next to the field.
"""

import re
from collections.abc import Callable
from typing import Any, cast

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Model, Q, QuerySet

Refusal = Callable[[Any], str | None]  # given a record of the field's model


class CodeChoiceField(forms.ModelChoiceField):
    """One record of `queryset` by its `to_field_name` (the code), typed.

    `queryset` is every record that can be named, so an ineligible record is told apart from an
    unknown code: `refuse(record)` returns why it may not be chosen here ("Lot X is voided."),
    or None. `case_insensitive` compares `UPPER(code)` (give the model an index on it);
    otherwise the code as typed or in capitals, as codes are issued, both on the unique index.
    """

    widget = forms.TextInput

    def __init__(
        self,
        queryset,
        *,
        to_field_name: str = "code",
        refuse: Refusal | None = None,
        case_insensitive: bool = False,
        **kwargs,
    ):
        super().__init__(queryset, to_field_name=to_field_name, **kwargs)
        self.refuse = refuse
        self.case_insensitive = case_insensitive

    @property
    def records(self) -> QuerySet:
        """The queryset (always given here; ModelChoiceField types it optional)."""
        return cast(QuerySet, self.queryset)

    @property
    def model_name(self) -> str:
        return str(self.records.model._meta.verbose_name)

    def matching(self, typed: str) -> Q:
        """The condition selecting the record of one typed code."""
        key = self.to_field_name
        if self.case_insensitive:
            return Q(**{f"{key}__iexact": typed})
        return Q(**{f"{key}__in": sorted({typed, typed.upper()})})

    def find(self, typed: str) -> Model | None:
        return self.records.filter(self.matching(typed)).first()

    def unknown(self, typed: str) -> ValidationError:
        return ValidationError(
            "No %(model)s has the code “%(value)s”.",
            code="invalid_choice",
            params={"model": self.model_name, "value": typed},
        )

    def check_eligible(self, record: Model) -> None:
        reason = self.refuse(record) if self.refuse else None
        if reason:
            raise ValidationError(reason, code="ineligible")

    def has_changed(self, initial, data):
        # The same code typed in another case or with spaces is the same record (a correction
        # of another field must not list this one as changed).
        if self.disabled:
            return False
        before = "" if initial in self.empty_values else str(self.prepare_value(initial))
        after = "" if data in self.empty_values else str(data)
        return before.strip().upper() != after.strip().upper()

    def to_python(self, value):
        if isinstance(value, str):
            value = value.strip()  # blank is empty, as in a CharField
        if value in self.empty_values:
            return None
        if isinstance(value, self.queryset.model):
            record = value
        else:
            typed = str(value).strip()
            record = self.find(typed)
            if record is None:
                raise self.unknown(typed)
        self.check_eligible(record)
        return record


class CodeListField(CodeChoiceField):
    """Several records by their codes, typed comma- or space-separated, found in one query;
    every unknown or ineligible code is named in the field's error."""

    def __init__(self, queryset, **kwargs):
        kwargs.setdefault("help_text", "Codes, separated by commas.")
        super().__init__(queryset, **kwargs)

    def prepare_value(self, value):
        if isinstance(value, (list, tuple, QuerySet)):
            return ", ".join(str(super(CodeListField, self).prepare_value(v)) for v in value)
        return super().prepare_value(value)

    def to_python(self, value):
        if value in self.empty_values:
            return []
        typed = list(dict.fromkeys(t for t in re.split(r"[\s,;]+", str(value)) if t))
        condition = Q(pk__in=[])
        for code in typed:
            condition |= self.matching(code)
        found = {
            str(getattr(r, self.to_field_name)).upper(): r for r in self.queryset.filter(condition)
        }
        errors, records = [], []
        for code in typed:
            record = found.get(code.upper())
            if record is None:
                errors.append(self.unknown(code))
                continue
            try:
                self.check_eligible(record)
            except ValidationError as exc:
                errors.append(exc)
            if record not in records:
                records.append(record)
        if errors:
            raise ValidationError(errors)
        return records

    def validate(self, value):
        if self.required and not value:
            raise ValidationError(self.error_messages["required"], code="required")

    def has_changed(self, initial, data):
        typed = [t for t in re.split(r"[\s,;]+", str(data or "")) if t]
        return self.prepare_value(initial or []).upper() != ", ".join(typed).upper()


class StoragePositionField(CodeChoiceField):
    """A storage position typed as its label, "freezer / rack / box / position" (how it is
    printed, `str()` of the position; spaces around the slashes optional, any case), found on
    an index of the four parts: one query whatever the number of positions.

    The model has `freezer`, `rack`, `box` and `position` and an index on their UPPER()
    (batches.StorageLocation); `refuse(position)` says why a position may not be chosen here.
    """

    PARTS = ("freezer", "rack", "box", "position")
    FORMAT = "Freezer / rack / box / position"

    def __init__(self, queryset, **kwargs):
        kwargs.setdefault(
            "help_text",
            "Freezer / rack / box / position, as on the box label (e.g. ULT-1 / R1 / B3 / A01).",
        )
        kwargs.setdefault(
            "widget",
            forms.TextInput(attrs={"placeholder": self.FORMAT, "autocomplete": "off"}),
        )
        super().__init__(queryset, to_field_name="pk", **kwargs)

    @classmethod
    def split(cls, typed: str) -> list[str] | None:
        """The four parts typed, or None. From the right: a freezer's name may hold a slash,
        a rack, box or position name does not (they are short codes)."""
        parts = [part.strip() for part in str(typed).rsplit("/", len(cls.PARTS) - 1)]
        if len(parts) != len(cls.PARTS) or not all(parts):
            return None
        return parts

    def prepare_value(self, value):
        # Shown as its label: an initial given as the position or as its id (a pre-filled
        # link), never the id itself. Typed text (a str, bound data) is shown as typed.
        if isinstance(value, int) and not isinstance(value, bool):
            value = self.records.filter(pk=value).first() or value
        return str(value) if isinstance(value, Model) else value

    def find(self, typed: str) -> Model | None:
        parts = self.split(typed)
        if parts is None:
            raise ValidationError(
                "“%(value)s” is not a storage position: type its four parts separated by "
                "slashes, freezer / rack / box / position.",
                code="invalid",
                params={"value": typed},
            )
        # `UPPER(part) = UPPER(%s)` on all four: the index on their UPPER(). Positions that
        # differ only in case (registered so on purpose, or not) are told apart by the exact
        # text; if none is exact, the technician is asked to type it as on the label.
        lookups = {f"{name}__iexact": part for name, part in zip(self.PARTS, parts, strict=True)}
        found = list(self.records.filter(**lookups))
        exact = [r for r in found if [getattr(r, n) for n in self.PARTS] == parts]
        if exact:
            return exact[0]
        if len(found) > 1:
            raise ValidationError(
                "Several storage positions are “%(value)s” in another case: type it exactly as "
                "on the label.",
                code="ambiguous",
                params={"value": " / ".join(parts)},
            )
        return found[0] if found else None

    def unknown(self, typed: str) -> ValidationError:
        return ValidationError(
            "No storage position %(value)s is registered.",
            code="invalid_choice",
            params={"value": " / ".join(self.split(typed) or [typed])},
        )

    def has_changed(self, initial, data):
        # The same position typed with other spacing or case is unchanged.
        if self.disabled:
            return False

        def label(value) -> str:
            text = "" if value in self.empty_values else str(self.prepare_value(value))
            parts = self.split(text)
            return (" / ".join(parts) if parts else text.strip()).upper()

        return label(initial) != label(data)
