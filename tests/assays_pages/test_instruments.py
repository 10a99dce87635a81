"""Instrument registry, calibration log, status and API keys, from an administrator's browser."""

from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from assays import services
from assays.models import Instrument, InstrumentKey
from tests.assays_pages.conftest import register_instrument, signed_in


def test_admin_registers_an_instrument_qualified_for_assays(admin_user):
    response = signed_in(admin_user).post(
        reverse("assays:instrument_create"),
        {
            "code": "VICELL-1",
            "instrument_type": "Cell counter",
            "make": "Beckman Coulter",
            "model": "Vi-CELL BLU",
            "serial_number": "AY1234",
            "location": "Cell culture suite",
            "assay_codes": ["VIABILITY"],
        },
    )
    instrument = Instrument.objects.get(code="VICELL-1")
    assert response["Location"] == instrument.get_absolute_url()
    assert instrument.assay_codes == ["VIABILITY"] and instrument.created_by == admin_user


def test_a_duplicate_code_is_refused_next_to_the_code(admin_user, instrument):
    response = signed_in(admin_user).post(
        reverse("assays:instrument_create"),
        {
            "code": instrument.code,
            "instrument_type": "x",
            "make": "x",
            "model": "x",
            "serial_number": "x",
            "location": "x",
        },
    )
    assert response.status_code == 200
    assert response.context["form"].errors["code"]


def calibration_queue(home) -> list[str]:
    """What the administrator's home queue "Calibration due" lists."""
    (queue,) = [
        q for role in home.context["role_queues"] for q in role.queues if q.key == "calibration_due"
    ]
    return [item.label for item in queue.items]


def test_calibration_log_sets_the_due_date_and_the_home_page_lists_it_when_due_soon(
    admin_user, technician
):
    instrument = register_instrument(admin_user, code="PLATE-2", due_in_days=None)
    today = timezone.localdate()
    due = today + timedelta(days=12)

    response = signed_in(admin_user).post(
        reverse("assays:instrument_log", args=[instrument.pk]),
        {
            "kind": "calibration",
            "performed_on": (today - timedelta(days=353)).isoformat(),
            "due_on": due.isoformat(),
            "performed_by": "Agilent field service",
            "certificate": "CAL-2291",
        },
    )

    assert response.status_code == 302
    instrument.refresh_from_db()
    assert instrument.calibration_due_on == due
    detail = signed_in(admin_user).get(instrument.get_absolute_url())
    assert "CAL-2291" in detail.content.decode()
    assert detail.context["calibration_state"] == "due_soon"

    home = signed_in(admin_user).get(reverse("home"))
    assert instrument.code in calibration_queue(home)
    assert f"due {due:%Y-%m-%d}" in home.content.decode()


def test_home_page_lists_overdue_instruments_but_not_those_due_later(admin_user, technician):
    overdue = register_instrument(admin_user, code="OLD-1", due_in_days=-2)
    later = register_instrument(admin_user, code="NEW-1", due_in_days=90)

    home = signed_in(admin_user).get(reverse("home"))

    listed = calibration_queue(home)
    assert overdue.code in listed and later.code not in listed
    assert "overdue since" in home.content.decode()


def test_instrument_list_highlights_an_overdue_calibration(admin_user, technician):
    register_instrument(admin_user, code="OLD-2", due_in_days=-1)

    page = signed_in(technician).get(reverse("assays:instrument_list"))

    assert 'class="table-danger"' in page.content.decode()
    assert "overdue" in page.content.decode()


def test_out_of_service_with_a_reason_and_back(admin_user, instrument):
    client = signed_in(admin_user)
    url = reverse("assays:instrument_status", args=[instrument.pk])

    client.post(url, {"to": "out_of_service", "reason": "Camera fault"})
    instrument.refresh_from_db()
    assert (instrument.status, instrument.status_reason) == ("out_of_service", "Camera fault")
    page = client.get(instrument.get_absolute_url()).content.decode()
    assert "Camera fault" in page  # in the banner and in the audit trail

    client.post(url, {"to": "in_service", "reason": "Camera replaced"})
    instrument.refresh_from_db()
    assert instrument.status == "in_service"


def test_issued_key_is_shown_once_and_authenticates(admin_user, instrument):
    client = signed_in(admin_user)
    response = client.post(
        reverse("assays:instrument_key_issue", args=[instrument.pk]),
        {"name": "acquisition PC", "expires_on": (timezone.localdate() + timedelta(days=90))},
    )
    shown_url = reverse("assays:instrument_key_shown", args=[instrument.pk])
    assert response["Location"] == shown_url

    first = client.get(shown_url)
    plain = first.context["plain"]
    key = InstrumentKey.objects.get(instrument=instrument)
    assert plain.startswith(key.prefix + ".")
    assert plain in first.content.decode() and "shown only on this page" in first.content.decode()
    assert "no-store" in first["Cache-Control"]
    assert InstrumentKey.objects.is_valid(plain)
    assert key.name == "acquisition PC"

    second = client.get(shown_url, follow=True)
    assert plain not in second.content.decode()
    detail = client.get(instrument.get_absolute_url()).content.decode()
    assert key.prefix in detail and plain not in detail


def test_revoked_key_no_longer_authenticates(admin_user, instrument):
    key, plain = services.instrument_key_issue(actor=admin_user, instrument=instrument)
    url = reverse("assays:instrument_key_revoke", args=[instrument.pk, key.prefix])

    refused = signed_in(admin_user).post(url, {"reason": ""})
    assert refused.status_code == 200 and InstrumentKey.objects.is_valid(plain)

    response = signed_in(admin_user).post(url, {"reason": "Laptop lost"})
    assert response.status_code == 302
    assert not InstrumentKey.objects.is_valid(plain)
    detail = signed_in(admin_user).get(instrument.get_absolute_url()).content.decode()
    assert "revoked" in detail


def test_keys_are_listed_only_for_administrators(admin_user, analyst, instrument):
    key, _ = services.instrument_key_issue(actor=admin_user, instrument=instrument)

    page = signed_in(analyst).get(instrument.get_absolute_url())

    assert "keys" not in page.context and key.prefix not in page.content.decode()


def test_an_older_calibration_entered_late_does_not_move_the_due_date_back(admin_user):
    instrument = register_instrument(admin_user, code="PLATE-3", due_in_days=300)
    due = instrument.calibration_due_on
    today = timezone.localdate()

    signed_in(admin_user).post(
        reverse("assays:instrument_log", args=[instrument.pk]),
        {
            "kind": "calibration",
            "performed_on": (today - timedelta(days=400)).isoformat(),
            "due_on": (today - timedelta(days=35)).isoformat(),
            "performed_by": "Paper record from 2025",
        },
    )

    instrument.refresh_from_db()
    assert instrument.log.count() == 2
    assert instrument.calibration_due_on == due
