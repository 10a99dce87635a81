"""Every error of the instrument API: its HTTP status, its stable code and what it means.

An error response is always JSON of one shape::

    {"code": "<stable_code>", "message": "<human text>", "errors": {"<field>": ["<message>"]}}

`code` never changes once published (instrument software branches on it); `message` is for a
person and may be reworded; `errors` names the fields at fault (nested fields as
``results[2].value``, errors not tied to a field under ``non_field_errors``), and is empty when
no field is at fault.

400 or 422? **400** means the request itself is wrong and could be judged without looking at
any record: JSON that does not parse, a missing or mistyped field, a string too long, a date in
the future. **422** means the request is well formed but the LIMS refuses it by its records or
its GMP rules: the instrument is out of service or past its calibration due date, a reagent lot
has expired, the lot is released and takes no new results, the sample, analyte or referenced
record does not exist, the unit cannot be converted to the analyte's unit. A 422 is not fixed by
resending: someone has to act (calibrate, fix the sample identifier, choose another lot).
"""

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, IntegrityError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response

# status → {code: what it means}. The OpenAPI document and README are generated from this.
ERROR_CODES: dict[int, dict[str, str]] = {
    400: {
        "validation_error": "A field is missing, of the wrong type, too long or out of range; "
        "`errors` names each field.",
        "malformed_request": "The body cannot be read: JSON that does not parse, a broken "
        "multipart body, a header of the wrong form.",
        "offset_beyond_window": "`offset` + `limit` is past the first 10,000 rows of a list "
        "that grows with the history (the most served by offset); `errors` names `offset`. "
        "Follow the `next` links: past the window they carry a `cursor` and reach every row.",
    },
    401: {
        "not_authenticated": "No credentials: send `Authorization: Api-Key <key>`.",
        "invalid_api_key": "The API key is unknown or malformed.",
        "api_key_revoked": "The API key was revoked; ask an administrator for a new one.",
        "api_key_expired": "The API key has expired; ask an administrator for a new one.",
    },
    403: {
        "permission_denied": "The signed-in account has no role that allows this.",
        "instrument_key_required": "Results come only from registered instruments "
        "(21 CFR 11.10(h)): post with the instrument's API key; people use the browser forms.",
        "assay_not_allowed_for_instrument": "The key's instrument is not registered for this "
        "assay.",
        "person_required": "An instrument key reads only what it needs to post results (lots, "
        "culture batches, vials, assays, instruments, runs, results, its files); release records "
        "(specifications, evaluations, deviations, signatures, certificates) need a signed-in "
        "person.",
        "csrf_failed": "A browser session posted without a valid CSRF token.",
    },
    404: {"not_found": "No such resource, or not one this key may see."},
    405: {"method_not_allowed": "The endpoint does not accept this HTTP method."},
    406: {"not_acceptable": "The API answers only `application/json`."},
    409: {
        "idempotency_request_in_progress": "A request with this Idempotency-Key is still being "
        "processed; retry later.",
        "conflict": "The request conflicts with a record written at the same moment; retry.",
        "original_unavailable": "The stored original (an instrument file or a certificate) is "
        "missing from the file store or no longer matches its SHA-256; nothing else is served "
        "in its place. Tell the LIMS administrator.",
    },
    413: {
        "payload_too_large": "The body or file is larger than its limit: a JSON body "
        "`API_JSON_MAX_BYTES` (5 MB), an uploaded file `FILE_UPLOAD_MAX_BYTES` (100 MB).",
        "archive_too_large": "The uploaded zip container (xlsx...) would expand beyond "
        "`ARCHIVE_MAX_UNCOMPRESSED_BYTES`, `ARCHIVE_MAX_RATIO` or `ARCHIVE_MAX_MEMBERS`; it is "
        "refused unopened (`errors` names the field).",
    },
    415: {"unsupported_media_type": "The Content-Type is not one this endpoint reads."},
    422: {
        "unprocessable": "Well formed, but refused by the LIMS records or GMP rules (instrument "
        "out of service or calibration overdue, expired reagent lot, locked lot, unknown sample "
        "or analyte, unit not convertible...); `errors` says which and why.",
        "idempotency_key_reused": "This Idempotency-Key was already used for a different "
        "request (another body or endpoint).",
    },
    429: {"throttled": "Too many requests from this instrument; see Retry-After."},
}

NON_FIELD = "non_field_errors"
log = logging.getLogger(__name__)


def _codes(status_code: int) -> set[str]:
    return set(ERROR_CODES[status_code])


# --- Exceptions raised by the API (each with its status and code) ----------------------------


class InvalidApiKey(exceptions.AuthenticationFailed):
    default_detail = "The API key is unknown or malformed."
    default_code = "invalid_api_key"


class ApiKeyRevoked(exceptions.AuthenticationFailed):
    default_detail = "This API key was revoked."
    default_code = "api_key_revoked"


class ApiKeyExpired(exceptions.AuthenticationFailed):
    default_detail = "This API key has expired."
    default_code = "api_key_expired"


class AssayNotAllowed(exceptions.PermissionDenied):
    default_code = "assay_not_allowed_for_instrument"


class MalformedRequest(exceptions.ParseError):
    default_code = "malformed_request"


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request is larger than the upload limit."
    default_code = "payload_too_large"


class IdempotencyInProgress(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = (
        "A request with this Idempotency-Key is still being processed; retry in a moment."
    )
    default_code = "idempotency_request_in_progress"


class IdempotencyKeyReused(exceptions.APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = "This Idempotency-Key was already used for a different request; use a new key."
    default_code = "idempotency_key_reused"


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with a record written at the same moment; retry."
    default_code = "conflict"


class OriginalUnavailable(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The stored original is missing or no longer matches its SHA-256."
    default_code = "original_unavailable"


class RefusedWithErrors(exceptions.APIException):
    """A service's refusal (a django ValidationError) answered with its field errors."""

    def __init__(self, errors: dict[str, list[str]]):
        self.errors = errors
        messages = [m for field_messages in errors.values() for m in field_messages]
        super().__init__(detail=" ".join(messages) or self.default_detail)


class Unprocessable(RefusedWithErrors):
    """A business-rule refusal (a django ValidationError from a service), with field errors."""

    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = "The request was refused by the LIMS rules."
    default_code = "unprocessable"


class ArchiveTooLarge(RefusedWithErrors):
    """A zip container (xlsx) that would inflate beyond the limits (assays.parsers.archive)."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The archive would expand beyond the limits."
    default_code = "archive_too_large"


class OffsetBeyondWindow(RefusedWithErrors):
    """An `offset` deeper than a long list serves (assays.api.pagination.OFFSET_WINDOW)."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "The offset is past the rows this list serves by offset."
    default_code = "offset_beyond_window"


# A service's ValidationError carrying one of these codes is answered with its own status.
VALIDATION_CODE_EXCEPTIONS: dict[str, type[RefusedWithErrors]] = {
    "archive_too_large": ArchiveTooLarge,
}


# --- The exception handler -------------------------------------------------------------------


def exception_handler(exc, context):
    """DRF exception handler: every error as {"code", "message", "errors"}.

    Exceptions this does not know (programming errors) return None and become a 500.
    """
    # Imported here: DRF imports the authentication classes (and so this module) while
    # rest_framework.views itself is still being imported.
    from rest_framework.views import set_rollback  # noqa: PLC0415

    exc = _as_api_exception(exc)
    if exc is None:
        return None
    code, message, errors = _describe(exc)
    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = f"{exc.wait:.0f}"
    set_rollback()
    return Response(
        {"code": code, "message": message, "errors": errors},
        status=exc.status_code,
        headers=headers,
    )


def _as_api_exception(exc) -> exceptions.APIException | None:
    if isinstance(exc, exceptions.APIException):
        return exc
    if isinstance(exc, Http404):
        return exceptions.NotFound("Not found.")
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied(*exc.args)
    if isinstance(exc, RequestDataTooBig):
        return PayloadTooLarge()
    if isinstance(exc, SuspiciousOperation):
        # Too many form fields or files, a malformed Host header...: Django's own refusals.
        return MalformedRequest("The request is malformed.")
    if isinstance(exc, DjangoValidationError):
        refusal = next(
            (
                VALIDATION_CODE_EXCEPTIONS[c]
                for c in _codes_of(exc)
                if c in VALIDATION_CODE_EXCEPTIONS
            ),
            Unprocessable,
        )
        return refusal(django_errors(exc))
    if isinstance(exc, IntegrityError):
        # A unique or foreign-key check lost a race with another request.
        log.warning("Answered 409 to an IntegrityError: %s", exc)
        return Conflict()
    if isinstance(exc, DataError):
        # The database refused a value the serializers let through: a safety net, and a sign
        # that a serializer misses a limit (hence the log).
        log.warning("Answered 400 to a DataError: %s", exc)
        return exceptions.ValidationError({NON_FIELD: ["A value is out of range for the LIMS."]})
    return None


def _codes_of(exc: DjangoValidationError) -> list[str]:
    if hasattr(exc, "error_dict"):
        return [e.code for errors in exc.error_dict.values() for e in errors if e.code]
    return [e.code for e in exc.error_list if e.code]


def _describe(exc: exceptions.APIException) -> tuple[str, str, dict[str, list[str]]]:
    if isinstance(exc, RefusedWithErrors):
        return exc.default_code, str(exc.detail), exc.errors
    if isinstance(exc, exceptions.ValidationError):
        errors = flatten_errors(exc.detail)
        return "validation_error", _validation_message(errors), errors
    if isinstance(exc, exceptions.ParseError):
        return "malformed_request", str(exc.detail), {}
    message = str(exc.detail) if not isinstance(exc.detail, list | dict) else exc.default_detail
    code = exc.get_codes() if isinstance(exc.detail, str) else exc.default_code
    if isinstance(exc, exceptions.PermissionDenied) and message.startswith("CSRF Failed"):
        code = "csrf_failed"
    if not isinstance(code, str) or code not in _codes(exc.status_code):
        code = _fallback_code(exc)
    return code, message, {}


def _fallback_code(exc: exceptions.APIException) -> str:
    """The status's first code, for exceptions raised with a code this API does not publish."""
    return next(iter(ERROR_CODES.get(exc.status_code, {"error": ""})))


def _validation_message(errors: dict[str, list[str]]) -> str:
    if list(errors) == [NON_FIELD]:
        return " ".join(errors[NON_FIELD])
    fields = ", ".join(sorted(errors))
    return f"Invalid input: see the errors of {fields}." if fields else "Invalid input."


def flatten_errors(detail, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error detail as {"field": [...], "results[1].value": [...]}."""
    flat: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            if isinstance(key, int):  # ListField and ListSerializer items: {index: errors}
                path = f"{prefix}[{key}]"
            else:
                name = NON_FIELD if key == "non_field_errors" and not prefix else str(key)
                path = f"{prefix}.{name}" if prefix else name
            for k, v in flatten_errors(value, path).items():
                flat.setdefault(k, []).extend(v)
    elif isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            if detail:
                flat[prefix or NON_FIELD] = [str(item) for item in detail]
        else:
            for index, item in enumerate(detail):
                for k, v in flatten_errors(item, f"{prefix}[{index}]").items():
                    flat.setdefault(k, []).extend(v)
    elif detail not in (None, ""):
        flat[prefix or NON_FIELD] = [str(detail)]
    return flat


def django_errors(exc: DjangoValidationError) -> dict[str, list[str]]:
    """A service's ValidationError as {field: [messages]} (__all__ → non_field_errors)."""
    if hasattr(exc, "error_dict"):
        return {
            (NON_FIELD if field == "__all__" else field): [str(m) for m in messages]
            for field, messages in exc.message_dict.items()
        }
    return {NON_FIELD: [str(m) for m in exc.messages]}
