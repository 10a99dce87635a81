"""Reference standards: registration, QA qualification (e-signature), withdrawal, and the check
a run must pass to be reported against one (USP <1032> §3.2 / <1034>: a relative potency is
only as good as the reference it is relative to; 21 CFR 211.194(c): reference standards are
of known origin and tested; 21 CFR 211.160(b): laboratory controls use qualified standards).

Every write is one transaction with its audit context; the checks raise ``ValidationError``
keyed by the field a form or the API shows it next to (``reference_standard``).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from assays.reference_models import ReferenceStandard
from lims.audit import audit_context
from lims.roles import can_approve_control_baselines, can_propose_control_baselines, require
from lims.signatures import Signer, sign
from lims.transitions import move_status

if TYPE_CHECKING:
    from assays.models import AssayDefinition
    from lims.models import User

FIELD = "reference_standard"
Status = ReferenceStandard.Status


def _day(moment: datetime) -> str:
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M}"


def _assigned_values(values: Any) -> list[dict[str, Any]]:
    """[{analyte, value, unit}] with a finite, positive value each and one entry per analyte."""
    if not isinstance(values, list) or not values:
        raise ValidationError({"assigned_values": "Give at least one assigned value."})
    seen, out = set(), []
    for item in values:
        if not isinstance(item, dict) or not str(item.get("analyte", "")).strip():
            raise ValidationError({"assigned_values": "Each assigned value names its analyte."})
        analyte = str(item["analyte"]).strip()
        try:
            value = float(item.get("value"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ValidationError(
                {"assigned_values": f"The assigned value of {analyte} is not a number."}
            ) from None
        if not (value > 0 and value != float("inf")):
            raise ValidationError(
                {"assigned_values": f"The assigned value of {analyte} must be positive."}
            )
        if analyte in seen:
            raise ValidationError({"assigned_values": f"{analyte} is assigned twice."})
        seen.add(analyte)
        out.append({"analyte": analyte, "value": value, "unit": str(item.get("unit", ""))})
    return out


@transaction.atomic
def reference_register(
    *,
    actor: User,
    code: str,
    material: str,
    name: str,
    kind: str,
    assay_codes: list[str],
    assigned_values: list[dict[str, Any]],
    expiry_date: date,
    storage: str,
    qualification_report: str,
    source_lot: Any = None,
    supplier: str = "",
    catalogue_number: str = "",
    lot_number: str = "",
) -> ReferenceStandard:
    """Register a reference lot (not yet usable: QA qualifies it). Refused: an expiry already
    past, no assay, assigned values that are not positive numbers."""
    require(can_propose_control_baselines, actor, "Only QC analysts and QA register a reference.")
    if expiry_date <= timezone.localdate():
        raise ValidationError({"expiry_date": "The expiry date must be in the future."})
    codes = sorted({c.strip() for c in assay_codes if c and c.strip()})
    if not codes:
        raise ValidationError({"assay_codes": "Name the assays this reference is used by."})
    reference = ReferenceStandard(
        code=code.strip(),
        material=material.strip(),
        name=name.strip(),
        kind=kind,
        source_lot=source_lot,
        supplier=supplier.strip(),
        catalogue_number=catalogue_number.strip(),
        lot_number=lot_number.strip(),
        assay_codes=codes,
        assigned_values=_assigned_values(assigned_values),
        expiry_date=expiry_date,
        storage=storage.strip(),
        qualification_report=qualification_report.strip(),
        created_by=actor,
    )
    reference.full_clean()
    with audit_context(actor=actor, reason=f"Reference standard registered: {reference.code}"):
        reference.save()
    return reference


@transaction.atomic
def reference_qualify(
    *, signer: Signer, reference: ReferenceStandard, comment: str = ""
) -> ReferenceStandard:
    """QA qualifies a registered reference with an e-signature (meaning: approval) bound to its
    content. The qualification takes the signature's server time: it cannot be back-dated.
    Refused: not QA, not an approval, the registrant signing their own reference (segregation
    of duties, 21 CFR 211.192), a reference already qualified, withdrawn or expired."""
    require(can_approve_control_baselines, signer.user, "Only QA qualifies a reference standard.")
    if signer.meaning != "approval":
        raise ValidationError("A reference is qualified with a signature meaning approval.")
    locked = ReferenceStandard.objects.select_for_update().get(pk=reference.pk)
    if locked.status != Status.REGISTERED:
        raise ValidationError(f"{locked} is {locked.get_status_display().lower()}.")
    if locked.created_by_id == signer.user.pk:
        raise ValidationError(
            "The person who registered a reference does not qualify it: another QA member signs."
        )
    if locked.expiry_date < timezone.localdate():
        raise ValidationError(
            {"expiry_date": f"{locked} expired on {locked.expiry_date:%Y-%m-%d}."}
        )
    signature = sign(signer=signer, record=locked, content=locked.signed_content(), comment=comment)
    move_status(
        locked,
        to=Status.QUALIFIED,
        actor=signer.user,
        reason=f"Qualified by QA ({locked.qualification_report})",
        extra_fields={"qualification_signature": signature, "qualified_at": signature.signed_at},
    )
    return locked


@transaction.atomic
def reference_withdraw(
    *, actor: User, reference: ReferenceStandard, reason: str
) -> ReferenceStandard:
    """QA withdraws a reference (used up, failed requalification, damaged storage): no run can
    name it from now on; the runs that did keep it."""
    require(can_approve_control_baselines, actor, "Only QA withdraws a reference standard.")
    if not reason or not reason.strip():
        raise ValidationError({"reason": "Say why the reference is withdrawn."})
    locked = ReferenceStandard.objects.select_for_update().get(pk=reference.pk)
    move_status(
        locked,
        to=Status.WITHDRAWN,
        actor=actor,
        reason=f"Withdrawn: {reason.strip()}",
        extra_fields={"status_reason": reason.strip()},
    )
    return locked


def reference_refusal(
    reference: ReferenceStandard | None,
    *,
    assay: AssayDefinition,
    started_at: datetime,
    today: date | None = None,
) -> str:
    """Why a run of ``assay`` started at ``started_at`` cannot be reported against
    ``reference``, or "" when it can: the assay names no reference and none is given, or the
    reference is of the assay's material, qualified for the assay, qualified before the run
    started, and in date on the day the run started and today."""
    material = assay.reference_material
    if reference is None:
        if not material:
            return ""
        return (
            f"Assay {assay.code} is reported against a reference standard ({material}): name "
            "the qualified reference lot the run used."
        )
    if not material:
        return f"Assay {assay.code} is not reported against a reference standard."
    if reference.material != material or assay.code not in reference.assay_codes:
        return (
            f"{reference} is not a reference of assay {assay.code} (it needs {material}, "
            f"qualified for {assay.code}; this one is for {', '.join(reference.assay_codes)})."
        )
    if reference.status == Status.WITHDRAWN:
        return f"{reference} was withdrawn: {reference.status_reason}"
    if reference.status != Status.QUALIFIED or reference.qualified_at is None:
        return f"{reference} is not qualified: QA has not signed its qualification."
    if started_at < reference.qualified_at:
        return (
            f"The run started on {_day(started_at)}, before {reference} was qualified "
            f"({_day(reference.qualified_at)}): a run cannot use a reference before QA "
            "qualified it."
        )
    for day in sorted({timezone.localdate(started_at), today or timezone.localdate()}):
        if reference.expiry_date < day:
            return f"{reference} expired on {reference.expiry_date:%Y-%m-%d}."
    return ""


def check_reference_usable(
    reference: ReferenceStandard | None, *, assay: AssayDefinition, started_at: datetime
) -> None:
    """``reference_refusal`` as a ValidationError on the ``reference_standard`` field."""
    if refusal := reference_refusal(reference, assay=assay, started_at=started_at):
        raise ValidationError({FIELD: refusal})
