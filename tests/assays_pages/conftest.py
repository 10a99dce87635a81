"""Records the assay pages work on, built through the services like real ones."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.test import Client
from django.utils import timezone

from tests import factories

BACKEND = "django.contrib.auth.backends.ModelBackend"
NTA_FILE = Path(__file__).resolve().parents[1] / "data" / "nta" / "nanosight_nta32_beads.csv"


@pytest.fixture(autouse=True)
def _page_test_settings(settings, tmp_path):
    """Originals go to a throwaway store, not the developer's var/files; the personas sign in
    with force_login, so their passwords need no slow hash."""
    settings.MEDIA_ROOT = tmp_path / "files"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user, backend=BACKEND)
    return client


@pytest.fixture
def lot(technician):
    return factories.lot(technician)


@pytest.fixture
def batch(technician):
    return factories.culture_batch(technician)


def register_instrument(admin, code="NTA-01", assay_codes=("NTA", "BCA"), due_in_days=200):
    from assays import services

    instrument = services.instrument_register(
        actor=admin,
        code=code,
        instrument_type="Particle tracker",
        make="Malvern",
        model="NanoSight NS300",
        serial_number=f"SN-{code}",
        location="QC lab 2",
        assay_codes=list(assay_codes),
    )
    if due_in_days is not None:
        today = timezone.localdate()
        services.instrument_log(
            actor=admin,
            instrument=instrument,
            kind="calibration",
            performed_on=today - timedelta(days=10),
            due_on=today + timedelta(days=due_in_days),
            performed_by="Malvern service",
        )
    return instrument


@pytest.fixture
def instrument(admin_user):
    return register_instrument(admin_user)


def record_run(actor, sample, *, assay="BCA", value=120.0, **kwargs):
    """A run of `assay` entered by hand, with the reagent lots the assay requires."""
    from assays import services

    kwargs.setdefault("reagent_lots", factories.reagents_for(assay, actor=actor))
    return services.run_record(
        actor=actor,
        source="manual",
        assay_code=assay,
        started_at=timezone.now() - timedelta(hours=1),
        results=factories.with_run_controls(
            assay, [services.ResultInput(sample=sample, analyte="protein", value=value)]
        ),
        **kwargs,
    )


@pytest.fixture
def run(technician, lot):
    return record_run(technician, lot.code)


@pytest.fixture
def received_file(technician, lot, instrument):
    """An NTA export received for the lot; never parsed (its on-commit task does not run)."""
    from assays import services

    return services.instrument_file_receive(
        data=NTA_FILE.read_bytes(),
        filename=NTA_FILE.name,
        sample_identifier=lot.code,
        assay_code="NTA",
        instrument=instrument,
        uploaded_by=technician,
    )
