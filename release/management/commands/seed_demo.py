from django.core.management.base import BaseCommand

from release.demo import DEMO_USERS, seed_demo


class Command(BaseCommand):
    help = "Load demo users and production records (idempotent)."

    def handle(self, *args, **options):
        created = seed_demo()
        self.stdout.write("Demo data loaded." if created else "Demo data already present.")
        self.stdout.write("Demo sign-in (development only):")
        for username, role, _, password in DEMO_USERS:
            self.stdout.write(f"  {role:<11} username {username:<8} password {password}")
