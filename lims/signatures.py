"""Electronic signatures: re-authentication, manifestation and binding to the signed content.

21 CFR 11.200(a): each signing asks for the user ID and password again, through Django's
authenticate(), so django-axes counts failures and locks the account (11.300(d)). 11.50: the
signature shows the printed name, date and time with the zone, and the meaning. 11.70: it is
bound to the record by a hash of the record's canonical content, so a later change of the
record shows the signature as no longer valid.
"""

import hashlib
import json
from datetime import UTC, date, datetime
from decimal import Decimal

from django.contrib.auth import authenticate
from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import ValidationError
from django.utils import timezone

from lims.audit import audit_context
from lims.models import Signature


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


def reauthenticate(*, request, username: str, password: str):
    """The signing user again, or SignatureRefused; every refusal counts as a failed login."""
    expected = request.user.get_username()
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
    return user


def sign(
    *, request, username: str, password: str, meaning: str, record, content: dict, comment: str = ""
) -> Signature:
    """Re-authenticate and store a signature bound to `content` (call inside the transaction
    that makes the signed change)."""
    signer = reauthenticate(request=request, username=username, password=password)
    record_type, record_id = record_key(record)
    signature = Signature(
        signer=signer,
        printed_name=signer.get_full_name() or signer.get_username(),
        meaning=meaning,
        comment=comment,
        signed_at=timezone.now(),
        record_type=record_type,
        record_id=record_id,
        content_sha256=content_hash(content),
        content=json.loads(canonical_json(content)),
    )
    signature.full_clean()
    with audit_context(actor=signer, reason=f"Signed: {signature.get_meaning_display()}"):
        signature.save()
    return signature


def signatures_of(record):
    record_type, record_id = record_key(record)
    return Signature.objects.filter(record_type=record_type, record_id=record_id).order_by(
        "signed_at", "pk"
    )


def is_valid(signature: Signature, current_content: dict) -> bool:
    """Whether the record still has the content that was signed."""
    return content_hash(current_content) == signature.content_sha256
