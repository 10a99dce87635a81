"""Who may open which release page: every URL of batches/release_urls.py with every role.

Everybody with a role sees the dashboard, specifications, deviations and certificates; the
review-by-exception page is for analysts (who prepare the review) and QA (who decide);
technicians, analysts and QA open deviations; only QA drafts, edits, approves and makes
specifications effective, investigates, adds and completes CAPA and closes deviations.
Administrators sign nothing. A POST is refused as its GET is.
"""

from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.urls import reverse

from batches.models import ExosomeLot
from release import deviations, specifications
from release import urls as release_urls
from release.models import Deviation, Disposition, Specification
from tests import factories
from tests.release.helpers import withdraw_installed_draft
from tests.release_pages.conftest import BACKEND, sign_data, signed_in

LOGIN = "302 to the sign-in page"
ROLES = ("anonymous", "technician", "analyst", "qa", "admin", "no_role")

VIEWERS = (LOGIN, 200, 200, 200, 200, 403)
QA_ONLY = (LOGIN, 403, 403, 200, 403, 403)

# url name, the records whose pk fill the URL (in order), expected per role in ROLES order.
# fmt: off
MATRIX = [
    ("dashboard",                     (),                    VIEWERS),
    ("dashboard_board",               (),                    VIEWERS),
    ("lot_review",                    ("lot",),              (LOGIN, 403, 200, 200, 403, 403)),
    ("certificate",                   ("lot",),              VIEWERS),
    ("specification_list",            (),                    VIEWERS),
    ("specification_detail",          ("effective",),        VIEWERS),
    ("specification_detail",          ("draft",),            VIEWERS),
    ("specification_create",          (),                    QA_ONLY),
    ("criterion_add",                 ("draft",),            QA_ONLY),
    ("criterion_edit",                ("draft", "criterion"), QA_ONLY),
    ("specification_approve",         ("draft",),            QA_ONLY),
    ("specification_make_effective",  ("draft",),            QA_ONLY),
    ("specification_withdraw",        ("draft",),            QA_ONLY),
    ("audit_review_list",             (),                    (LOGIN, 403, 200, 200, 200, 403)),
    ("audit_review_create",           (),                    QA_ONLY),
    ("deviation_list",                (),                    VIEWERS),
    ("deviation_detail",              ("deviation",),        VIEWERS),
    ("deviation_create",              (),                    (LOGIN, 200, 200, 200, 403, 403)),
    ("deviation_investigate",         ("deviation",),        QA_ONLY),
    ("capa_add",                      ("deviation",),        QA_ONLY),
    ("capa_done",                     ("deviation", "capa"), QA_ONLY),
    ("deviation_close",               ("deviation",),        QA_ONLY),
    ("stability",                     (),                    VIEWERS),
    ("stability_protocol_create",     (),                    QA_ONLY),
    ("stability_protocol",            ("protocol",),         VIEWERS),
    ("stability_protocol_approve",    ("protocol",),         QA_ONLY),
    ("stability_study_start",         (),                    (LOGIN, 403, 200, 200, 403, 403)),
    ("stability_study",               ("study",),            VIEWERS),
    ("stability_expiry",              ("study",),            QA_ONLY),
    ("stability_pull",                ("pull",),             (LOGIN, 403, 200, 200, 403, 403)),
    ("apqr",                          (),                    VIEWERS),
    ("apqr_sign",                     (),                    QA_ONLY),
    ("apqr_pdf",                      ("no_apqr",),          (LOGIN, 404, 404, 404, 404, 403)),
    ("apqr_revise",                   ("no_apqr",),          (LOGIN, 403, 403, 404, 403, 403)),
]
# fmt: on
READ_ONLY = {"dashboard", "dashboard_board", "certificate", "specification_list"}
READ_ONLY |= {"specification_detail", "deviation_list", "deviation_detail", "audit_review_list"}
READ_ONLY |= {"stability", "stability_protocol", "stability_study", "apqr", "apqr_pdf"}


@pytest.fixture
def records(passing_lot, technician, qa_user, qa_signer):
    """A released lot with its certificate, a draft specification with a criterion, and a
    deviation with a CAPA action, all made through the pages and services."""
    response = signed_in(qa_signer).post(
        reverse("release:lot_review", args=[passing_lot.pk]), sign_data(qa_signer)
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    withdraw_installed_draft(qa_user)
    draft = specifications.specification_draft_create(
        actor=qa_user, product=Specification.Product.DRUG_SUBSTANCE
    )
    deviation = deviations.deviation_open(
        actor=technician,
        kind=Deviation.Kind.PROCESS,
        title="TFF flow rate excursion",
        description="Flow rate 80 mL/min for 4 minutes (limit 60).",
        lot=factories.lot(technician),
    )
    capa = deviations.capa_add(
        actor=qa_user,
        deviation=deviation,
        description="Retrain operators",
        owner="QA",
        due_on=passing_lot.manufactured_on,
    )
    return {
        **stability_records(technician, qa_user),
        "lot": ExosomeLot.objects.get(pk=passing_lot.pk),
        "effective": Specification.objects.get(product="msc_sev_ds", status="effective"),
        "draft": draft,
        "criterion": draft.criteria.first(),
        "deviation": deviation,
        "capa": capa,
    }


def stability_records(technician, qa_user) -> dict:
    """An approved protocol and a study of a lot with one vial in storage (one pull)."""
    from types import SimpleNamespace

    from batches import services as batch_services
    from lims.models import Signature
    from release import stability
    from tests.release.helpers import signer_for

    lot = factories.lot(technician)
    batch_services.aliquots_create(
        actor=technician,
        lot=lot,
        volume_ul=500,
        locations=factories.storage_positions(technician, 1, box="STAB"),
    )
    spec = specifications.specification_draft_create(actor=qa_user, product="msc_sev_ds_stability")
    specifications.criterion_save(
        actor=qa_user,
        specification=spec,
        test="Particles",
        metric_code="nta.concentration",
        comparator="gte",
        lower=1e10,
        unit="particle/mL",
    )
    specifications.specification_approve(
        signer=signer_for(qa_user, Signature.Meaning.APPROVAL), specification=spec
    )
    protocol = stability.protocol_create(
        actor=qa_user,
        code="STP-P",
        title="p",
        specification=spec,
        lots=[lot],
        conditions=["-80C"],
        time_points=[0],
        shelf_life_condition="-80C",
    )
    stability.protocol_approve(
        signer=signer_for(qa_user, Signature.Meaning.APPROVAL), protocol=protocol
    )
    study = stability.study_start(
        actor=qa_user, protocol=protocol, lot=lot, started_on=lot.manufactured_on
    )
    return {
        "protocol": protocol,
        "study": study,
        "pull": study.pulls.get(),
        "no_apqr": SimpleNamespace(pk=999999),
    }


def _clients(personas, make_user) -> dict[str, Client]:
    clients = {"anonymous": Client()}
    users = {**personas, "no_role": make_user(None, username="nora.norole")}
    for role, user in users.items():
        client = Client()
        client.force_login(user, backend=BACKEND)
        clients[role] = client
    return clients


def _outcome(response):
    if response.status_code != 302:
        return response.status_code
    location = urlsplit(response["Location"]).path
    return LOGIN if location == reverse("login") else f"302 to {location}"


def test_every_release_url_is_in_the_matrix():
    names = {p.name for p in release_urls.urlpatterns}
    assert names == {row[0] for row in MATRIX}


def test_every_release_url_answers_each_role_as_the_matrix_says(personas, make_user, records):
    clients = _clients(personas, make_user)
    mismatches = []
    for name, targets, expected in MATRIX:
        url = reverse(f"release:{name}", args=[records[t].pk for t in targets])
        for role, want in zip(ROLES, expected, strict=True):
            got = _outcome(clients[role].get(url))
            if got != want:
                mismatches.append(f"{role:<10} GET {url}: expected {want}, got {got}")
    assert not mismatches, "\n".join(mismatches)


def test_a_post_is_refused_to_every_role_refused_the_page(personas, make_user, records):
    clients = _clients(personas, make_user)
    mismatches = []
    for name, targets, expected in MATRIX:
        if name in READ_ONLY:
            continue
        url = reverse(f"release:{name}", args=[records[t].pk for t in targets])
        for role, want in zip(ROLES, expected, strict=True):
            if want == 200:
                continue
            got = _outcome(clients[role].post(url, {"decision": "rejected", "reason": "x"}))
            if got != want:
                mismatches.append(f"{role:<10} POST {url}: expected {want}, got {got}")
    assert not mismatches, "\n".join(mismatches)
    # Nothing was written by the refused posts.
    assert Disposition.objects.count() == 1
    assert Specification.objects.filter(status="draft", voided_at=None).count() == 1
    assert Deviation.objects.get(pk=records["deviation"].pk).status == "open"
