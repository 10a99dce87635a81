"""Units of measure, validated and converted by pint (never by string matching).

The registry knows the counting units of this field (cells, copies) and endotoxin
units (EU), which are not SI, as their own dimensions so they never convert into each other.
"""

import re
from functools import lru_cache

import pint

from lims.quantities import normalise_unit


@lru_cache(maxsize=1)
def registry() -> pint.UnitRegistry:
    ureg = pint.UnitRegistry()
    # pint already defines "particle" (an amount of substance, 1/N_A mol): kept as it is, so
    # particles/mL converts to itself and to no other counted thing.
    ureg.define("cell = [cell_count] = cells")
    ureg.define("copies = [copy_count] = copy")
    ureg.define("EU = [endotoxin]")
    ureg.define("RFU = [fluorescence]")
    # Colony-forming units (bioburden, Ph. Eur. 2.6.12) count organisms, not particles.
    ureg.define("CFU = [colony_count] = cfu")
    # Osmoles (osmolality, Ph. Eur. 2.2.35) count osmotically active particles: their own
    # dimension, so mOsm/kg never converts into mol/kg.
    ureg.define("osmole = [osmotic_amount] = Osm = osmol")
    # Absorbance is a dimensionless log ratio; plate readers also report milli-absorbance.
    # ("AU" is pint's astronomical unit, hence the long name.)
    # pint ships "absorbance_unit" in some versions; define it only where it is missing.
    if "absorbance_unit" not in ureg:
        ureg.define("absorbance_unit = 1")
    ureg.define("mAU = 0.001 absorbance_unit")
    return ureg


_PER_AMOUNT = re.compile(r"/\s*(\d+(?:\.\d+)?)\s*([A-Za-z]+)")


@lru_cache(maxsize=1024)
def _parse(unit: str):
    """A unit as a pint quantity of magnitude 1 or a scale ("10^6 cells/mL" is 1e6 cell/mL)."""
    text = (unit or "").strip()
    if text in ("", "(unitless)", "unitless", "1", "#"):
        return registry().Quantity(1)
    text = text.replace("%", "percent").replace("µ", "u").replace("μ", "u").replace("^", "**")
    # "CFU/100 mL" means per 100 mL, as a laboratory writes it; pint would read CFU / 100 × mL.
    text = _PER_AMOUNT.sub(r"/(\1 \2)", text)
    quantity = registry().parse_expression(text)
    if not isinstance(quantity, registry().Quantity) or (
        quantity.unitless and quantity.magnitude != 1
    ):
        raise ValueError(f"{unit!r} is not a unit")  # a bare number is no unit
    return quantity


def is_valid_unit(unit: str) -> bool:
    try:
        _parse(unit)
    except Exception:  # pint's parser raises many exception types for malformed input
        return False
    return True


@lru_cache(maxsize=1024)
def _factor(from_unit: str, to_unit: str) -> float:
    try:
        return float((_parse(from_unit) / _parse(to_unit)).to("dimensionless").magnitude)
    except pint.errors.DimensionalityError as exc:
        raise ValueError(f"{from_unit!r} cannot be converted to {to_unit!r}.") from exc
    except pint.errors.UndefinedUnitError as exc:
        raise ValueError(f"Unknown unit: {exc}.") from exc


def convert(value: float, from_unit: str, to_unit: str) -> float:
    """Convert `value` between compatible units; raises ValueError for incompatible ones.

    The factor of each pair of units is computed once by pint and cached: a run of thousands
    of results in one unit costs one pint conversion.
    """
    return value * _factor(from_unit or "", to_unit or "")


def same_unit(a: str, b: str) -> bool:
    try:
        return abs(convert(1.0, a, b) - 1.0) < 1e-12
    except ValueError:
        return False


def normalised(unit: str) -> str:
    """A typed unit in its proper symbols ("ug/mL" → "µg/mL", "deg C" → "°C"), as stored when
    entered. The replacements are what a laboratory means by the ASCII spellings: pint itself
    would read "deg C" as degree × coulomb. Kept as typed if the symbol is no unit pint reads."""
    typed = (unit or "").strip()
    shown = normalise_unit(typed)
    return shown if shown == typed or is_valid_unit(shown) else typed
