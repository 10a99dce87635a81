"""Safe defaults (issue 11): each test names the finding it answers and fails on the code
before the change.

* DEBUG defaulted to True when unset;
* no styled 403/404/500 pages;
* no `Cache-Control: no-store` on signed-in pages and API data;
* `/health/` showed its components to anyone;
* keys could be issued already expired;
* every instrument key read every lot, result, deviation and signature (the endpoint by
  endpoint matrix is tests/api/test_permission_matrix.py);
* `Accept: application/json` on `/api/schema/` answered 406;
* RTL-override and zero-width characters were stored in identifiers;
* `/lots/by-code/%00/` answered 500.
"""

import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone
from django.views.defaults import server_error
from rest_framework.test import APIClient

from assays import services as assay_services
from assays.models import AssayRun, Instrument, InstrumentKey
from batches import services
from batches.models import Donor, StorageLocation
from lims.health import HealthView
from lims.identifiers import INVISIBLE_CHARACTERS, next_identifier
from lims.models import User
from tests import factories
from tests.api.conftest import a_run, issue_key, key_client, register_instrument

pytestmark = pytest.mark.django_db

REPO = Path(__file__).resolve().parents[2]
BACKEND = "django.contrib.auth.backends.ModelBackend"


def _client(user, **defaults) -> Client:
    client = Client(**defaults)
    client.force_login(user, backend=BACKEND)
    return client


@pytest.fixture
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "files"
    return settings.MEDIA_ROOT


@pytest.fixture
def instrument(admin_user):
    return register_instrument(admin_user)


@pytest.fixture
def instrument_client(admin_user, instrument) -> APIClient:
    return key_client(issue_key(admin_user, instrument))


# --- DEBUG is off unless explicitly on --------------------------------------------------------


def _settings_in_a_fresh_process(**env) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "DJANGO_SETTINGS_MODULE")
    }
    clean.update(env, PYTHONPATH=str(REPO))
    return subprocess.run(
        [sys.executable, "-c", "from lims import settings; print('DEBUG', settings.DEBUG)"],
        cwd=REPO,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_debug_is_off_when_the_environment_does_not_set_it():
    if (REPO / ".env").exists():
        pytest.skip(".env exists: the settings read it for what the environment leaves unset")
    production = {
        "SECRET_KEY": "x" * 50,
        "ALLOWED_HOSTS": "lims.example.org",
        "DATABASE_URL": "postgres://lims:secret@db.example.org:5432/lims",
    }
    started = _settings_in_a_fresh_process(**production)
    assert started.returncode == 0, started.stderr
    assert started.stdout.split() == ["DEBUG", "False"]

    # And with DEBUG unset, a server without its secrets refuses to start.
    refused = _settings_in_a_fresh_process(DATABASE_URL=production["DATABASE_URL"])
    assert refused.returncode != 0
    assert "Production settings (DEBUG=False) need" in refused.stderr

    debug = _settings_in_a_fresh_process(DEBUG="True", DATABASE_URL=production["DATABASE_URL"])
    assert debug.stdout.split()[-2:] == ["DEBUG", "True"], debug.stderr


def test_make_run_turns_debug_on_explicitly():
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^run: export DEBUG = True$", makefile, re.M)


# --- Error pages --------------------------------------------------------------------------------


def test_the_404_page_says_what_happened_and_where_to_go(technician):
    response = _client(technician).get("/lots/999999999/")
    assert response.status_code == 404
    page = response.content.decode()
    assert "Not found" in page and "/lots/999999999/" in page
    assert 'href="/"' in page and reverse("batches:exosomelot_list") in page
    assert "Sign out" in page  # the site's own page, with its menu


def test_the_403_page_says_what_happened_and_where_to_go(analyst):
    response = _client(analyst).get(reverse("batches:donor_create"))
    assert response.status_code == 403
    page = response.content.decode()
    assert "Not allowed" in page and "Your role does not allow this." in page
    assert "nothing was changed" in page and 'href="/"' in page


def test_the_500_page_stands_alone():
    response = server_error(RequestFactory().get("/lots/"))
    assert response.status_code == 500
    page = response.content.decode()
    assert "Server error" in page and 'href="/"' in page
    assert "open the record to check" in page
    # Rendered without a request context or the database: nothing in it may need them.
    assert "{%" not in (REPO / "templates" / "500.html").read_text()


# --- No caching of records -----------------------------------------------------------------------


def test_signed_in_pages_and_api_data_are_never_stored(technician, instrument_client):
    page = _client(technician).get(reverse("batches:exosomelot_list"))
    api = instrument_client.get("/api/v1/lots/")
    refused = APIClient().get("/api/v1/lots/")
    person_api = APIClient()
    person_api.force_login(technician)
    listed = person_api.get("/api/v1/runs/")

    for response in (page, api, refused, listed):
        directives = {d.strip() for d in response["Cache-Control"].split(",")}
        assert {"no-store", "no-cache", "private"} <= directives, response.request["PATH_INFO"]
    assert page.status_code == api.status_code == listed.status_code == 200


# --- /health/ -------------------------------------------------------------------------------------


REMOTE = "203.0.113.7"


def test_health_tells_a_remote_caller_only_whether_it_is_healthy(media_root):
    response = Client(REMOTE_ADDR=REMOTE).get("/health/?format=json")
    assert response.status_code == 200
    assert response.content == b"ok\n"
    assert "no-store" in response["Cache-Control"]

    # Through a proxy on this machine the address is the proxy's: still only the status.
    forwarded = Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=REMOTE).get("/health/")
    assert forwarded.content == b"ok\n"


def test_health_detail_is_for_this_machine_and_staff(media_root, make_user):
    local = Client(REMOTE_ADDR="127.0.0.1").get("/health/?format=json")
    assert local.status_code == 200
    assert any("Database" in name for name in local.json())

    staff = make_user("admin", username="sam.staff", is_staff=True)
    remote_staff = _client(staff, REMOTE_ADDR=REMOTE).get("/health/?format=json")
    assert any("Database" in name for name in remote_staff.json())

    not_staff = make_user("admin", username="nat.notstaff")
    assert _client(not_staff, REMOTE_ADDR=REMOTE).get("/health/").content == b"ok\n"


def test_an_unhealthy_server_says_so_without_saying_why(monkeypatch):
    monkeypatch.setattr(HealthView, "check", lambda self, subset=None: True)
    response = Client(REMOTE_ADDR=REMOTE).get("/health/")
    assert (response.status_code, response.content) == (500, b"error\n")


# --- Instrument keys: never issued expired, reading only what an instrument needs -------------


def test_a_key_cannot_be_issued_already_expired(admin_user, instrument):
    for expiry in (timezone.now() - timedelta(days=1), timezone.now()):
        with pytest.raises(ValidationError) as refused:
            assay_services.instrument_key_issue(
                actor=admin_user, instrument=instrument, expiry_date=expiry
            )
        assert "cannot be issued already expired" in refused.value.message_dict["expiry_date"][0]
    assert not InstrumentKey.objects.filter(instrument=instrument).exists()


def test_the_admin_refuses_an_expired_key(make_user, instrument):
    superuser = make_user("admin", username="root", is_staff=True, is_superuser=True)
    yesterday = timezone.localtime() - timedelta(days=1)
    response = _client(superuser).post(
        "/admin/assays/instrumentkey/add/",
        {
            "instrument": instrument.pk,
            "name": "Bench NTA",
            "expiry_date_0": f"{yesterday:%Y-%m-%d}",
            "expiry_date_1": f"{yesterday:%H:%M:%S}",
            "reason": "",
        },
    )
    assert response.status_code == 200
    assert "cannot be issued already expired" in response.content.decode()
    assert not InstrumentKey.objects.filter(instrument=instrument).exists()


def test_the_key_page_refuses_an_expired_key(admin_user, instrument):
    url = reverse("assays:instrument_key_issue", args=[instrument.pk])
    yesterday = timezone.localdate() - timedelta(days=1)
    response = _client(admin_user).post(url, {"name": "PC", "expires_on": f"{yesterday}"})
    assert response.status_code == 200
    assert response.context["form"].errors["expires_on"]
    assert not InstrumentKey.objects.filter(instrument=instrument).exists()


RELEASE_READS = [
    "/api/v1/specifications/",
    "/api/v1/deviations/",
    "/api/v1/signatures/",
    "/api/v1/lots/{lot}/evaluation/",
    "/api/v1/culture-batches/{batch}/evaluation/",
    "/api/v1/lots/{lot}/certificate/",
]


@pytest.mark.parametrize("path", RELEASE_READS)
def test_an_instrument_key_does_not_read_release_records(
    instrument_client, technician, analyst, path
):
    lot = factories.lot(technician)
    url = path.format(lot=lot.pk, batch=lot.isolation_runs.first().harvests.first().batch_id)

    response = instrument_client.get(url)

    assert response.status_code == 403
    assert response.json()["code"] == "person_required"
    person = APIClient()
    person.force_login(analyst)
    assert person.get(url).status_code in (200, 404)  # 404: no certificate before release


def test_an_instrument_key_still_reads_what_it_posts_against(instrument_client, technician):
    lot = factories.lot(technician)
    for path in ("lots/", "culture-batches/", "aliquots/", "assays/", "instruments/", "runs/"):
        assert instrument_client.get(f"/api/v1/{path}").status_code == 200, path
    assert instrument_client.get("/api/v1/results/", {"lot": lot.code}).status_code == 200


# --- The OpenAPI document as application/json -------------------------------------------------


def test_the_schema_answers_accept_application_json(technician, instrument_client):
    person = _client(technician)
    for client in (person, instrument_client):
        response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
        assert response.status_code == 200
        assert response["Content-Type"].startswith("application/json")
        assert "/api/v1/runs/" in response.json()["paths"]
    default = person.get("/api/schema/")
    assert default["Content-Type"].startswith("application/vnd.oai.openapi+json")
    yaml = person.get("/api/schema/", {"format": "yaml"})
    assert yaml.status_code == 200 and b"openapi:" in yaml.content


# --- Invisible and direction-changing characters in identifiers ------------------------------

# RIGHT-TO-LEFT OVERRIDE, RIGHT-TO-LEFT ISOLATE, ZERO WIDTH SPACE, ZERO WIDTH JOINER, WORD
# JOINER, ZERO WIDTH NO-BREAK SPACE (BOM), LEFT-TO-RIGHT EMBEDDING.
SNEAKY = ["\u202e", "\u2067", "\u200b", "\u200d", "\u2060", "\ufeff", "\u202a"]


def test_the_refused_characters_are_the_bidi_controls_and_zero_width_ones():
    expected = {chr(c) for c in [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]}
    expected |= {"\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"}
    assert expected == INVISIBLE_CHARACTERS


@pytest.mark.parametrize("ch", SNEAKY, ids=[f"U+{ord(c):04X}" for c in SNEAKY])
def test_the_donor_form_refuses_an_invisible_character_next_to_the_code(technician, ch):
    response = _client(technician).post(
        reverse("batches:donor_create"),
        {"code": f"D-{ch}0042", "tissue_source": "umbilical_cord", "consent_reference": "C-1"},
    )
    assert response.status_code == 200
    errors = response.context["form"].errors["code"]
    assert any(f"U+{ord(ch):04X}" in e and "invisible or direction-changing" in e for e in errors)
    assert not Donor.objects.filter(consent_reference="C-1").exists()


@pytest.mark.parametrize("ch", SNEAKY, ids=[f"U+{ord(c):04X}" for c in SNEAKY])
def test_the_services_refuse_invisible_characters_in_identifiers(technician, admin_user, ch):
    today = timezone.localdate()
    attempts = {
        "position": lambda: services.storage_location_create(
            actor=technician, freezer="ULT-1", rack="R1", box="B1", position=f"A{ch}1"
        ),
        "lot_number": lambda: services.reagent_lot_create(
            actor=technician,
            category="medium",
            name="MEM",
            supplier="S",
            catalogue_number="C-1",
            lot_number=f"L{ch}77",
            expiry_date=today + timedelta(days=90),
            received_on=today,
        ),
        "code": lambda: register_instrument(admin_user, code=f"NTA{ch}-9"),
    }
    for field, attempt in attempts.items():
        with pytest.raises(ValidationError) as refused:
            attempt()
        assert field in refused.value.message_dict, field
    assert not StorageLocation.objects.filter(box="B1", rack="R1").exists()
    assert not Instrument.objects.filter(code__startswith="NTA").exists()


@pytest.mark.parametrize("ch", SNEAKY, ids=[f"U+{ord(c):04X}" for c in SNEAKY])
def test_usernames_and_printed_names_refuse_invisible_characters(ch):
    user = User(username=f"quinn{ch}qa", first_name=f"Quinn{ch}", last_name="QA")
    user.set_password("a-long-enough-password-1")
    with pytest.raises(ValidationError) as refused:
        user.full_clean()
    assert {"username", "first_name"} <= set(refused.value.message_dict)


def test_the_api_refuses_invisible_characters_with_a_field_error(instrument_client, technician):
    lot = factories.lot(technician)
    body = a_run(lot.code, external_id="PLATE-\u202e24")
    body["results"][0]["sample"] = lot.code + "\u200b"

    response = instrument_client.post("/api/v1/runs/", body, format="json")

    assert response.status_code == 400
    errors = response.json()["errors"]
    assert "U+202E" in errors["external_id"][0]
    assert "U+200B" in errors["results[0].sample"][0]
    assert not AssayRun.objects.filter(external_id__startswith="PLATE-").exists()


def test_an_identifier_pattern_with_an_invisible_character_is_refused(settings):
    settings.LIMS_ID_PATTERNS = {**settings.LIMS_ID_PATTERNS, "exosome_lot": "EXO\u202e-{seq:04d}"}
    with pytest.raises(ImproperlyConfigured, match="exosome_lot"):
        next_identifier("exosome_lot")


# --- A NUL byte in a URL path ----------------------------------------------------------------


def test_a_nul_byte_in_a_url_path_is_a_404(technician, admin_user, instrument):
    client = _client(technician)
    client.raise_request_exception = False
    for path in ("/lots/by-code/%00/", "/lots/by-code/EXO%00-1/", "/donors/%00/"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "Not found" in response.content.decode()
    anonymous = Client(raise_request_exception=False).get("/lots/by-code/%00/")
    assert anonymous.status_code == 404

    admin = _client(admin_user)
    admin.raise_request_exception = False
    revoke = f"/instruments/{instrument.pk}/keys/ab%00cdefg/revoke/"
    assert admin.get(revoke).status_code == 404

    api = APIClient(raise_request_exception=False).get("/api/v1/runs/%00/")
    assert api.status_code == 404 and api.json()["code"] == "not_found"
