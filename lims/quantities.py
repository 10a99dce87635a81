"""Numbers and units as a person reads them, never at the cost of the stored value.

A value is shown by its magnitude: counts with thousands separators (3,000,000 cells), measured
values to four significant figures (12.35 nm), very large or very small ones in scientific
notation with three (1.47 × 10⁹ particle/mL), as the SI Brochure writes them (BIPM, 9th ed.,
§5.4: "×" and a power of ten, digits grouped in threes). The exact stored value goes with every
shown one (the page puts it in the element's title), so rounding for reading never loses data
(ALCOA+ accurate and original).

Units are written with their proper symbols (µg/mL, µL, °C, cm²; SI Brochure §5.2 and
Table 7): typed ASCII spellings such as "ug/mL" or "deg C" are normalised when entered and,
for values recorded before, when shown.
"""

import math
import re
from decimal import Decimal, InvalidOperation

MISSING = "—"

# Above these a value is read as a power of ten, below 1e-3 too (SI Brochure §5.4.2).
SCIENTIFIC_FROM = 1e6
COUNT_SCIENTIFIC_FROM = 10**9  # an integer count keeps all its digits below a billion
SCIENTIFIC_BELOW = 1e-3

_SUPERSCRIPT = str.maketrans("0123456789-+", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺")


def _superscript(exponent: int | str) -> str:
    return str(int(exponent)).translate(_SUPERSCRIPT)


def _as_number(value):
    """An int, a Decimal or a float from what a template hands over; None when it is none."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float | Decimal):
        return value
    text = str(value).strip().replace(",", "")
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def _grouped(text: str) -> str:
    """Thousands separators in the integer part of a plain decimal numeral."""
    sign = "-" if text.startswith("-") else ""
    digits = text.lstrip("-")
    whole, _, fraction = digits.partition(".")
    whole = f"{int(whole):,}"
    return f"{sign}{whole}.{fraction}" if fraction else f"{sign}{whole}"


def _scientific(value: float, sig: int) -> str:
    mantissa, exponent = f"{value:.{max(sig, 1) - 1}e}".split("e")
    if "." in mantissa:
        mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa} × 10{_superscript(exponent)}"


def format_number(value, sig: int | None = None) -> str:
    """A number as read on a page (plain text): see the module's docstring.

    `sig` is the number of significant figures (default: 4, and 3 in scientific notation).
    """
    number = _as_number(value)
    if number is None:
        return MISSING
    if isinstance(number, Decimal):
        if not number.is_finite():
            return MISSING
        if number == 0:
            return "0"
        # A Decimal was typed (a volume): shown exactly as long as that stays readable.
        exact = format(number.normalize(), "f")
        if abs(number) < SCIENTIFIC_FROM and len(exact.partition(".")[2]) <= 4:
            return _grouped(exact)
        number = float(number)
    if isinstance(number, int):
        if abs(number) < COUNT_SCIENTIFIC_FROM:
            return f"{number:,}"
        return _scientific(float(number), sig or 3)
    if not math.isfinite(number):
        return MISSING
    if number == 0:
        return "0"
    magnitude = abs(number)
    if magnitude >= SCIENTIFIC_FROM or magnitude < SCIENTIFIC_BELOW:
        return _scientific(number, sig or 3)
    sig = sig or 4
    if magnitude >= 10 ** (sig - 1):
        return f"{round(number):,}"  # every digit of the integer part is kept, no false zeros
    text = f"{number:.{sig}g}"
    if "e" in text:  # e.g. 999.95 rounded to 4 figures is 1e+03
        text = f"{float(text):f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return _grouped(text)


def exact_number(value) -> str:
    """The stored value, every digit (for the title beside a shown value)."""
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    return str(value)


# --- Units ---------------------------------------------------------------------------------

_MICRO = re.compile(r"(?<![A-Za-z])[uμ](?=(?:g|L|l|m|mol|M|s|Ci|IU|U|Osm)(?![A-Za-z]))")
_LITRE = re.compile(r"(?<![A-Za-z])([mµnpd]?)l(?![A-Za-z])")
_CELSIUS = re.compile(
    r"(?<![A-Za-z])(?:deg(?:ree)?s?[ _]?C(?:elsius)?|degree_Celsius|celsius|oC)(?![A-Za-z])"
)
_POWER = re.compile(r"(?:\^|\*\*)\s*(-?\d+)")


def normalise_unit(unit: str) -> str:
    """A typed unit in its proper symbols, still a spelling the unit parser reads:
    "ug/mL" → "µg/mL", "ul" → "µL", "deg C" → "°C". Everything else is kept as typed
    (e.g. "percent", which the services compare by name)."""
    text = (unit or "").strip()
    text = _MICRO.sub("µ", text)
    text = _LITRE.sub(lambda m: f"{m.group(1)}L", text)
    return _CELSIUS.sub("°C", text)


def unit_symbol(unit: str) -> str:
    """A unit as printed: its proper symbols and powers as superscripts (10⁶ cells/mL, cm²)."""
    text = normalise_unit(unit)
    if text in ("percent", "pct"):
        return "%"
    if text in ("(unitless)", "unitless", "1"):
        return ""
    text = _POWER.sub(lambda m: _superscript(m.group(1)), text)
    return text.replace("percent", "%")


def format_quantity(value, unit: str = "", sig: int | None = None) -> str:
    """A value and its unit as read on a page (plain text)."""
    shown = format_number(value, sig)
    symbol = unit_symbol(unit)
    if shown == MISSING or not symbol:
        return shown
    return f"{shown} {symbol}"  # a space before % too (SI Brochure §5.4.7)
