"""Write a generated history of a busy site (release.history), for measuring at scale."""

from django.core.management.base import BaseCommand

from release.history import SCALES, generate


class Command(BaseCommand):
    help = (
        "Generate a seeded, reproducible history of a busy site (lots, vials, runs, results, "
        "metrics, dispositions, with their audit trail); run again to append another."
    )

    def add_arguments(self, parser):
        parser.add_argument("--years", type=int, default=10)
        parser.add_argument("--scale", choices=sorted(SCALES), default="busy")
        parser.add_argument("--seed", type=int, default=14)

    def handle(self, *args, years, scale, seed, **options):
        timings = generate(years=years, scale=scale, seed=seed, log=self.stdout.write)
        rows = sum(t.rows for t in timings)
        seconds = sum(t.seconds for t in timings)
        self.stdout.write(
            f"{rows} rows in {seconds:.1f} s ({rows / max(seconds, 1e-9):.0f} rows/s)"
        )
