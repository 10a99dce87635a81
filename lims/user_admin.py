"""User administration: the people who sign in, their roles, and the administrator's acts on them.

21 CFR 11.10(d), (g) and 11.300 ask that only authorised people use the system, that each
does only what their role allows, and that user IDs are unique and never reused; EU GMP
Annex 11 §12.1 asks that access is granted, changed and withdrawn under control, with a
record of who did it. Each act here is one service, in one transaction, refused unless an
administrator makes it (``can_administer_users``), and made with a reason that the audit trail
keeps beside the change (lims.audit: the user row, each role given or taken away as a row of
``UserRole``, and the security log for unlocks):

* **create** a person with a unique user ID (never reused, whatever its case, even when the
  account it belonged to is deactivated), a full name, an e-mail, roles, and a temporary
  password they must change at their first sign-in;
* **change roles**: never one's own, never removing the last active administrator;
* **deactivate** (never delete: 11.10(e) keeps who did what) and **reactivate**: never
  oneself, never the last active administrator;
* **reset a password** to a temporary one, shown once, forcing a change (lims.passwords);
* **unlock** an account locked after failed sign-ins (lims.signin).

Segregation of duties: the administrator role is held by nobody who also generates, reviews
or approves records (a technician, analyst or QA). Administrators can change settings, roles
and accounts; in the hands of the people whose records those settings govern that is the
conflict that FDA's "Data Integrity and Compliance With Drug CGMP: Questions and Answers"
(2018), question 6, answers by keeping "the system administrator role … independent from those
responsible for the record content"; EU GMP Annex 11 §12 and PIC/S PI 041-1 ask the same.
A combination made before this rule is flagged on the user list for the administrators to
resolve.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Prefetch, Q

from lims.audit import audit_context
from lims.models import AuditEvent, SecurityEvent, User
from lims.passwords import password_reset
from lims.roles import (
    ADMIN,
    ANALYST,
    QA,
    ROLES,
    SYSTEM_USERNAME,
    TECHNICIAN,
    can_administer_users,
    require,
)
from lims.signin import Lock, held_locks, unlock

ROLE_LABELS = {
    TECHNICIAN: "Technician",
    ANALYST: "Analyst",
    QA: "QA",
    ADMIN: "Administrator",
}
assert set(ROLE_LABELS) == set(ROLES), "every role of lims.roles has a label"

REFUSAL = "Only an administrator administers users."

# pg_advisory_xact_lock key: one creation at a time, so two requests for user IDs that differ
# only in case cannot both pass the check ("USER").
_CREATE_LOCK = 0x55534552


# Locks that name a user ID (an address's lock names none: the security review lifts it).
ACCOUNT_LOCKS = (Lock.ACCOUNT_AT_ADDRESS, Lock.ACCOUNT)


# --- Reading ----------------------------------------------------------------------------------


def people():
    """Every person who signs in (the system account is not one), with their roles prefetched."""
    return (
        User.objects.exclude(username=SYSTEM_USERNAME)
        .prefetch_related(Prefetch("groups", queryset=Group.objects.only("name")))
        .order_by("username", "pk")
    )


def user_list(*, role: str | None = None, active: bool | None = None):
    """People filtered by role and by whether they are active (a constant number of queries:
    the roles are prefetched, the locks read once by ``locked_user_ids``)."""
    users = people()
    if role:
        users = users.filter(groups__name=role)
    if active is not None:
        users = users.filter(is_active=active)
    return users


def locked_user_ids() -> set[str]:
    """User IDs locked now, at one address or everywhere they failed (one query)."""
    return {held.username for held in held_locks() if held.username and held.lock in ACCOUNT_LOCKS}


def role_names(user) -> list[str]:
    """The user's roles in the order of lims.roles.ROLES (from the prefetched groups)."""
    held = {group.name for group in user.groups.all()}
    return [role for role in ROLES if role in held]


def roles_conflict(roles: Iterable[str]) -> bool:
    """True for a set of roles that breaks the segregation of duties (see the module's doc)."""
    roles = set(roles)
    return ADMIN in roles and len(roles) > 1


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime
    who: str
    what: str
    reason: str
    changes: list[tuple[str, object, object]]


def history(user, limit: int = 50) -> list[HistoryEntry]:
    """The audit trail of a person's account and of their roles, newest first (two queries)."""
    events = list(
        AuditEvent.objects.across("lims.UserEvent", "lims.UserRoleEvent")
        .filter(
            Q(pgh_obj_model="lims.User", pgh_obj_id=str(user.pk))
            | Q(pgh_obj_model="lims.UserRole", pgh_data__user_id=user.pk)
        )
        .order_by("-pgh_created_at", "-pgh_id")[:limit]
    )
    groups = dict(Group.objects.values_list("pk", "name"))
    entries = []
    for event in events:
        changes: list[tuple[str, object, object]] = []
        if event.pgh_obj_model == "lims.UserRole":
            name = groups.get(int((event.pgh_data or {}).get("group_id") or 0), "?")
            role = ROLE_LABELS.get(name, name)
            given = event.pgh_label == "insert"
            what = f"Role given: {role}" if given else f"Role taken away: {role}"
        elif event.pgh_label == "insert":
            what = "Account created"
        else:
            what = "Account changed"
            changes = event.changes
        entries.append(
            HistoryEntry(event.pgh_created_at, event.actor, what, event.reason or "", changes)
        )
    return entries


def security_log(user, limit: int = 20):
    """The latest failed sign-ins, lockouts and unlocks under the person's user ID."""
    return SecurityEvent.objects.filter(username=user.username).select_related("actor")[:limit]


# --- Checks shared by the services ------------------------------------------------------------


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Give the reason (it is kept in the audit trail)."})
    return reason


def _roles(roles: Iterable[str]) -> list[str]:
    wanted = set(roles)
    unknown = sorted(wanted - set(ROLES))
    if unknown:
        raise ValidationError({"roles": f"Unknown role: {', '.join(unknown)}."})
    if not wanted:
        raise ValidationError(
            {"roles": "Give at least one role (to withdraw all access, deactivate the account)."}
        )
    if roles_conflict(wanted):
        raise ValidationError(
            {
                "roles": "An administrator holds no other role: administration is kept apart "
                "from the people who record, review or approve data (segregation of duties)."
            }
        )
    return [role for role in ROLES if role in wanted]


def _act_on(actor, user, reason: str, what: str) -> str:
    """The checks every act on an account makes first; returns the reason, stripped."""
    require(can_administer_users, actor, REFUSAL)
    reason = _reason(reason)
    _not_system(user)
    _not_self(actor, user, what)
    return reason


def _not_self(actor, user, what: str) -> None:
    """Nobody administers their own account (it would let one person grant themselves rights
    or hide their own lock-out): another administrator does it."""
    if actor.pk == user.pk:
        raise ValidationError(f"You cannot {what}: another administrator does it.")


def _not_system(user) -> None:
    if user.username == SYSTEM_USERNAME:
        raise ValidationError("The system account is not a person and is not administered.")


def _locked(user) -> User:
    """The user's row, locked for the rest of the transaction and read afresh."""
    return User.objects.select_for_update().get(pk=user.pk)


def _other_active_administrators(user) -> int:
    """Active administrators other than `user`, their rows locked so that two administrators
    removing each other at the same moment cannot leave none."""
    return len(
        User.objects.select_for_update(of=("self",))
        .filter(is_active=True, groups__name=ADMIN)
        .exclude(pk=user.pk)
        .values_list("pk", flat=True)
    )


def _keep_an_administrator(user, what: str) -> None:
    if _other_active_administrators(user) == 0:
        raise ValidationError(
            f"{user.username} is the last active administrator: {what} would leave nobody to "
            "administer the system. Give another person the administrator role first."
        )


# --- Temporary passwords ----------------------------------------------------------------------

# No characters that read alike (0/O, 1/l/I).
_ALPHABET = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def temporary_password(user=None) -> str:
    """A random password that passes the password rules: four groups of five characters from
    an unambiguous alphabet (about 115 bits; NIST SP 800-63B §5.1.1.2), to be replaced by its
    owner at the first sign-in."""
    for _ in range(20):
        candidate = "-".join("".join(secrets.choice(_ALPHABET) for _ in range(5)) for _ in range(4))
        try:
            validate_password(candidate, user)
        except ValidationError:
            continue
        return candidate
    raise RuntimeError("No temporary password passed the password rules in 20 tries.")


# --- Acts -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Created:
    user: User
    temporary_password: str


def user_create(
    *,
    actor,
    username: str,
    first_name: str,
    last_name: str,
    email: str = "",
    roles: Iterable[str],
    reason: str,
) -> Created:
    """A new person with their roles and a temporary password they must change at their first
    sign-in (returned once, never stored in clear)."""
    require(can_administer_users, actor, REFUSAL)
    reason = _reason(reason)
    roles = _roles(roles)
    username = (username or "").strip()
    user = User(
        username=username,
        first_name=(first_name or "").strip(),
        last_name=(last_name or "").strip(),
        email=(email or "").strip(),
        is_active=True,
        is_staff=ADMIN in roles,  # /admin/ and /health/'s details, as the demo data has it
        is_superuser=False,
        must_change_password=True,
    )
    errors: dict[str, list[str]] = {}
    if not user.first_name:
        errors["first_name"] = ["Give the first name (it is printed with every signature)."]
    if not user.last_name:
        errors["last_name"] = ["Give the last name (it is printed with every signature)."]
    try:
        # Field rules and lims.identifiers; uniqueness is checked below, ignoring case.
        user.full_clean(exclude=["password"], validate_unique=False)
    except ValidationError as exc:
        for field, messages in exc.message_dict.items():
            errors.setdefault(field, []).extend(messages)
    if errors:
        raise ValidationError(errors)
    password = temporary_password(user)
    with transaction.atomic(), audit_context(actor=actor, reason=reason):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CREATE_LOCK])
        taken = User.objects.filter(username__iexact=username).first()
        if taken is not None:
            state = "an active account" if taken.is_active else "a deactivated account"
            raise ValidationError(
                {
                    "username": f"The user ID {taken.username} belongs to {state}: a user ID "
                    "is never reused, even in other letter case (21 CFR 11.300(a))."
                }
            )
        user.set_password(password)
        user.save()
        user.groups.set(Group.objects.filter(name__in=roles))
    return Created(user, password)


def roles_change(*, actor, user, roles: Iterable[str], reason: str) -> User:
    """Give and take away roles; each one given or taken away is an audited row."""
    reason = _act_on(actor, user, reason, "change your own roles")
    roles = _roles(roles)
    with transaction.atomic(), audit_context(actor=actor, reason=reason):
        user = _locked(user)
        current = set(user.groups.values_list("name", flat=True))
        if current == set(roles):
            raise ValidationError({"roles": "These are the roles the person has already."})
        if ADMIN in current and ADMIN not in roles and user.is_active:
            _keep_an_administrator(user, "taking the administrator role away")
        groups = {g.name: g for g in Group.objects.filter(name__in=set(roles) | current)}
        removed = [groups[name] for name in current - set(roles)]
        added = [groups[name] for name in set(roles) - current]
        if removed:
            user.groups.remove(*removed)
        if added:
            user.groups.add(*added)
        if user.is_staff != (ADMIN in roles):
            user.is_staff = ADMIN in roles
            user.save(update_fields=["is_staff"])
    user._lims_roles = set(roles)
    return user


def user_deactivate(*, actor, user, reason: str) -> User:
    """Withdraw access, keeping the account and its user ID (never deleted, never reused): the
    person cannot sign in, and a session they have open ends at their next request."""
    reason = _act_on(actor, user, reason, "deactivate your own account")
    with transaction.atomic(), audit_context(actor=actor, reason=reason):
        user = _locked(user)
        if not user.is_active:
            raise ValidationError("The account is deactivated already.")
        if user.groups.filter(name=ADMIN).exists():
            _keep_an_administrator(user, "deactivating them")
        user.is_active = False
        user.save(update_fields=["is_active"])
    return user


def user_reactivate(*, actor, user, reason: str) -> User:
    """Give access back to a deactivated account, with the roles it has."""
    reason = _act_on(actor, user, reason, "reactivate your own account")
    with transaction.atomic(), audit_context(actor=actor, reason=reason):
        user = _locked(user)
        if user.is_active:
            raise ValidationError("The account is active already.")
        if roles_conflict(user.groups.values_list("name", flat=True)):
            raise ValidationError(
                "The account holds the administrator role with another one: change its roles "
                "before reactivating it (segregation of duties)."
            )
        user.is_active = True
        user.save(update_fields=["is_active"])
    return user


def password_reset_temporary(*, actor, user, reason: str) -> str:
    """Reset a forgotten password to a temporary one (returned to be shown once) that its owner
    must replace at their next request: lims.passwords.password_reset, with a password this
    module draws."""
    reason = _act_on(
        actor, user, reason, "reset your own password (change it on the password page)"
    )
    if not user.is_active:
        raise ValidationError("Reactivate the account before resetting its password.")
    password = temporary_password(user)
    with transaction.atomic():
        password_reset(actor=actor, user=_locked(user), new_password=password, reason=reason)
    return password


def account_unlock(*, actor, user, reason: str) -> int:
    """Lift every lock that names the person's user ID (at one address, or everywhere it
    failed): lims.signin.unlock for each, in one transaction. Returns the locks lifted."""
    reason = _act_on(actor, user, reason, "unlock your own account")
    locks = [
        held
        for held in held_locks()
        if held.username == user.username and held.lock in ACCOUNT_LOCKS
    ]
    if not locks:
        raise ValidationError("The account is not locked.")
    with transaction.atomic():
        for held in locks:
            unlock(
                actor=actor,
                lock=held.lock,
                username=held.username,
                ip_address=held.ip_address if held.lock == Lock.ACCOUNT_AT_ADDRESS else None,
                reason=reason,
            )
    return len(locks)
