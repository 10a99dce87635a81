"""Who may open which page: every URL of lims/urls.py and batches/urls.py, with every role.

The expected matrix is data (MATRIX below), read against lims/roles.py: technicians record
production and may view everything but the audit trail; analysts, QA and administrators view
records and the audit trail but get 403 on every form that writes; a signed-in account without a
role sees only the home page; anonymous visitors are sent to the sign-in page.
"""

from datetime import timedelta
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.urls import NoReverseMatch, URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from batches import services
from batches import urls as batches_urls
from batches.models import CultureBatch, Donor, ReagentLot, StorageLocation
from release import home as release_home
from tests import factories

BACKEND = "django.contrib.auth.backends.ModelBackend"

# Expected outcomes other than a plain status code.
LOGIN = "302 to the sign-in page"
ADMIN_LOGIN = "302 to the admin sign-in page"
HOME = "302 to the home page"
TO_LOT = "302 to the lot's page"

ROLES = ("anonymous", "technician", "analyst", "qa", "admin", "no_role")

# Target: None, or the key of the record in `records` whose pk (and model name or code, as the
# route asks) goes into the URL.
# fmt: off
MATRIX = [
    # url name (?query)              target         anonym tech   analyst qa    admin  no role
    ("home",                           None,          LOGIN, 200,   200,   200,   200,   200),
    ("login",                          None,          200,   HOME,  HOME,  HOME,  HOME,  HOME),
    ("logout",                         None,          405,   405,   405,   405,   405,   405),
    ("audit_trail",                    None,          LOGIN, 403,   200,   200,   200,   403),
    ("audit_trail_csv",                None,          LOGIN, 403,   200,   200,   200,   403),
    # Everyone changes their own password; QA and administrators review sign-in security;
    # administrators unlock (a POST) and reset passwords.
    ("password_change",                None,          LOGIN, 200,   200,   200,   200,   200),
    # Anyone may add a second factor (lims.second_factor); its code page is for after sign-in.
    ("second_factor",                  None,          LOGIN, 200,   200,   200,   200,   200),
    ("second_factor_setup",            None,          LOGIN, 200,   200,   200,   200,   200),
    ("security_review",                None,          LOGIN, 403,   403,   200,   200,   403),
    ("security_review_csv",            None,          LOGIN, 403,   403,   200,   200,   403),
    ("security_unlock",                None,          LOGIN, 403,   403,   403,   405,   403),
    ("password_reset",                 None,          LOGIN, 403,   403,   403,   200,   403),
    # Load balancers probe /health/ without signing in: a status, no records, no components.
    ("health_check:health_check_home", None,          200,   200,   200,   200,   200,   200),
    # The Django admin is for staff accounts only; none of these personas is staff.
    ("admin:index",                    None,          ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN,
                                                      ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN),
    # Lists
    ("batches:donor_list",             None,          LOGIN, 200,   200,   200,   200,   403),
    ("batches:cellbank_list",          None,          LOGIN, 200,   200,   200,   200,   403),
    ("batches:reagentlot_list",        None,          LOGIN, 200,   200,   200,   200,   403),
    ("batches:culturebatch_list",      None,          LOGIN, 200,   200,   200,   200,   403),
    ("batches:isolationrun_list",      None,          LOGIN, 200,   200,   200,   200,   403),
    ("batches:exosomelot_list",        None,          LOGIN, 200,   200,   200,   200,   403),
    ("batches:aliquot_list",           None,          LOGIN, 200,   200,   200,   200,   403),
    ("batches:storagelocation_list",   None,          LOGIN, 200,   200,   200,   200,   403),
    # Details
    ("batches:donor_detail",           "donor",       LOGIN, 200,   200,   200,   200,   403),
    ("batches:cellbank_detail",        "cell_bank",   LOGIN, 200,   200,   200,   200,   403),
    ("batches:reagentlot_detail",      "reagent_lot", LOGIN, 200,   200,   200,   200,   403),
    ("batches:culturebatch_detail",    "batch",       LOGIN, 200,   200,   200,   200,   403),
    ("batches:isolationrun_detail",    "run",         LOGIN, 200,   200,   200,   200,   403),
    ("batches:exosomelot_detail",      "lot",         LOGIN, 200,   200,   200,   200,   403),
    ("batches:aliquot_detail",         "aliquot",     LOGIN, 200,   200,   200,   200,   403),
    ("batches:storagelocation_detail", "position",    LOGIN, 200,   200,   200,   200,   403),
    # Storage as boxes (batches/storage_views.py): the box of `records`' positions
    ("batches:storage_overview",       None,          LOGIN, 200,   200,   200,   200,   403),
    ("batches:storage_box?freezer=ULT-1&rack=R1&box=B1",
                                       None,          LOGIN, 200,   200,   200,   200,   403),
    ("batches:lot_by_code",            "lot",         LOGIN, TO_LOT, TO_LOT, TO_LOT, TO_LOT, 403),
    # Labels
    ("batches:lot_labels",             "lot",         LOGIN, 200,   200,   200,   200,   403),
    ("batches:lot_labels?format=pdf",  "lot",         LOGIN, 200,   200,   200,   200,   403),
    ("batches:lot_labels?format=zpl",  "lot",         LOGIN, 200,   200,   200,   200,   403),
    # Forms that write
    ("batches:donor_create",           None,          LOGIN, 200,   403,   403,   403,   403),
    ("batches:cellbank_create",        None,          LOGIN, 200,   403,   403,   403,   403),
    ("batches:reagentlot_create",      None,          LOGIN, 200,   403,   403,   403,   403),
    ("batches:culturebatch_create",    None,          LOGIN, 200,   403,   403,   403,   403),
    ("batches:isolationrun_create",    None,          LOGIN, 200,   403,   403,   403,   403),
    ("batches:exosomelot_create",      None,          LOGIN, 200,   403,   403,   403,   403),
    ("batches:storagelocation_create", None,          LOGIN, 200,   403,   403,   403,   403),
    ("batches:passage_create",         "batch",       LOGIN, 200,   403,   403,   403,   403),
    ("batches:harvest_create",         "batch",       LOGIN, 200,   403,   403,   403,   403),
    ("batches:aliquot_fill",           "lot",         LOGIN, 200,   403,   403,   403,   403),
    ("batches:aliquot_move",           "aliquot",     LOGIN, 200,   403,   403,   403,   403),
    ("batches:storage_box_create",     None,          LOGIN, 200,   403,   403,   403,   403),
    ("batches:storage_place",          "position",    LOGIN, 200,   403,   403,   403,   403),
    ("batches:status_change",          "batch",       LOGIN, 200,   403,   403,   403,   403),
    ("batches:status_change",          "lot",         LOGIN, 200,   403,   403,   403,   403),
    ("batches:status_change",          "aliquot",     LOGIN, 200,   403,   403,   403,   403),
    ("batches:record_correct",         "donor",       LOGIN, 200,   403,   403,   403,   403),
    ("batches:record_correct",         "cell_bank",   LOGIN, 200,   403,   403,   403,   403),
    ("batches:record_correct",         "reagent_lot", LOGIN, 200,   403,   403,   403,   403),
    ("batches:record_correct",         "position",    LOGIN, 200,   403,   403,   403,   403),
    ("batches:record_correct",         "passage",     LOGIN, 200,   403,   403,   403,   403),
    ("batches:record_void",            "donor",       LOGIN, 200,   403,   403,   403,   403),
    ("batches:record_void",            "cell_bank",   LOGIN, 200,   403,   403,   403,   403),
    ("batches:record_void",            "reagent_lot", LOGIN, 200,   403,   403,   403,   403),
    ("batches:record_void",            "position",    LOGIN, 200,   403,   403,   403,   403),
    ("batches:record_void",            "passage",     LOGIN, 200,   403,   403,   403,   403),
]
# fmt: on


def _url_names_in_urlconf() -> set[str]:
    """Every named route of lims/urls.py, the home page (release/home.py) and batches/urls.py.

    Other URLconfs that lims/urls.py includes are not walked: Django's admin and the health
    check appear in MATRIX by their entry page, the assays app's pages and API have their own
    permission tests.
    """
    names = {"admin:index", "health_check:health_check_home"}
    for pattern in get_resolver().url_patterns:
        if isinstance(pattern, URLPattern) and pattern.name:
            names.add(pattern.name)
        elif isinstance(pattern, URLResolver) and pattern.urlconf_module is batches_urls:
            names.update(f"batches:{p.name}" for p in pattern.url_patterns if p.name)
        elif isinstance(pattern, URLResolver) and pattern.urlconf_module is release_home:
            names.update(p.name for p in pattern.url_patterns if p.name)  # the home page
    return names


@pytest.fixture
def records(technician):
    """One of every production record, built through the services."""
    batch = factories.culture_batch(technician)
    passage = services.passage_record(
        actor=technician,
        batch=batch,
        number=5,
        seeded_on=batch.started_on,
        seeding_density_per_cm2=5000,
        cells_seeded=1_000_000,
    )
    lot = factories.lot(technician)
    positions = factories.storage_positions(technician, 2)
    (aliquot,) = services.aliquots_create(
        actor=technician, lot=lot, volume_ul=Decimal("100"), locations=positions[:1]
    )
    return {
        "donor": batch.cell_bank.donor,
        "cell_bank": batch.cell_bank,
        "reagent_lot": factories.reagent_lot(technician),
        "batch": batch,
        "passage": passage,
        "run": lot.isolation_runs.get(),
        "lot": lot,
        "aliquot": aliquot,
        "position": positions[1],
    }


def _url(name: str, target: str | None, records) -> str:
    """The URL of a MATRIX row: its route, filled from the target record, and its query."""
    name, _, query = name.partition("?")
    suffix = f"?{query}" if query else ""
    if target is None:
        return reverse(name) + suffix
    record = records[target]
    for kwargs in (
        {"pk": record.pk},
        {"model": record._meta.model_name, "pk": record.pk},
        {"code": getattr(record, "code", "")},
    ):
        try:
            return reverse(name, kwargs=kwargs) + suffix
        except NoReverseMatch:
            continue
    raise AssertionError(f"cannot build {name} for {record!r}")


def _outcome(response, lot) -> object:
    """The response as one of the matrix's values."""
    if response.status_code != 302:
        return response.status_code
    location = urlsplit(response["Location"]).path
    return {
        reverse("login"): LOGIN,
        reverse("admin:login"): ADMIN_LOGIN,
        reverse("home"): HOME,
        lot.get_absolute_url(): TO_LOT,
    }.get(location, f"302 to {location}")


def _clients(personas, make_user) -> dict[str, Client]:
    clients = {"anonymous": Client()}
    users = {**personas, "no_role": make_user(None, username="nora.norole")}
    for role, user in users.items():
        client = Client()
        client.force_login(user, backend=BACKEND)
        clients[role] = client
    return clients


def test_every_url_answers_each_role_as_the_permission_matrix_says(personas, make_user, records):
    in_table = {row[0].partition("?")[0] for row in MATRIX}
    assert in_table == _url_names_in_urlconf(), "a URL is missing from MATRIX (or gone)"

    clients = _clients(personas, make_user)
    mismatches = []
    for name, target, *expected in MATRIX:
        url = _url(name, target, records)
        for role, want in zip(ROLES, expected, strict=True):
            got = _outcome(clients[role].get(url), records["lot"])
            if got != want:
                mismatches.append(f"{role:<10} GET {url}: expected {want}, got {got}")
    assert not mismatches, "\n".join(mismatches)


# --- Writes by POST ---------------------------------------------------------------------------


def _today(days=0):
    return (timezone.localdate() + timedelta(days=days)).isoformat()


# (url name, target, form data, a function telling whether the write happened)
POSTS = [
    (
        "batches:donor_create",
        None,
        lambda r: {"code": "D-POST", "tissue_source": "adipose", "consent_reference": "C-9"},
        lambda r: Donor.objects.filter(code="D-POST").exists(),
    ),
    (
        "batches:reagentlot_create",
        None,
        lambda r: {
            "category": "medium",
            "name": "Posted medium",
            "supplier": "Acme Bio",
            "catalogue_number": "POST-1",
            "lot_number": "P1",
            "expiry_date": _today(90),
            "received_on": _today(),
        },
        lambda r: ReagentLot.objects.filter(catalogue_number="POST-1").exists(),
    ),
    (
        "batches:storagelocation_create",
        None,
        lambda r: {"freezer": "ULT-9", "rack": "R9", "box": "B9", "position": "A1"},
        lambda r: StorageLocation.objects.filter(freezer="ULT-9").exists(),
    ),
    (
        "batches:culturebatch_create",
        None,
        lambda r: {"cell_bank": r["cell_bank"].code, "started_on": _today()},
        lambda r: CultureBatch.objects.filter(cell_bank=r["cell_bank"]).count() > 1,
    ),
    (
        "batches:record_void",
        "donor",
        lambda r: {"reason": "Registered twice"},
        lambda r: Donor.objects.get(pk=r["donor"].pk).is_voided,
    ),
    (
        "batches:record_correct",
        "donor",
        lambda r: {
            "code": r["donor"].code,
            "tissue_source": "adipose",
            "consent_reference": "C-1",
            "reason": "Wrong tissue recorded",
        },
        lambda r: Donor.objects.get(pk=r["donor"].pk).tissue_source == "adipose",
    ),
    (
        "batches:aliquot_fill",
        "lot",
        lambda r: {"count": "2", "volume_ul": "50"},
        lambda r: r["lot"].aliquots.count() == 3,
    ),
    (
        "batches:status_change",
        "batch",
        lambda r: {"to": "discarded", "reason": "Contaminated"},
        lambda r: CultureBatch.objects.get(pk=r["batch"].pk).status == "discarded",
    ),
]


@pytest.mark.parametrize(("name", "target", "data", "written"), POSTS, ids=[p[0] for p in POSTS])
def test_only_a_technician_can_post_a_write_form(
    personas, make_user, records, name, target, data, written
):
    url = _url(name, target, records)
    clients = _clients(personas, make_user)
    for role in ("anonymous", "analyst", "qa", "admin", "no_role"):
        response = clients[role].post(url, data(records))
        assert response.status_code == (302 if role == "anonymous" else 403), role
        assert not written(records), f"{role} wrote through {url}"

    # The same data from a technician is accepted: the refusals above were about the role.
    response = clients["technician"].post(url, data(records))
    assert response.status_code == 302, response.content.decode()[:2000]
    assert written(records)
