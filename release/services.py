"""QA's disposition of a lot with an e-signature, and the segregation of duties behind it
(DOMAIN.md §1.6, §6).

21 CFR 211.192 and Annex 11 §15: only QA certifies, never a person who produced the lot's data,
never with an open deviation or a failing criterion. The lot row is locked for the decision and
a partial unique index allows one final disposition per lot, so two QA users signing at the same
moment give exactly one decision.
"""

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q

from assays.models import AssayRun, Result
from batches.genealogy import lot_genealogy
from batches.models import Aliquot, CultureBatch, ExosomeLot, Harvest, IsolationRun, Passage
from batches.services import aliquots_follow_lot
from lims.models import User
from lims.roles import ADMIN, QA, can_sign_dispositions, has_role, require
from lims.signatures import Signer, sign
from lims.training import RELEASE, Step, require_qualified
from lims.transitions import move_status
from release.certificate import issue_certificate
from release.models import Disposition
from release.selectors import release_blockers, release_content
from release.specifications import evaluate, specification_assign

# --- Segregation of duties ---------------------------------------------------------------------


def people_behind(lot: ExosomeLot) -> set[int]:
    """Everyone who recorded, performed or reviewed a record or result of the lot."""
    genealogy = lot_genealogy(lot)
    batch_ids = [b.pk for b in genealogy.culture_batches]
    run_ids = [r.pk for r in genealogy.isolation_runs]
    people: set[int | None] = {lot.created_by_id}
    people |= set(Aliquot.objects.filter(lot=lot).values_list("created_by", flat=True))
    for pair in IsolationRun.objects.filter(pk__in=run_ids).values_list("created_by", "operator"):
        people |= set(pair)
    people |= set(
        CultureBatch.objects.filter(pk__in=batch_ids).values_list("created_by", flat=True)
    )
    people |= set(Passage.objects.filter(batch__in=batch_ids).values_list("created_by", flat=True))
    people |= set(Harvest.objects.filter(batch__in=batch_ids).values_list("created_by", flat=True))
    runs = AssayRun.objects.filter(Q(samples__lot=lot) | Q(samples__culture_batch__in=batch_ids))
    for triple in runs.values_list("created_by", "operator", "reviewed_by"):
        people |= set(triple)
    people |= set(Result.objects.filter(run__in=runs).values_list("created_by", flat=True))
    return {pk for pk in people if pk is not None}


def disposition_refusals(user: User, lot: ExosomeLot) -> list[str]:
    """Why `user` may not sign the disposition of `lot` (empty: they may)."""
    if has_role(user, ADMIN):
        return ["Administrators cannot sign dispositions (segregation of duties)."]
    if not has_role(user, QA):
        return ["Only QA can sign the disposition of a lot."]
    if user.pk in people_behind(lot):
        return [
            f"You recorded, performed or reviewed records or results of lot {lot}: "
            "another QA person must sign its disposition (21 CFR 211.192)."
        ]
    return []


def user_can_release(user: User, lot: ExosomeLot) -> bool:
    return not disposition_refusals(user, lot)


# --- Disposition -------------------------------------------------------------------------------

MEANING = {"released": "approval", "rejected": "rejection", "quarantined": "responsibility"}


class DispositionConflict(ValidationError):
    """Another QA user decided on this lot first."""


def lot_dispose(
    *, signer: Signer, lot: ExosomeLot, decision: str, reason: str = "", comment: str = ""
) -> Disposition:
    """QA's signed decision. Atomic; the CoA is rendered once it has committed (slow I/O)."""
    with transaction.atomic():
        disposition = _dispose(
            signer=signer, lot=lot, decision=decision, reason=reason, comment=comment
        )
    if decision == Disposition.Decision.RELEASED:
        # Outside the transaction: a failure here leaves the release standing, and the
        # periodic catch-up (release.tasks.catch_up) issues the certificate.
        issue_certificate(disposition)
    return disposition


def _dispose(
    *, signer: Signer, lot: ExosomeLot, decision: str, reason: str, comment: str
) -> Disposition:
    if decision not in Disposition.Decision.values:
        raise ValidationError({"decision": "Choose a decision."})
    if signer.meaning != MEANING[decision]:
        raise ValidationError(
            f"A decision '{decision}' is signed with the meaning {MEANING[decision]}."
        )
    # Row lock: a second QA user signing at the same moment waits here, then sees the result.
    locked = ExosomeLot.objects.select_for_update().get(pk=lot.pk)
    if locked.is_locked:
        raise DispositionConflict(
            f"Lot {locked} was already {locked.get_status_display().lower()} "
            "(another disposition was signed first)."
        )
    refusals = disposition_refusals(signer.user, locked)
    if refusals:
        raise ValidationError(refusals)
    # The predicate the signing page checks, once more (disposition_refusals names the reason).
    require(can_sign_dispositions, signer.user, "Only QA signs dispositions.")
    # Training on the release SOP where QA requires one (lims.training, 21 CFR 211.25(a)).
    require_qualified(signer.user, RELEASE, Step.SIGN, field="decision")
    if decision == Disposition.Decision.RELEASED:
        # Decide on the current data, not on what a page last showed.
        evaluate(lot=locked)
        blockers = release_blockers(locked)
        if blockers:
            raise ValidationError(["The lot cannot be released:", *(b.message for b in blockers)])
    elif not reason.strip():
        raise ValidationError({"reason": "Give the reason for a rejection or quarantine."})
    if decision not in ExosomeLot.TRANSITIONS.get(locked.status, ()):
        raise ValidationError(
            f"A lot {locked.get_status_display().lower()} cannot be "
            f"{Disposition.Decision(decision).label.lower()}."
        )
    # The judging specification first: it is part of the signed content, and fixing it after
    # the signature would leave the signature bound to content the record no longer has.
    specification = specification_assign(lot=locked)
    signature = sign(
        signer=signer,
        record=locked,
        content=release_content(locked, decision),
        comment=comment,
    )
    try:
        with transaction.atomic():
            disposition = Disposition.objects.create(
                lot=locked,
                decision=decision,
                reason=reason,
                signature=signature,
                specification=specification,
            )
    except IntegrityError as exc:
        raise DispositionConflict(f"Lot {locked} already has a final disposition.") from exc
    move_status(
        locked,
        to=decision,
        actor=signer.user,
        reason=reason or Disposition.Decision(decision).label,
        extra_fields={"status_reason": reason or Disposition.Decision(decision).label},
    )
    # The vials follow the decision in the same transaction: available once released,
    # rejected once rejected, still in quarantine when the lot is quarantined.
    aliquots_follow_lot(
        actor=signer.user,
        lot=locked,
        reason=f"Lot {locked} {Disposition.Decision(decision).label.lower()}",
    )
    return disposition
