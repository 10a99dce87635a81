"""Deviations and OOS investigations with their CAPA actions (21 CFR 211.192; EU GMP Part I
chapter 1.4(xiv) and chapter 8).

An OOS investigation opens automatically when a required criterion fails (release.specifications);
other deviations are opened by hand. QA investigates, records root cause, impact and CAPA, and
closes with an e-signature. An open deviation blocks the release of every lot it concerns.
"""

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from assays.metrics import metric_is_valid
from assays.models import AssayRun
from assays.services import run_invalidate
from batches.genealogy import lot_genealogy
from batches.models import ExosomeLot
from batches.services import record_update
from lims.audit import audit_context
from lims.identifiers import next_identifier
from lims.models import Signature, system_user
from lims.roles import can_handle_deviations, can_open_deviations, require
from lims.signatures import Signer, sign
from lims.transitions import move_status
from release.models import CapaAction, Deviation


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
    require(can_open_deviations, actor, "Your role does not allow opening deviations.")
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


def deviation_open_oos(*, criterion, metric, lot=None, culture_batch=None) -> Deviation | None:
    """Open the OOS investigation of a failing required criterion of a lot or of a culture batch
    (once per failing metric)."""
    target = {"lot": lot} if lot is not None else {"culture_batch": culture_batch}
    subject = f"lot {lot}" if lot is not None else f"culture batch {culture_batch}"
    if Deviation.objects.filter(**target, criterion=criterion, metric=metric, kind="oos").exists():
        return None
    system = system_user()
    value = metric.value if metric.value is not None else (metric.details or {}).get("text")
    try:
        with transaction.atomic():
            return deviation_open(
                actor=system,
                kind=Deviation.Kind.OOS,
                criterion=criterion,
                metric=metric,
                title=f"OOS: {criterion.test} of {subject}",
                description=(
                    f"{criterion.test} gave {value} {metric.unit} against the acceptance "
                    f"criterion {criterion.acceptance} (metric {metric.code}, run "
                    f"{metric.run_id or 'lot level'}). Opened automatically."
                ),
                **target,
            )
    except IntegrityError:  # opened concurrently by another evaluation
        return None


def _check_qa(actor, what: str) -> None:
    require(can_handle_deviations, actor, f"Only QA {what}.")


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
        deviation = record_update(
            deviation,
            actor=actor,
            changes=changes,
            reason="Investigation recorded",
            permitted=can_handle_deviations,
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
    _check_qa(actor, "marks CAPA actions done")
    deviation = Deviation.objects.select_for_update().get(pk=action.deviation_id)
    _check_not_closed(deviation)
    if CapaAction.objects.get(pk=action.pk).done_on is not None:
        raise ValidationError(f"{action} is already done.")
    return record_update(
        action,
        actor=actor,
        changes={"done_on": done_on},
        reason="CAPA action completed",
        permitted=can_handle_deviations,
    )


@transaction.atomic
def deviation_close(
    *, signer: Signer, deviation: Deviation, outcome: str, comment: str = ""
) -> Deviation:
    """QA closes an investigation with its outcome and an e-signature (meaning: approval).

    Outcome "result invalidated" invalidates the runs behind the OOS metric and requires a
    retest; "OOS confirmed" leaves the lot rejectable only.
    """
    actor = signer.user
    _check_qa(actor, "closes deviations")
    if signer.meaning != Signature.Meaning.APPROVAL:
        raise ValidationError("A deviation is closed with a signature meaning approval.")
    deviation = Deviation.objects.select_for_update().get(pk=deviation.pk)
    if deviation.status == Deviation.Status.CLOSED:
        raise ValidationError(f"{deviation} is already closed.")
    if outcome not in Deviation.Outcome.values:
        raise ValidationError({"outcome": "Choose the outcome of the investigation."})
    if not deviation.root_cause.strip() or not deviation.impact_assessment.strip():
        raise ValidationError("Record the root cause and the impact assessment before closing.")
    if deviation.capa_actions.filter(done_on__isnull=True).exists():
        raise ValidationError("Every CAPA action must be done before the deviation is closed.")
    if (
        outcome == Deviation.Outcome.NO_PRODUCT_IMPACT
        and deviation.kind == Deviation.Kind.OOS
        and deviation.metric is not None
        and deviation.criterion is not None
        and deviation.criterion.required
        and metric_is_valid(deviation.metric)
    ):
        # FDA, Investigating OOS Test Results (2006): without an assignable laboratory cause
        # the original result stands and is reportable.
        raise ValidationError(
            {
                "outcome": "The out-of-specification result is still valid: it cannot be closed "
                "as having no product impact. Invalidate it for an assignable laboratory cause "
                "(outcome: result invalidated) or confirm the OOS."
            }
        )
    deviation.outcome = outcome
    signature = sign(
        signer=signer, record=deviation, content=deviation.signed_content(), comment=comment
    )
    if outcome == Deviation.Outcome.RESULT_INVALIDATED and deviation.metric_id:
        _invalidate_oos_run(actor, deviation)
    return move_status(
        deviation,
        to="closed",
        actor=actor,
        reason=f"Closed: {outcome}",
        extra_fields={
            "outcome": outcome,
            "closure_signature": signature,
            "closed_at": timezone.now(),
        },
    )


def runs_to_invalidate(deviation: Deviation) -> list[AssayRun]:
    """Exactly the runs that closing the OOS as "result invalidated" invalidates, shown on the
    close form before it is signed: the run behind the failing metric; for a lot-level metric
    (purity, from particles and protein) the runs of its inputs that are still valid."""
    metric = deviation.metric
    if metric is None:
        return []
    runs = (
        [metric.run]
        if metric.run is not None
        else list(
            AssayRun.objects.filter(results__in=metric.input_results)
            .select_related("assay")
            .distinct()
            .order_by("pk")
        )
    )
    return [run for run in runs if run.status != AssayRun.Status.INVALIDATED]


def open_oos_resting_on(run: AssayRun) -> list[Deviation]:
    """Open OOS investigations whose failing metric was computed from the run."""
    result_ids = list(run.results.values_list("pk", flat=True))
    return list(
        Deviation.objects.filter(kind=Deviation.Kind.OOS)
        .exclude(status=Deviation.Status.CLOSED)
        .filter(Q(metric__run=run) | Q(metric__input_results__overlap=result_ids or [0]))
        .order_by("pk")
    )


def _invalidate_oos_run(actor, deviation):
    for run in runs_to_invalidate(deviation):
        run_invalidate(
            actor=actor,
            run=run,
            reason=f"Invalidated by investigation {deviation}: retest required",
            investigation=deviation,
        )
    # The lot is evaluated again once committed (assays.events.run_status_changed).


def related_deviations(lot: ExosomeLot, *, genealogy=None):
    """The deviations of the lot, its culture batches, isolation runs and its vials' positions
    (`genealogy`: the lot's, if already read)."""
    genealogy = genealogy if genealogy is not None else lot_genealogy(lot)
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
