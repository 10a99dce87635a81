"""Vials held for a purpose beyond normal use: a stability study (release.stability) or a
lot's retained samples (batches.custody). A held vial leaves normal use. The layer that holds
vials registers a provider here (AppConfig.ready); batches and assays ask it, never import the
layer above.

A provider takes aliquot ids and returns, for those it holds, why (shown next to the field
that tried to use the vial). `held_vials()` gives the held vials as a subquery, so a query can
leave them out in the same round trip (a stability result is not a release result)."""

from collections.abc import Callable, Collection

from django.db.models import QuerySet

_reasons: list[Callable[[Collection[int]], dict[int, str]]] = []
_subqueries: list[Callable[[], QuerySet]] = []
# Vials a test has drawn from (assays): opened, so no longer sealed retained samples.
_opened: list[Callable[[], QuerySet]] = []


def register(
    reasons: Callable[[Collection[int]], dict[int, str]], subquery: Callable[[], QuerySet]
) -> None:
    if reasons not in _reasons:
        _reasons.append(reasons)
        _subqueries.append(subquery)


def holds(aliquot_ids: Collection[int]) -> dict[int, str]:
    """Why each held vial among `aliquot_ids` is held (vials not held are absent)."""
    found: dict[int, str] = {}
    if not aliquot_ids:
        return found
    for provider in _reasons:
        for pk, reason in provider(aliquot_ids).items():
            found.setdefault(pk, reason)
    return found


def held_vials() -> list[QuerySet]:
    """Subqueries of the ids of held vials (one per provider)."""
    return [subquery() for subquery in _subqueries]


def register_opened(subquery: Callable[[], QuerySet]) -> None:
    if subquery not in _opened:
        _opened.append(subquery)


def opened_vials() -> list[QuerySet]:
    """Subqueries of the ids of vials a test has drawn from (one per provider)."""
    return [subquery() for subquery in _opened]
