"""Human-readable identifiers (`MSC-2026-0001`) from configurable patterns.

The counter is one row per (kind, year) advanced with a single INSERT ... ON CONFLICT DO UPDATE
... RETURNING: PostgreSQL serialises concurrent increments on the row lock, so two technicians
creating batches at the same moment always get different numbers, and a rolled-back creation
simply leaves a gap (gaps are acceptable; duplicates are not).
"""

from django.conf import settings
from django.db import connection
from django.utils import timezone


def next_identifier(kind: str) -> str:
    pattern = settings.LIMS_ID_PATTERNS[kind]
    year = timezone.now().year
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO lims_identifiersequence (kind, year, last_value) VALUES (%s, %s, 1)
            ON CONFLICT (kind, year)
            DO UPDATE SET last_value = lims_identifiersequence.last_value + 1
            RETURNING last_value
            """,
            [kind, year],
        )
        (seq,) = cursor.fetchone()
    return pattern.format(year=year, seq=seq)
