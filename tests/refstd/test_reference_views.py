"""The reference-standard pages: who may do what, refusals next to their fields, the list in
constant queries, QA's signed qualification, the run page's relative potency, and the API's
refusal of an unqualified reference on its field."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from assays.metrics import compute_run_metrics
from assays.models import AssayRun, ReferenceStandard
from tests import factories
from tests.api.conftest import issue_key, key_client, register_instrument
from tests.assays_pages.conftest import signed_in
from tests.refstd.test_reference_services import record, register
from tests.release.helpers import signer_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def lot(technician):
    return factories.lot(technician)


def _register_data(lot, **overrides):
    data = {
        "code": "RS-P-01",
        "material": "EV-RS",
        "name": "Reference EV lot, page",
        "kind": "in_house",
        "source_lot": lot.code,
        "assay_codes": ["POTENCY-RP"],
        "assigned_values": "potency 100 percent",
        "expiry_date": (timezone.localdate() + timedelta(days=200)).isoformat(),
        "storage": "-80 °C ULT-2",
        "qualification_report": "QR-9",
    }
    data.update(overrides)
    return data


def test_a_technician_may_read_but_not_register_qualify_or_withdraw(technician, analyst, lot):
    reference = register(analyst, lot)
    client = signed_in(technician)
    assert client.get(reverse("assays:reference_list")).status_code == 200
    assert client.get(reference.get_absolute_url()).status_code == 200
    for name, args in (
        ("assays:reference_register", []),
        ("assays:reference_qualify", [reference.pk]),
        ("assays:reference_withdraw", [reference.pk]),
    ):
        assert client.get(reverse(name, args=args)).status_code == 403, name
        assert client.post(reverse(name, args=args), {"reason": "x"}).status_code == 403, name
    # An analyst registers, but qualifying and withdrawing are QA's.
    analyst_client = signed_in(analyst)
    assert (
        analyst_client.get(reverse("assays:reference_qualify", args=[reference.pk])).status_code
        == 403
    )
    reference.refresh_from_db()
    assert reference.status == ReferenceStandard.Status.REGISTERED


def test_registration_refusals_show_next_to_their_fields(analyst, lot):
    client = signed_in(analyst)
    url = reverse("assays:reference_register")
    yesterday = (timezone.localdate() - timedelta(days=1)).isoformat()
    response = client.post(
        url,
        _register_data(
            lot, source_lot="", expiry_date=yesterday, assigned_values="potency -5 percent"
        ),
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert "names the lot it came from" in errors["source_lot"][0]
    assert not ReferenceStandard.objects.exists()
    # The service's own refusals land on their fields too (past expiry, negative value).
    response = client.post(url, _register_data(lot, expiry_date=yesterday))
    assert "must be in the future" in response.context["form"].errors["expiry_date"][0]
    response = client.post(url, _register_data(lot, assigned_values="potency -5 percent"))
    assert "must be positive" in response.context["form"].errors["assigned_values"][0]
    response = client.post(url, _register_data(lot))
    reference = ReferenceStandard.objects.get(code="RS-P-01")
    assert response.status_code == 302 and response.url == reference.get_absolute_url()
    assert reference.created_by == analyst and reference.source_lot == lot
    assert reference.assigned_values == [{"analyte": "potency", "value": 100.0, "unit": "percent"}]


def test_qa_qualifies_with_a_signature_but_not_their_own_registration(
    qa_user, make_user, lot, analyst
):
    own = register(qa_user, lot, code="RS-OWN")
    client = signed_in(qa_user)
    url = reverse("assays:reference_qualify", args=[own.pk])
    signing = {"username": qa_user.username, "password": factories.PASSWORD}
    response = client.post(url, signing)
    assert response.status_code == 200
    assert "another QA member qualifies it" in response.context["form"].errors["username"][0]
    own.refresh_from_db()
    assert own.status == ReferenceStandard.Status.REGISTERED
    assert "Qualify (e-signature)" not in client.get(own.get_absolute_url()).content.decode()

    reference = register(analyst, lot)
    url = reverse("assays:reference_qualify", args=[reference.pk])
    wrong = client.post(url, {**signing, "password": "not-it"})
    assert "not correct" in wrong.context["form"].errors["password"][0]
    response = client.post(url, {**signing, "comment": "Per QP-REF-009."})
    assert response.status_code == 302
    reference.refresh_from_db()
    assert reference.status == ReferenceStandard.Status.QUALIFIED
    page = client.get(reference.get_absolute_url()).content.decode()
    assert "Quinn QA" in page and "signature valid" in page and "Approval" in page
    assert "Per QP-REF-009." in page and "Audit history" in page

    # Withdrawal needs a reason; then the reference is withdrawn with it.
    withdraw = reverse("assays:reference_withdraw", args=[reference.pk])
    assert client.post(withdraw, {"reason": ""}).context["form"].errors["reason"]
    assert client.post(withdraw, {"reason": "Vials thawed"}).status_code == 302
    reference.refresh_from_db()
    assert reference.status == ReferenceStandard.Status.WITHDRAWN
    assert reference.status_reason == "Vials thawed"


def test_list_reads_in_constant_queries_and_flags_expiry(
    analyst, lot, django_assert_max_num_queries
):
    today = timezone.localdate()
    register(analyst, lot, code="RS-SOON", expiry_date=today + timedelta(days=10))
    for i in range(4):
        register(analyst, lot, code=f"RS-L-{i}")
    client = signed_in(analyst)
    with django_assert_max_num_queries(12) as few:
        client.get(reverse("assays:reference_list"))
    for i in range(4, 12):
        register(analyst, lot, code=f"RS-L-{i}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(reverse("assays:reference_list"), {"material": "ev-rs"})
    page = response.content.decode()
    assert page.count("expires soon") == 1 and "RS-L-11" in page and "Register a reference" in page


def test_run_page_shows_reference_and_relative_potency(analyst, qa_user, lot):
    reference = register(analyst, lot)
    from assays.reference_services import reference_qualify

    reference_qualify(signer=signer_for(qa_user, "approval"), reference=reference)
    run = record(analyst, lot, reference)
    compute_run_metrics(run.pk)
    page = signed_in(analyst).get(run.get_absolute_url()).content.decode()
    assert "RS-T-01" in page and "Relative potency" in page
    assert "95 % CI" in page and "parallel</span>" in page
    detail = signed_in(analyst).get(reference.get_absolute_url()).content.decode()
    assert str(run) in detail
    # The run's API detail carries them too.
    body = signed_in(analyst).get(f"/api/v1/runs/{run.pk}/").json()
    assert body["reference_standard"] == {
        "id": reference.pk,
        "code": "RS-T-01",
        "material": "EV-RS",
    }
    potency = body["relative_potency"]
    assert potency["unit"] == "percent" and potency["parallel"] is True
    assert potency["low"] < potency["value"] < potency["high"] and potency["level"] == 0.95


def test_api_refuses_an_unqualified_reference_on_its_field(admin_user, analyst, lot):
    from assays.reference_demo import relative_potency_results

    reference = register(analyst, lot)
    instrument = register_instrument(admin_user, assays=["POTENCY-RP"])
    client = key_client(issue_key(admin_user, instrument))
    body = {
        "assay": "POTENCY-RP",
        "started_at": (timezone.now() - timedelta(minutes=10)).isoformat(),
        "reference_standard": reference.pk,
        "results": [
            {k: v for k, v in vars(r).items() if v not in (None, "")}
            for r in relative_potency_results(lot.code)[:3]
        ],
    }
    response = client.post("/api/v1/runs/", body, format="json")
    assert 400 <= response.status_code < 500, response.content
    errors = response.json()["errors"]
    assert "reference_standard" in errors and "not qualified" in errors["reference_standard"][0]
    assert not AssayRun.objects.filter(assay__code="POTENCY-RP").exists()
