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
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from batches import services
from batches.models import CultureBatch, Donor, ReagentLot, StorageLocation
from tests import factories

BACKEND = "django.contrib.auth.backends.ModelBackend"

# Expected outcomes other than a plain status code.
LOGIN = "302 to the sign-in page"
ADMIN_LOGIN = "302 to the admin sign-in page"
HOME = "302 to the home page"
LOT_PAGE = "302 to the lot's page"

ROLES = ("anonymous", "technician", "analyst", "qa", "admin", "no_role")

# Target: None (no argument), an object key (its pk), ("code", key) for a lot code, or
# (model slug, key) for the generic status / correct / void pages.
# fmt: off
MATRIX = [
    # url name                     target                          query          anonymous    technician analyst qa   admin no_role  # noqa: E501
    ("home",                       None,                           "",            LOGIN,       200,       200,    200, 200,  200),
    ("login",                      None,                           "",            200,         HOME,      HOME,   HOME, HOME, HOME),
    ("logout",                     None,                           "",            405,         405,       405,    405, 405,  405),
    ("audit_trail",                None,                           "",            LOGIN,       403,       200,    200, 200,  403),
    ("audit_trail_csv",            None,                           "",            LOGIN,       403,       200,    200, 200,  403),
    # Load balancers probe /health/ without signing in; it shows no records.
    ("health_check:health_check_home", None,                       "",            200,         200,       200,    200, 200,  200),
    # The Django admin is for staff accounts only; none of these personas is staff.
    ("admin:index",                None,                           "",            ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN),  # noqa: E501
    # Lists
    ("batches:donor_list",         None,                           "",            LOGIN,       200,       200,    200, 200,  403),
    ("batches:cellbank_list",      None,                           "",            LOGIN,       200,       200,    200, 200,  403),
    ("batches:reagentlot_list",    None,                           "",            LOGIN,       200,       200,    200, 200,  403),
    ("batches:culturebatch_list",  None,                           "",            LOGIN,       200,       200,    200, 200,  403),
    ("batches:isolationrun_list",  None,                           "",            LOGIN,       200,       200,    200, 200,  403),
    ("batches:exosomelot_list",    None,                           "",            LOGIN,       200,       200,    200, 200,  403),
    ("batches:aliquot_list",       None,                           "",            LOGIN,       200,       200,    200, 200,  403),
    ("batches:storagelocation_list", None,                         "",            LOGIN,       200,       200,    200, 200,  403),
    # Details
    ("batches:donor_detail",       "donor",                        "",            LOGIN,       200,       200,    200, 200,  403),
    ("batches:cellbank_detail",    "cell_bank",                    "",            LOGIN,       200,       200,    200, 200,  403),
    ("batches:reagentlot_detail",  "reagent_lot",                  "",            LOGIN,       200,       200,    200, 200,  403),
    ("batches:culturebatch_detail", "batch",                       "",            LOGIN,       200,       200,    200, 200,  403),
    ("batches:isolationrun_detail", "run",                         "",            LOGIN,       200,       200,    200, 200,  403),
    ("batches:exosomelot_detail",  "lot",                          "",            LOGIN,       200,       200,    200, 200,  403),
    ("batches:aliquot_detail",     "aliquot",                      "",            LOGIN,       200,       200,    200, 200,  403),
    ("batches:storagelocation_detail", "position",                 "",            LOGIN,       200,       200,    200, 200,  403),
    ("batches:lot_by_code",        ("code", "lot"),                "",            LOGIN,       LOT_PAGE,  LOT_PAGE, LOT_PAGE, LOT_PAGE, 403),  # noqa: E501
    # Labels
    ("batches:lot_labels",         "lot",                          "",            LOGIN,       200,       200,    200, 200,  403),
    ("batches:lot_labels",         "lot",                          "format=pdf",  LOGIN,       200,       200,    200, 200,  403),
    ("batches:lot_labels",         "lot",                          "format=zpl",  LOGIN,       200,       200,    200, 200,  403),
    # Forms that write
    ("batches:donor_create",       None,                           "",            LOGIN,       200,       403,    403, 403,  403),
    ("batches:cellbank_create",    None,                           "",            LOGIN,       200,       403,    403, 403,  403),
    ("batches:reagentlot_create",  None,                           "",            LOGIN,       200,       403,    403, 403,  403),
    ("batches:culturebatch_create", None,                          "",            LOGIN,       200,       403,    403, 403,  403),
    ("batches:isolationrun_create", None,                          "",            LOGIN,       200,       403,    403, 403,  403),
    ("batches:exosomelot_create",  None,                           "",            LOGIN,       200,       403,    403, 403,  403),
    ("batches:storagelocation_create", None,                       "",            LOGIN,       200,       403,    403, 403,  403),
    ("batches:passage_create",     "batch",                        "",            LOGIN,       200,       403,    403, 403,  403),
    ("batches:harvest_create",     "batch",                        "",            LOGIN,       200,       403,    403, 403,  403),
    ("batches:aliquot_fill",       "lot",                          "",            LOGIN,       200,       403,    403, 403,  403),
    ("batches:aliquot_move",       "aliquot",                      "",            LOGIN,       200,       403,    403, 403,  403),
    ("batches:status_change",      ("culturebatch", "batch"),      "",            LOGIN,       200,       403,    403, 403,  403),
    ("batches:status_change",      ("exosomelot", "lot"),          "",            LOGIN,       200,       403,    403, 403,  403),
    ("batches:status_change",      ("aliquot", "aliquot"),         "",            LOGIN,       200,       403,    403, 403,  403),
    ("batches:record_correct",     ("donor", "donor"),             "",            LOGIN,       200,       403,    403, 403,  403),
    ("batches:record_correct",     ("cellbank", "cell_bank"),      "",            LOGIN,       200,       403,    403, 403,  403),
    ("batches:record_correct",     ("reagentlot", "reagent_lot"),  "",            LOGIN,       200,       403,    403, 403,  403),
    ("batches:record_correct",     ("storagelocation", "position"), "",           LOGIN,       200,       403,    403, 403,  403),
    ("batches:record_correct",     ("passage", "passage"),         "",            LOGIN,       200,       403,    403, 403,  403),
    ("batches:record_void",        ("donor", "donor"),             "",            LOGIN,       200,       403,    403, 403,  403),
    ("batches:record_void",        ("cellbank", "cell_bank"),      "",            LOGIN,       200,       403,    403, 403,  403),
    ("batches:record_void",        ("reagentlot", "reagent_lot"),  "",            LOGIN,       200,       403,    403, 403,  403),
    ("batches:record_void",        ("storagelocation", "position"), "",           LOGIN,       200,       403,    403, 403,  403),
    ("batches:record_void",        ("passage", "passage"),         "",            LOGIN,       200,       403,    403, 403,  403),
]
# fmt: on


def _url_names_in_urlconf() -> set[str]:
    """Every named route of lims/urls.py and batches/urls.py (the admin and health apps by
    their entry page only)."""
    names = set()

    def walk(patterns, namespace):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                if pattern.namespace in ("admin", "health_check"):
                    continue
                walk(pattern.url_patterns, pattern.namespace or namespace)
            elif isinstance(pattern, URLPattern) and pattern.name:
                names.add(f"{namespace}:{pattern.name}" if namespace else pattern.name)

    walk(get_resolver().url_patterns, None)
    return names | {"admin:index", "health_check:health_check_home"}


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


def _kwargs(target, records) -> dict:
    if target is None:
        return {}
    if isinstance(target, str):
        return {"pk": records[target].pk}
    first, key = target
    if first == "code":
        return {"code": records[key].code}
    return {"model": first, "pk": records[key].pk}


def _outcome(response, lot) -> object:
    """The response as one of the matrix's values."""
    if response.status_code != 302:
        return response.status_code
    location = urlsplit(response["Location"]).path
    return {
        reverse("login"): LOGIN,
        reverse("admin:login"): ADMIN_LOGIN,
        reverse("home"): HOME,
        lot.get_absolute_url(): LOT_PAGE,
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
    in_table = {row[0] for row in MATRIX}
    assert in_table == _url_names_in_urlconf(), "a URL is missing from MATRIX (or gone)"

    clients = _clients(personas, make_user)
    mismatches = []
    for name, target, query, *expected in MATRIX:
        url = reverse(name, kwargs=_kwargs(target, records)) + (f"?{query}" if query else "")
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
        lambda r: {"cell_bank": r["cell_bank"].pk, "started_on": _today()},
        lambda r: CultureBatch.objects.filter(cell_bank=r["cell_bank"]).count() > 1,
    ),
    (
        "batches:record_void",
        ("donor", "donor"),
        lambda r: {"reason": "Registered twice"},
        lambda r: Donor.objects.get(pk=r["donor"].pk).is_voided,
    ),
    (
        "batches:status_change",
        ("culturebatch", "batch"),
        lambda r: {"to": "discarded", "reason": "Contaminated"},
        lambda r: CultureBatch.objects.get(pk=r["batch"].pk).status == "discarded",
    ),
]


@pytest.mark.parametrize(
    ("name", "target", "data", "written"), POSTS, ids=[f"{p[0]}-{p[1]}" for p in POSTS]
)
def test_only_a_technician_can_post_a_write_form(
    personas, make_user, records, name, target, data, written
):
    url = reverse(name, kwargs=_kwargs(target, records))
    clients = _clients(personas, make_user)
    for role in ("anonymous", "analyst", "qa", "admin", "no_role"):
        response = clients[role].post(url, data(records))
        assert response.status_code == (302 if role == "anonymous" else 403), role
        assert not written(records), f"{role} wrote through {url}"

    # The same data from a technician is accepted: the refusals above were about the role.
    response = clients["technician"].post(url, data(records))
    assert response.status_code == 302, response.content.decode()[:2000]
    assert written(records)
