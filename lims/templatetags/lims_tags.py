"""Small template helpers for the generic list and detail pages."""

import datetime

from django import template
from django.db import models

register = template.Library()


@register.filter
def attr(obj, path: str):
    """Resolve a dotted attribute path, calling methods (e.g. get_status_display)."""
    value = obj
    for part in path.split("."):
        if value is None:
            return ""
        value = getattr(value, part, "")
        if callable(value) and not isinstance(value, models.Manager):
            value = value()
    return value


@register.filter
def is_link_target(value) -> bool:
    return hasattr(value, "get_absolute_url")


@register.simple_tag
def sort_link(query: str, current: str, field: str) -> str:
    direction = "-" if current == field else ""
    sep = "&" if query else ""
    return f"?{query}{sep}sort={direction}{field}"


@register.filter
def utc(value):
    """A timestamp in UTC with the zone named (audit entries are recorded in server UTC)."""
    if not value:
        return ""
    return value.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


STATUS_COLOURS = {
    "in_culture": "primary",
    "harvested": "info",
    "closed": "secondary",
    "discarded": "dark",
    "in_process": "primary",
    "in_testing": "info",
    "under_review": "warning",
    "released": "success",
    "rejected": "danger",
    "quarantined": "warning",
    "available": "success",
    "used": "secondary",
    "quarantine": "warning",
    "shipped": "secondary",
    "retain": "info",
    "destroyed": "dark",
}


@register.inclusion_tag("records/_status.html")
def status_badge(obj):
    return {"label": obj.get_status_display(), "colour": STATUS_COLOURS.get(obj.status, "light")}
