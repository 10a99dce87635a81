"""manage.py audit_verify: seal new audit events, verify the whole chain, report the first break."""

from django.core.management.base import BaseCommand, CommandError

from lims import audit_chain


class Command(BaseCommand):
    help = (
        "Seal the audit events committed since the last seal, recompute every link of the audit "
        "chain and report the first broken one (exit status 1). The result is recorded and "
        "shown on the audit trail page."
    )

    def handle(self, *args, **options):
        result = audit_chain.check()
        if not result.intact:
            raise CommandError(
                f"Audit chain BROKEN after {result.links} intact links: {result.first_break}"
            )
        self.stdout.write(f"Audit chain intact: {result.links} links, head {result.head}.")
