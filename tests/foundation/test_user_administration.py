"""User administration in the product (issue 12 item 2): "/admin/ shows only API keys; an
administrator cannot create a user, give a role, deactivate a person or unlock a locked account
without the shell."

Each act works from the pages, with a reason that the audit trail keeps; everyone but an
administrator gets 403 on every page and POST; the refusals (oneself, the last administrator, a
user ID used before, no reason, a role that does not exist, administration mixed with QA) show
on the form and write nothing (21 CFR 11.10(d), (g), 11.300(a), (b), (d); EU GMP Annex 11 §12).
"""

import io
import re

import psycopg
import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from lims import db_roles, user_admin
from lims.models import AuditEvent, SecurityEvent, User, UserRole, system_user
from lims.roles import RoleRefused
from lims.signin import held_locks
from tests.factories import PASSWORD
from tests.migrations import database

pytestmark = pytest.mark.django_db

BACKEND = "django.contrib.auth.backends.ModelBackend"
BENCH = "198.51.100.30"
TEMPORARY = re.compile(r'class="temporary-password[^"]*">([^<]+)<')


def _client(user) -> Client:
    client = Client()
    client.force_login(user, backend=BACKEND)
    return client


def sign_in(username, password, address=BENCH):
    return Client(REMOTE_ADDR=address).post(
        reverse("login"), {"username": username, "password": password}
    )


def signed_in(response) -> bool:
    return response.status_code == 302 and response["Location"] == reverse("home")


def roles_of(user) -> set[str]:
    return set(User.objects.get(pk=user.pk).groups.values_list("name", flat=True))


def written() -> tuple[int, int, int, int]:
    """What an act could write: people, role links, audit events, security log entries."""
    return (
        User.objects.count(),
        UserRole.objects.count(),
        AuditEvent.objects.count(),
        SecurityEvent.objects.count(),
    )


def shown_password(response) -> str:
    found = TEMPORARY.search(response.content.decode())
    assert found, "the temporary password is shown"
    return found.group(1)


def latest_user_event(user) -> AuditEvent:
    return AuditEvent.objects.filter(pgh_obj_model="lims.User", pgh_obj_id=str(user.pk)).latest(
        "pgh_created_at", "pgh_id"
    )


def role_events(user):
    return AuditEvent.objects.filter(
        pgh_obj_model="lims.UserRole", pgh_data__user_id=user.pk
    ).order_by("pgh_created_at", "pgh_id")


def lock_out(username, settings, address=BENCH):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        assert not signed_in(sign_in(username, "not-the-password-at-all", address))


# --- Each act works and is in the audit trail with its reason ----------------------------------


def test_an_administrator_creates_a_person_who_must_change_the_temporary_password(admin_user):
    admin = _client(admin_user)
    assert admin.get(reverse("users:create")).status_code == 200
    response = admin.post(
        reverse("users:create"),
        {
            "username": "nina.north",
            "first_name": "Nina",
            "last_name": "North",
            "email": "nina.north@example.org",
            "roles": ["analyst"],
            "reason": "New QC analyst, HR ticket 4711",
        },
    )
    assert response.status_code == 200
    temporary = shown_password(response)

    nina = User.objects.get(username="nina.north")
    assert (nina.get_full_name(), nina.email) == ("Nina North", "nina.north@example.org")
    assert roles_of(nina) == {"analyst"}
    assert nina.is_active and nina.must_change_password and nina.check_password(temporary)
    assert not nina.is_staff and not nina.is_superuser
    assert temporary not in str(list(AuditEvent.objects.values_list("pgh_data", flat=True)))

    created = AuditEvent.objects.get(
        pgh_obj_model="lims.User", pgh_obj_id=str(nina.pk), pgh_label="insert"
    )
    assert (created.username, created.reason) == (
        admin_user.username,
        "New QC analyst, HR ticket 4711",
    )
    (given,) = role_events(nina)
    assert (given.pgh_label, given.username, given.reason) == (
        "insert",
        admin_user.username,
        "New QC analyst, HR ticket 4711",
    )
    assert given.pgh_data["group_id"] == Group.objects.get(name="analyst").pk

    # Shown once: the person's page does not show it again.
    assert temporary not in admin.get(reverse("users:detail", args=[nina.pk])).content.decode()

    person = Client(REMOTE_ADDR=BENCH)
    assert signed_in(
        person.post(reverse("login"), {"username": "nina.north", "password": temporary})
    )
    assert person.get(reverse("release:dashboard"))["Location"] == reverse("password_change")


def test_the_list_shows_roles_status_locks_and_filters_in_a_constant_number_of_queries(
    admin_user, qa_user, technician, make_user, settings
):
    gone = make_user("analyst", username="gone.analyst", is_active=False)
    reset = make_user("technician", username="reset.tech")
    User.objects.filter(pk=reset.pk).update(must_change_password=True)
    lock_out(qa_user.username, settings)
    admin = _client(admin_user)

    page = admin.get(reverse("users:list"))
    assert page.status_code == 200
    rows = {
        m.group(1): m.group(2)
        for m in re.finditer(r'<tr data-username="([^"]+)">(.*?)</tr>', page.content.decode(), re.S)
    }
    assert set(rows) == {
        admin_user.username,
        qa_user.username,
        technician.username,
        "gone.analyst",
        "reset.tech",
    }
    assert "system" not in rows, "the system account is not a person"
    assert "locked" in rows[qa_user.username] and "QA" in rows[qa_user.username]
    assert "locked" not in rows[technician.username]
    assert "deactivated" in rows["gone.analyst"]
    assert "must change" in rows["reset.tech"] and "must change" not in rows[technician.username]
    assert "Administrator" in rows[admin_user.username]
    assert "never" in rows[technician.username]  # last sign-in

    def listed(query):
        html = admin.get(reverse("users:list"), query).content.decode()
        return set(re.findall(r'<tr data-username="([^"]+)">', html))

    assert listed({"role": "technician"}) == {technician.username, "reset.tech"}
    assert listed({"active": "no"}) == {gone.username}
    assert listed({"role": "analyst", "active": "yes"}) == set()
    assert listed({"role": "no-such-role"}) == set(rows), "a bad filter filters nothing"

    with CaptureQueriesContext(connection) as few:
        admin.get(reverse("users:list"))
    for n in range(12):
        make_user(["technician", "analyst", "qa", "admin"][n % 4], username=f"more{n}")
    with CaptureQueriesContext(connection) as many:
        assert admin.get(reverse("users:list")).status_code == 200
    assert len(many) == len(few), "one query per page, not per person"


def test_roles_are_given_and_taken_away_with_a_reason_and_audited(admin_user, analyst):
    admin = _client(admin_user)
    response = admin.post(
        reverse("users:roles", args=[analyst.pk]),
        {"roles": ["qa"], "reason": "Moved to QA, training record TR-88"},
    )
    assert response.status_code == 302
    assert roles_of(analyst) == {"qa"}

    taken, given = role_events(analyst).filter(username=admin_user.username)
    assert (taken.pgh_label, taken.pgh_data["group_id"]) == (
        "delete",
        Group.objects.get(name="analyst").pk,
    )
    assert (given.pgh_label, given.pgh_data["group_id"]) == (
        "insert",
        Group.objects.get(name="qa").pk,
    )
    assert {taken.reason, given.reason} == {"Moved to QA, training record TR-88"}

    page = admin.get(reverse("users:detail", args=[analyst.pk])).content.decode()
    assert "Role taken away: Analyst" in page and "Role given: QA" in page
    assert "Moved to QA, training record TR-88" in page


def test_a_deactivated_person_cannot_sign_in_and_a_reactivated_one_can(admin_user, technician):
    open_session = _client(technician)
    assert open_session.get(reverse("home")).status_code == 200
    admin = _client(admin_user)

    response = admin.post(
        reverse("users:deactivate", args=[technician.pk]),
        {"deactivate-reason": "Left the company 2026-11-30"},
    )
    assert response.status_code == 302
    technician.refresh_from_db()
    assert not technician.is_active
    assert User.objects.filter(pk=technician.pk).exists(), "deactivated, never deleted"
    assert roles_of(technician) == {"technician"}, "the roles stay for the record"
    event = latest_user_event(technician)
    assert (event.username, event.reason) == (admin_user.username, "Left the company 2026-11-30")
    assert event.changes == [("is_active", True, False)]

    assert not signed_in(sign_in(technician.username, PASSWORD))
    ended = open_session.get(reverse("home"))
    assert ended.status_code == 302 and ended["Location"].startswith(reverse("login"))

    admin.post(
        reverse("users:reactivate", args=[technician.pk]),
        {"reactivate-reason": "Rehired, contract 2027-01"},
    )
    technician.refresh_from_db()
    assert technician.is_active
    assert latest_user_event(technician).reason == "Rehired, contract 2027-01"
    assert signed_in(sign_in(technician.username, PASSWORD))


def test_a_reset_shows_a_temporary_password_once_and_forces_a_change(admin_user, qa_user):
    admin = _client(admin_user)
    response = admin.post(
        reverse("users:reset_password", args=[qa_user.pk]),
        {"reset-reason": "Forgotten; identity checked by phone"},
    )
    assert response.status_code == 200
    temporary = shown_password(response)
    qa_user.refresh_from_db()
    assert qa_user.must_change_password and qa_user.check_password(temporary)
    assert not qa_user.check_password(PASSWORD)
    event = latest_user_event(qa_user)
    assert (event.username, event.reason) == (
        admin_user.username,
        "Forgotten; identity checked by phone",
    )

    qa = Client(REMOTE_ADDR=BENCH)
    assert signed_in(
        qa.post(reverse("login"), {"username": qa_user.username, "password": temporary})
    )
    assert qa.get(reverse("release:dashboard"))["Location"] == reverse("password_change")
    mine = "Meadow-Copper-Falcon-64"
    qa.post(
        reverse("password_change"),
        {"old_password": temporary, "new_password1": mine, "new_password2": mine},
    )
    assert qa.get(reverse("release:dashboard")).status_code == 200


def test_an_unlock_lifts_the_accounts_locks_with_a_reason(admin_user, qa_user, settings):
    lock_out(qa_user.username, settings)
    assert not signed_in(sign_in(qa_user.username, PASSWORD))
    admin = _client(admin_user)
    page = admin.get(reverse("users:detail", args=[qa_user.pk])).content.decode()
    assert "locked" in page and BENCH in page

    response = admin.post(
        reverse("users:unlock", args=[qa_user.pk]),
        {"unlock-reason": "Caps lock; identity checked in person"},
    )
    assert response.status_code == 302
    assert held_locks() == []
    assert signed_in(sign_in(qa_user.username, PASSWORD))
    event = SecurityEvent.objects.get(kind="unlock")
    assert (event.actor, event.username, event.reason) == (
        admin_user,
        qa_user.username,
        "Caps lock; identity checked in person",
    )
    audited = AuditEvent.objects.get(pgh_obj_model="lims.SecurityEvent")
    assert (audited.username, audited.reason) == (
        admin_user.username,
        "Caps lock; identity checked in person",
    )


def test_only_administrators_see_the_users_link(admin_user, qa_user):
    link = f'href="{reverse("users:list")}"'
    assert link in _client(admin_user).get(reverse("home")).content.decode()
    assert link not in _client(qa_user).get(reverse("home")).content.decode()


# --- Nobody else -------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["technician", "analyst", "qa"])
def test_every_page_and_post_is_403_for_everyone_but_administrators(role, personas, make_user):
    target = make_user("analyst", username="target.person")
    gone = make_user("analyst", username="gone.person", is_active=False)
    client = _client(personas[role])
    before = written()
    for url in (
        reverse("users:list"),
        reverse("users:create"),
        reverse("users:detail", args=[target.pk]),
    ):
        assert client.get(url).status_code == 403, url
    posts = [
        (
            reverse("users:create"),
            {
                "username": "sneaky",
                "first_name": "S",
                "last_name": "N",
                "roles": ["admin"],
                "reason": "x",
            },
        ),
        (reverse("users:roles", args=[target.pk]), {"roles": ["admin"], "reason": "x"}),
        (reverse("users:deactivate", args=[target.pk]), {"deactivate-reason": "x"}),
        (reverse("users:reactivate", args=[gone.pk]), {"reactivate-reason": "x"}),
        (reverse("users:reset_password", args=[target.pk]), {"reset-reason": "x"}),
        (reverse("users:unlock", args=[target.pk]), {"unlock-reason": "x"}),
    ]
    for url, data in posts:
        assert client.post(url, data).status_code == 403, url
    assert written() == before
    assert roles_of(target) == {"analyst"}

    anonymous = Client().get(reverse("users:list"))
    assert anonymous.status_code == 302 and anonymous["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("role", ["technician", "analyst", "qa"])
def test_the_services_refuse_everyone_but_administrators(role, personas, make_user):
    target = make_user("analyst", username="target.person")
    actor = personas[role]
    before = written()
    acts = [
        lambda: user_admin.user_create(
            actor=actor, username="x.y", first_name="X", last_name="Y", roles=["qa"], reason="r"
        ),
        lambda: user_admin.roles_change(actor=actor, user=target, roles=["qa"], reason="r"),
        lambda: user_admin.user_deactivate(actor=actor, user=target, reason="r"),
        lambda: user_admin.password_reset_temporary(actor=actor, user=target, reason="r"),
        lambda: user_admin.account_unlock(actor=actor, user=target, reason="r"),
    ]
    for act in acts:
        with pytest.raises(RoleRefused):
            act()
    assert written() == before


# --- Refusals: shown on the form, nothing written ----------------------------------------------


def test_an_administrator_cannot_act_on_their_own_account(admin_user, make_user):
    make_user("admin", username="second.admin")  # not the last one: the refusal is about self
    admin = _client(admin_user)
    before = written()
    own = [
        (
            reverse("users:deactivate", args=[admin_user.pk]),
            {"deactivate-reason": "testing"},
            "You cannot deactivate your own account",
        ),
        (
            reverse("users:roles", args=[admin_user.pk]),
            {"roles": ["technician"], "reason": "x"},
            "You cannot change your own roles",
        ),
        (
            reverse("users:reset_password", args=[admin_user.pk]),
            {"reset-reason": "forgot"},
            "You cannot reset your own password",
        ),
    ]
    for url, data, refusal in own:
        response = admin.post(url, data)
        assert response.status_code == 200, url
        assert refusal in response.content.decode(), url
    assert written() == before
    admin_user.refresh_from_db()
    assert admin_user.is_active and not admin_user.must_change_password
    assert roles_of(admin_user) == {"admin"}


def test_the_last_active_administrator_is_never_removed(admin_user, make_user):
    """Only a script acting as the system account could try it: an administrator never acts on
    their own account, so through the pages another administrator is always left."""
    other = make_user("admin", username="other.admin", is_active=False)
    before = written()
    with pytest.raises(ValidationError, match="last active administrator"):
        user_admin.user_deactivate(actor=system_user(), user=admin_user, reason="cleanup")
    with pytest.raises(ValidationError, match="last active administrator"):
        user_admin.roles_change(
            actor=system_user(), user=admin_user, roles=["technician"], reason="cleanup"
        )
    assert written() == before
    admin_user.refresh_from_db()
    assert admin_user.is_active and roles_of(admin_user) == {"admin"}

    # With a second active administrator the first may go.
    user_admin.user_reactivate(actor=admin_user, user=other, reason="Back from leave")
    user_admin.user_deactivate(actor=system_user(), user=admin_user, reason="Left")
    admin_user.refresh_from_db()
    assert not admin_user.is_active


@pytest.mark.parametrize("username", ["old.timer", "Old.Timer", "OLD.TIMER"])
def test_a_user_id_is_never_reused_even_after_deactivation(username, admin_user, make_user):
    make_user("technician", username="old.timer", is_active=False)
    admin = _client(admin_user)
    before = written()
    response = admin.post(
        reverse("users:create"),
        {
            "username": username,
            "first_name": "New",
            "last_name": "Person",
            "roles": ["technician"],
            "reason": "New hire",
        },
    )
    assert response.status_code == 200
    assert "never reused" in response.content.decode()
    assert not TEMPORARY.search(response.content.decode())
    assert written() == before


def test_every_act_needs_a_reason(admin_user, analyst, make_user, settings):
    gone = make_user("technician", username="gone.tech", is_active=False)
    lock_out(analyst.username, settings)
    admin = _client(admin_user)
    before = written()
    for blank in ("", "   "):
        posts = [
            (
                reverse("users:create"),
                {
                    "username": "no.reason",
                    "first_name": "No",
                    "last_name": "Reason",
                    "roles": ["qa"],
                    "reason": blank,
                },
            ),
            (reverse("users:roles", args=[analyst.pk]), {"roles": ["qa"], "reason": blank}),
            (reverse("users:deactivate", args=[analyst.pk]), {"deactivate-reason": blank}),
            (reverse("users:reactivate", args=[gone.pk]), {"reactivate-reason": blank}),
            (reverse("users:reset_password", args=[analyst.pk]), {"reset-reason": blank}),
            (reverse("users:unlock", args=[analyst.pk]), {"unlock-reason": blank}),
        ]
        for url, data in posts:
            response = admin.post(url, data)
            assert response.status_code == 200, url
            assert "is-invalid" in response.content.decode(), url
    assert written() == before
    assert held_locks(), "still locked"
    for act in (
        lambda: user_admin.user_deactivate(actor=admin_user, user=analyst, reason="  "),
        lambda: user_admin.roles_change(actor=admin_user, user=analyst, roles=["qa"], reason=""),
    ):
        with pytest.raises(ValidationError, match="reason"):
            act()


def test_a_role_that_does_not_exist_is_refused(admin_user, analyst):
    admin = _client(admin_user)
    before = written()
    for roles in (["superuser"], ["analyst", "root"], []):
        response = admin.post(
            reverse("users:roles", args=[analyst.pk]), {"roles": roles, "reason": "promotion"}
        )
        assert response.status_code == 200 and "is-invalid" in response.content.decode()
        response = admin.post(
            reverse("users:create"),
            {
                "username": "bad.role",
                "first_name": "Bad",
                "last_name": "Role",
                "roles": roles,
                "reason": "New hire",
            },
        )
        assert response.status_code == 200 and "is-invalid" in response.content.decode()
    with pytest.raises(ValidationError, match="Unknown role"):
        user_admin.roles_change(actor=admin_user, user=analyst, roles=["wizard"], reason="x")
    assert written() == before
    assert roles_of(analyst) == {"analyst"}


@pytest.mark.parametrize("other", ["qa", "analyst", "technician"])
def test_administration_is_never_given_with_another_role(other, admin_user, analyst):
    """Segregation of duties: an administrator does not also record, review or approve."""
    admin = _client(admin_user)
    before = written()
    response = admin.post(
        reverse("users:roles", args=[analyst.pk]),
        {"roles": ["admin", other], "reason": "Cover for holidays"},
    )
    assert response.status_code == 200 and "segregation of duties" in response.content.decode()
    response = admin.post(
        reverse("users:create"),
        {
            "username": "both.hats",
            "first_name": "Both",
            "last_name": "Hats",
            "roles": ["admin", other],
            "reason": "New hire",
        },
    )
    assert response.status_code == 200 and "segregation of duties" in response.content.decode()
    assert written() == before
    assert roles_of(analyst) == {"analyst"}


def test_a_combination_made_before_the_rule_is_flagged_and_not_reactivated(admin_user, make_user):
    both = make_user("qa", username="both.roles", is_active=False)
    both.groups.add(Group.objects.get(name="admin"))
    admin = _client(admin_user)
    assert "segregation" in admin.get(reverse("users:list")).content.decode()
    response = admin.post(
        reverse("users:reactivate", args=[both.pk]), {"reactivate-reason": "Back"}
    )
    assert response.status_code == 200 and "segregation of duties" in response.content.decode()
    both.refresh_from_db()
    assert not both.is_active


def test_names_are_required_and_identifiers_checked(admin_user):
    admin = _client(admin_user)
    before = written()
    for data in (
        {"username": "no.name", "first_name": "", "last_name": "Person"},
        {"username": "bad id!", "first_name": "Bad", "last_name": "Id"},
        {"username": "zero\u200bwidth", "first_name": "Zero", "last_name": "Width"},
        {"username": "mail.bad", "first_name": "M", "last_name": "B", "email": "not-an-address"},
    ):
        response = admin.post(
            reverse("users:create"), {**data, "roles": ["technician"], "reason": "New hire"}
        )
        assert response.status_code == 200 and "is-invalid" in response.content.decode(), data
    assert written() == before


def test_nothing_to_do_is_refused(admin_user, analyst, make_user):
    admin = _client(admin_user)
    before = written()
    same = admin.post(
        reverse("users:roles", args=[analyst.pk]), {"roles": ["analyst"], "reason": "again"}
    )
    assert "already" in same.content.decode()
    active = admin.post(
        reverse("users:reactivate", args=[analyst.pk]), {"reactivate-reason": "again"}
    )
    assert "active already" in active.content.decode()
    not_locked = admin.post(reverse("users:unlock", args=[analyst.pk]), {"unlock-reason": "why"})
    assert "not locked" in not_locked.content.decode()
    assert written() == before


def test_the_system_account_is_not_administered(admin_user):
    system = system_user()
    assert _client(admin_user).get(reverse("users:detail", args=[system.pk])).status_code == 404
    with pytest.raises(ValidationError):
        user_admin.roles_change(actor=admin_user, user=system, roles=["qa"], reason="x")


# --- The database: the app role takes a role away, and the record of it stays ----------------


@pytest.mark.django_db(transaction=True)
def test_the_app_role_removes_a_role_link_and_its_event_stays(analyst):
    role = "lims_app_test"
    db_roles.grant_app_role(role)
    params = {**database.server_params(connection.settings_dict), "user": role}
    params.pop("password", None)
    with psycopg.connect(
        dbname=connection.settings_dict["NAME"], autocommit=True, **params
    ) as conn:
        removed = conn.execute(
            "DELETE FROM lims_user_groups WHERE user_id = %s", [analyst.pk]
        ).rowcount
        assert removed == 1
        (events,) = conn.execute(
            "SELECT count(*) FROM lims_userroleevent WHERE user_id = %s AND pgh_label = 'delete'",
            [analyst.pk],
        ).fetchone()
        assert events == 1
        for tamper in (
            "DELETE FROM lims_userroleevent",
            "UPDATE lims_userroleevent SET group_id = 0",
            "TRUNCATE lims_userroleevent",
        ):
            with pytest.raises(psycopg.Error), conn.transaction():
                conn.execute(tamper)


# --- The first administrator, from the shell --------------------------------------------------


def test_the_first_administrator_is_created_by_a_command_and_audited(db):
    out = io.StringIO()
    call_command(
        "create_administrator",
        "first.admin",
        "--first-name=Fay",
        "--last-name=First",
        "--reason=Installation IQ step 7",
        stdout=out,
    )
    temporary = out.getvalue().rsplit(": ", 1)[1].strip()
    first = User.objects.get(username="first.admin")
    assert roles_of(first) == {"admin"} and first.is_staff and not first.is_superuser
    assert first.must_change_password and first.check_password(temporary)
    created = AuditEvent.objects.get(
        pgh_obj_model="lims.User", pgh_obj_id=str(first.pk), pgh_label="insert"
    )
    assert (created.username, created.reason) == ("system", "Installation IQ step 7")

    before = written()
    with pytest.raises(CommandError, match="never reused"):
        call_command(
            "create_administrator", "First.Admin", "--first-name=A", "--last-name=B", stdout=out
        )
    assert written() == before
