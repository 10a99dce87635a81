"""The annual product quality review (release.apqr): its counts against a small year worked by
hand, QA's signature only (technician and analyst refused), one signed review per product and
year (a second refused, the signed row never changes), the PDF kept under its SHA-256 and
naming the lots; and a constant number of queries on the review and the stability pages."""

import hashlib
import re
import shutil
import subprocess
from datetime import date, timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, ProgrammingError, connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from batches import services as batch_services
from batches.models import ExosomeLot
from lims.models import Signature
from release import apqr, deviations, specifications, stability
from release.models import AnnualProductReview, Deviation, Specification
from tests import factories
from tests.release.helpers import signer_for

pytestmark = pytest.mark.django_db

DS = Specification.Product.DRUG_SUBSTANCE
BACKEND = "django.contrib.auth.backends.ModelBackend"


@pytest.fixture(autouse=True)
def _settings(settings, tmp_path):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.MEDIA_ROOT = str(tmp_path / "files")


def _year_of(technician, qa_user, *, extra_lots: int = 0) -> dict:
    """This year: a released lot, a rejected lot with an OOS investigation and two CAPA actions
    (one done), a lot in process with a process deviation, and `extra_lots` more in process;
    last year: one released lot that this year's review must not count."""
    released = factories.finalize_lot(qa_user, factories.lot(technician), "released")
    rejected = factories.finalize_lot(qa_user, factories.lot(technician), "rejected")
    in_process = factories.lot(technician)
    others = [factories.lot(technician) for _ in range(extra_lots)]
    old = factories.lot(technician)
    last_year = date(timezone.localdate().year - 1, 6, 30)
    ExosomeLot.objects.filter(pk=old.pk).update(manufactured_on=last_year)  # before it locks
    old = factories.finalize_lot(qa_user, old, "released")
    oos = deviations.deviation_open(
        actor=qa_user,
        kind=Deviation.Kind.OOS,
        title="Endotoxin above the limit",
        description="2.0 EU/mL against < 0.5",
        lot=rejected,
    )
    for i in range(2):
        action = deviations.capa_add(
            actor=qa_user,
            deviation=oos,
            description=f"Action {i}",
            owner="QA",
            due_on=timezone.localdate() + timedelta(days=30),
        )
    deviations.capa_done(actor=qa_user, action=action, done_on=timezone.localdate())
    deviations.deviation_open(
        actor=qa_user,
        kind=Deviation.Kind.PROCESS,
        title="Centrifuge stopped",
        description="Restarted after 5 min",
        lot=in_process,
    )
    return {
        "lots": [released, rejected, in_process, *others],
        "old": old,
        "oos": oos,
    }


def _sign(user, *, year=None, conclusion="No adverse trend; the process is in control."):
    return apqr.apqr_sign(
        signer=signer_for(user, Signature.Meaning.APPROVAL),
        product=DS,
        year=year or timezone.localdate().year,
        conclusion=conclusion,
    )


def _pdf_text(data: bytes, tmp_path) -> str:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    path = tmp_path / "apqr.pdf"
    path.write_bytes(data)
    out = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, check=True)
    return re.sub(r"\s+", " ", out.stdout.decode())


def test_counts_of_a_small_year_worked_by_hand(technician, qa_user):
    year = _year_of(technician, qa_user)
    data = apqr.review(product=DS, year=timezone.localdate().year)
    # Three lots made this year (last year's released lot is not this year's): one released,
    # one rejected; two deviations, one of them OOS; two CAPA actions, one still open.
    assert [lot.code for lot in data["lots"]] == [lot.code for lot in year["lots"]]
    assert (data["made"], data["released"], data["rejected"]) == (3, 1, 1)
    assert len(data["deviations"]) == 2
    assert [d.code for d in data["oos"]] == [year["oos"].code]
    assert len(data["capa"]) == 2
    oos = next(d for d in data["deviations"] if d.pk == year["oos"].pk)
    assert (oos.capa_open, oos.capa_total) == (1, 2)
    last = apqr.review(product=DS, year=timezone.localdate().year - 1)
    assert (last["made"], last["released"], last["rejected"]) == (1, 1, 0)


@pytest.mark.parametrize("role", ["technician", "analyst"])
def test_only_qa_signs_the_review(role, request, qa_user):
    user = request.getfixturevalue(role)
    with pytest.raises(PermissionDenied):
        _sign(user)
    client = Client()
    client.force_login(user, backend=BACKEND)
    url = reverse("release:apqr_sign") + f"?year={timezone.localdate().year}"
    assert client.get(url).status_code == 403
    response = client.post(
        url, {"conclusion": "Fine.", "username": user.username, "password": factories.PASSWORD}
    )
    assert response.status_code == 403
    assert not AnnualProductReview.objects.exists()


def test_qa_signing_a_future_year_without_a_conclusion_or_with_the_wrong_meaning_is_refused(
    qa_user,
):
    with pytest.raises(ValidationError, match="not begun"):
        _sign(qa_user, year=timezone.localdate().year + 1)
    with pytest.raises(ValidationError, match="conclusion"):
        _sign(qa_user, conclusion="   ")
    with pytest.raises(ValidationError, match="approval"):
        apqr.apqr_sign(
            signer=signer_for(qa_user, Signature.Meaning.REVIEW),
            product=DS,
            year=timezone.localdate().year,
            conclusion="x",
        )
    assert not AnnualProductReview.objects.exists()


def test_a_second_signature_for_the_same_product_and_year_is_refused(
    technician, qa_user, make_user
):
    _year_of(technician, qa_user)
    first = _sign(qa_user)
    other_qa = make_user("qa", username="vera.qa")
    with pytest.raises(ValidationError, match="signed already"):
        _sign(other_qa, conclusion="A different conclusion")
    # The database holds the rule too, and the signed row never changes.
    with pytest.raises(IntegrityError), transaction.atomic():
        AnnualProductReview.objects.create(
            product=DS, year=first.year, conclusion="x", content_sha256="0", sha256="0", size=1
        )
    with pytest.raises(ProgrammingError), transaction.atomic():
        AnnualProductReview.objects.filter(pk=first.pk).update(conclusion="Rewritten")
    first.refresh_from_db()
    assert AnnualProductReview.objects.get() == first
    assert first.conclusion.startswith("No adverse trend")
    assert first.signature.signer == qa_user and first.signature.meaning == "approval"


def test_pdf_is_kept_under_its_sha256_and_names_the_lots_and_counts(technician, qa_user, tmp_path):
    year = _year_of(technician, qa_user)
    record = _sign(qa_user)
    data = apqr.apqr_bytes(record)
    assert data.startswith(b"%PDF")
    assert record.sha256 == hashlib.sha256(data).hexdigest() and record.size == len(data)
    text = _pdf_text(data, tmp_path)
    for lot in year["lots"]:
        assert lot.code in text
    assert year["old"].code not in text
    assert "3 made, 1 released, 1 rejected" in text
    assert year["oos"].code in text
    client = Client()
    client.force_login(technician, backend=BACKEND)  # every role reads records
    response = client.get(reverse("release:apqr_pdf", args=[record.pk]))
    assert response.status_code == 200
    assert response["X-Content-SHA256"] == record.sha256
    assert b"".join(response) == data


def _studies(technician, qa_user, n: int, code: str, spec=None) -> Specification:
    """One approved protocol over `n` lots and a study on each (two -80 °C pulls a lot)."""
    lots = []
    for i in range(n):
        lot = factories.lot(technician)
        batch_services.aliquots_create(
            actor=technician,
            lot=lot,
            volume_ul=500,
            locations=factories.storage_positions(technician, 2, box=f"{code}{i}"),
        )
        lots.append(lot)
    if spec is not None:
        return _protocol_and_studies(qa_user, lots, code, spec)
    spec = specifications.specification_draft_create(
        actor=qa_user, product=Specification.Product.STABILITY
    )
    specifications.criterion_save(
        actor=qa_user,
        specification=spec,
        test="Particle concentration",
        metric_code="nta.concentration",
        comparator="gte",
        lower=1e10,
        unit="particle/mL",
    )
    specifications.specification_approve(
        signer=signer_for(qa_user, Signature.Meaning.APPROVAL), specification=spec
    )
    return _protocol_and_studies(qa_user, lots, code, spec)


def _protocol_and_studies(qa_user, lots, code, spec) -> Specification:
    protocol = stability.protocol_create(
        actor=qa_user,
        code=code,
        title="q",
        specification=spec,
        lots=lots,
        conditions=["-80C"],
        time_points=[0, 1],
        shelf_life_condition="-80C",
    )
    stability.protocol_approve(
        signer=signer_for(qa_user, Signature.Meaning.APPROVAL), protocol=protocol
    )
    for lot in lots:
        stability.study_start(
            actor=qa_user, protocol=protocol, lot=lot, started_on=timezone.localdate()
        )
    return spec


def test_review_and_stability_pages_keep_a_constant_number_of_queries(
    technician, qa_user, django_assert_max_num_queries
):
    client = Client()
    client.force_login(qa_user, backend=BACKEND)
    pages = [reverse("release:apqr"), reverse("release:stability")]
    _year_of(technician, qa_user)
    spec = _studies(technician, qa_user, 1, "STP-A")
    counts = {}
    for url in pages:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200
        counts[url] = len(ctx.captured_queries)
    _year_of(technician, qa_user, extra_lots=3)
    _studies(technician, qa_user, 3, "STP-B", spec)
    for url in pages:
        with django_assert_max_num_queries(counts[url]):
            response = client.get(url)
        assert response.status_code == 200
