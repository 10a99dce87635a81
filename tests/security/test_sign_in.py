"""Sign-in that holds (issue 11 item 6): each test names the finding it answers and fails on the
code before the change.

* five anonymous POSTs locked any QA signer for an hour (lockout by user ID alone);
* twenty user IDs from one address were not throttled (no lock by address);
* `aaaaaaaaaaaa` was accepted as a password; there was no password-change page and no ageing;
* failed sign-ins, signings and lockouts were nowhere to review (21 CFR 11.300(d)).
"""

import csv
import io
import subprocess
import sys
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import DatabaseError, transaction
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone

from lims.models import AuditEvent, SecurityEvent, User
from lims.passwords import effective_length
from lims.signatures import SignatureRefused
from lims.signin import client_address, held_locks, unlock
from release.demo import DEMO_USERS
from tests.factories import PASSWORD
from tests.release.helpers import signer_for

pytestmark = pytest.mark.django_db

REPO_SETTINGS = "tests.settings"
BACKEND = "django.contrib.auth.backends.ModelBackend"
ATTACKER = "203.0.113.66"
QA_BENCH = "198.51.100.10"
OTHER_BENCH = "198.51.100.20"


def sign_in(username, password, address):
    """A sign-in POST from `address`: the response (302 on success)."""
    client = Client(REMOTE_ADDR=address)
    return client.post(reverse("login"), {"username": username, "password": password})


def signed_in(response) -> bool:
    return response.status_code == 302 and response["Location"] == reverse("home")


def fail(username, address, times=1):
    for _ in range(times):
        response = sign_in(username, "not-the-password-at-all", address)
        assert not signed_in(response)


def _client(user, **defaults) -> Client:
    client = Client(**defaults)
    client.force_login(user, backend=BACKEND)
    return client


# --- Lockout that an anonymous caller cannot turn against QA ------------------------------------


def test_anonymous_failures_for_qa_lock_only_the_attackers_address(qa_user, settings):
    """Finding: five anonymous POSTs locked any QA signer for an hour."""
    fail(qa_user.username, ATTACKER, times=settings.AXES_FAILURE_LIMIT + 3)

    # The attacker is locked out even with the right password...
    locked = sign_in(qa_user.username, PASSWORD, ATTACKER)
    assert locked.status_code == 429 and "locked" in locked.content.decode().lower()
    # ...QA at their own bench signs in and signs.
    assert signed_in(sign_in(qa_user.username, PASSWORD, QA_BENCH))
    assert signer_for(qa_user, "approval").user == qa_user  # from the bench's address


def test_many_user_ids_from_one_address_lock_that_address(qa_user, technician, settings):
    """Finding: twenty user IDs from one address were not throttled."""
    for n in range(settings.AXES_ADDRESS_FAILURE_LIMIT):
        fail(f"guess{n}", ATTACKER)

    # Every user ID is refused from there now, a real one with its real password too...
    assert not signed_in(sign_in(technician.username, PASSWORD, ATTACKER))
    assert not signed_in(sign_in(qa_user.username, PASSWORD, ATTACKER))
    # ...and nowhere else.
    assert signed_in(sign_in(technician.username, PASSWORD, OTHER_BENCH))
    assert SecurityEvent.objects.filter(kind="lockout", lock="address").count() == 1


def test_one_person_hammering_their_own_locked_account_does_not_lock_the_bench(
    technician, analyst, settings
):
    fail(technician.username, QA_BENCH, times=settings.AXES_ADDRESS_FAILURE_LIMIT + 5)
    assert not signed_in(sign_in(technician.username, PASSWORD, QA_BENCH))
    # Each user ID counts at most AXES_FAILURE_LIMIT times towards the address: the colleague
    # at the same bench still signs in.
    assert signed_in(sign_in(analyst.username, PASSWORD, QA_BENCH))


def test_a_distributed_guess_locks_the_account_where_it_failed_not_at_a_clean_bench(
    qa_user, settings
):
    per_address = settings.AXES_FAILURE_LIMIT
    addresses = [f"203.0.113.{n}" for n in range(1, 1 + settings.AXES_ACCOUNT_FAILURE_LIMIT)]
    needed = -(-settings.AXES_ACCOUNT_FAILURE_LIMIT // per_address)
    for address in addresses[:needed]:
        fail(qa_user.username, address, times=per_address)

    # A new address gets one try, then the account lock holds there, right password or not.
    fail(qa_user.username, addresses[needed])
    assert not signed_in(sign_in(qa_user.username, PASSWORD, addresses[needed]))
    assert SecurityEvent.objects.filter(kind="lockout", lock="account").exists()
    # QA's own bench never failed: QA signs in.
    assert signed_in(sign_in(qa_user.username, PASSWORD, QA_BENCH))


def test_signing_in_as_oneself_does_not_clear_an_address_count(technician, settings):
    """An insider spraying colleagues' IDs cannot reset the address by signing in as
    themselves: a success clears only that user ID at that address."""
    limit = settings.AXES_ADDRESS_FAILURE_LIMIT
    for n in range(limit - 1):
        fail(f"colleague{n}", ATTACKER)
    assert signed_in(sign_in(technician.username, PASSWORD, ATTACKER))
    fail("colleague-last", ATTACKER)
    assert not signed_in(sign_in(technician.username, PASSWORD, ATTACKER))


def test_a_success_clears_the_owners_failures_at_that_address_only(qa_user, settings):
    fail(qa_user.username, QA_BENCH, times=settings.AXES_FAILURE_LIMIT - 1)
    fail(qa_user.username, ATTACKER, times=2)
    assert signed_in(sign_in(qa_user.username, PASSWORD, QA_BENCH))
    left = AccessAttempt.objects.filter(username=qa_user.username)
    assert [(a.ip_address, a.failures_since_start) for a in left] == [(ATTACKER, 2)]


def test_failed_signings_count_and_lock_the_signer_at_that_address(qa_user, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        with pytest.raises(SignatureRefused):
            signer_for(qa_user, "approval", password="wrong-password-again")
    with pytest.raises(SignatureRefused, match="locked"):
        signer_for(qa_user, "approval")
    kinds = list(SecurityEvent.objects.values_list("kind", flat=True).order_by("pk"))
    assert kinds == ["signing_failed"] * settings.AXES_FAILURE_LIMIT + ["lockout", "signing_failed"]


def test_behind_a_trusted_proxy_the_forwarded_client_address_counts(settings):
    request = RequestFactory().post(
        "/", REMOTE_ADDR="172.18.0.2", HTTP_X_FORWARDED_FOR="10.9.9.9, 192.0.2.44"
    )
    assert client_address(request) == "172.18.0.2"  # no proxy trusted: the peer
    settings.TRUSTED_PROXY_COUNT = 1
    # What the client wrote itself (10.9.9.9) is ignored; the proxy's entry counts.
    assert client_address(request) == "192.0.2.44"
    junk = RequestFactory().post("/", REMOTE_ADDR="172.18.0.2", HTTP_X_FORWARDED_FOR="junk")
    assert client_address(junk) == "172.18.0.2"


# --- The administrator's unlock and the security review ------------------------------------------


def test_an_administrator_unlocks_with_a_reason_and_it_is_audited(qa_user, admin_user, settings):
    fail(qa_user.username, QA_BENCH, times=settings.AXES_FAILURE_LIMIT)
    assert not signed_in(sign_in(qa_user.username, PASSWORD, QA_BENCH))
    (held,) = held_locks()
    assert (held.lock, held.username, held.ip_address) == (
        "account_at_address",
        qa_user.username,
        QA_BENCH,
    )

    admin = _client(admin_user)
    page = admin.get(reverse("security_review"))
    assert QA_BENCH in page.content.decode() and "Unlock" in page.content.decode()
    data = {"lock": held.lock, "username": qa_user.username, "ip_address": QA_BENCH}
    admin.post(reverse("security_unlock"), {**data, "reason": ""})
    assert held_locks(), "no unlock without a reason"
    admin.post(
        reverse("security_unlock"), {**data, "reason": "QA forgot caps lock; identity checked"}
    )

    assert held_locks() == []
    assert signed_in(sign_in(qa_user.username, PASSWORD, QA_BENCH))
    event = SecurityEvent.objects.get(kind="unlock")
    assert (event.actor, event.reason) == (admin_user, "QA forgot caps lock; identity checked")
    audited = AuditEvent.objects.filter(pgh_obj_model="lims.SecurityEvent").get()
    assert (audited.username, audited.reason) == (
        admin_user.username,
        "QA forgot caps lock; identity checked",
    )


def test_only_an_administrator_unlocks(qa_user, settings):
    fail(qa_user.username, QA_BENCH, times=settings.AXES_FAILURE_LIMIT)
    response = _client(qa_user).post(
        reverse("security_unlock"),
        {
            "lock": "account_at_address",
            "username": qa_user.username,
            "ip_address": QA_BENCH,
            "reason": "myself",
        },
    )
    assert response.status_code == 403
    with pytest.raises(ValidationError):
        unlock(
            actor=qa_user,
            lock="account_at_address",
            username=qa_user.username,
            ip_address=QA_BENCH,
            reason="myself",
        )
    assert held_locks()


def test_failed_sign_ins_signings_and_lockouts_are_listed_and_exported(
    qa_user, admin_user, technician, settings
):
    fail("nobody-here", ATTACKER, times=settings.AXES_FAILURE_LIMIT)
    with pytest.raises(SignatureRefused):
        signer_for(qa_user, "approval", password="wrong")

    page = _client(qa_user).get(reverse("security_review"))
    shown = page.content.decode()
    assert page.status_code == 200
    for text in ("Failed sign-in", "Failed signing", "Lockout", "nobody-here", ATTACKER):
        assert text in shown
    assert "Unlock</button>" not in shown, "QA reviews; only administrators unlock"

    exported = _client(admin_user).get(reverse("security_review_csv"))
    rows = list(csv.DictReader(io.StringIO(b"".join(exported.streaming_content).decode())))
    assert {r["what"] for r in rows} == {"Failed sign-in", "Failed signing", "Lockout"}
    assert sum(r["what"] == "Failed sign-in" for r in rows) == settings.AXES_FAILURE_LIMIT

    tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()
    later = _client(admin_user).get(reverse("security_review_csv"), {"since": tomorrow})
    assert b"".join(later.streaming_content).decode().count("\n") == 1  # the header only
    only_signings = _client(admin_user).get(
        reverse("security_review_csv"), {"kind": "signing_failed"}
    )
    assert b"".join(only_signings.streaming_content).decode().count("\n") == 2

    assert _client(technician).get(reverse("security_review")).status_code == 403


def test_the_security_log_cannot_be_altered(qa_user):
    fail(qa_user.username, ATTACKER)
    event = SecurityEvent.objects.get()
    for tamper in (
        lambda: SecurityEvent.objects.filter(pk=event.pk).update(username="someone-else"),
        lambda: SecurityEvent.objects.filter(pk=event.pk).delete(),
    ):
        with pytest.raises(DatabaseError), transaction.atomic():
            tamper()


# --- Which passwords are accepted -------------------------------------------------------------

TRIVIAL = [
    "aaaaaaaaaaaa",  # the finding
    "abcdefghijklmnop",
    "zyxwvutsrqpo",
    "qwertyuiop12",
    "abcabcabcabc",
    "Passpasspass",
    "112233445566",
]


@pytest.mark.parametrize("password", TRIVIAL)
def test_repeated_and_sequential_passwords_are_refused(password, technician):
    with pytest.raises(ValidationError) as refused:
        validate_password(password, technician)
    assert "repeated or sequential" in " ".join(refused.value.messages)


@pytest.mark.parametrize(
    "password",
    [PASSWORD, "Tide-Orbit-Maple-93", *(password for *_, password in DEMO_USERS)],
)
def test_real_passphrases_pass(password, technician):
    validate_password(password, technician)


def test_effective_length_counts_neither_repeats_nor_sequences():
    assert effective_length("aaaa") == 1
    assert effective_length("1234") == 1
    assert effective_length("ab12") == 2
    assert effective_length("a1b2") == 4


def test_a_plant_list_of_breached_passwords_is_used_offline(tmp_path):
    breached = tmp_path / "breached.txt"
    breached.write_text("tulip-lantern-harbour\n")
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup();"
            "from django.contrib.auth.password_validation import validate_password;"
            "validate_password('Tulip-Lantern-Harbour')",
        ],
        env={
            **__import__("os").environ,
            "DJANGO_SETTINGS_MODULE": REPO_SETTINGS,
            "PASSWORD_LIST_PATH": str(breached),
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "This password is too common." in result.stderr


# --- The password change page, ageing, an administrator's reset ------------------------------


def test_every_page_links_to_the_password_change_page(technician):
    assert reverse("password_change") in _client(technician).get(reverse("home")).content.decode()


def test_a_person_changes_their_password_and_it_is_audited(technician):
    client = _client(technician)
    before = technician.password_changed_at
    url = reverse("password_change")
    new = "Harbour-Quartz-Violin-58"

    weak = client.post(
        url,
        {
            "old_password": PASSWORD,
            "new_password1": "aaaaaaaaaaaa",
            "new_password2": "aaaaaaaaaaaa",
        },
    )
    assert weak.status_code == 200 and "repeated or sequential" in weak.content.decode()

    response = client.post(
        url, {"old_password": PASSWORD, "new_password1": new, "new_password2": new}
    )
    assert response.status_code == 302
    technician.refresh_from_db()
    assert technician.check_password(new)
    assert technician.password_changed_at > before
    assert client.get(reverse("home")).status_code == 200, "the session stays signed in"
    change = AuditEvent.objects.filter(
        pgh_obj_model="lims.User", pgh_obj_id=str(technician.pk), pgh_label="update"
    ).latest("pgh_created_at")
    assert change.reason == "Password changed by its owner"
    assert "password" not in change.pgh_diff and "password_changed_at" in change.pgh_diff


def test_a_wrong_current_password_counts_as_a_failed_attempt(technician, settings):
    client = _client(technician, REMOTE_ADDR=QA_BENCH)
    url = reverse("password_change")
    new = "Harbour-Quartz-Violin-58"
    for _ in range(settings.AXES_FAILURE_LIMIT):
        response = client.post(
            url, {"old_password": "a-guess-at-it", "new_password1": new, "new_password2": new}
        )
    assert SecurityEvent.objects.filter(kind="password_check_failed").count() == (
        settings.AXES_FAILURE_LIMIT
    )
    # Locked now: even the right current password does not change it.
    client.post(url, {"old_password": PASSWORD, "new_password1": new, "new_password2": new})
    technician.refresh_from_db()
    assert technician.check_password(PASSWORD)
    assert response.status_code in (200, 429)


def test_an_old_password_sends_its_owner_to_the_change_page(technician, settings):
    User.objects.filter(pk=technician.pk).update(
        password_changed_at=timezone.now() - timedelta(days=91)
    )
    technician.refresh_from_db()
    client = _client(technician)
    assert client.get(reverse("home")).status_code == 200, "ageing is off by default"

    settings.PASSWORD_MAX_AGE_DAYS = 90
    for page in (reverse("home"), reverse("batches:donor_list")):
        response = client.get(page)
        assert response.status_code == 302 and response["Location"] == reverse("password_change")
    assert "more than 90 days old" in client.get(reverse("password_change")).content.decode()

    new = "Harbour-Quartz-Violin-58"
    client.post(
        reverse("password_change"),
        {"old_password": PASSWORD, "new_password1": new, "new_password2": new},
    )
    assert client.get(reverse("home")).status_code == 200


def test_instrument_keys_are_not_aged(settings, admin_user):
    from tests.api.conftest import issue_key, key_client, register_instrument

    settings.PASSWORD_MAX_AGE_DAYS = 1
    User.objects.update(password_changed_at=timezone.now() - timedelta(days=30))
    instrument = register_instrument(admin_user)
    client = key_client(issue_key(admin_user, instrument))
    assert client.get("/api/v1/lots/").status_code == 200


def test_an_administrators_reset_forces_a_change_at_the_next_sign_in(admin_user, qa_user):
    admin = _client(admin_user)
    url = reverse("password_reset")
    temporary = "Lantern-Pebble-Orchid-27"

    weak = admin.post(
        url, {"user": qa_user.username, "new_password": "aaaaaaaaaaaa", "reason": "forgotten"}
    )
    assert weak.status_code == 200 and "repeated or sequential" in weak.content.decode()
    no_reason = admin.post(url, {"user": qa_user.username, "new_password": temporary, "reason": ""})
    assert no_reason.status_code == 200
    admin.post(url, {"user": qa_user.username, "new_password": temporary, "reason": "forgotten"})

    qa_user.refresh_from_db()
    assert qa_user.must_change_password and qa_user.check_password(temporary)
    reset = AuditEvent.objects.filter(
        pgh_obj_model="lims.User", pgh_obj_id=str(qa_user.pk), pgh_label="update"
    ).latest("pgh_created_at")
    assert (reset.username, reset.reason) == (admin_user.username, "forgotten")

    qa = Client()
    assert signed_in(
        qa.post(reverse("login"), {"username": qa_user.username, "password": temporary})
    )
    assert qa.get(reverse("release:dashboard"))["Location"] == reverse("password_change")
    mine = "Meadow-Copper-Falcon-64"
    qa.post(
        reverse("password_change"),
        {"old_password": temporary, "new_password1": mine, "new_password2": mine},
    )
    qa_user.refresh_from_db()
    assert not qa_user.must_change_password
    assert qa.get(reverse("release:dashboard")).status_code == 200


def test_only_an_administrator_resets_and_never_their_own(qa_user, admin_user):
    url = reverse("password_reset")
    data = {"user": admin_user.username, "new_password": "Lantern-Pebble-Orchid-27", "reason": "x"}
    assert _client(qa_user).post(url, data).status_code == 403
    own = _client(admin_user).post(url, data)
    assert own.status_code == 200  # not offered: the field refuses it
    admin_user.refresh_from_db()
    assert not admin_user.must_change_password
