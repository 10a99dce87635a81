"""QA's signed reviews of the audit trail: a lot's before release, or a period's (EU GMP Annex 11
§9; FDA, Data Integrity and Compliance With Drug CGMP, 2018, Q7). The review page and the lot's
review-by-exception page show whether it was done."""

from __future__ import annotations

from datetime import date

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from batches.models import ExosomeLot
from lims import audit_chain
from lims.audit import audit_context
from lims.models import AuditEvent, Signature
from lims.roles import can_review_audit_trails, require
from lims.signatures import Signer, sign
from release.models import AuditTrailReview
from release.selectors import changes_after_entry


@transaction.atomic
def audit_trail_review_record(
    *,
    signer: Signer,
    lot: ExosomeLot | None = None,
    period_start: date | None = None,
    period_end: date | None = None,
    findings: str = "",
) -> AuditTrailReview:
    """Record a review of a lot's audit trail or of a period's, e-signed (meaning: review)."""
    require(can_review_audit_trails, signer.user, "Only QA reviews the audit trail.")
    if signer.meaning != Signature.Meaning.REVIEW:
        raise ValidationError("An audit trail review is signed with the meaning review.")
    if (lot is None) == (period_start is None and period_end is None):
        raise ValidationError("Review either a lot's audit trail or a period, not both.")
    if lot is None:
        if period_start is None or period_end is None:
            raise ValidationError({"period_end": "Give the first and the last day of the period."})
        if period_end < period_start:
            raise ValidationError({"period_end": "The period ends before it starts."})
        if period_end > timezone.localdate():
            raise ValidationError({"period_end": "A period in the future cannot be reviewed."})
        events = AuditEvent.objects.filter(
            pgh_created_at__date__gte=period_start, pgh_created_at__date__lte=period_end
        ).count()
    else:
        events = len(changes_after_entry(lot))
    audit_chain.seal()  # the head signed covers every event committed so far
    review = AuditTrailReview(
        lot=lot,
        period_start=period_start,
        period_end=period_end,
        events_reviewed=events,
        chain_head=_chain_head(),
        findings=findings.strip(),
    )
    review.full_clean(exclude=["signature"])
    with audit_context(actor=signer.user, reason=f"{review} recorded"):
        review.save()
        review.signature = sign(signer=signer, record=review, content=review.signed_content())
        review.save(update_fields=["signature"])
    return review


def _chain_head() -> str:
    with connection.cursor() as cur:
        return audit_chain.head_in(cur)
