"""Electronic signatures: re-authentication, manifestation and binding to the signed content.

21 CFR 11.200(a): each signing asks for the user ID and password again, through Django's
authenticate(), so django-axes counts failures and locks the account (11.300(d)). 11.50: the
signature shows the printed name, date and time with the zone, and the meaning. 11.70: it is
bound to the record by a hash of the record's canonical content, so a later change of the
record shows the signature as no longer valid.
"""

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth import authenticate
from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import ValidationError
from django.utils import timezone

from lims.audit import audit_context
from lims.models import Signature
from lims.signin import SIGNING, asking_password_for


class SignatureRefused(ValidationError):
    """Re-authentication failed or the signer may not sign this."""


def _default(value):
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value.normalize())
    return str(value)


def format_signed_time(value: datetime | None) -> str:
    """A signature's time in the site's time zone, with the zone named (21 CFR 11.50(a)(2)):
    the one format of pages, certificates and the API."""
    if not value:
        return ""
    local = timezone.localtime(value)
    zone = timezone.get_current_timezone_name()
    abbreviation = local.strftime("%Z")
    named = abbreviation if abbreviation == zone else f"{abbreviation} ({zone})"
    return f"{local:%Y-%m-%d %H:%M:%S} {named}"


def canonical_json(content: dict) -> str:
    """Sorted keys, no insignificant whitespace, dates in ISO 8601: the same content always
    gives the same bytes."""
    return json.dumps(
        content, sort_keys=True, separators=(",", ":"), default=_default, ensure_ascii=False
    )


def content_hash(content: dict) -> str:
    return hashlib.sha256(canonical_json(content).encode()).hexdigest()


def record_key(record) -> tuple[str, str]:
    return record._meta.label, str(record.pk)


# How long a re-authentication stays good for the signature it was asked for: the signing form
# posts both at once, so a few minutes is ample, and an old Signer cannot be kept and reused.
SIGNER_VALID_FOR = timedelta(minutes=5)
_ISSUED = object()


@dataclass(frozen=True)
class Signer:
    """A person who has just proved who they are to sign with a given meaning (11.200).

    Only `reauthenticate` makes one; services that sign take it instead of a request and a
    password, so signing needs no HTTP and a service cannot be called to sign without it.
    """

    user: Any
    meaning: str
    at: datetime
    _proof: object = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self._proof is not _ISSUED:
            raise TypeError("A Signer comes only from lims.signatures.reauthenticate().")
        if self.meaning not in Signature.Meaning.values:
            raise ValueError(f"Unknown signature meaning {self.meaning!r}.")


def reauthenticate(*, request, username: str, password: str, meaning: str) -> Signer:
    """The signed-in user again, as a Signer for `meaning`, or SignatureRefused; every refusal
    counts as a failed login (django-axes, 11.300(d)).

    Call it before the transaction of the signed change opens: a refusal inside it would roll
    back django-axes' record of the failed attempt with everything else.
    """
    expected = request.user.get_username()
    # A refusal is logged as a failed signing, not as a failed sign-in (lims.signin).
    asking_password_for(request, SIGNING)
    if not password:
        user_login_failed.send(sender=__name__, credentials={"username": expected}, request=request)
        raise SignatureRefused({"password": "Enter your password to sign."})
    user = authenticate(request=request, username=username, password=password)
    if user is None:
        if getattr(request, "axes_locked_out", False):
            raise SignatureRefused(
                {"password": "This account is locked after repeated failed attempts."}
            )
        raise SignatureRefused({"password": "User ID or password is not correct."})
    if user.pk != request.user.pk:
        # Someone else's valid credentials: refused, and counted against the signed-in account.
        user_login_failed.send(sender=__name__, credentials={"username": expected}, request=request)
        raise SignatureRefused(
            {"username": "Sign with your own user ID: signatures cannot be delegated."}
        )
    return Signer(user=user, meaning=meaning, at=timezone.now(), _proof=_ISSUED)


def sign(*, signer: Signer, record, content: dict, comment: str = "") -> Signature:
    """Store a signature of `signer` bound to `content` (call inside the transaction that
    makes the signed change)."""
    if not isinstance(signer, Signer):
        raise TypeError("sign() needs a Signer from reauthenticate().")
    if timezone.now() - signer.at > SIGNER_VALID_FOR:
        raise SignatureRefused({"password": "The signature expired: enter your password again."})
    if not signer.user.is_active:
        raise SignatureRefused("This account is deactivated and cannot sign.")
    record_type, record_id = record_key(record)
    signature = Signature(
        signer=signer.user,
        printed_name=signer.user.get_full_name() or signer.user.get_username(),
        meaning=signer.meaning,
        comment=comment,
        signed_at=signer.at,
        record_type=record_type,
        record_id=record_id,
        content_sha256=content_hash(content),
        content=json.loads(canonical_json(content)),
    )
    signature.full_clean()
    with audit_context(actor=signer.user, reason=f"Signed: {signature.get_meaning_display()}"):
        signature.save()
    return signature


def record_types(model) -> list[str]:
    """The labels a model's signatures may carry: its own, and the one it had when it lived in
    another app (`former_label`): signatures are immutable, so they keep the label they were
    made with."""
    former = getattr(model, "former_label", None)
    return [model._meta.label, *([former] if former else [])]


def signatures_of(record):
    return Signature.objects.filter(
        record_type__in=record_types(type(record)), record_id=str(record.pk)
    ).order_by("signed_at", "pk")


def is_valid(signature: Signature, current_content: dict) -> bool:
    """Whether the record still has the content that was signed."""
    return content_hash(current_content) == signature.content_sha256
