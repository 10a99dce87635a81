"""Schemathesis against the OpenAPI document: every operation, generated requests, every check.

The document is fetched from the running application with a valid key of an instrument
qualified for every assay; each generated request must give an answer the document describes
(status, content type, headers, body) and never a 5xx.
"""

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationConfig
from schemathesis.checks import ALL_CHECKS
from schemathesis.specs.openapi.checks import ignored_auth

from tests.api import hypothesis_compat
from tests.api.conftest import issue_key, register_instrument

hypothesis_compat.install()

# The key the fixture issued, sent with every generated request.
AUTH: dict[str, str] = {}
# Every check but ignored_auth, which crashes inside schemathesis 3.39 (its own
# _remove_auth_from_case leaves case.cookies None, then writes into it). What it checks, that
# no operation answers without valid credentials, test_permission_matrix checks per endpoint.
CHECKS = tuple(check for check in ALL_CHECKS if check is not ignored_auth)


@pytest.fixture
def api_schema(admin_user, technician):
    from lims.wsgi import application
    from tests import factories

    factories.lot(technician)  # a lot and a culture batch for the lists to show
    key = issue_key(admin_user, register_instrument(admin_user))
    AUTH["Authorization"] = f"Api-Key {key}"
    # Requests carry the valid key; credentials themselves are not generated (a generated
    # `sessionid` cookie with a NUL byte crashes Django's session store site-wide, before any
    # API code runs: see test_session_cookie_with_a_nul_byte below).
    return schemathesis.from_wsgi(
        "/api/schema/",
        application,
        headers=AUTH,
        generation_config=GenerationConfig(with_security_parameters=False),
    )


schema = schemathesis.from_pytest_fixture("api_schema")


@pytest.mark.django_db(transaction=True)
@schema.parametrize()
@settings(
    # Modest by default (about a minute); API_FUZZ_EXAMPLES=500 for a deeper run.
    max_examples=int(os.environ.get("API_FUZZ_EXAMPLES", "25")),
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)
def test_api_conforms_to_its_openapi_document(case):
    case.call_and_validate(headers=AUTH, checks=CHECKS)


@pytest.mark.django_db
def test_session_cookie_with_a_nul_byte_is_not_a_server_error(client_for_key):
    client_for_key.raise_request_exception = False

    response = client_for_key.post(
        "/api/v1/runs/", {}, format="json", HTTP_COOKIE="sessionid=abcdefgh\x00ijklmnop"
    )

    assert response.status_code < 500
