"""Instruments, keys and clients for the API tests (built through the services, like real ones)."""

import itertools
import json
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from assays.catalogue import ASSAYS

DATA = Path(__file__).resolve().parents[1] / "data"
ALL_ASSAYS = [code for code, *_ in ASSAYS]
_serial = itertools.count(1)


@pytest.fixture(autouse=True)
def _api_settings(settings):
    """A generous throttle (the throttle test sets its own) and fresh throttle counters."""
    from django.core.cache import cache

    settings.API_THROTTLE_RATE = "100000/minute"
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "files"
    return settings.MEDIA_ROOT


def register_instrument(actor, *, assays=ALL_ASSAYS, code=None):
    from assays import services

    return services.instrument_register(
        actor=actor,
        code=code or f"INS-{next(_serial):03d}",
        instrument_type="Test instrument",
        make="Acme",
        model="QC-1",
        serial_number=f"SN{next(_serial)}",
        location="QC lab",
        assay_codes=list(assays),
    )


def issue_key(actor, instrument, **kwargs) -> str:
    from assays import services

    _, plain = services.instrument_key_issue(actor=actor, instrument=instrument, **kwargs)
    return plain


def key_client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


@pytest.fixture
def instrument(admin_user):
    """An instrument in service, qualified for every assay of the catalogue."""
    return register_instrument(admin_user)


@pytest.fixture
def api_key(admin_user, instrument) -> str:
    return issue_key(admin_user, instrument)


@pytest.fixture
def client_for_key(api_key) -> APIClient:
    return key_client(api_key)


@pytest.fixture
def lot(technician):
    from tests import factories

    return factories.lot(technician)


@pytest.fixture
def culture_batch(technician):
    from tests import factories

    return factories.culture_batch(technician)


def a_run(sample: str, **overrides) -> dict:
    """A valid BCA run body for a lot, naming the BCA kit lot the assay requires."""
    from tests import factories

    body = {
        "assay": "BCA",
        "reagent_lots": factories.reagent_ids_for(overrides.get("assay", "BCA")),
        "started_at": (timezone.now() - timedelta(hours=1)).isoformat(),
        "external_id": "PLATE-42",
        "results": [
            {"sample": sample, "analyte": "protein", "value": 0.12, "unit": "mg/mL"},
            {"sample": sample, "analyte": "absorbance", "value": 0.61, "well": "A1"},
            # The plate's standard curve, as its software reports it (the run's validity
            # criteria: assays.qc.suitability.STANDARD_CURVE).
            {"sample": sample, "analyte": "curve_converged", "value": 1},
            {"sample": sample, "analyte": "standards_in_tolerance_pct", "value": 100},
        ],
    }
    body.update(overrides)
    return body


@pytest.fixture(scope="session")
def vicell_asm() -> dict:
    """The real Vi-CELL BLU export converted to ASM by allotropy, as middleware would post it."""
    from assays.parsers import asm

    data = (DATA / "instruments" / "vicell_blu_example01.csv").read_bytes()
    # Through JSON, as it travels: no Python-only values.
    return json.loads(json.dumps(asm.convert(data, "vicell_blu_example01.csv")))
