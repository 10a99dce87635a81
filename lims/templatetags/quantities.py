"""Numbers and units on pages: ``{{ value|quantity:unit }}``, ``{{ value|readable }}``,
``{{ unit|unit }}`` (lims.quantities says how a value is shown).

A shown value carries its exact stored value in the element's title, so nothing is lost to
rounding: hovering shows it, and a copy of the page keeps it.
"""

from decimal import Decimal

from django import template
from django.utils.html import format_html

from lims.quantities import MISSING, exact_number, format_quantity, unit_symbol

register = template.Library()


def quantity_html(value, unit: str = "", sig: int | None = None, prefix: str = ""):
    """The value (and unit) as read, in a span titled with the exact stored value."""
    shown = format_quantity(value, unit, sig)
    if shown == MISSING:
        return MISSING
    exact = f"{exact_number(value)} {unit_symbol(unit)}".strip()
    return format_html(
        '<span class="quantity text-nowrap" title="{}">{}{}</span>', exact, prefix, shown
    )


@register.filter
def quantity(value, unit=""):
    """``{{ 1466257192.4166667|quantity:"particle/mL" }}`` → 1.47 × 10⁹ particle/mL."""
    return quantity_html(value, unit or "")


@register.filter
def readable(value, sig=None):
    """A number alone: ``{{ 3000000|readable }}`` → 3,000,000; ``|readable:5`` for five
    significant figures."""
    return quantity_html(value, "", int(sig) if sig not in (None, "") else None)


@register.filter
def is_number(value) -> bool:
    """A measured or counted value (not a flag, a date or text), for generic list columns."""
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


@register.filter(name="unit")
def unit_filter(unit):
    """``{{ "ug/mL"|unit }}`` → µg/mL."""
    return unit_symbol(unit or "")
