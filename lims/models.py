"""People and cross-cutting records of the LIMS."""

from datetime import UTC
from typing import ClassVar, Self

import pghistory
import pgtrigger
from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from pghistory.models import Events

from lims.audit import RefuseTruncate, audited, trail_order_index
from lims.identifiers import identifier_errors
from lims.roles import SYSTEM_USERNAME


@audited(exclude=["password", "last_login"])
class User(AbstractUser):
    """A person who signs in: technician, analyst, QA or administrator.

    Accounts are never deleted and usernames never change (21 CFR 11.300(a): no reuse of IDs);
    leaving staff are deactivated. The database refuses both, whatever the caller.
    """

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
        permissions = [("view_audit_trail", "Can view and export the audit trail")]
        triggers = [
            pgtrigger.Protect(name="users_never_deleted", operation=pgtrigger.Delete),
            pgtrigger.ReadOnly(name="username_never_changes", fields=["username"]),
        ]

    # Password ageing (21 CFR 11.300(b): passwords periodically checked, recalled or revised;
    # lims.passwords): when the password was last set, and whether its owner must choose a new
    # one at the next request (set by an administrator's reset).
    password_changed_at = models.DateTimeField(default=timezone.now, editable=False)
    must_change_password = models.BooleanField(default=False, editable=False)

    # The user ID and the printed name of every signature (21 CFR 11.50): shown exactly as
    # stored, never reordered or padded by invisible characters (lims.identifiers).
    IDENTIFIER_FIELDS = ("username", "first_name", "last_name")

    @property
    def printed_name(self) -> str:
        return self.get_full_name() or self.username

    def clean_fields(self, exclude=None):
        _clean_identifiers(self, super().clean_fields, exclude)


# A person's roles are rows of the groups link table: each role given (a row inserted) and taken
# away (a row deleted) is in the audit trail with who and why (21 CFR 11.10(d), (e), (g): who
# may do what is a record like any other). The link rows themselves are removed when a role is
# taken away (lims.db_roles keeps that DELETE for the app role); their events never are.
@pghistory.track(
    pghistory.InsertEvent(),
    pghistory.DeleteEvent(),
    model_name="UserRoleEvent",
    append_only=True,
    meta={
        "triggers": [RefuseTruncate(name="append_only_truncate")],
        "indexes": [trail_order_index()],
    },
)
class UserRole(User.groups.through):  # type: ignore[name-defined,misc]
    """A role a person holds (a row of the groups link table). A proxy, so that the triggers on
    Django's own link table are declared here and installed by this app's migrations."""

    class Meta:
        proxy = True
        verbose_name = "role of a user"


def system_user() -> User:
    """The installation's own account: the created_by of machine writes (an instrument's results,
    automatic OOS investigations, computed metrics), whose audit context names the instrument or
    task. Created by the assay catalogue's migration; it cannot sign in."""
    return User.objects.get(username=SYSTEM_USERNAME)


class IdentifierSequence(models.Model):
    """The last number handed out for one kind of identifier in one year."""

    kind = models.CharField(max_length=40)
    year = models.PositiveIntegerField()
    last_value = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "year"], name="one_sequence_per_kind_year")
        ]

    def __str__(self):
        return f"{self.kind} {self.year}: {self.last_value}"


# What the trail calls each kind of event (page and CSV export alike).
ACTIONS = {"insert": "created", "update": "changed", "delete": "deleted"}


class AuditEvent(Events):
    """One entry of the audit trail: a row inserted, changed or deleted in any GMP table.

    A read-only view over every pghistory event table, with who / instrument / why taken from
    the context the middleware and services attached to the transaction.
    """

    user = pghistory.ProxyField(
        "pgh_context__user",
        models.ForeignKey(
            settings.AUTH_USER_MODEL, on_delete=models.DO_NOTHING, null=True, db_constraint=False
        ),
    )
    username = pghistory.ProxyField("pgh_context__username", models.TextField(null=True))
    instrument = pghistory.ProxyField("pgh_context__instrument", models.TextField(null=True))
    reason = pghistory.ProxyField("pgh_context__reason", models.TextField(null=True))
    task = pghistory.ProxyField("pgh_context__task", models.TextField(null=True))
    url = pghistory.ProxyField("pgh_context__url", models.TextField(null=True))

    class Meta:
        proxy = True
        verbose_name = "audit event"

    @property
    def actor(self) -> str:
        """The person who acted, or "system" with the task it ran; the instrument that measured
        is `measured_by`, shown beside it (ALCOA+ attributable)."""
        person = self.username or (f"user #{self.user_id}" if self.user_id else "system")
        if person == "system" and self.task:
            return f"system ({self.task})"
        return person

    @property
    def measured_by(self) -> str:
        return f"instrument {self.instrument}" if self.instrument else ""

    @property
    def action(self) -> str:
        return ACTIONS.get(self.pgh_label, self.pgh_label)

    @property
    def changes(self) -> list[tuple[str, object, object]]:
        """(field, old, new) for an update; (field, None, value) for a creation."""
        if self.pgh_label == "update" and self.pgh_diff:
            return [(name, old, new) for name, (old, new) in sorted(self.pgh_diff.items())]
        return [(name, None, value) for name, value in sorted((self.pgh_data or {}).items())]


@audited()
class Signature(models.Model):
    """An electronic signature (21 CFR 11.50, 11.70, 11.200).

    It names the signer (printed name kept as signed), the time (UTC), the meaning and an
    optional comment, and is bound to the record by a SHA-256 of a canonical JSON of the signed
    content: when the record's content no longer hashes to it, the signature shows as invalid.
    The database refuses to update or delete a signature, so it cannot be edited or moved.
    """

    class Meaning(models.TextChoices):
        REVIEW = "review", "Review"
        APPROVAL = "approval", "Approval"
        REJECTION = "rejection", "Rejection"
        RESPONSIBILITY = "responsibility", "Responsibility"

    signer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    printed_name = models.CharField(max_length=200)
    meaning = models.CharField(max_length=20, choices=Meaning.choices)
    comment = models.TextField(blank=True)
    signed_at = models.DateTimeField()
    record_type = models.CharField(max_length=60, help_text="app_label.Model of the signed record")
    record_id = models.CharField(max_length=64)
    content_sha256 = models.CharField(max_length=64)
    content = models.JSONField(help_text="The canonical content that was signed.")

    class Meta:
        ordering = ["signed_at", "pk"]
        triggers = [
            pgtrigger.Protect(
                name="signatures_immutable", operation=pgtrigger.Update | pgtrigger.Delete
            ),
        ]
        indexes = [models.Index(fields=["record_type", "record_id"])]

    def __str__(self):
        when = self.signed_at.astimezone(UTC)
        return f"{self.printed_name}, {self.get_meaning_display()}, {when:%Y-%m-%d %H:%M} UTC"


def _clean_identifiers(instance, clean_fields, exclude) -> None:
    """Model.clean_fields, then lims.identifiers' check of the instance's IDENTIFIER_FIELDS:
    every form and service (full_clean) gets the refusal next to the field."""
    errors: dict = {}
    try:
        clean_fields(exclude=exclude)
    except ValidationError as exc:
        errors = exc.update_error_dict(errors)
    for name, messages in identifier_errors(instance, instance.IDENTIFIER_FIELDS, exclude).items():
        errors.setdefault(name, []).extend(ValidationError(messages).error_list)
    if errors:
        raise ValidationError(errors)


def never_deleted() -> pgtrigger.Protect:
    return pgtrigger.Protect(name="never_deleted", operation=pgtrigger.Delete)


def frozen_once_signed(name: str) -> pgtrigger.Protect:
    """No update of a row once its e-signature is attached: the signed record is what was
    signed (21 CFR 11.70, signature/record linking). Corrections are new records."""
    return pgtrigger.Protect(
        name=name,
        operation=pgtrigger.Update,
        condition=pgtrigger.Q(old__signature_id__isnull=False),
    )


class GmpRecord(models.Model):
    """Who created a record and when, and its voiding (the GMP substitute for deletion)."""

    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", editable=False
    )
    voided_at = models.DateTimeField(null=True, blank=True, editable=False)
    voided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
        editable=False,
    )
    void_reason = models.TextField(blank=True, editable=False)

    # Every concrete record has Django's default manager; declared for the type checker, which
    # gives an abstract model none (services reach it through type(instance)).
    objects: ClassVar[models.Manager[Self]]
    # Fields that name something (codes, lot numbers, positions): no invisible or
    # direction-changing characters in them (lims.identifiers), checked by full_clean.
    IDENTIFIER_FIELDS: ClassVar[tuple[str, ...]] = ()

    class Meta:
        abstract = True

    def clean_fields(self, exclude=None):
        _clean_identifiers(self, super().clean_fields, exclude)

    @property
    def is_voided(self) -> bool:
        return self.voided_at is not None


class AuditSeal(models.Model):
    """A link of the audit chain: one audit event, sealed after it committed, with the hash of
    its content chained to the link before it (lims.audit_chain). Append-only."""

    event_table = models.CharField(max_length=80)
    event_id = models.BigIntegerField()
    hash = models.CharField(max_length=64)
    sealed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["event_table", "event_id"], name="one_seal_per_event")
        ]
        triggers = [
            pgtrigger.Protect(
                name="seals_append_only", operation=pgtrigger.Update | pgtrigger.Delete
            ),
        ]

    def __str__(self):
        return f"{self.event_table} #{self.event_id}: {self.hash[:12]}"


class AuditChainCheck(models.Model):
    """The result of a verification of the audit chain (the periodic task or audit_verify)."""

    checked_at = models.DateTimeField(default=timezone.now)
    intact = models.BooleanField()
    links = models.PositiveIntegerField(help_text="Sealed events checked")
    head = models.CharField(max_length=64, blank=True, help_text="Hash of the last link")
    first_break = models.TextField(blank=True)

    class Meta:
        ordering = ["-checked_at", "-pk"]
        get_latest_by = "checked_at"
        triggers = [
            pgtrigger.Protect(
                name="checks_append_only", operation=pgtrigger.Update | pgtrigger.Delete
            ),
        ]

    def __str__(self):
        return f"{'intact' if self.intact else 'BROKEN'} at {self.checked_at:%Y-%m-%d %H:%M}"


@pghistory.track(
    # An unlock is an administrator's act with a reason: it is in the audit trail too.
    # Failures and lockouts stay out of it (an anonymous flood must not fill it).
    pghistory.InsertEvent(condition=pgtrigger.Q(new__kind="unlock")),
    append_only=True,
    meta={
        "triggers": [RefuseTruncate(name="append_only_truncate")],
        "indexes": [trail_order_index()],
    },
)
class SecurityEvent(models.Model):
    """A failed sign-in, signing or password check, a lockout or an unlock (21 CFR 11.300(d):
    attempts at unauthorized use detected and reported to the system security unit).

    Written by lims.signin as it happens, never changed or deleted (the database refuses both);
    QA and administrators review them on /accounts/security/. django-axes' own attempt rows
    are working counters, removed after the cool-off or by an unlock: this log stays.
    """

    class Kind(models.TextChoices):
        SIGN_IN_FAILED = "sign_in_failed", "Failed sign-in"
        SIGNING_FAILED = "signing_failed", "Failed signing"
        PASSWORD_CHECK_FAILED = "password_check_failed", "Failed password check"
        LOCKOUT = "lockout", "Lockout"
        UNLOCK = "unlock", "Unlock"

    class Lock(models.TextChoices):
        NONE = "", "—"
        ACCOUNT_AT_ADDRESS = "account_at_address", "account at this address"
        ADDRESS = "address", "address"
        ACCOUNT = "account", "account (at addresses that failed)"

    at = models.DateTimeField(default=timezone.now, db_index=True)
    kind = models.CharField(max_length=30, choices=Kind.choices)
    username = models.CharField(max_length=255, blank=True, help_text="As typed")
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    path = models.CharField(max_length=255, blank=True)
    lock = models.CharField(
        max_length=30,
        choices=Lock.choices,
        blank=True,
        help_text="The lock that held after this failure, the lock begun or lifted",
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True
    )
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-at", "-pk"]
        triggers = [
            pgtrigger.Protect(
                name="security_events_append_only",
                operation=pgtrigger.Update | pgtrigger.Delete,
            ),
            RefuseTruncate(name="security_events_no_truncate"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.username or '-'} from {self.ip_address or '-'}"


# Training and qualification records (21 CFR 211.25(a), 21 CFR 11.10(i), EU GMP Part I 2.11).
#
# A person may perform a run, enter a result, review or sign only for what they are trained on:
# the SOPs an assay or a step requires (TrainingRequirement, keyed by a generic subject such as an
# assay code, so the layers above refer to it by code), one version at a time (Sop), each
# training a signed, append-only record (TrainingRecord). lims.training decides who is qualified.


class Step(models.TextChoices):
    """What a person does that a training may be required for."""

    PERFORM = "perform", "Perform a run"
    ENTER = "enter", "Enter results"
    REVIEW = "review", "Review a run"
    SIGN = "sign", "Sign a disposition"


@audited()
class Sop(GmpRecord):
    """One version of a standard operating procedure people are trained on.

    A new version makes training on the earlier ones lapse `grace_days` after it takes effect
    (the time the lab gives itself to retrain everyone)."""

    IDENTIFIER_FIELDS = ("code",)

    code = models.CharField(max_length=40)
    version = models.PositiveIntegerField()
    title = models.CharField(max_length=200)
    effective_on = models.DateField()
    grace_days = models.PositiveSmallIntegerField(
        default=30,
        validators=[MaxValueValidator(365)],
        help_text="Training on an earlier version stays valid this many days after this version "
        "takes effect.",
    )

    class Meta:
        ordering = ["code", "version"]
        verbose_name = "SOP version"
        triggers = [
            never_deleted(),
            pgtrigger.ReadOnly(
                name="sop_version_fixed", fields=["code", "version", "effective_on"]
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["code", "version"], name="sop_version_once"),
        ]

    def __str__(self):
        return f"{self.code} v{self.version}"


@audited()
class TrainingRequirement(GmpRecord):
    """That doing `step` on `subject` (an assay code, or "release") needs training on the
    current version of SOP `sop_code`. Where a subject has none, nobody is refused for it."""

    IDENTIFIER_FIELDS = ("subject", "sop_code")

    subject = models.CharField(max_length=40, help_text='An assay code, or "release".')
    step = models.CharField(max_length=20, choices=Step.choices)
    sop_code = models.CharField(max_length=40)

    class Meta:
        ordering = ["subject", "step", "sop_code"]
        triggers = [never_deleted()]
        constraints = [
            models.UniqueConstraint(
                fields=["subject", "step", "sop_code"],
                condition=Q(voided_at__isnull=True),
                name="training_requirement_once",
            )
        ]

    def __str__(self):
        return f"{self.subject} / {self.get_step_display()}: {self.sop_code}"


@audited()
class TrainingRecord(GmpRecord):
    """A person trained on one SOP version: when, by whom, until when, recorded and signed by
    QA (21 CFR 211.25(a): training in the particular operations the employee performs).
    Append-only: a mistake is voided with a reason and recorded again. QA's signature
    (lims.signatures.signatures_of) is bound to its content."""

    trainee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="trainings"
    )
    sop = models.ForeignKey(Sop, on_delete=models.PROTECT, related_name="trainings")
    trained_on = models.DateField()
    trainer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    expires_on = models.DateField(help_text="Requalification due: the training lapses after it.")

    class Meta:
        ordering = ["trainee", "sop", "-trained_on"]
        triggers = [
            never_deleted(),
            pgtrigger.ReadOnly(
                name="training_record_fixed",
                fields=["trainee", "sop", "trained_on", "trainer", "expires_on"],
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(expires_on__gt=F("trained_on")), name="training_expires_after"
            ),
            models.CheckConstraint(
                condition=~Q(trainer=F("trainee")), name="training_not_self_given"
            ),
        ]

    def __str__(self):
        return f"{self.trainee} trained on {self.sop} ({self.trained_on})"
