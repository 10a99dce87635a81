"""Human-readable identifiers (`MSC-2026-0001`) from configurable patterns, and what an
identifier may contain.

The counter is one row per (kind, year) advanced with a single INSERT ... ON CONFLICT DO UPDATE
... RETURNING: PostgreSQL serialises concurrent increments on the row lock, so two technicians
creating batches at the same moment always get different numbers, and a rolled-back creation
simply leaves a gap (gaps are acceptable; duplicates are not).

Identifiers typed by people or sent by instruments (donor codes, lot numbers, positions,
instrument codes, usernames, sample identifiers...) are refused when they hold a character
that changes how they read without showing itself: the bidirectional embeddings, overrides and
isolates (U+202A-U+202E, U+2066-U+2069: "EXO-2026-0001" displayed from a different string,
Unicode Technical Report #36, Unicode Security Considerations, §2; CVE-2021-42574) and the
zero-width characters (U+200B-U+200D, U+2060, U+FEFF: two identifiers that print the same).
"""

import unicodedata
from collections.abc import Iterable

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import connection
from django.utils import timezone

INVISIBLE_CHARACTERS = frozenset(
    chr(code)
    for code in (
        *range(0x202A, 0x202F),  # LRE, RLE, PDF, LRO, RLO
        *range(0x2066, 0x206A),  # LRI, RLI, FSI, PDI
        0x200B,  # zero width space
        0x200C,  # zero width non-joiner
        0x200D,  # zero width joiner
        0x2060,  # word joiner
        0xFEFF,  # zero width no-break space (byte order mark)
    )
)


def invisible_characters(value: str) -> list[str]:
    """The invisible or direction-changing characters in `value`, each once, in order."""
    return sorted({ch for ch in value if ch in INVISIBLE_CHARACTERS})


def validate_visible(value) -> None:
    """A validator (models, forms, DRF serializers): refuse an identifier holding an invisible
    or direction-changing character, naming it."""
    if not isinstance(value, str):
        return
    found = invisible_characters(value)
    if found:
        names = ", ".join(
            f"U+{ord(ch):04X} {unicodedata.name(ch, 'FORMAT CHARACTER')}" for ch in found
        )
        raise ValidationError(
            f"Contains an invisible or direction-changing character ({names}): an identifier "
            "must read exactly as it is stored. Type it again without it.",
            code="invisible_character",
        )


def identifier_errors(instance, fields: Iterable[str], exclude=None) -> dict[str, list[str]]:
    """{field: [message]} for the identifier fields of `instance` that validate_visible refuses
    (fields in `exclude` are left out, as Model.clean_fields does)."""
    errors: dict[str, list[str]] = {}
    for name in fields:
        if exclude and name in exclude:
            continue
        try:
            validate_visible(getattr(instance, name))
        except ValidationError as exc:
            errors[name] = exc.messages
    return errors


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
    identifier = pattern.format(year=year, seq=seq)
    if invisible_characters(identifier):
        raise ImproperlyConfigured(
            f"The identifier pattern of {kind} (LIMS_ID_PATTERNS, ID_PATTERN_*) holds an "
            "invisible or direction-changing character."
        )
    return identifier
