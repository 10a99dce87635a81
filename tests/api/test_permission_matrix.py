"""Who may call which endpoint: every endpoint of the API with every kind of caller.

Reads: a signed-in person with a role, or an instrument key where an instrument needs the
records to post (lots, batches, vials, assays, instruments, runs, results, its own files, the
OpenAPI document); release records (specifications, evaluations, deviations, signatures,
certificates) are for people only (403 person_required). Writes: instrument keys only, and
only for the assays of the key's instrument (21 CFR 11.10(h)). Revoked and expired keys are
refused with their own codes.
"""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from assays import services
from assays.models import InstrumentKey
from tests import factories, fcs_files
from tests.api.conftest import DATA, a_run, issue_key, key_client, register_instrument

pytestmark = pytest.mark.django_db

CALLERS = ("anonymous", "technician", "no_role", "valid_key", "other_key", "revoked", "expired")

ANON = (401, "not_authenticated")
REVOKED = (401, "api_key_revoked")
EXPIRED = (401, "api_key_expired")
NO_ROLE = (403, "permission_denied")
PERSON_POSTS = (403, "instrument_key_required")
NOT_ITS_ASSAY = (403, "assay_not_allowed_for_instrument")
PERSON_ONLY = (403, "person_required")
OK = (200, None)

# fmt: off
MATRIX = {
    # endpoint               anonymous technician    no_role  valid_key     other_key       revoked  expired  # noqa: E501
    "GET culture-batches":   (ANON,    OK,           NO_ROLE, OK,           OK,             REVOKED, EXPIRED),  # noqa: E501
    "GET lots":              (ANON,    OK,           NO_ROLE, OK,           OK,             REVOKED, EXPIRED),  # noqa: E501
    "GET aliquots":          (ANON,    OK,           NO_ROLE, OK,           OK,             REVOKED, EXPIRED),  # noqa: E501
    "GET assays":            (ANON,    OK,           NO_ROLE, OK,           OK,             REVOKED, EXPIRED),  # noqa: E501
    "GET instruments":       (ANON,    OK,           NO_ROLE, OK,           OK,             REVOKED, EXPIRED),  # noqa: E501
    "GET runs":              (ANON,    OK,           NO_ROLE, OK,           OK,             REVOKED, EXPIRED),  # noqa: E501
    "GET run":               (ANON,    OK,           NO_ROLE, OK,           OK,             REVOKED, EXPIRED),  # noqa: E501
    "GET results":           (ANON,    OK,           NO_ROLE, OK,           OK,             REVOKED, EXPIRED),  # noqa: E501
    "GET schema":            (ANON,    OK,           NO_ROLE, OK,           OK,             REVOKED, EXPIRED),  # noqa: E501
    "POST runs":             (ANON,    PERSON_POSTS, PERSON_POSTS, (201, None), NOT_ITS_ASSAY, REVOKED, EXPIRED),  # noqa: E501
    "POST runs/asm":         (ANON,    PERSON_POSTS, PERSON_POSTS, (201, None), NOT_ITS_ASSAY, REVOKED, EXPIRED),  # noqa: E501
    "POST runs/flow":        (ANON,    PERSON_POSTS, PERSON_POSTS, (201, None), NOT_ITS_ASSAY, REVOKED, EXPIRED),  # noqa: E501
    "POST instrument-files": (ANON,    PERSON_POSTS, PERSON_POSTS, (202, None), NOT_ITS_ASSAY, REVOKED, EXPIRED),  # noqa: E501
    "GET instrument-file":   (ANON,    OK,           NO_ROLE, OK,           (404, "not_found"), REVOKED, EXPIRED),  # noqa: E501
    "GET specifications":    (ANON,    OK,           NO_ROLE, PERSON_ONLY,  PERSON_ONLY,    REVOKED, EXPIRED),  # noqa: E501
    "GET deviations":        (ANON,    OK,           NO_ROLE, PERSON_ONLY,  PERSON_ONLY,    REVOKED, EXPIRED),  # noqa: E501
    "GET signatures":        (ANON,    OK,           NO_ROLE, PERSON_ONLY,  PERSON_ONLY,    REVOKED, EXPIRED),  # noqa: E501
    "GET lot-evaluation":    (ANON,    OK,           NO_ROLE, PERSON_ONLY,  PERSON_ONLY,    REVOKED, EXPIRED),  # noqa: E501
    "GET batch-evaluation":  (ANON,    OK,           NO_ROLE, PERSON_ONLY,  PERSON_ONLY,    REVOKED, EXPIRED),  # noqa: E501
    "GET certificate":       (ANON,    (404, "not_found"), NO_ROLE, PERSON_ONLY, PERSON_ONLY, REVOKED, EXPIRED),  # noqa: E501
}
# fmt: on


@pytest.fixture
def world(admin_user, technician, make_user, lot, culture_batch, vicell_asm, media_root):
    """One instrument for every assay, one registered only for endotoxin, a key of each kind."""
    instrument = register_instrument(admin_user)
    other = register_instrument(admin_user, assays=["ENDOTOXIN"])
    revoked = issue_key(admin_user, instrument)
    services.instrument_key_revoke(
        actor=admin_user, key=instrument.api_keys.get(prefix=revoked[:8]), reason="Leaked"
    )
    expired = issue_key(admin_user, instrument)  # a key cannot be issued already expired
    InstrumentKey.objects.filter(prefix=expired[:8]).update(
        expiry_date=timezone.now() - timedelta(days=1)
    )
    run = services.run_record(
        assay_code="BCA",
        reagent_lots=factories.reagents_for("BCA"),
        results=factories.with_run_controls(
            "BCA", [services.ResultInput(sample=lot.code, analyte="protein", value=100)]
        ),
        source="api_json",
        started_at=timezone.now(),
        instrument=instrument,
    )
    nanosight = (DATA / "nta" / "nanosight_nta32_beads.csv").read_bytes()
    received = services.instrument_file_receive(
        data=nanosight,
        filename="beads.csv",
        sample_identifier=lot.code,
        assay_code="NTA",
        instrument=instrument,
    )
    clients = {
        "anonymous": APIClient(),
        "technician": APIClient(),
        "no_role": APIClient(),
        "valid_key": key_client(issue_key(admin_user, instrument)),
        "other_key": key_client(issue_key(admin_user, other)),
        "revoked": key_client(revoked),
        "expired": key_client(expired),
    }
    clients["technician"].force_login(technician)
    clients["no_role"].force_login(make_user(None, username="nobody"))

    def call(client, endpoint):
        method, name = endpoint.split(" ")
        if endpoint == "POST runs":
            return client.post("/api/v1/runs/", a_run(lot.code), format="json")
        if endpoint == "POST runs/asm":
            url = f"/api/v1/runs/asm/?assay=VIABILITY&sample={culture_batch.code}"
            return client.post(url, vicell_asm, format="json")
        if endpoint == "POST runs/flow":
            sample, control = fcs_files.isct_tubes()
            return client.post(
                "/api/v1/runs/flow/",
                {
                    "assay": "ISCT-FLOW",
                    "sample": culture_batch.code,
                    "sample_file": _upload(sample),
                    "control_file": _upload(control),
                },
                format="multipart",
            )
        if endpoint == "POST instrument-files":
            return client.post(
                "/api/v1/instrument-files/",
                {"file": _upload(nanosight), "sample": lot.code, "assay": "NTA"},
                format="multipart",
            )
        path = {
            "run": f"runs/{run.pk}/",
            "instrument-file": f"instrument-files/{received.pk}/",
            "lot-evaluation": f"lots/{lot.pk}/evaluation/",
            "batch-evaluation": f"culture-batches/{culture_batch.pk}/evaluation/",
            "certificate": f"lots/{lot.pk}/certificate/",
        }.get(name, f"{name}/")
        prefix = "/api/" if name == "schema" else "/api/v1/"
        return client.get(prefix + path)

    return clients, call


def _upload(data: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("beads.csv", data, content_type="text/csv")


@pytest.mark.parametrize("endpoint", list(MATRIX))
def test_permission_matrix(world, endpoint):
    clients, call = world
    expected = dict(zip(CALLERS, MATRIX[endpoint], strict=True))

    got = {}
    for caller in CALLERS:
        response = call(clients[caller], endpoint)
        body = response.json() if response.get("Content-Type", "").endswith("json") else {}
        code = body.get("code") if response.status_code >= 400 else None
        got[caller] = (response.status_code, code)

    assert got == expected


def test_401_names_the_scheme_and_malformed_keys_are_refused(world):
    response = APIClient().get("/api/v1/runs/")
    assert response["WWW-Authenticate"] == 'Api-Key realm="api"'

    for header in (
        "Api-Key nonsense",
        "Api-Key abcdefgh.0123456789abcdef0123456789abcdef",
        "Api-Key " + "x" * 5000,
        "Api-Key abc\x00defg.0123456789abcdef0123456789abcdef",
    ):
        response = APIClient().get("/api/v1/runs/", HTTP_AUTHORIZATION=header)
        assert (response.status_code, response.json()["code"]) == (401, "invalid_api_key")


def test_browser_session_posting_without_csrf_token_is_403(technician, lot):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(technician)

    response = client.post("/api/v1/runs/", a_run(lot.code), format="json")

    assert (response.status_code, response.json()["code"]) == (403, "csrf_failed")
