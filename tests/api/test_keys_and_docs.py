"""Issuing and revoking instrument keys (command line, admin), the throttle and the API docs."""

import io
import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.management import CommandError, call_command
from django.utils import timezone

from assays.models import InstrumentKey
from lims.models import AuditEvent
from tests.api.conftest import issue_key, key_client, register_instrument

pytestmark = pytest.mark.django_db


def _command(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("instrument_key", *args, stdout=out, stderr=err)
    return out.getvalue().strip(), err.getvalue()


def test_command_prints_a_working_key_once(instrument):
    key, message = _command(instrument.code, "--days", "30")

    assert key.count(".") == 1 and key not in message
    assert key_client(key).get("/api/v1/assays/").status_code == 200
    stored = InstrumentKey.objects.get(instrument=instrument)
    assert key not in (stored.id, stored.hashed_key)  # only the hash is kept
    assert stored.expiry_date.date() == (timezone.now() + timedelta(days=30)).date()
    event = AuditEvent.objects.filter(pgh_model="assays.InstrumentKeyEvent").latest("pgh_id")
    assert event.reason == "Key issued from the command line"
    assert event.username == "system"


def test_command_rotates_keys_with_a_reason(instrument, admin_user):
    old = issue_key(admin_user, instrument)

    new, message = _command(instrument.code, "--revoke-all", "--reason", "Laptop stolen")

    assert "Revoked 1 key(s)" in message
    assert key_client(old).get("/api/v1/assays/").json()["code"] == "api_key_revoked"
    assert key_client(new).get("/api/v1/assays/").status_code == 200


def test_command_refuses_what_it_cannot_do(instrument):
    with pytest.raises(CommandError, match="No instrument"):
        _command("NO-SUCH")
    with pytest.raises(CommandError, match="--reason"):
        _command(instrument.code, "--revoke-all")
    with pytest.raises(CommandError, match="at least 1"):
        _command(instrument.code, "--days", "0")


def test_keys_in_the_admin_are_issued_shown_once_revoked_with_a_reason_never_deleted(
    client, make_user, instrument
):
    superuser = make_user("admin", username="root", is_staff=True, is_superuser=True)
    client.force_login(superuser)
    url = "/admin/assays/instrumentkey/"

    added = client.post(
        f"{url}add/",
        {"instrument": instrument.pk, "name": "Bench NTA", "expiry_date_0": "", "reason": ""},
        follow=True,
    )
    assert added.status_code == 200
    key = InstrumentKey.objects.get(instrument=instrument)
    shown = [str(m) for m in added.context["messages"]]
    plain = next(m.split("is: ")[1].split(" ")[0] for m in shown if "is: " in m)
    assert key_client(plain).get("/api/v1/assays/").status_code == 200

    expiry = timezone.localtime(key.expiry_date)
    form = {
        "name": key.name,
        "expiry_date_0": f"{expiry:%Y-%m-%d}",
        "expiry_date_1": f"{expiry:%H:%M:%S}",
        "revoked": "on",
    }
    refused = client.post(f"{url}{key.pk}/change/", form)
    assert refused.status_code == 200 and "A reason is required" in refused.content.decode()
    client.post(f"{url}{key.pk}/change/", {**form, "reason": "Replaced"})
    assert key_client(plain).get("/api/v1/assays/").json()["code"] == "api_key_revoked"
    assert client.get(f"{url}{key.pk}/delete/").status_code == 403


def test_throttled_per_instrument(settings, admin_user, client_for_key):
    settings.API_THROTTLE_RATE = "3/minute"
    for _ in range(3):
        assert client_for_key.get("/api/v1/assays/").status_code == 200

    response = client_for_key.get("/api/v1/assays/")

    assert response.status_code == 429
    assert response.json()["code"] == "throttled"
    assert int(response["Retry-After"]) > 0
    other = key_client(issue_key(admin_user, register_instrument(admin_user)))
    assert other.get("/api/v1/assays/").status_code == 200


def test_docs_and_schema_are_served_locally_to_signed_in_people(client, technician):
    assert client.get("/api/docs/").status_code == 401
    client.force_login(technician)

    page = client.get("/api/docs/")
    schema = client.get("/api/schema/")

    assert page.status_code == 200
    html = page.content.decode()
    assert "drf_spectacular_sidecar/swagger-ui-dist" in html
    assert "cdn." not in html and "unpkg" not in html
    assert "<script>" not in html  # the initialiser is a separate file (CSP: script-src 'self')
    for script in re.findall(r'<script src="([^"]+)"', html):
        if script.startswith(settings.STATIC_URL):  # shipped in drf-spectacular-sidecar
            assert finders.find(script.removeprefix(settings.STATIC_URL)), script
        else:
            assert client.get(script).status_code == 200, script
    assert schema.status_code == 200
    document = schema.json()
    assert "/api/v1/runs/" in document["paths"]
    assert "InstrumentKey" in document["components"]["securitySchemes"]


def test_the_document_names_every_error_code(client, technician):
    from assays.api.errors import ERROR_CODES

    client.force_login(technician)
    document = client.get("/api/schema/").json()

    schemas = document["components"]["schemas"]
    for status, codes in ERROR_CODES.items():
        if status in (405,):  # not an operation's answer: a method the path does not have
            continue
        code = schemas[f"Error{status}"]["properties"]["code"]["allOf"][0]["$ref"]
        assert set(schemas[code.rsplit("/", 1)[1]]["enum"]) == set(codes)
    post = document["paths"]["/api/v1/runs/"]["post"]["responses"]
    assert set(post) == {"201", "400", "401", "403", "406", "409", "413", "415", "422", "429"}
