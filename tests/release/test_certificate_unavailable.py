"""A certificate whose stored bytes are gone or altered is answered with a clear 409 (page and
API), never a 500 and never other bytes (issue 11 item 4)."""

from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from release.models import CertificateOfAnalysis
from tests.release.helpers import dispose

pytestmark = pytest.mark.django_db


@pytest.fixture
def stored_certificate(passing, qa_approver):
    dispose(qa_approver, passing.lot)
    certificate = CertificateOfAnalysis.objects.get(lot=passing.lot)
    return certificate, Path(settings.MEDIA_ROOT) / certificate.storage_name


def _client(user) -> Client:
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


@pytest.mark.parametrize("damage", ["altered", "missing"])
def test_a_damaged_certificate_is_409_on_the_page_and_in_the_api(
    stored_certificate, qa_approver, damage
):
    certificate, stored = stored_certificate
    if damage == "altered":
        stored.write_bytes(stored.read_bytes() + b"%tampered")
    else:
        stored.unlink()
    client = _client(qa_approver)
    client.raise_request_exception = False

    page = client.get(reverse("release:certificate", args=[certificate.lot_id]))
    api = client.get(f"/api/v1/lots/{certificate.lot_id}/certificate/")

    assert page.status_code == 409
    html = page.content.decode()
    assert "cannot be served" in html and certificate.sha256 in html
    assert ("missing" if damage == "missing" else "no longer match") in html
    assert page["Content-Type"].startswith("text/html")
    assert api.status_code == 409
    assert api.json()["code"] == "original_unavailable"
    assert certificate.sha256 in api.json()["message"]
