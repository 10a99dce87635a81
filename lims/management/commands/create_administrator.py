"""manage.py create_administrator: the first administrator of an installation (and a way back in
should every administrator's password be lost), through lims.user_admin like the Users pages.

Django's createsuperuser makes a superuser without any role, whom the product's pages do not
treat as an administrator, and writes no reason. This command creates a person with the
administrator role, a temporary password printed once that they must change at their first
sign-in, and an audit entry by the system account with the reason given (21 CFR 11.10(e)).
"""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from lims import user_admin
from lims.models import system_user
from lims.roles import ADMIN


class Command(BaseCommand):
    help = (
        "Create a person with the administrator role and print a temporary password, to be "
        "changed at the first sign-in. The creation is audited with the reason given."
    )

    def add_arguments(self, parser):
        parser.add_argument("username", help="The user ID (never reused)")
        parser.add_argument("--first-name", required=True)
        parser.add_argument("--last-name", required=True)
        parser.add_argument("--email", default="")
        parser.add_argument(
            "--reason",
            default="First administrator of the installation",
            help="Why (kept in the audit trail)",
        )

    def handle(self, *args, **options):
        try:
            created = user_admin.user_create(
                actor=system_user(),
                username=options["username"],
                first_name=options["first_name"],
                last_name=options["last_name"],
                email=options["email"],
                roles=[ADMIN],
                reason=options["reason"],
            )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        self.stdout.write(
            f"Administrator {created.user.username} created. Temporary password (shown once, "
            f"to be changed at the first sign-in): {created.temporary_password}"
        )
