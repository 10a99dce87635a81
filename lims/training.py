"""Who is qualified for what, and the writes of training records (21 CFR 211.25(a),
21 CFR 11.10(i): persons who develop, maintain or use electronic record systems have the
education, training and experience to perform their assigned tasks).

`is_qualified(user, subject, step, at)` answers for one step; `require_qualified` refuses with
the reason next to a form field. The layers above call it with a generic subject: an assay's
code (assays.services: run performed, result entered, review) or "release" (release.services:
the disposition). A subject and step with no TrainingRequirement need no training, so
qualification is enforced exactly where QA has declared which SOP a step needs.

Validity of a training, half-open [trained_on, ends_on): it ends at its expiry, or when a later
version of its SOP has been in effect for that version's grace period, whichever comes first.
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from lims.audit import audit_context
from lims.models import Signature, Sop, Step, TrainingRecord, TrainingRequirement, User
from lims.roles import SYSTEM_USERNAME, can_manage_training, require
from lims.signatures import Signer, sign

RELEASE = "release"
# The matrix flags a qualification that ends within this many days.
EXPIRING_SOON_DAYS = 30
MANAGES_TRAINING = "Only QA records training, SOP versions and training requirements."


class NotQualified(ValidationError):
    """The person has no valid training for the step (21 CFR 211.25(a))."""


# --- The rule, without the database ---------------------------------------------------------


@dataclass(frozen=True)
class SopVersion:
    version: int
    effective_on: date
    grace_days: int


@dataclass(frozen=True)
class Training:
    version: int
    trained_on: date
    expires_on: date


@dataclass(frozen=True)
class Standing:
    """A person's standing on one SOP on one day."""

    sop_code: str
    state: str  # "qualified", "expiring", "lapsed", "untrained"
    ends_on: date | None
    reason: str

    @property
    def qualified(self) -> bool:
        return self.state in ("qualified", "expiring")


STATE_ORDER = {"untrained": 0, "lapsed": 1, "expiring": 2, "qualified": 3}


def training_ends(training: Training, versions: Sequence[SopVersion]) -> tuple[date, str]:
    """The first day `training` no longer counts, and why."""
    ends, why = training.expires_on, f"expired on {training.expires_on:%Y-%m-%d}"
    for later in versions:
        if later.version <= training.version:
            continue
        lapse = later.effective_on + timedelta(days=later.grace_days)
        if lapse < ends:
            ends = lapse
            why = (
                f"lapsed on {lapse:%Y-%m-%d} ({later.grace_days} days after v{later.version} "
                f"took effect on {later.effective_on:%Y-%m-%d})"
            )
    return ends, why


def standing(
    sop_code: str,
    trainings: Iterable[Training],
    versions: Sequence[SopVersion],
    day: date,
    *,
    soon_days: int = EXPIRING_SOON_DAYS,
) -> Standing:
    """Whether some training on `sop_code` counts on `day`, and until when."""
    if not versions:
        return Standing(sop_code, "untrained", None, f"SOP {sop_code} has no issued version.")
    best: tuple[date, Training] | None = None
    last_lapse: tuple[date, str, Training] | None = None
    for training in trainings:
        ends, why = training_ends(training, versions)
        if training.trained_on <= day < ends:
            if best is None or ends > best[0]:
                best = (ends, training)
        elif training.trained_on <= day and (last_lapse is None or ends > last_lapse[0]):
            last_lapse = (ends, why, training)
    if best is not None:
        ends, training = best
        state = "expiring" if (ends - day).days <= soon_days else "qualified"
        return Standing(
            sop_code,
            state,
            ends,
            f"Trained on {sop_code} v{training.version} until {ends:%Y-%m-%d}.",
        )
    if last_lapse is not None:
        ends, why, training = last_lapse
        return Standing(
            sop_code, "lapsed", ends, f"Training on {sop_code} v{training.version} {why}."
        )
    return Standing(sop_code, "untrained", None, f"Not trained on {sop_code}.")


# --- Reads ---------------------------------------------------------------------------------


def _day(at: date | datetime | None) -> date:
    if at is None:
        return timezone.localdate()
    if isinstance(at, datetime):
        return timezone.localdate(at)
    return at


def _versions(codes: Iterable[str]) -> dict[str, list[SopVersion]]:
    found: dict[str, list[SopVersion]] = defaultdict(list)
    for code, version, effective_on, grace in (
        Sop.objects.filter(code__in=set(codes), voided_at__isnull=True)
        .order_by("code", "version")
        .values_list("code", "version", "effective_on", "grace_days")
    ):
        found[code].append(SopVersion(version, effective_on, grace))
    return found


def _trainings(user_ids: Iterable[int], codes: Iterable[str]) -> dict[tuple[int, str], list]:
    found: dict[tuple[int, str], list[Training]] = defaultdict(list)
    for trainee, code, version, trained_on, expires_on in TrainingRecord.objects.filter(
        trainee__in=set(user_ids), sop__code__in=set(codes), voided_at__isnull=True
    ).values_list("trainee", "sop__code", "sop__version", "trained_on", "expires_on"):
        found[(trainee, code)].append(Training(version, trained_on, expires_on))
    return found


def required_sops(subject: str, step: str) -> list[str]:
    return list(
        TrainingRequirement.objects.filter(subject=subject, step=step, voided_at__isnull=True)
        .order_by("sop_code")
        .values_list("sop_code", flat=True)
    )


def qualification_gaps(user: Any, subject: str, step: str, at: date | datetime | None) -> list[str]:
    """Why `user` may not do `step` on `subject` at `at` (empty: they may). One query when the
    step needs no training, three when it does."""
    if user is None or getattr(user, "username", None) == SYSTEM_USERNAME:
        return []
    codes = required_sops(subject, step)
    if not codes:
        return []
    day = _day(at)
    versions = _versions(codes)
    trainings = _trainings([user.pk], codes)
    return [
        found.reason
        for code in codes
        if not (found := standing(code, trainings[(user.pk, code)], versions[code], day)).qualified
    ]


def is_qualified(user: Any, subject: str, step: str, at: date | datetime | None = None) -> bool:
    return not qualification_gaps(user, subject, step, at)


STEP_VERB = {
    Step.PERFORM: "perform",
    Step.ENTER: "enter results of",
    Step.REVIEW: "review",
    Step.SIGN: "sign",
}


def require_qualified(
    user: Any,
    subject: str,
    step: str,
    *,
    at: date | datetime | None = None,
    field: str | None = None,
) -> None:
    """Refuse with NotQualified, next to `field`, unless `user` is qualified."""
    gaps = qualification_gaps(user, subject, step, at)
    if not gaps:
        return
    who = getattr(user, "printed_name", str(user))
    what = "this disposition" if subject == RELEASE else subject
    message = f"{who} is not qualified to {STEP_VERB[Step(step)]} {what}: {' '.join(gaps)}"
    raise NotQualified({field: message} if field else message)


@dataclass(frozen=True)
class MatrixCell:
    state: str
    ends_on: date | None
    reasons: list[str]


@dataclass(frozen=True)
class MatrixRow:
    user: Any
    cells: list[MatrixCell]


def training_matrix(*, on: date | None = None) -> tuple[list[str], list[MatrixRow]]:
    """People × subjects: each active person's worst standing over the SOPs a subject's steps
    require, with the day it ends. Four queries whatever the size."""
    day = on or timezone.localdate()
    needs: dict[str, set[str]] = defaultdict(set)
    for subject, code in TrainingRequirement.objects.filter(voided_at__isnull=True).values_list(
        "subject", "sop_code"
    ):
        needs[subject].add(code)
    subjects = sorted(needs)
    codes = {c for cs in needs.values() for c in cs}
    users = list(
        User.objects.filter(is_active=True, groups__isnull=False)
        .exclude(username=SYSTEM_USERNAME)
        .distinct()
        .order_by("last_name", "first_name", "username")
    )
    versions = _versions(codes)
    trainings = _trainings([u.pk for u in users], codes)
    rows = []
    for user in users:
        cells = []
        for subject in subjects:
            found = [
                standing(code, trainings[(user.pk, code)], versions[code], day)
                for code in sorted(needs[subject])
            ]
            worst = min(found, key=lambda s: (STATE_ORDER[s.state], s.ends_on or date.max))
            cells.append(MatrixCell(worst.state, worst.ends_on, [s.reason for s in found]))
        rows.append(MatrixRow(user, cells))
    return subjects, rows


# --- Writes (QA) ----------------------------------------------------------------------------


@transaction.atomic
def sop_issue(
    *, actor: User, code: str, title: str, effective_on: date, grace_days: int = 30
) -> Sop:
    """Issue the next version of an SOP; it cannot take effect before the version it follows."""
    require(can_manage_training, actor, MANAGES_TRAINING)
    code = code.strip()
    previous = (
        Sop.objects.select_for_update()
        .filter(code=code, voided_at__isnull=True)
        .order_by("-version")
    ).first()
    if previous is not None and effective_on <= previous.effective_on:
        raise ValidationError(
            {
                "effective_on": f"{previous} took effect on {previous.effective_on:%Y-%m-%d}: a "
                "new version takes effect after it."
            }
        )
    sop = Sop(
        code=code,
        version=(previous.version + 1) if previous else 1,
        title=title,
        effective_on=effective_on,
        grace_days=grace_days,
        created_by=actor,
    )
    sop.full_clean()
    with audit_context(actor=actor, reason=f"SOP {sop} issued"):
        sop.save()
    return sop


@transaction.atomic
def training_requirement_add(
    *, actor: User, subject: str, step: str, sop_code: str
) -> TrainingRequirement:
    require(can_manage_training, actor, MANAGES_TRAINING)
    sop_code = sop_code.strip()
    if not Sop.objects.filter(code=sop_code, voided_at__isnull=True).exists():
        raise ValidationError({"sop_code": f"No SOP {sop_code} has been issued."})
    requirement = TrainingRequirement(
        subject=subject.strip(), step=step, sop_code=sop_code, created_by=actor
    )
    requirement.full_clean()
    with audit_context(actor=actor, reason="Training requirement added"):
        requirement.save()
    return requirement


def training_content(record: TrainingRecord) -> dict[str, Any]:
    """What QA's signature on a training record is bound to."""
    return {
        "trainee": record.trainee.username,
        "sop": record.sop.code,
        "version": record.sop.version,
        "trained_on": record.trained_on,
        "trainer": record.trainer.username,
        "expires_on": record.expires_on,
    }


@transaction.atomic
def training_record(
    *,
    signer: Signer,
    trainee: User,
    sop: Sop,
    trained_on: date,
    trainer: User,
    expires_on: date,
    comment: str = "",
) -> TrainingRecord:
    """QA records, and signs (meaning: approval), that `trainee` was trained on `sop`."""
    actor = signer.user
    require(can_manage_training, actor, MANAGES_TRAINING)
    if signer.meaning != Signature.Meaning.APPROVAL:
        raise ValidationError("A training record is signed with the meaning approval.")
    errors: dict[str, str] = {}
    today = timezone.localdate()
    if trained_on > today:
        errors["trained_on"] = "Training is recorded once it has happened, not ahead of it."
    if expires_on <= trained_on:
        errors["expires_on"] = "A training expires after the day it was given."
    if trainer.pk == trainee.pk:
        errors["trainer"] = "A person does not train themselves: name the trainer."
    elif not trainer.is_active:
        errors["trainer"] = f"{trainer.printed_name} is deactivated."
    if not trainee.is_active:
        errors["trainee"] = f"{trainee.printed_name} is deactivated."
    if sop.is_voided:
        errors["sop"] = f"{sop} is voided."
    if errors:
        raise ValidationError(errors)
    record = TrainingRecord(
        trainee=trainee,
        sop=sop,
        trained_on=trained_on,
        trainer=trainer,
        expires_on=expires_on,
        created_by=actor,
    )
    record.full_clean()
    with audit_context(actor=actor, reason=f"Training of {trainee.username} on {sop} recorded"):
        record.save()
    sign(signer=signer, record=record, content=training_content(record), comment=comment)
    return record


@transaction.atomic
def training_void(*, actor: User, record: TrainingRecord, reason: str) -> TrainingRecord:
    """Void a training recorded in error (it no longer qualifies anyone); never deleted."""
    require(can_manage_training, actor, MANAGES_TRAINING)
    if not reason.strip():
        raise ValidationError({"reason": "Say why the training record is voided."})
    record = TrainingRecord.objects.select_for_update().get(pk=record.pk)
    if record.is_voided:
        raise ValidationError("This training record is already voided.")
    record.voided_at = timezone.now()
    record.voided_by = actor
    record.void_reason = reason.strip()
    with audit_context(actor=actor, reason=f"Training record voided: {reason.strip()}"):
        record.save(update_fields=["voided_at", "voided_by", "void_reason"])
    return record
