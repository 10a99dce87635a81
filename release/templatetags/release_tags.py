"""Template helpers of the release pages: the lot's release panel, badges, signature times.

The lot page includes ``release/_lot_release_panel.html``, which calls `lot_release`, so the
batches views need not know about specifications, deviations or signatures.
"""

import math

from django import template

from lims.quantities import format_number
from lims.roles import can_view_release_review
from lims.signatures import format_signed_time
from release.models import CriterionEvaluation
from release.selectors import lot_release_panel

register = template.Library()

EVALUATION_COLOURS = {
    "pass": "success",
    "fail": "danger",
    "alert": "warning",
    "pending": "secondary",
    "invalid": "dark",
}
OVERALL = {
    "pass": ("All criteria pass", "success"),
    "alert": ("Pass, with alerts", "warning"),
    "fail": ("Out of specification", "danger"),
    "pending": ("Results pending", "secondary"),
    "no_specification": ("No specification", "light"),
}
RECORD_COLOURS = {
    # deviations
    "open": "danger",
    "under_investigation": "warning",
    "closed": "secondary",
    # specifications
    "draft": "secondary",
    "approved": "info",
    "effective": "success",
    "superseded": "light",
    # dispositions
    "released": "success",
    "rejected": "danger",
    "quarantined": "warning",
}


@register.simple_tag(takes_context=True)
def lot_release(context, lot):
    """Checklist, open deviations, dispositions and certificate of a lot, for its page."""
    # The lot page has read the lot's genealogy already: the panel uses it rather than again.
    data = lot_release_panel(lot, genealogy=context.get("genealogy"))
    data["can_review"] = can_view_release_review(context["user"])
    return data


@register.filter
def signed_time(value) -> str:
    """A time in the site's time zone, with the zone named (21 CFR 11.50(a)(2))."""
    return format_signed_time(value)


@register.filter
def evaluation_result(evaluation) -> str:
    """The value an evaluation rests on: four significant digits, or the qualitative call."""
    if evaluation is None:
        return "—"
    if evaluation.value is None:
        return evaluation.text or "—"
    value = evaluation.value
    if not math.isfinite(value):
        return "—"
    # A censored value keeps its side of the limit: "< 0.05" (release.specifications).
    side = f"{evaluation.text} " if evaluation.text in ("<", ">") else ""
    return f"{side}{format_number(value)}"


@register.inclusion_tag("records/_status.html")
def evaluation_badge(status: str, label: str = ""):
    return {
        "label": label or CriterionEvaluation.Status(status).label,
        "colour": EVALUATION_COLOURS.get(status, "light"),
    }


@register.inclusion_tag("records/_status.html")
def overall_badge(state: str):
    label, colour = OVERALL.get(state, (state, "light"))
    return {"label": label, "colour": colour}


@register.inclusion_tag("records/_status.html")
def record_badge(obj):
    """Status badge of a deviation or specification; decision badge of a disposition."""
    value = getattr(obj, "status", None) or obj.decision
    label = obj.get_status_display() if hasattr(obj, "status") else obj.get_decision_display()
    return {"label": label, "colour": RECORD_COLOURS.get(value, "light")}


@register.inclusion_tag("release/_signature.html")
def signature_block(signature, valid: bool):
    return {"signature": signature, "valid": valid}
