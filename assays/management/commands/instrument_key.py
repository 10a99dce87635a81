"""`python manage.py instrument_key <instrument-code>`: issue (and print once) an API key.

    python manage.py instrument_key NTA-01                 # a new key, valid INSTRUMENT_KEY_DAYS
    python manage.py instrument_key NTA-01 --days 90
    python manage.py instrument_key NTA-01 --revoke-all --reason "Laptop stolen"   # rotate
    python manage.py instrument_key NTA-01 --revoke-all --reason "..." --no-new-key

The key goes to stdout alone (so `KEY=$(python manage.py instrument_key NTA-01)` works); what
happened goes to stderr. The key is stored hashed: this is the only time it can be read. The
audit trail names the installation's `system` account, and the reason "Key issued from the
command line".
"""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from assays import services
from assays.models import Instrument
from lims.models import User, system_user

REASON = "Key issued from the command line"


class Command(BaseCommand):
    help = "Issue an API key for an instrument (printed once), optionally revoking its others."

    def add_arguments(self, parser):
        parser.add_argument("instrument", help="Instrument code, e.g. NTA-01.")
        parser.add_argument("--days", type=int, help="Days the key is valid (default: setting).")
        parser.add_argument(
            "--revoke-all", action="store_true", help="Revoke the instrument's other keys first."
        )
        parser.add_argument("--reason", default="", help="Why the keys are revoked (required).")
        parser.add_argument(
            "--no-new-key", action="store_true", help="With --revoke-all: issue no new key."
        )

    def handle(self, *args, instrument, days, revoke_all, reason, no_new_key, **options):
        if days is not None and days < 1:
            raise CommandError("--days must be at least 1.")
        if revoke_all and not reason.strip():
            raise CommandError('--revoke-all needs --reason "why the keys are revoked".')
        if no_new_key and not revoke_all:
            raise CommandError("--no-new-key only makes sense with --revoke-all.")
        found = Instrument.objects.filter(code=instrument).first()
        if found is None:
            raise CommandError(f"No instrument '{instrument}'.")
        try:
            system = system_user()
        except User.DoesNotExist as exc:
            raise CommandError("The 'system' account is missing: run `manage.py migrate`.") from exc
        expiry = timezone.now() + timezone.timedelta(days=days) if days else None
        try:
            with transaction.atomic():
                revoked = 0
                if revoke_all:
                    for key in found.api_keys.filter(revoked=False).order_by("pk"):
                        services.instrument_key_revoke(actor=system, key=key, reason=reason)
                        revoked += 1
                plain = None
                if not no_new_key:
                    key, plain = services.instrument_key_issue(
                        actor=system, instrument=found, expiry_date=expiry, reason=REASON
                    )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        if revoke_all:
            self.stderr.write(f"Revoked {revoked} key(s) of {found.code}.")
        if plain is not None:
            self.stderr.write(
                f"New key '{key.name}' for {found.code}, valid until "
                f"{timezone.localtime(key.expiry_date):%Y-%m-%d %H:%M}. It is shown only now; "
                "send it as `Authorization: Api-Key <key>`."
            )
            self.stdout.write(plain)
