"""Sign-in that holds: lockouts an anonymous caller cannot turn against QA, and the security log.

21 CFR 11.300(d) asks for safeguards against unauthorized use of passwords and for attempts to
be detected and reported; NIST SP 800-63B §5.2.2 asks for a limit on failed attempts, and
OWASP ASVS 4.0.3 V2.2.1 for anti-automation that does not let an attacker lock a victim out.
django-axes counts failures (sign-in, signing, the password page's check of the current
password) per user ID *and* address in its attempt rows; ``LockoutHandler`` decides from them,
within the cool-off window (AXES_COOLOFF_HOURS), which lock holds:

* **account at this address**: AXES_FAILURE_LIMIT failures for one user ID from one address.
  An anonymous caller who guesses QA's password locks only themselves out: QA signs in from
  their own bench.
* **address**: AXES_ADDRESS_FAILURE_LIMIT failures from one address, every user ID counted but
  each at most AXES_FAILURE_LIMIT times (so one person hammering their own locked account does
  not lock the shared bench terminal; twenty user IDs tried once each do lock it).
* **account**: AXES_ACCOUNT_FAILURE_LIMIT failures for one user ID from several addresses (each
  counted at most AXES_FAILURE_LIMIT times), and then only at addresses that have failed for it:
  a distributed guess gets one try per new address, the owner at a clean bench still signs in.

Locks lift after the cool-off, or earlier when an administrator unlocks with a reason
(``unlock``, in the audit trail). A successful sign-in clears only the failures of that user ID
at that address, never an address's or the account's count from elsewhere. Every failure,
lockout and unlock is kept in ``SecurityEvent`` (append-only) for QA's and administrators'
review on /accounts/security/; a lockout is also logged at ERROR on the ``lims.security`` logger
for the monitoring that watches it.
"""

import ipaddress
import logging
from dataclasses import dataclass
from datetime import datetime

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username, get_cool_off, get_failure_limit
from axes.models import AccessAttempt
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from lims.audit import audit_context
from lims.models import SecurityEvent
from lims.roles import can_unlock_sign_in, require

logger = logging.getLogger("lims.security")

Lock = SecurityEvent.Lock
LOCK_ORDER = (Lock.ACCOUNT_AT_ADDRESS, Lock.ADDRESS, Lock.ACCOUNT)

# What the password was asked for, set on the request by the code that asks (the sign-in page
# asks nothing: it is the default).
SIGNING = "signing"
PASSWORD_CHECK = "password_check"
_FAILURE_KINDS = {
    SIGNING: SecurityEvent.Kind.SIGNING_FAILED,
    PASSWORD_CHECK: SecurityEvent.Kind.PASSWORD_CHECK_FAILED,
}


def asking_password_for(request, purpose: str) -> None:
    """Mark `request` as asking the password for `purpose` (SIGNING, PASSWORD_CHECK), so a
    failure is logged as what it is."""
    request.lims_password_purpose = purpose


def client_address(request) -> str | None:
    """The address a lock counts against (AXES_CLIENT_IP_CALLABLE): REMOTE_ADDR, or behind
    TRUSTED_PROXY_COUNT reverse proxies that each append to X-Forwarded-For, the entry the
    outermost one appended (what a client writes into the header itself sits to its left and
    is ignored). Anything that is not an IP address falls back to REMOTE_ADDR."""
    remote = request.META.get("REMOTE_ADDR") or None
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies <= 0:
        return remote
    forwarded = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [a for a in forwarded if a]
    if len(forwarded) < proxies:
        return remote
    candidate = forwarded[-proxies]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote


# --- Counting ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Limits:
    account_at_address: int
    address: int
    account: int

    @classmethod
    def from_settings(cls) -> "Limits":
        return cls(
            account_at_address=int(settings.AXES_FAILURE_LIMIT),
            address=int(settings.AXES_ADDRESS_FAILURE_LIMIT),
            account=int(settings.AXES_ACCOUNT_FAILURE_LIMIT),
        )


def window_start(now: datetime | None = None) -> datetime | None:
    """Failures since then count; None without a cool-off (they count until an unlock)."""
    cool_off = get_cool_off()
    if cool_off is None:
        return None
    return (now or timezone.now()) - cool_off


# One query: this user ID at this address; this address, each user ID capped; this user ID,
# each address capped.
_COUNTS = """
WITH recent AS (
    SELECT username, ip_address, failures_since_start AS n
    FROM axes_accessattempt
    WHERE (%(since)s::timestamptz IS NULL OR attempt_time >= %(since)s::timestamptz)
      AND (username IS NOT DISTINCT FROM %(username)s::text OR ip_address = %(address)s::inet)
)
SELECT
    (SELECT coalesce(sum(n), 0) FROM recent
     WHERE username IS NOT DISTINCT FROM %(username)s::text AND ip_address = %(address)s::inet),
    (SELECT coalesce(sum(least(t, %(cap)s)), 0) FROM (
        SELECT sum(n) AS t FROM recent WHERE ip_address = %(address)s::inet GROUP BY username) a),
    (SELECT coalesce(sum(least(t, %(cap)s)), 0) FROM (
        SELECT sum(n) AS t FROM recent WHERE username IS NOT DISTINCT FROM %(username)s::text
        GROUP BY ip_address) u)
"""


@dataclass(frozen=True)
class Counts:
    account_at_address: int
    address: int
    account: int

    def locks(self, limits: Limits) -> list[str]:
        held: list[str] = []
        if self.account_at_address >= limits.account_at_address:
            held.append(Lock.ACCOUNT_AT_ADDRESS)
        if self.address >= limits.address:
            held.append(Lock.ADDRESS)
        if self.account >= limits.account and self.account_at_address > 0:
            held.append(Lock.ACCOUNT)
        return held


def failure_counts(*, username: str | None, address: str | None, since: datetime | None) -> Counts:
    limits = Limits.from_settings()
    with connection.cursor() as cursor:
        cursor.execute(
            _COUNTS,
            {
                "since": since,
                "username": username,
                "address": address,
                "cap": limits.account_at_address,
            },
        )
        pair, by_address, by_account = cursor.fetchone()
    return Counts(int(pair), int(by_address), int(by_account))


def _request_counts(request, credentials) -> Counts:
    return failure_counts(
        username=get_client_username(request, credentials),
        address=request.axes_ip_address,
        since=window_start(request.axes_attempt_time),
    )


class LockoutHandler(AxesDatabaseHandler):
    """django-axes' database handler with the three locks above (settings.AXES_HANDLER).

    django-axes compares ``get_failures`` with AXES_FAILURE_LIMIT before authenticating and
    after recording a failure; this handler answers the limit itself whenever any lock holds.
    """

    def get_failures(self, request, credentials: dict | None = None) -> int:
        counts = _request_counts(request, credentials)
        if counts.locks(Limits.from_settings()):
            return max(get_failure_limit(request, credentials), counts.account_at_address)
        return counts.account_at_address

    def reset_user_attempts(self, request, credentials: dict | None = None) -> int:
        # AXES_RESET_ON_SUCCESS: only this user ID at this address. Resetting the address would
        # let an insider clear a spraying run by signing in as themselves; resetting the
        # account would give an attacker elsewhere a fresh count whenever its owner signs in.
        count, _ = AccessAttempt.objects.filter(
            username=get_client_username(request, credentials),
            ip_address=request.axes_ip_address,
        ).delete()
        return count

    def user_login_failed(self, sender, credentials: dict, request=None, **kwargs):
        if request is None:
            return super().user_login_failed(sender, credentials, request, **kwargs)
        limits = Limits.from_settings()
        before = _request_counts(request, credentials).locks(limits)
        super().user_login_failed(sender, credentials, request, **kwargs)
        after = _request_counts(request, credentials).locks(limits)
        username = get_client_username(request, credentials) or ""
        common = {
            "username": username[:255],
            "ip_address": request.axes_ip_address,
            "path": request.axes_path_info[:255],
            "at": request.axes_attempt_time,
        }
        purpose = getattr(request, "lims_password_purpose", "")
        kind = _FAILURE_KINDS.get(purpose, SecurityEvent.Kind.SIGN_IN_FAILED)
        events = [SecurityEvent(kind=kind, lock=after[0] if after else "", **common)]
        for lock in after:
            if lock not in before:
                events.append(SecurityEvent(kind=SecurityEvent.Kind.LOCKOUT, lock=lock, **common))
                logger.error(
                    "Sign-in locked (%s): user ID %r from %s after repeated failures",
                    Lock(lock).label,
                    username,
                    request.axes_ip_address,
                )
        SecurityEvent.objects.bulk_create(events)


# --- Current locks and the administrator's unlock -------------------------------------------


@dataclass(frozen=True)
class HeldLock:
    lock: str
    username: str | None
    ip_address: str | None
    failures: int
    last_attempt: datetime

    @property
    def label(self) -> str:
        return Lock(self.lock).label

    @property
    def until(self) -> datetime | None:
        cool_off = get_cool_off()
        return self.last_attempt + cool_off if cool_off else None


def held_locks(now: datetime | None = None) -> list[HeldLock]:
    """The locks that hold now, newest first (for the security review page)."""
    limits = Limits.from_settings()
    since = window_start(now)
    attempts = AccessAttempt.objects.all()
    if since is not None:
        attempts = attempts.filter(attempt_time__gte=since)
    pairs: dict[tuple[str | None, str | None], tuple[int, datetime]] = {}
    for row in attempts.values("username", "ip_address", "failures_since_start", "attempt_time"):
        key = (row["username"], row["ip_address"])
        n, last = pairs.get(key, (0, row["attempt_time"]))
        pairs[key] = (n + row["failures_since_start"], max(last, row["attempt_time"]))

    held: list[HeldLock] = []
    addresses: dict[str | None, tuple[int, datetime]] = {}
    accounts: dict[str | None, tuple[int, datetime]] = {}
    for (username, address), (n, last) in pairs.items():
        if n >= limits.account_at_address:
            held.append(HeldLock(Lock.ACCOUNT_AT_ADDRESS, username, address, n, last))
        capped = min(n, limits.account_at_address)
        if address is not None:
            total, latest = addresses.get(address, (0, last))
            addresses[address] = (total + capped, max(latest, last))
        total, latest = accounts.get(username, (0, last))
        accounts[username] = (total + capped, max(latest, last))
    for address, (n, last) in addresses.items():
        if n >= limits.address:
            held.append(HeldLock(Lock.ADDRESS, None, address, n, last))
    for username, (n, last) in accounts.items():
        if n >= limits.account:
            held.append(HeldLock(Lock.ACCOUNT, username, None, n, last))
    return sorted(held, key=lambda h: h.last_attempt, reverse=True)


def unlock(
    *, actor, lock: str, username: str | None = None, ip_address: str | None = None, reason: str
) -> int:
    """Lift a lock before its cool-off ends: its failure counters are removed (the security log
    keeps every failure), and the unlock is logged and audited with the administrator's reason.
    Returns the number of counter rows removed."""
    require(can_unlock_sign_in, actor, "Only an administrator unlocks sign-in.")
    if not reason.strip():
        raise ValidationError({"reason": "Give the reason for the unlock."})
    if lock not in LOCK_ORDER:
        raise ValidationError({"lock": "Unknown lock."})
    attempts = AccessAttempt.objects.all()
    if lock in (Lock.ACCOUNT_AT_ADDRESS, Lock.ACCOUNT):
        if not username:
            raise ValidationError({"username": "Name the user ID to unlock."})
        attempts = attempts.filter(username=username)
    if lock in (Lock.ACCOUNT_AT_ADDRESS, Lock.ADDRESS):
        if not ip_address:
            raise ValidationError({"ip_address": "Name the address to unlock."})
        attempts = attempts.filter(ip_address=ip_address)
    with transaction.atomic():
        removed, _ = attempts.delete()
        with audit_context(actor=actor, reason=reason.strip()):
            SecurityEvent.objects.create(
                kind=SecurityEvent.Kind.UNLOCK,
                lock=lock,
                username=username or "",
                ip_address=ip_address or None,
                actor=actor,
                reason=reason.strip(),
            )
    logger.warning(
        "Sign-in unlocked (%s) by %s: user ID %r, address %s",
        Lock(lock).label,
        actor.get_username(),
        username,
        ip_address,
    )
    return removed


def security_events(*, since=None, until=None, kinds=None):
    """The security log, newest first, optionally between two dates (inclusive) and of some
    kinds."""
    events = SecurityEvent.objects.select_related("actor")
    if since is not None:
        events = events.filter(at__date__gte=since)
    if until is not None:
        events = events.filter(at__date__lte=until)
    if kinds:
        events = events.filter(kind__in=kinds)
    return events.order_by("-at", "-pk")
