"""QC panels for the lot and culture batch pages, and how a metric's value is shown.

The batches templates include ``qc/_lot_qc.html`` / ``qc/_batch_qc.html``, which call these
tags, so the batches views need not know about QC metrics.
"""

import math

from django import template

from assays.qc_views import batch_panel_context, lot_panel_context
from lims.templatetags.quantities import quantity_html

register = template.Library()


@register.inclusion_tag("qc/_lot_panel.html")
def qc_lot_panel(lot):
    return lot_panel_context(lot)


@register.inclusion_tag("qc/_batch_panel.html")
def qc_batch_panel(batch):
    return batch_panel_context(batch)


@register.filter
def metric_value(metric) -> str:
    """A number as read (lims.quantities), its exact value in the title; the call for a
    qualitative metric, "—" for none."""
    if metric.value is None:
        return metric.details.get("text", "—") if isinstance(metric.details, dict) else "—"
    if not math.isfinite(metric.value):
        return "—"
    return quantity_html(metric.value)


@register.filter
def number(value, digits: int = 4) -> str:
    """A number as read with `digits` significant figures, its exact value in the title."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return quantity_html(value, "", int(digits))
