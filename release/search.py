"""One box for every record: a code typed or scanned, a vial barcode, a supplier lot number.

A USB barcode scanner types the vial's barcode (the Code128 symbol of Aliquot.barcode,
batches.labels) followed by Enter, so the navigation's search box is also the scan field: when
exactly one record is named, the page jumps to it; otherwise it lists what matched, grouped by
kind. Matching is case-insensitive on the start of each identifier (a prefix), at most
PER_KIND records per kind, one query per kind whatever the data: a constant number of queries.

It reads every layer (production, assays, release), so it lives in the top one, like the home
page (release.home); lims.urls mounts it at /search/. A GET that only reads (Annex 11 §12.1:
records are shown only to the people allowed to see them, lims.roles.can_view_records).
"""

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import BooleanField, Case, Q, QuerySet, Value, When
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.http import require_GET

from assays.models import AssayDefinition, AssayRun, Instrument
from batches.models import (
    Aliquot,
    CellBank,
    CultureBatch,
    Donor,
    ExosomeLot,
    IsolationRun,
    ReagentLot,
)
from lims.roles import can_view_records
from release.models import CapaAction, Deviation, Specification

# The longest identifier stored is an assay run's external id (120 characters): a longer query
# cannot name a record and is refused before any query.
MAX_QUERY = 120
PER_KIND = 10

# Records without a code of their own are named on their pages as "BCA run 42", "CAPA 7 of
# DEV-2026-0003", "MSC-sEV drug substance v2": those names find them too (exactly).
RUN_NAME = re.compile(r"^(?:([\w.-]+)\s+)?run\s+#?(\d{1,18})$", re.I)
CAPA_NAME = re.compile(r"^capa\s+#?(\d{1,18})(?:\s+of\s+.*)?$", re.I)
SPEC_NAME = re.compile(r"^(.+?)\s+v(\d{1,9})$", re.I)


def _prefix(fields: tuple[str, ...], q: str) -> tuple[Q, Q]:
    """(matches, exact matches) of `q` on the start of any of `fields`, ignoring case."""
    matches, exact = Q(), Q()
    for name in fields:
        matches |= Q(**{f"{name}__istartswith": q})
        exact |= Q(**{f"{name}__iexact": q})
    return matches, exact


def _run_match(q: str) -> tuple[Q, Q]:
    matches, exact = _prefix(("external_id",), q)
    named = RUN_NAME.match(q)
    if named:
        by_pk = Q(pk=int(named.group(2)))
        if named.group(1):  # "BCA run 42" names run 42 only if it is a BCA run
            by_pk &= Q(assay__code__iexact=named.group(1))
        return matches | by_pk, exact | by_pk
    return matches, exact


def _capa_match(q: str) -> tuple[Q, Q] | None:
    named = CAPA_NAME.match(q)
    if named is None:
        return None
    by_pk = Q(pk=int(named.group(1)))
    return by_pk, by_pk


def _specification_match(q: str) -> tuple[Q, Q]:
    """A specification by its title, or by its product (key or name), with " vN" its version."""
    matches, exact = _prefix(("title",), q)
    folded = q.casefold()
    products = [
        key
        for key, label in Specification.Product.choices
        if key.startswith(folded) or str(label).casefold().startswith(folded)
    ]
    if products:
        matches |= Q(product__in=products)
    named = SPEC_NAME.match(q)
    if named:
        name = named.group(1).casefold()
        keys = [
            key
            for key, label in Specification.Product.choices
            if name in (key, str(label).casefold())
        ]
        if keys:
            version = Q(product__in=keys, version=int(named.group(2)))
            matches |= version
            exact |= version
    return matches, exact


@dataclass(frozen=True)
class Kind:
    """One kind of record the box finds: how it matches, and how a hit is shown."""

    title: str
    queryset: Callable[[], QuerySet]
    match: Callable[[str], tuple[Q, Q] | None]
    describe: Callable[[Any], str]
    url: Callable[[Any], str] = field(default=lambda obj: obj.get_absolute_url())


def _codes(*fields: str) -> Callable[[str], tuple[Q, Q]]:
    return lambda q: _prefix(fields, q)


KINDS: tuple[Kind, ...] = (
    Kind(
        "Exosome lots",
        lambda: ExosomeLot.objects.all(),
        _codes("code"),
        lambda lot: f"{lot.get_status_display()}, manufactured {lot.manufactured_on:%Y-%m-%d}",
    ),
    Kind(
        "Vials",
        lambda: Aliquot.objects.select_related("lot", "location"),
        _codes("barcode"),
        lambda vial: (
            f"Lot {vial.lot.code}, {vial.get_status_display().lower()}, "
            + (f"at {vial.location}" if vial.location_id else "not in storage")
        ),
    ),
    Kind(
        "Culture batches",
        lambda: CultureBatch.objects.select_related("cell_bank"),
        _codes("code"),
        lambda batch: f"{batch.get_status_display()}, from cell bank {batch.cell_bank.code}",
    ),
    Kind(
        "Isolation runs",
        lambda: IsolationRun.objects.all(),
        _codes("code"),
        lambda run: f"{run.get_method_display()}, started {run.started_at:%Y-%m-%d}",
    ),
    Kind(
        "Cell banks",
        lambda: CellBank.objects.select_related("donor"),
        _codes("code"),
        lambda bank: f"{bank.get_bank_type_display()}, donor {bank.donor.code}",
    ),
    Kind(
        "Donors",
        lambda: Donor.objects.all(),
        _codes("code"),
        lambda donor: donor.get_tissue_source_display(),
    ),
    Kind(
        "Reagent lots",
        lambda: ReagentLot.objects.all(),
        _codes("lot_number", "catalogue_number"),
        lambda reagent: (
            f"{reagent.supplier}, catalogue {reagent.catalogue_number}, "
            f"expires {reagent.expiry_date:%Y-%m-%d}"
        ),
    ),
    Kind(
        "Assay runs",
        lambda: AssayRun.objects.select_related("assay"),
        _run_match,
        lambda run: (
            f"{run.get_status_display()}, started {run.started_at:%Y-%m-%d}"
            + (f", sender's id {run.external_id}" if run.external_id else "")
        ),
    ),
    Kind(
        "Deviations and OOS investigations",
        lambda: Deviation.objects.all(),
        _codes("code"),
        lambda dev: f"{dev.get_kind_display()}: {dev.title} ({dev.get_status_display().lower()})",
    ),
    Kind(
        "CAPA actions",
        lambda: CapaAction.objects.select_related("deviation"),
        _capa_match,
        lambda capa: f"{capa.description[:80]} (owner {capa.owner}, due {capa.due_on:%Y-%m-%d})",
        url=lambda capa: capa.deviation.get_absolute_url(),
    ),
    Kind(
        "Specifications",
        lambda: Specification.objects.all(),
        _specification_match,
        lambda spec: f"{spec.title} ({spec.get_status_display().lower()})",
    ),
    Kind(
        "Instruments",
        lambda: Instrument.objects.all(),
        _codes("code", "serial_number"),
        lambda instrument: (
            f"{instrument.instrument_type}, serial {instrument.serial_number}, "
            f"{instrument.location}"
        ),
    ),
    Kind(
        "Assays",
        lambda: AssayDefinition.objects.all(),
        _codes("code"),
        lambda assay: f"{assay.name}, version {assay.version}",
    ),
)


@dataclass
class Hit:
    name: str
    detail: str
    url: str
    exact: bool
    voided: bool


@dataclass
class Group:
    title: str
    hits: list[Hit]
    more: bool  # more than PER_KIND matched: only the first are shown


def find(q: str) -> list[Group]:
    """What `q` names, by kind (kinds with no match left out): exact matches first, then the
    others in identifier order; one query per kind."""
    groups = []
    for kind in KINDS:
        matched = kind.match(q)
        if matched is None:
            continue
        matches, exact = matched
        flagged = Case(
            When(exact, then=Value(True)), default=Value(False), output_field=BooleanField()
        )
        rows = list(
            kind.queryset()
            .filter(matches)
            .annotate(_exact=flagged)
            .order_by("-_exact", "pk")[: PER_KIND + 1]
        )
        if rows:
            hits = [
                Hit(
                    name=str(obj),
                    detail=kind.describe(obj),
                    url=kind.url(obj),
                    exact=obj._exact,  # type: ignore[attr-defined]
                    voided=getattr(obj, "voided_at", None) is not None,
                )
                for obj in rows[:PER_KIND]
            ]
            groups.append(Group(kind.title, hits, more=len(rows) > PER_KIND))
    return groups


def the_one(groups: list[Group]) -> Hit | None:
    """The record to jump to: the only match, or else the only exact one (a scanned barcode or
    a whole code typed: EXO-2026-0001 is its lot, though its vials' barcodes start with it)."""
    hits = [hit for group in groups for hit in group.hits]
    if len(hits) == 1 and not any(group.more for group in groups):
        return hits[0]
    exact = [hit for hit in hits if hit.exact]
    return exact[0] if len(exact) == 1 else None


class SearchForm(forms.Form):
    # CharField refuses NUL characters (PostgreSQL cannot take them in a string) and strips the
    # whitespace a scanner may send around the code.
    q = forms.CharField(
        max_length=MAX_QUERY,
        label="Code, barcode or lot number",
        error_messages={
            "max_length": f"At most {MAX_QUERY} characters: no stored code is longer.",
            "required": "Type or scan a code.",
        },
    )


@require_GET
@login_required
def search(request: HttpRequest) -> HttpResponse:
    if not can_view_records(request.user):
        raise PermissionDenied("Your role does not allow this.")
    form = SearchForm(request.GET if "q" in request.GET else None)
    groups: list[Group] = []
    if form.is_valid():
        q = form.cleaned_data["q"]
        groups = find(q)
        one = the_one(groups)
        if one is not None:
            return redirect(one.url)
    return render(
        request,
        "release/search.html",
        {
            "form": form,
            "query": request.GET.get("q", "")[: MAX_QUERY + 1],
            "groups": groups,
            "searched": form.is_bound and form.is_valid(),
        },
    )


urlpatterns = [path("search/", search, name="search")]
