"""The load test's data, written through the application's own services as the app role: the
demo data, an instrument qualified for NTA and an API key for it. Prints what the load needs
(key, lot codes) as one JSON line."""

import json
import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lims.settings")
django.setup()

from django.core.management import call_command  # noqa: E402

from assays import services  # noqa: E402
from batches.models import ExosomeLot  # noqa: E402
from lims.models import User  # noqa: E402

call_command("seed_demo", verbosity=0)
admin = User.objects.get(username="admin")
instrument = services.instrument_register(
    actor=admin,
    code="NTA-LOAD",
    instrument_type="Nanoparticle tracking",
    make="Malvern",
    model="NanoSight NS300",
    serial_number="LOAD-1",
    location="QC lab",
    assay_codes=["NTA"],
)
_, key = services.instrument_key_issue(actor=admin, instrument=instrument, name="load test")
lots = list(ExosomeLot.objects.exclude(status="released").values_list("code", flat=True)[:5])
print(json.dumps({"key": key, "lots": lots}))
