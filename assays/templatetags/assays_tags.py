"""Template helpers for assay pages and for the runs shown on batch and lot pages."""

from django import template

from assays import selectors
from assays.sample_targets import LOCKED_LOT_STATUSES
from lims.templatetags.quantities import quantity_html

register = template.Library()

STATUS_COLOURS = {
    "in_service": "success",
    "out_of_service": "danger",
    "recorded": "info",
    "reviewed": "success",
    "invalidated": "dark",
    "queued": "secondary",
    "parsed": "success",
    "failed": "danger",
    "registered": "warning",
    "qualified": "success",
    "withdrawn": "dark",
}


@register.inclusion_tag("records/_status.html")
def assay_status_badge(obj):
    return {"label": obj.get_status_display(), "colour": STATUS_COLOURS.get(obj.status, "light")}


@register.filter
def result_value(result) -> str:
    """A result as reported: qualifier and value as read (lims.quantities, the exact value in
    the title), or its text."""
    if result.value is None:
        return result.qualifier or result.text_value
    return quantity_html(result.value, prefix=result.qualifier)


@register.inclusion_tag("assays/_sample_runs.html", takes_context=True)
def sample_runs(context, obj, kind: str):
    """The runs and results of a lot (kind "lot") or culture batch (kind "batch")."""
    if kind == "lot":
        runs = selectors.runs_of_sample(lot=obj)
    else:
        runs = selectors.runs_of_sample(culture_batch=obj)
    return {
        "runs": runs,
        "sample_code": obj.code,
        "can_enter_results": context.get("can_enter_results"),
        "locked": kind == "lot" and obj.status in LOCKED_LOT_STATUSES,
    }
