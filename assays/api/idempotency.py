"""`Idempotency-Key` for every POST: a retry replays the first answer instead of redoing the work.

An instrument that loses the answer to a POST (timeout, dropped connection) resends it with the
same key; the LIMS must not record the run twice. Per (principal, key) one `IdempotencyRecord`:

1. the first request inserts the record (completed=False) in its own short transaction,
   committed before any work, so the unique constraint on (principal, key) is the arbiter
   between requests sent at the same moment: exactly one of them inserts it;
2. it then does the work and stores the status and JSON body (completed=True);
3. a retry with the same key and the same request (hash of method, path and body) gets that
   response again, marked `Idempotent-Replayed: true`; with a different request, 422
   `idempotency_key_reused`; while the first is still working, 409
   `idempotency_request_in_progress`.

4xx answers are stored and replayed (resending an invalid request gives the same refusal); on
a 5xx or an exception the record is deleted so the client can retry.

A request that dies without an answer (its worker killed: SIGKILL, the OOM killer, gunicorn's
timeout or max-requests restart) cannot delete its record. So a claim is a *lease*: the record
holds the key until `lease_until` (settings.IDEMPOTENCY_LEASE_SECONDS, 30 s), which a thread
of the request renews every third of that while the request runs. A dead request stops
renewing, and once its lease has run out a retry with the same key takes the record over (one
taker wins: the take-over is a conditional UPDATE) instead of answering 409 for minutes. The
claim's `created_at` is its generation: a renewal or an answer of a request whose claim was
taken over changes nothing.
"""

import functools
import hashlib
import json
import logging
import re
import threading

from django.conf import settings
from django.db import IntegrityError, connections, transaction
from django.utils import timezone
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from assays.api.auth import is_instrument
from assays.api.errors import IdempotencyInProgress, IdempotencyKeyReused, MalformedRequest
from assays.models import IdempotencyRecord, idempotency_lease_deadline

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
# Visible ASCII, as the IETF draft's examples (UUIDs, ULIDs, random tokens); 200 = the column.
KEY_FORM = re.compile(r"[\x21-\x7e]{1,200}")

log = logging.getLogger(__name__)


def principal_of(user) -> str:
    if is_instrument(user):
        return f"instrument:{user.instrument.code}"
    return f"user:{user.pk}"


def fingerprint(method: str, path: str, body: bytes) -> str:
    """SHA-256 of what makes two requests "the same": method, path with query, body bytes."""
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def request_fingerprint(request) -> str:
    """The request's fingerprint; multipart bodies by their content, not their bytes.

    Two sends of one multipart upload differ in their boundary (clients pick a random one per
    request), so an upload is fingerprinted by its fields and each file's name and SHA-256.
    """
    if request.content_type.startswith("multipart/"):
        fields = sorted((name, value) for name, values in request.POST.lists() for value in values)
        files = []
        for name, upload in sorted(request.FILES.items()):
            file_digest = hashlib.sha256()
            for chunk in upload.chunks():
                file_digest.update(chunk)
            upload.seek(0)
            files.append((name, upload.name, file_digest.hexdigest()))
        body = json.dumps({"fields": fields, "files": files}).encode()
    else:
        body = request.body
    return fingerprint(request.method, request.get_full_path(), body)


def idempotent(handler):
    """Decorator for an APIView's `post`: honour the Idempotency-Key header when it is sent."""

    @functools.wraps(handler)
    def wrapper(view, request, *args, **kwargs):
        key = request.headers.get(HEADER)
        if key is None:
            return handler(view, request, *args, **kwargs)
        if not KEY_FORM.fullmatch(key):
            raise MalformedRequest(
                f"The {HEADER} header must be 1 to 200 visible ASCII characters (e.g. a UUID)."
            )
        record, created = _claim(principal_of(request.user), key, request)
        if not created:
            return _replay(record)
        claim = IdempotencyRecord.objects.filter(
            pk=record.pk, created_at=record.created_at, completed=False
        )
        with LeaseKeeper(claim):
            try:
                response = handler(view, request, *args, **kwargs)
            except Exception as exc:
                try:
                    response = view.handle_exception(exc)  # a 4xx; re-raises what is a 500
                except Exception:
                    claim.delete()
                    raise
        if response.status_code >= 500:
            claim.delete()
            return response
        # Stored as the client will see it (dates and decimals as rendered).
        body = json.loads(JSONRenderer().render(response.data)) if response.data else None
        claim.update(completed=True, response_status=response.status_code, response_body=body)
        return response

    return wrapper


class LeaseKeeper:
    """Renews a claim's lease every third of IDEMPOTENCY_LEASE_SECONDS while the request runs.

    A thread of its own, so a long request (a large upload being stored) keeps its key however
    long it takes; it touches the database only once a third of the lease has passed, so a quick
    request costs nothing, and closes its own connection when the request ends.
    """

    def __init__(self, claim):
        self.claim = claim
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._renew, name="idempotency-lease", daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc_info):
        self.done.set()
        self.thread.join()

    def _renew(self) -> None:
        interval = settings.IDEMPOTENCY_LEASE_SECONDS / 3
        try:
            while not self.done.wait(interval):
                try:
                    self.claim.update(lease_until=idempotency_lease_deadline())
                except Exception:  # a database blip: the next renewal tries again
                    log.warning("Could not renew an idempotency lease", exc_info=True)
        finally:
            connections.close_all()  # this thread's connections only


def _claim(principal: str, key: str, request) -> tuple[IdempotencyRecord, bool]:
    """(record, True) when this request is the first with the key (or takes over a stale one)."""
    request_hash = request_fingerprint(request)
    for _attempt in range(3):
        try:
            # Its own transaction, committed at once: concurrent duplicates block on the unique
            # index until this commits, then see the record instead of inserting a second one.
            with transaction.atomic():
                record = IdempotencyRecord.objects.create(
                    principal=principal,
                    key=key,
                    request_hash=request_hash,
                    path=request.path[:200],
                )
            return record, True
        except IntegrityError:
            record = IdempotencyRecord.objects.filter(principal=principal, key=key).first()
        if record is not None:
            break
        # The first request failed (5xx) and released the key in between: claim it again.
    else:
        raise IdempotencyInProgress()
    if record.request_hash != request_hash:
        raise IdempotencyKeyReused()
    if not record.completed:
        taken = _take_over(record)
        if taken is not None:
            return taken, True
        raise IdempotencyInProgress()
    return record, False


def _take_over(record: IdempotencyRecord) -> IdempotencyRecord | None:
    """The record of a request that died (its lease ran out), now claimed by this one; None
    while its request still holds the lease. Conditional on the lease being out at the moment
    of the UPDATE: of several retries at once, one takes it over."""
    now = timezone.now()
    taken = IdempotencyRecord.objects.filter(
        pk=record.pk, completed=False, lease_until__lt=now
    ).update(created_at=now, lease_until=idempotency_lease_deadline())
    if not taken:
        return None
    log.warning(
        "Idempotency-Key %s of %s taken over: the request holding it stopped renewing its lease "
        "(claimed %s)",
        record.key,
        record.principal,
        record.created_at.isoformat(timespec="seconds"),
    )
    record.created_at = now
    return record


def _replay(record: IdempotencyRecord) -> Response:
    return Response(
        record.response_body, status=record.response_status, headers={REPLAYED_HEADER: "true"}
    )
