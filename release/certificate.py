"""The certificate of analysis: an HTML template rendered to PDF by WeasyPrint, issued once at
release and kept byte for byte in the content-addressed file store (lims.file_store)."""

from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone
from weasyprint import HTML

from batches.genealogy import lot_genealogy
from lims import file_store
from lims.audit import audit_context
from lims.signatures import canonical_json, content_hash, signatures_of
from release.deviations import related_deviations
from release.models import CertificateOfAnalysis, CriterionEvaluation, Disposition
from release.selectors import changes_after_entry
from release.stability import current_expiry


def certificate_context(disposition: Disposition) -> dict:
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
        "expiry": current_expiry(lot),
    }


def render_certificate(disposition: Disposition) -> bytes:
    html = render_to_string("release/coa.html", certificate_context(disposition))
    return HTML(string=html).write_pdf()


def issue_certificate(disposition: Disposition) -> CertificateOfAnalysis:
    """Render the CoA once, store its bytes under their SHA-256 and record it (idempotent)."""
    existing = CertificateOfAnalysis.objects.filter(lot=disposition.lot).first()
    if existing is not None:
        return existing
    pdf = render_certificate(disposition)
    digest = file_store.store(pdf, folder=CertificateOfAnalysis.STORE_FOLDER, suffix=".pdf")
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
    except IntegrityError:  # issued concurrently (the catch-up and the release)
        return CertificateOfAnalysis.objects.get(lot=disposition.lot)


def certificate_bytes(certificate: CertificateOfAnalysis) -> bytes:
    """The stored PDF, checked against its SHA-256: every download is the same bytes."""
    return file_store.read(certificate.storage_name, sha256=certificate.sha256)
