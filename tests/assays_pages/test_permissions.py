"""Who may open which assay page: every URL of assays/urls.py, with every role.

Everyone with a role reads the catalogue, instruments, runs and files; technicians and analysts
enter results and upload files; analysts review and invalidate runs; administrators manage
instruments and their keys. A signed-in account without a role gets 403, an anonymous visitor
is sent to the sign-in page.
"""

import json
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from assays import services
from assays.models import AssayDefinition, AssayRun, Instrument, InstrumentKey
from tests.assays_pages.conftest import signed_in

LOGIN = "302 to the sign-in page"
INSTRUMENT_PAGE = "302 to the instrument's page"
ROLES = ("anonymous", "technician", "analyst", "qa", "admin", "no_role")
VIEW = (LOGIN, 200, 200, 200, 200, 403)
ENTER = (LOGIN, 200, 200, 403, 403, 403)
REVIEW = (LOGIN, 403, 200, 403, 403, 403)
MANAGE = (LOGIN, 403, 403, 403, 200, 403)

# fmt: off
MATRIX = [
    # url name                         target        anonym tech analyst qa   admin no role
    ("assays:assay_list",              None,         *VIEW),
    ("assays:assay_detail",            "assay",      *VIEW),
    # QC (analysts, QA) change a qPCR assay's configuration (a new version).
    ("assays:qpcr_configure",          "qpcr_assay", LOGIN, 403, 200, 200, 403, 403),
    ("assays:instrument_list",         None,         *VIEW),
    ("assays:instrument_detail",       "instrument", *VIEW),
    ("assays:instrument_create",       None,         *MANAGE),
    ("assays:instrument_log",          "instrument", *MANAGE),
    ("assays:instrument_status",       "instrument", *MANAGE),
    ("assays:instrument_key_issue",    "instrument", *MANAGE),
    # With no key just issued, the page sends the administrator back to the instrument.
    ("assays:instrument_key_shown",    "instrument", LOGIN, 403, 403, 403, INSTRUMENT_PAGE, 403),
    ("assays:instrument_key_revoke",   "key",        *MANAGE),
    ("assays:run_list",                None,         *VIEW),
    ("assays:run_detail",              "run",        *VIEW),
    ("assays:run_start",               None,         *ENTER),
    ("assays:run_entry",               "assay_code", *ENTER),
    ("assays:worksheet_start",         None,         *ENTER),
    ("assays:worksheet",               "assay_code", *ENTER),
    ("assays:run_review",              "run",        *REVIEW),
    ("assays:run_invalidate",          "run",        *REVIEW),
    ("assays:run_nta_dilution",        "run",        *REVIEW),
    ("assays:file_list",               None,         *VIEW),
    ("assays:file_upload",             None,         *ENTER),
    ("assays:file_detail",             "file",       *VIEW),
    ("assays:file_status",             "file",       *VIEW),
    ("assays:file_download",           "file",       *VIEW),
    ("assays:flow_upload",             None,         *ENTER),
    ("assays:reference_list",          None,         *VIEW),
    ("assays:reference_detail",        "reference",  *VIEW),
    # Analysts and QA register a reference; QA alone qualifies and withdraws it.
    ("assays:reference_register",      None,         LOGIN, 403, 200, 200, 403, 403),
    ("assays:reference_qualify",       "reference",  LOGIN, 403, 403, 200, 403, 403),
    ("assays:reference_withdraw",      "reference",  LOGIN, 403, 403, 200, 403, 403),
]
# fmt: on


def _assay_url_names() -> set[str]:
    names = set()

    def walk(patterns, namespace):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, pattern.namespace or namespace)
            elif isinstance(pattern, URLPattern) and pattern.name and namespace == "assays":
                names.add(f"assays:{pattern.name}")

    walk(get_resolver().url_patterns, None)
    return names


@pytest.fixture
def records(admin_user, instrument, run, received_file, reference_standard):
    key, _ = services.instrument_key_issue(actor=admin_user, instrument=instrument)
    return {
        "assay": AssayDefinition.objects.get(code="BCA", is_current=True),
        "assay_code": "BCA",
        "qpcr_assay": AssayDefinition.objects.get(code="MIRNA-QPCR", is_current=True),
        "instrument": instrument,
        "key": key,
        "run": run,
        "file": received_file,
        "reference": reference_standard,
    }


def _kwargs(target, records) -> dict:
    if target is None:
        return {}
    value = records[target]
    if isinstance(value, str):
        return {"code": value}
    if isinstance(value, InstrumentKey):
        return {"pk": value.instrument_id, "prefix": value.prefix}
    return {"pk": value.pk}


def _outcome(response, instrument):
    if response.status_code != 302:
        return response.status_code
    location = urlsplit(response["Location"]).path
    return {
        reverse("login"): LOGIN,
        instrument.get_absolute_url(): INSTRUMENT_PAGE,
    }.get(location, f"302 to {location}")


@pytest.fixture
def clients(personas, make_user):
    users = {**personas, "no_role": make_user(None, username="nora.norole")}
    return {"anonymous": Client(), **{role: signed_in(user) for role, user in users.items()}}


def test_every_assay_url_answers_each_role_as_the_matrix_says(clients, records):
    assert {row[0] for row in MATRIX} == _assay_url_names(), "an assays URL is not in MATRIX"
    mismatches = []
    for name, target, *expected in MATRIX:
        url = reverse(name, kwargs=_kwargs(target, records))
        for role, want in zip(ROLES, expected, strict=True):
            got = _outcome(clients[role].get(url), records["instrument"])
            if got != want:
                mismatches.append(f"{role:<10} GET {url}: expected {want}, got {got}")
    assert not mismatches, "\n".join(mismatches)


# --- Writes by POST: a refused role writes nothing ----------------------------------------

POSTS = [
    (
        "assays:instrument_create",
        None,
        "admin",
        lambda r: {
            "code": "BCA-READER",
            "instrument_type": "Plate reader",
            "make": "Agilent",
            "model": "Synergy H1",
            "serial_number": "S1",
            "location": "QC lab 1",
            "assay_codes": ["BCA"],
        },
        lambda r: Instrument.objects.filter(code="BCA-READER").exists(),
    ),
    (
        "assays:instrument_status",
        "instrument",
        "admin",
        lambda r: {"to": "out_of_service", "reason": "Laser alignment failed"},
        lambda r: Instrument.objects.get(pk=r["instrument"].pk).status == "out_of_service",
    ),
    (
        "assays:instrument_key_revoke",
        "key",
        "admin",
        lambda r: {"reason": "Host decommissioned"},
        lambda r: InstrumentKey.objects.get(pk=r["key"].pk).revoked,
    ),
    (
        "assays:run_invalidate",
        "run",
        "analyst",
        lambda r: {"reason": "Standard curve out of range"},
        lambda r: AssayRun.objects.get(pk=r["run"].pk).status == "invalidated",
    ),
    (
        "assays:run_entry",
        "assay_code",
        "analyst",
        lambda r: {
            "sample": r["run"].samples.get().label,
            "started_at": timezone.localtime(r["run"].started_at).strftime("%Y-%m-%dT%H:%M"),
            "value__protein": "99",
            "unit__protein": "ug/mL",
            "reagent_lots": [lot.pk for lot in r["run"].reagent_lots.all()],
        },
        lambda r: AssayRun.objects.count() == 2,
    ),
    (
        "assays:qpcr_configure",
        "qpcr_assay",
        "analyst",
        lambda r: {
            "qpcr": json.dumps({**r["qpcr_assay"].qpcr, "references": ["U6", "miR-16"]}),
            "reason": "Second reference gene, validation VAL-011",
        },
        lambda r: AssayDefinition.objects.filter(code="MIRNA-QPCR").count() == 2,
    ),
]


@pytest.mark.parametrize(
    ("name", "target", "allowed", "data", "written"), POSTS, ids=[p[0] for p in POSTS]
)
def test_only_the_allowed_role_can_post(clients, records, name, target, allowed, data, written):
    url = reverse(name, kwargs=_kwargs(target, records))
    for role in ROLES:
        also = {"assays:run_entry": "technician", "assays:qpcr_configure": "qa"}.get(name)
        if role in (allowed, also):
            continue
        response = clients[role].post(url, data(records))
        assert response.status_code == (302 if role == "anonymous" else 403), role
        assert not written(records), f"{role} wrote through {url}"

    response = clients[allowed].post(url, data(records))
    assert response.status_code == 302, response.content.decode()[:3000]
    assert written(records)


@pytest.fixture
def reference_standard(personas):
    """A registered (not yet qualified) reference, for the reference pages' rows."""
    from assays.reference_services import reference_register

    return reference_register(
        actor=personas["analyst"],
        code="RS-PERM-01",
        material="EV-RS",
        name="Purchased EV reference",
        kind="purchased",
        assay_codes=["POTENCY-RP"],
        assigned_values=[{"analyte": "potency", "value": 100, "unit": "percent"}],
        expiry_date=timezone.localdate() + timedelta(days=365),
        storage="-80 °C freezer",
        qualification_report="QR-1",
        supplier="Supplier",
        lot_number="L1",
    )
