"""Selectors and filters for reading the audit trail (the writing side is lims.audit)."""

import django_filters as filters
from django.apps import apps

from lims.models import AuditEvent


def audited_model_choices() -> list[tuple[str, str]]:
    choices = []
    for model in apps.get_models():
        if getattr(model, "pgh_tracked_model", None) is not None:
            tracked = model.pgh_tracked_model
            label = f"{tracked._meta.app_label}.{tracked.__name__}"
            choices.append((label, tracked._meta.verbose_name.capitalize()))
    return sorted(set(choices), key=lambda c: c[1])


def audit_events():
    return AuditEvent.objects.order_by("-pgh_created_at", "-pgh_id")


def events_of(obj):
    """The trail of one record, oldest first."""
    return AuditEvent.objects.tracks(obj).order_by("pgh_created_at", "pgh_id")


class AuditEventFilter(filters.FilterSet):
    username = filters.CharFilter(field_name="username", label="User")
    model = filters.ChoiceFilter(field_name="pgh_obj_model", label="Record type", choices=[])
    record = filters.CharFilter(field_name="pgh_obj_id", label="Record id")
    since = filters.DateFilter(field_name="pgh_created_at", lookup_expr="date__gte", label="From")
    until = filters.DateFilter(field_name="pgh_created_at", lookup_expr="date__lte", label="To")

    class Meta:
        model = AuditEvent
        fields = ["username", "model", "record", "since", "until"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.filters["model"].extra["choices"] = audited_model_choices()
