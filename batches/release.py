"""Release of a lot: deviations and OOS investigations, QA disposition with an e-signature,
segregation of duties, and the certificate of analysis (DOMAIN.md §1.6, §6).

21 CFR 211.192 and Annex 11 §15: only QA certifies, never a person who produced the lot's data,
never with an open deviation or a failing criterion. The lot row is locked for the decision and
a partial unique index allows one final disposition per lot, so two QA users signing at the same
moment give exactly one decision.
"""

import hashlib
import logging

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from batches.genealogy import lot_genealogy
from batches.models import (
    Aliquot,
    CapaAction,
    CertificateOfAnalysis,
    CultureBatch,
    Deviation,
    Disposition,
    ExosomeLot,
    Harvest,
    IsolationRun,
    Passage,
)
from lims.audit import audit_context
from lims.identifiers import next_identifier
from lims.roles import ADMIN, QA, has_role
from lims.transitions import move_status

log = logging.getLogger(__name__)
FINAL = (ExosomeLot.Status.RELEASED, ExosomeLot.Status.REJECTED)


def lock_message(lot: ExosomeLot) -> str | None:
    if lot.status in FINAL:
        return (
            f"Lot {lot} is {lot.get_status_display().lower()}: its records are locked and "
            "take no changes."
        )
    return None


def check_not_locked(lot: ExosomeLot | None) -> None:
    message = lot and lock_message(lot)
    if message:
        raise ValidationError(message)


# --- Deviations ------------------------------------------------------------------------------


@transaction.atomic
def deviation_open(
    *,
    actor,
    kind: str,
    title: str,
    description: str,
    lot=None,
    culture_batch=None,
    isolation_run=None,
    storage_location=None,
    criterion=None,
    metric=None,
) -> Deviation:
    if not any((lot, culture_batch, isolation_run, storage_location)):
        raise ValidationError("Say what the deviation concerns: a lot, batch, run or position.")
    deviation = Deviation(
        code=next_identifier("deviation"),
        kind=kind,
        title=title,
        description=description,
        lot=lot,
        culture_batch=culture_batch,
        isolation_run=isolation_run,
        storage_location=storage_location,
        criterion=criterion,
        metric=metric,
        created_by=actor,
    )
    deviation.full_clean()
    with audit_context(actor=actor, reason="Deviation opened"):
        deviation.save()
    return deviation


def deviation_open_oos(*, lot, criterion, metric) -> Deviation | None:
    """Open the OOS investigation of a failing required criterion (once per failing metric)."""
    from lims.models import User

    if Deviation.objects.filter(lot=lot, criterion=criterion, metric=metric, kind="oos").exists():
        return None
    system = User.objects.get(username="system")
    value = metric.value if metric.value is not None else (metric.details or {}).get("text")
    try:
        with transaction.atomic():
            return deviation_open(
                actor=system,
                kind=Deviation.Kind.OOS,
                lot=lot,
                criterion=criterion,
                metric=metric,
                title=f"OOS: {criterion.test} of lot {lot}",
                description=(
                    f"{criterion.test} gave {value} {metric.unit} against the acceptance "
                    f"criterion {criterion.acceptance} (metric {metric.code}, run "
                    f"{metric.run_id or 'lot level'}). Opened automatically."
                ),
            )
    except IntegrityError:  # opened concurrently by another evaluation
        return None


def _check_qa(actor, what: str) -> None:
    if not has_role(actor, QA):
        raise ValidationError(f"Only QA {what}.")


def _check_not_closed(deviation: Deviation) -> None:
    # A closed deviation's content is what its closure signature is bound to (11.70).
    if deviation.status == Deviation.Status.CLOSED:
        raise ValidationError(f"{deviation} is closed: its record takes no changes.")


@transaction.atomic
def deviation_investigate(
    *, actor, deviation: Deviation, root_cause: str = "", impact_assessment: str = ""
) -> Deviation:
    _check_qa(actor, "investigates deviations")
    deviation = Deviation.objects.select_for_update().get(pk=deviation.pk)
    _check_not_closed(deviation)
    if deviation.status == Deviation.Status.OPEN:
        deviation = move_status(
            deviation, to="under_investigation", actor=actor, reason="Investigation started"
        )
    changes = {
        k: v
        for k, v in {"root_cause": root_cause, "impact_assessment": impact_assessment}.items()
        if v
    }
    if changes:
        from batches.services import record_update

        deviation = record_update(
            deviation, actor=actor, changes=changes, reason="Investigation recorded"
        )
    return deviation


@transaction.atomic
def capa_add(*, actor, deviation: Deviation, description: str, owner: str, due_on) -> CapaAction:
    _check_qa(actor, "adds CAPA actions")
    deviation = Deviation.objects.select_for_update().get(pk=deviation.pk)
    _check_not_closed(deviation)
    action = CapaAction(
        deviation=deviation, description=description, owner=owner, due_on=due_on, created_by=actor
    )
    action.full_clean()
    with audit_context(actor=actor, reason="CAPA action added"):
        action.save()
    return action


@transaction.atomic
def capa_done(*, actor, action: CapaAction, done_on) -> CapaAction:
    from batches.services import record_update

    _check_qa(actor, "marks CAPA actions done")
    deviation = Deviation.objects.select_for_update().get(pk=action.deviation_id)
    _check_not_closed(deviation)
    if CapaAction.objects.get(pk=action.pk).done_on is not None:
        raise ValidationError(f"{action} is already done.")
    return record_update(
        action, actor=actor, changes={"done_on": done_on}, reason="CAPA action completed"
    )


def deviation_close(
    *, request, deviation: Deviation, outcome: str, username: str, password: str, comment: str = ""
) -> Deviation:
    """QA closes an investigation with its outcome and an e-signature (meaning: approval).

    Outcome "result invalidated" invalidates the runs behind the OOS metric and requires a
    retest; "OOS confirmed" leaves the lot rejectable only.
    """
    from lims.signatures import reauthenticate

    # 11.300: re-authenticate before the transaction opens. A refusal inside it would roll back
    # django-axes' record of the failed attempt with everything else, and it would not count.
    reauthenticate(request=request, username=username, password=password)
    return _close(
        request=request,
        deviation=deviation,
        outcome=outcome,
        username=username,
        password=password,
        comment=comment,
    )


@transaction.atomic
def _close(*, request, deviation, outcome, username, password, comment):
    from lims.signatures import sign

    if not has_role(request.user, QA):
        raise ValidationError("Only QA closes deviations.")
    deviation = Deviation.objects.select_for_update().get(pk=deviation.pk)
    if deviation.status == Deviation.Status.CLOSED:
        raise ValidationError(f"{deviation} is already closed.")
    if outcome not in Deviation.Outcome.values:
        raise ValidationError({"outcome": "Choose the outcome of the investigation."})
    if not deviation.root_cause.strip() or not deviation.impact_assessment.strip():
        raise ValidationError("Record the root cause and the impact assessment before closing.")
    if deviation.capa_actions.filter(done_on__isnull=True).exists():
        raise ValidationError("Every CAPA action must be done before the deviation is closed.")
    deviation.outcome = outcome
    signature = sign(
        request=request,
        username=username,
        password=password,
        meaning="approval",
        record=deviation,
        content=deviation.signed_content(),
        comment=comment,
    )
    if outcome == Deviation.Outcome.RESULT_INVALIDATED and deviation.metric_id:
        _invalidate_oos_run(request.user, deviation)
    return move_status(
        deviation,
        to="closed",
        actor=request.user,
        reason=f"Closed: {outcome}",
        extra_fields={
            "outcome": outcome,
            "closure_signature": signature,
            "closed_at": timezone.now(),
        },
    )


def _invalidate_oos_run(actor, deviation):
    from assays.models import AssayRun
    from assays.services import run_invalidate

    metric = deviation.metric
    # A run's metric rests on its run; a lot-level one (purity) on the runs of its inputs.
    runs = (
        [metric.run]
        if metric.run_id
        else AssayRun.objects.filter(results__in=metric.input_results).distinct().order_by("pk")
    )
    runs = [run for run in runs if run.status != "invalidated"]
    for run in runs:
        run_invalidate(
            actor=actor,
            run=run,
            reason=f"Invalidated by investigation {deviation}: retest required",
        )
    if runs:
        lot = deviation.lot
        if lot is not None and lot.status not in FINAL:
            from assays.specifications import evaluate

            # Without the invalidated run the criterion is pending again (retest required);
            # until re-evaluated, the lot's checklist would still show the OOS result.
            evaluate(lot=lot)


# --- Segregation of duties ---------------------------------------------------------------------


def people_behind(lot: ExosomeLot) -> set[int]:
    """Everyone who recorded, performed or reviewed a record or result of the lot."""
    from assays.models import AssayRun, Result

    genealogy = lot_genealogy(lot)
    batch_ids = [b.pk for b in genealogy.culture_batches]
    run_ids = [r.pk for r in genealogy.isolation_runs]
    people = {lot.created_by_id}
    people |= set(Aliquot.objects.filter(lot=lot).values_list("created_by", flat=True))
    for row in IsolationRun.objects.filter(pk__in=run_ids).values_list("created_by", "operator"):
        people |= set(row)
    people |= set(
        CultureBatch.objects.filter(pk__in=batch_ids).values_list("created_by", flat=True)
    )
    people |= set(Passage.objects.filter(batch__in=batch_ids).values_list("created_by", flat=True))
    people |= set(Harvest.objects.filter(batch__in=batch_ids).values_list("created_by", flat=True))
    runs = AssayRun.objects.filter(Q(samples__lot=lot) | Q(samples__culture_batch__in=batch_ids))
    for row in runs.values_list("created_by", "operator", "reviewed_by"):
        people |= set(row)
    people |= set(Result.objects.filter(run__in=runs).values_list("created_by", flat=True))
    people.discard(None)
    return people


def disposition_refusals(user, lot: ExosomeLot) -> list[str]:
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


def user_can_release(user, lot) -> bool:
    return not disposition_refusals(user, lot)


# --- Review by exception ----------------------------------------------------------------------


def release_blockers(lot: ExosomeLot) -> list[str]:
    """Everything that stops the release of the lot, in words QA can act on."""
    from assays.specifications import evaluate

    blockers = []
    if lot.status != ExosomeLot.Status.UNDER_REVIEW:
        blockers.append(
            f"The lot is {lot.get_status_display().lower()}: only a lot under review "
            "can be released."
        )
    if lot.status in FINAL:
        # Its evaluations are what the disposition signed: re-evaluating would rewrite them
        # (and could open investigations) on a locked lot, and void the signature.
        return blockers
    evaluations = evaluate(lot=lot)
    if not evaluations:
        blockers.append("No effective specification judges this lot.")
    for e in evaluations:
        if e.criterion.required and e.status not in ("pass", "alert"):
            what = {
                "fail": "fails (OOS)",
                "pending": "has no result yet",
                "invalid": "has an invalid result",
            }[e.status]
            blockers.append(f"{e.criterion.test} ({e.criterion.acceptance}) {what}.")
    for d in related_deviations(lot):
        if d.status != Deviation.Status.CLOSED:
            blockers.append(f"Deviation {d.code} ({d.title}) is {d.get_status_display().lower()}.")
        elif d.outcome == Deviation.Outcome.OOS_CONFIRMED:
            blockers.append(f"OOS confirmed by {d.code}: the lot can only be rejected.")
    return blockers


def related_deviations(lot: ExosomeLot):
    genealogy = lot_genealogy(lot)
    return (
        Deviation.objects.filter(
            Q(lot=lot)
            | Q(culture_batch__in=[b.pk for b in genealogy.culture_batches])
            | Q(isolation_run__in=[r.pk for r in genealogy.isolation_runs])
            | Q(storage_location__aliquot__lot=lot)
        )
        .distinct()
        .order_by("created_at")
    )


def release_content(lot: ExosomeLot, decision: str) -> dict:
    """What QA signs: the decision, the specification and every evaluation it rests on."""
    from assays.models import CriterionEvaluation, LotSpecification

    judged = LotSpecification.objects.filter(lot=lot).select_related("specification").first()
    evaluations = CriterionEvaluation.objects.filter(lot=lot).select_related("criterion")
    return {
        "lot": lot.code,
        "decision": decision,
        "specification": str(judged.specification) if judged else None,
        "evaluations": [
            {
                "test": e.criterion.test,
                "acceptance": e.criterion.acceptance,
                "status": e.status,
                "value": e.value,
                "text": e.text,
                "metric": e.metric_id,
            }
            for e in evaluations.order_by("criterion__position", "criterion_id")
        ],
        "deviations": [
            {"code": d.code, "status": d.status, "outcome": d.outcome}
            for d in related_deviations(lot)
        ],
    }


# --- Disposition -------------------------------------------------------------------------------

MEANING = {"released": "approval", "rejected": "rejection", "quarantined": "responsibility"}


class DispositionConflict(ValidationError):
    """Another QA user decided on this lot first."""


def lot_dispose(
    *,
    request,
    lot: ExosomeLot,
    decision: str,
    username: str,
    password: str,
    reason: str = "",
    comment: str = "",
) -> Disposition:
    """QA's signed decision. Atomic; the CoA is rendered after the commit (slow I/O)."""
    from lims.signatures import reauthenticate

    # 11.300: re-authenticate before the transaction opens (see deviation_close); sign() checks
    # again inside it.
    reauthenticate(request=request, username=username, password=password)
    with transaction.atomic():
        disposition = _dispose(
            request=request,
            lot=lot,
            decision=decision,
            username=username,
            password=password,
            reason=reason,
            comment=comment,
        )
    if decision == Disposition.Decision.RELEASED:
        issue_certificate(disposition)
    return disposition


def _dispose(*, request, lot, decision, username, password, reason, comment):
    from assays.specifications import specification_for
    from lims.signatures import sign

    if decision not in Disposition.Decision.values:
        raise ValidationError({"decision": "Choose a decision."})
    # Row lock: a second QA user signing at the same moment waits here, then sees the result.
    locked = ExosomeLot.objects.select_for_update().get(pk=lot.pk)
    if locked.status in FINAL:
        raise DispositionConflict(
            f"Lot {locked} was already {locked.get_status_display().lower()} "
            "(another disposition was signed first)."
        )
    refusals = disposition_refusals(request.user, locked)
    if refusals:
        raise ValidationError(refusals)
    if decision == Disposition.Decision.RELEASED:
        blockers = release_blockers(locked)
        if blockers:
            raise ValidationError(["The lot cannot be released:", *blockers])
    elif not reason.strip():
        raise ValidationError({"reason": "Give the reason for a rejection or quarantine."})
    if decision not in ExosomeLot.TRANSITIONS.get(locked.status, ()):
        raise ValidationError(
            f"A lot {locked.get_status_display().lower()} cannot be "
            f"{Disposition.Decision(decision).label.lower()}."
        )
    signature = sign(
        request=request,
        username=username,
        password=password,
        meaning=MEANING[decision],
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
                specification=specification_for(lot=locked),
            )
    except IntegrityError as exc:
        raise DispositionConflict(f"Lot {locked} already has a final disposition.") from exc
    move_status(
        locked,
        to=decision,
        actor=request.user,
        reason=reason or Disposition.Decision(decision).label,
        extra_fields={"status_reason": reason or Disposition.Decision(decision).label},
    )
    return disposition


# --- Certificate of analysis ------------------------------------------------------------------


def issue_certificate(disposition: Disposition) -> CertificateOfAnalysis:
    """Render the CoA once, store its bytes under their SHA-256 and record it (idempotent)."""
    existing = CertificateOfAnalysis.objects.filter(lot=disposition.lot).first()
    if existing is not None:
        return existing
    from batches.certificate import render_certificate

    pdf = render_certificate(disposition)
    digest = hashlib.sha256(pdf).hexdigest()
    name = f"certificates/{digest[:2]}/{digest}.pdf"
    if not default_storage.exists(name):
        default_storage.save(name, ContentFile(pdf))
    try:
        with (
            transaction.atomic(),
            audit_context(
                actor=disposition.signature.signer, reason="Certificate of analysis issued"
            ),
        ):
            return CertificateOfAnalysis.objects.create(
                lot=disposition.lot, disposition=disposition, sha256=digest, size=len(pdf)
            )
    except IntegrityError:
        return CertificateOfAnalysis.objects.get(lot=disposition.lot)


def certificate_bytes(certificate: CertificateOfAnalysis) -> bytes:
    with default_storage.open(certificate.storage_name, "rb") as fh:
        data = fh.read()
    if hashlib.sha256(data).hexdigest() != certificate.sha256:
        raise RuntimeError(f"Stored certificate of {certificate.lot} no longer matches its hash.")
    return data
