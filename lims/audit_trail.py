"""Selectors and filters for reading the audit trail (the writing side is lims.audit).

The trail is read by people: records are named by their codes ("Exosome lot EXO-2026-0006"),
references by what they point at ("location: F1 / R1 / B1 / A1", not "location_id: 41") and
people by their full names (21 CFR 11.10(e): a trail a reviewer can read; EU GMP Annex 11 §9).
Names are resolved for a whole page at once: one query per model referenced on the page,
however many rows it shows.

A lot or a culture batch has one history: its own events with those of its parts (vials,
passages, harvests …), its runs and its results. The apps above lims say what the parts of a
record are (`register_parts`), so lims needs to know none of them.
"""

import datetime
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

import django_filters as filters
from django import forms
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import models
from django.db.models import CharField, F, Q, Value
from django.db.models.functions import Cast, Coalesce, Concat, NullIf, Trim
from django.utils import timezone

from lims.models import AuditEvent


def _event_models() -> list:
    return [m for m in apps.get_models() if getattr(m, "pgh_tracked_model", None) is not None]


def _label(model) -> str:
    return f"{model._meta.app_label}.{model.__name__}"


def audited_model_choices() -> list[tuple[str, str]]:
    choices = []
    for model in _event_models():
        tracked = model.pgh_tracked_model
        choices.append((_label(tracked), tracked._meta.verbose_name.capitalize()))
    return sorted(set(choices), key=lambda c: c[1])


def _tracked_models() -> dict[str, type[models.Model]]:
    """app_label.Model → the tracked model, for every audited model."""
    return {_label(m.pgh_tracked_model): m.pgh_tracked_model for m in _event_models()}


def _event_models_of(tracked: Iterable[type[models.Model]]) -> list:
    wanted = set(tracked)
    return [m for m in _event_models() if m.pgh_tracked_model in wanted]


def audit_events():
    return AuditEvent.objects.order_by("-pgh_created_at", "-pgh_id")


# --- Naming records, references and people, a page at a time ---------------------------------


def _foreign_keys(model) -> dict[str, models.Field]:
    """The columns of `model` that point at another record, by column name (as events hold)."""
    return {
        f.attname: f
        for f in model._meta.concrete_fields
        if f.is_relation and (f.many_to_one or f.one_to_one)
    }


# How a record is named in the trail: an SQL expression, so that every record of a page is
# named by one query (a UNION over the models referenced), whatever their number and kinds.
_LABELS: dict[type[models.Model], Callable[[], Any]] = {}


def register_label(model: type[models.Model], expression: Callable[[], Any]) -> None:
    """Name `model`'s records in the trail by `expression()` (evaluated on the model's rows,
    may follow foreign keys); without one a record is named by its code, barcode or
    identifier fields."""
    _LABELS[model] = expression


def _label_expression(model: type[models.Model]):
    if model in _LABELS:
        return _LABELS[model]()
    if model is get_user_model():
        full_name = Trim(Concat("first_name", Value(" "), "last_name"))
        return Coalesce(NullIf(full_name, Value("")), "username")
    for name in IDENTIFIER_FIELD_NAMES:
        try:
            field = model._meta.get_field(name)
        except FieldDoesNotExist:
            continue
        if isinstance(field, models.CharField):
            return F(name)
    identifiers = getattr(model, "IDENTIFIER_FIELDS", ())
    if identifiers:
        parts: list[Any] = []
        for name in identifiers:
            parts += [Value(" / "), name] if parts else [name]
        return Concat(*parts, output_field=CharField()) if len(parts) > 1 else F(parts[0])
    return Value("")


def _names(wanted: dict[type[models.Model], set]) -> dict[tuple[type, str], str]:
    """The names of the records asked for, in one query; keyed by (model, str(pk)). A record
    that is not found is absent."""
    tracked = {_label(m): m for m in wanted}
    queries = []
    for model, pks in wanted.items():
        try:
            cleaned = [model._meta.pk.to_python(pk) for pk in pks if pk not in (None, "")]
        except ValidationError:  # a malformed id in an old event: shown as the id it is
            continue
        if not cleaned:
            continue
        queries.append(
            model._base_manager.filter(pk__in=cleaned)
            .annotate(
                _model=Value(_label(model), output_field=CharField()),
                _pk=Cast("pk", output_field=CharField()),
                _name=Cast(_label_expression(model), output_field=CharField()),
            )
            .values_list("_model", "_pk", "_name")
            .order_by()
        )
    if not queries:
        return {}
    rows = queries[0].union(*queries[1:], all=True) if len(queries) > 1 else queries[0]
    return {(tracked[label], pk): name or "" for label, pk, name in rows}


def _record_title(model, name: str | None, pk: str) -> str:
    kind = model._meta.verbose_name.capitalize() if model else "Record"
    return f"{kind} {name}" if name else f"{kind} #{pk}"


def _record_url(model, pk: str) -> str:
    if model is None or not hasattr(model, "get_absolute_url"):
        return ""
    try:
        return model(pk=model._meta.pk.to_python(pk)).get_absolute_url()
    except Exception:  # a page whose address needs more than the id: no link
        return ""


def describe(events) -> list[AuditEvent]:
    """The events with what a reader needs, named for all of them in one query:

    - ``record`` ("Exosome lot EXO-2026-0006") and ``record_url``;
    - ``who``: the person's full name (the username in ``who_username``);
    - ``readable_changes``: (field, old, new) with references named ("location",
      "F1 / R1 / B1 / A1") and people by full name.
    """
    events = list(events)
    tracked = _tracked_models()
    user_model = get_user_model()
    wanted: dict[type[models.Model], set] = defaultdict(set)
    for e in events:
        model = tracked.get(e.pgh_obj_model)
        if model is not None:
            wanted[model].add(e.pgh_obj_id)
        if e.user_id:
            wanted[user_model].add(e.user_id)
        if model is None or e.pgh_label != "update":
            continue  # a creation's values are not listed on the pages
        fks = _foreign_keys(model)
        for name, old, new in e.changes:
            field = fks.get(name)
            if field is not None and isinstance(field.related_model, type):
                wanted[field.related_model].update(v for v in (old, new) if v is not None)
    names = _names(wanted)

    for e in events:
        model = tracked.get(e.pgh_obj_model)
        name = names.get((model, str(e.pgh_obj_id))) if model is not None else None
        e.record = _record_title(model, name, e.pgh_obj_id)
        e.record_url = _record_url(model, e.pgh_obj_id) if name is not None else ""
        person = names.get((user_model, str(e.user_id))) if e.user_id else None
        e.who = person or e.actor
        if person and e.task and not e.username:
            e.who = f"{person} ({e.task})"
        e.who_username = e.username or ""
        fks = _foreign_keys(model) if model else {}
        readable = []
        for name, old, new in e.changes if e.pgh_label == "update" else []:
            field = fks.get(name)
            if field is None:
                readable.append((name, old, new))
                continue

            def shown(value, related=field.related_model):
                if value is None:
                    return None
                return names.get((related, str(value))) or f"#{value}"

            readable.append((field.name, shown(old), shown(new)))
        e.readable_changes = readable
    return events


def events_of(obj) -> list[AuditEvent]:
    """The trail of one record, oldest first, its references named."""
    return describe(AuditEvent.objects.tracks(obj).order_by("pgh_created_at", "pgh_id"))


# --- One history for a record and its parts --------------------------------------------------

# Any: a provider takes its own model (an ExosomeLot, a CultureBatch), not any Model.
PartsProvider = Callable[[Any], Iterable[tuple[type[models.Model], Iterable]]]
_PARTS: dict[type[models.Model], list[tuple[PartsProvider, str]]] = defaultdict(list)


def register_parts(model: type[models.Model], provider: PartsProvider, what: str) -> None:
    """Say what belongs to a record's history: `provider(record)` yields (model, pks) pairs,
    one query each; `what` names them, comma-separated ("vials, vial moves"). Each app
    registers its own parts in its AppConfig.ready, so lims knows none of them."""
    if all(p is not provider for p, _ in _PARTS[model]):
        _PARTS[model].append((provider, what))


def parts_of(obj) -> str:
    """What a record's history gathers besides itself, in words ("" when nothing)."""
    whats = [
        item
        for _, what in _PARTS.get(type(obj)._meta.concrete_model, [])
        for item in what.split(", ")
    ]
    if not whats:
        return ""
    return "its " + (whats[0] if len(whats) == 1 else ", ".join(whats[:-1]) + " and " + whats[-1])


def model_label(obj) -> str:
    return _label(type(obj)._meta.concrete_model)


def family_of(obj) -> dict[type[models.Model], set[str]]:
    """The record and its parts: {model: {pk, …}}."""
    model = type(obj)._meta.concrete_model
    members: dict[type[models.Model], set[str]] = defaultdict(set)
    members[model].add(str(obj.pk))
    for provider, _ in _PARTS.get(model, []):
        for part_model, pks in provider(obj):
            members[part_model].update(str(pk) for pk in pks)
    return {m: pks for m, pks in members.items() if pks}


def _members_filter(members: dict[type[models.Model], set[str]]) -> Q:
    """Events of these records, on the indexed columns (model and object id), never the JSON."""
    condition = Q(pk__in=[])
    for model, pks in members.items():
        condition |= Q(pgh_obj_model=_label(model), pgh_obj_id__in=sorted(pks))
    return condition


def family_events(members: dict[type[models.Model], set[str]]):
    """The events of these records, read from their event tables only."""
    return AuditEvent.objects.across(*_event_models_of(members)).filter(_members_filter(members))


# --- Finding records by their codes ----------------------------------------------------------

IDENTIFIER_FIELD_NAMES = ("code", "barcode")


def _identifier_lookups() -> list[tuple[type[models.Model], str]]:
    lookups = []
    for model in _tracked_models().values():
        for name in IDENTIFIER_FIELD_NAMES:
            try:
                field = model._meta.get_field(name)
            except FieldDoesNotExist:
                continue
            if isinstance(field, models.CharField):
                lookups.append((model, name))
    return sorted(lookups, key=lambda lookup: _label(lookup[0]))


def records_with_code(code: str, model_label: str = "") -> dict[type[models.Model], set[str]]:
    """The audited records whose code or barcode is `code` (any case), in one query."""
    tracked = _tracked_models()
    queries = []
    for model, name in _identifier_lookups():
        if model_label and _label(model) != model_label:
            continue
        queries.append(
            model._base_manager.filter(**{f"{name}__iexact": code})
            .annotate(
                _model=Value(_label(model), output_field=CharField()),
                _pk=Cast("pk", output_field=CharField()),
            )
            .values_list("_model", "_pk")
            .order_by()
        )
    if not queries:
        return {}
    found: dict[type[models.Model], set[str]] = defaultdict(set)
    for label, pk in queries[0].union(*queries[1:], all=True):
        found[tracked[label]].add(pk)
    return dict(found)


# --- The filter of the trail page and its CSV -------------------------------------------------

DATE_FORMAT_ERROR = "Enter the date as YYYY-MM-DD, for example 2026-03-01."


def day_start(day: datetime.date) -> datetime.datetime:
    """When a day begins in the site's time zone: the trail filters a day as a range of
    pgh_created_at (its index), never `__date`, which converts every row's time first."""
    return timezone.make_aware(
        datetime.datetime.combine(day, datetime.time.min), timezone.get_current_timezone()
    )


def _date_filter(lookup: str, label: str) -> filters.DateFilter:
    return filters.DateFilter(
        method=f"filter_{lookup}",
        label=label,
        input_formats=["%Y-%m-%d"],
        error_messages={"invalid": DATE_FORMAT_ERROR},
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )


class AuditTrailForm(forms.Form):
    def clean(self):
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            self.add_error("until", "The end date is before the start date.")
        return data


class AuditEventFilter(filters.FilterSet):
    """The trail page's filter. An invalid one (a malformed date) filters nothing: the view
    shows its errors and no rows, never the whole trail as if unfiltered."""

    username = filters.CharFilter(field_name="username", label="User")
    model = filters.ChoiceFilter(field_name="pgh_obj_model", label="Record type", choices=[])
    record = filters.CharFilter(
        method="filter_record",
        label="Record",
        help_text="A code or barcode (EXO-2026-0006), or a database id.",
    )
    parts = filters.BooleanFilter(
        method="filter_parts",
        label="With its parts, runs and results",
        widget=forms.CheckboxInput,
    )
    since = _date_filter("since", "From")
    until = _date_filter("until", "To")

    class Meta:
        model = AuditEvent
        form = AuditTrailForm
        fields = ["username", "model", "record", "parts", "since", "until"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.filters["model"].extra["choices"] = audited_model_choices()

    def filter_record(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        data = self.form.cleaned_data
        members = records_with_code(value, data.get("model") or "")
        if data.get("parts") and members:
            # The records found with their parts: the combined history, from their tables only.
            members = _with_parts(members)
            return queryset.across(*_event_models_of(members)).filter(_members_filter(members))
        if re.fullmatch(r"\d+", value):
            # A database id, as the trail has always taken (of any record type).
            return queryset.filter(_members_filter(members) | Q(pgh_obj_id=value))
        if not members:
            return queryset.none()  # no record has this code
        # Only the event tables of the records found are read.
        return queryset.across(*_event_models_of(members)).filter(_members_filter(members))

    def filter_parts(self, queryset, name, value):
        return queryset  # read by filter_record: parts of the record searched for

    def filter_since(self, queryset, name, value):
        return queryset.filter(pgh_created_at__gte=day_start(value))

    def filter_until(self, queryset, name, value):
        return queryset.filter(pgh_created_at__lt=day_start(value + datetime.timedelta(days=1)))


def _with_parts(members: dict[type[models.Model], set[str]]) -> dict[type[models.Model], set[str]]:
    combined: dict[type[models.Model], set[str]] = defaultdict(set)
    for model, pks in members.items():
        combined[model] |= pks
        if _PARTS.get(model):
            for obj in model._base_manager.filter(pk__in=pks):
                for part_model, part_pks in family_of(obj).items():
                    combined[part_model] |= part_pks
    return dict(combined)
