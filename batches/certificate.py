"""The certificate of analysis: an HTML template rendered to PDF by WeasyPrint."""

from django.template.loader import render_to_string
from django.utils import timezone

from batches.genealogy import lot_genealogy
from batches.models import Disposition


def certificate_context(disposition: Disposition) -> dict:
    from assays.models import CriterionEvaluation
    from batches.release import related_deviations
    from batches.release_selectors import changes_after_entry
    from lims.signatures import canonical_json, content_hash, signatures_of

    lot = disposition.lot
    evaluations = list(
        CriterionEvaluation.objects.filter(lot=lot)
        .select_related("criterion", "metric")
        .order_by("criterion__position", "criterion_id")
    )
    data = {
        "lot": lot.code,
        "specification": str(disposition.specification),
        "results": [
            (e.criterion.test, e.criterion.acceptance, e.value, e.text, e.status)
            for e in evaluations
        ],
        "decision": disposition.decision,
        "signature": disposition.signature.content_sha256,
    }
    return {
        "lot": lot,
        "genealogy": lot_genealogy(lot),
        "disposition": disposition,
        "evaluations": evaluations,
        "deviations": list(related_deviations(lot)),
        "changes": changes_after_entry(lot),
        "signatures": list(signatures_of(lot)),
        "content_sha256": content_hash(data),
        "content_json": canonical_json(data),
        "issued_at": timezone.now(),
    }


def render_certificate(disposition: Disposition) -> bytes:
    from weasyprint import HTML

    html = render_to_string("release/coa.html", certificate_context(disposition))
    return HTML(string=html).write_pdf()
