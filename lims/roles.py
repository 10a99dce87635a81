"""Roles as groups, their permissions as data, and named predicates shared by pages and API.

21 CFR 11.10(g): only authorised people act. A role is a Django group whose permissions are
set by migrations from ROLE_PERMISSIONS, so every installation has the same matrix.
"""

from collections.abc import Callable
from typing import Any

from django.contrib.auth.management import create_permissions
from django.core.exceptions import PermissionDenied, ValidationError

TECHNICIAN = "technician"
ANALYST = "analyst"
QA = "qa"
ADMIN = "admin"
ROLES = (TECHNICIAN, ANALYST, QA, ADMIN)

_PRODUCTION_MODELS = [
    "donor",
    "cellbank",
    "reagentlot",
    "culturebatch",
    "passage",
    "harvest",
    "isolationrun",
    "exosomelot",
    "aliquot",
    "storagelocation",
]
_VIEW_PRODUCTION = [f"batches.view_{m}" for m in _PRODUCTION_MODELS]
_ASSAY_MODELS = [
    "assaydefinition",
    "analyte",
    "instrument",
    "instrumentlogentry",
    "instrumentfile",
    "assayrun",
    "result",
]
_VIEW_ASSAYS = [f"assays.view_{m}" for m in _ASSAY_MODELS]
_VIEW_RELEASE = [
    "release.view_specification",
    "release.view_criterion",
    "release.view_criterionevaluation",
    "assays.view_qcmetric",
    "release.view_deviation",
    "release.view_capaaction",
    "release.view_disposition",
    "release.view_certificateofanalysis",
]
_OPEN_DEVIATIONS = ["release.add_deviation"]
_ENTER_RESULTS = ["assays.add_assayrun", "assays.add_result", "assays.add_instrumentfile"]
_RECORD_PRODUCTION = [f"batches.{a}_{m}" for m in _PRODUCTION_MODELS for a in ("add", "change")]

# Permission codenames ("app_label.codename") granted to each role.
ROLE_PERMISSIONS: dict[str, list[str]] = {
    TECHNICIAN: [
        *_VIEW_PRODUCTION,
        *_RECORD_PRODUCTION,
        *_VIEW_ASSAYS,
        *_ENTER_RESULTS,
        *_VIEW_RELEASE,
        *_OPEN_DEVIATIONS,
    ],
    ANALYST: [
        *_VIEW_PRODUCTION,
        *_VIEW_ASSAYS,
        *_ENTER_RESULTS,
        "assays.change_assayrun",
        "lims.view_audit_trail",
        *_VIEW_RELEASE,
        *_OPEN_DEVIATIONS,
    ],
    QA: [
        *_VIEW_PRODUCTION,
        *_VIEW_ASSAYS,
        *_VIEW_RELEASE,
        *_OPEN_DEVIATIONS,
        "lims.view_audit_trail",
        "batches.change_exosomelot",
        "release.change_deviation",
        "release.add_capaaction",
        "release.change_capaaction",
        "release.add_disposition",
        "release.add_specification",
        "release.change_specification",
        "release.add_criterion",
    ],
    ADMIN: [
        *_VIEW_PRODUCTION,
        *_VIEW_ASSAYS,
        "assays.add_instrument",
        "assays.change_instrument",
        "assays.add_instrumentlogentry",
        "assays.add_assaydefinition",
        "assays.change_assaydefinition",
        "assays.view_instrumentkey",
        "assays.add_instrumentkey",
        "assays.change_instrumentkey",
        *_VIEW_RELEASE,
        "lims.view_audit_trail",
        "lims.view_user",
        "lims.add_user",
        "lims.change_user",
    ],
}


def sync_role_groups(apps, schema_editor=None) -> None:
    """Create the role groups and give each exactly the permissions of ROLE_PERMISSIONS.

    Called from migrations (after the permissions it names exist), so it uses the historical
    models handed in by `apps`.
    """
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, names in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        perms = []
        for name in names:
            app_label, codename = name.split(".")
            perm = Permission.objects.filter(
                content_type__app_label=app_label, codename=codename
            ).first()
            if perm is not None:  # a later app's migration adds its own permissions
                perms.append(perm)
        group.permissions.set(perms)


class RoleRefused(PermissionDenied, ValidationError):
    """The acting person's role does not allow this write (21 CFR 11.10(g)).

    A PermissionDenied (403 when nothing else handles it) that forms show like any other
    refusal of a service (a ValidationError)."""


# The installation's own account (lims.models.system_user) acts for machines and tasks: it cannot
# sign in, so only code running on the server acts as it.
SYSTEM_USERNAME = "system"


def require(predicate: Callable[[Any], bool], actor: Any, refusal: str) -> None:
    """Refuse with `refusal` unless `predicate(actor)` holds: every service that writes calls
    this first, so a caller that skips the page (a script, a task, another service) is refused
    too."""
    if actor is not None and getattr(actor, "username", None) == SYSTEM_USERNAME:
        return
    if actor is None or not predicate(actor):
        raise RoleRefused(refusal)


def roles_of(user) -> set[str]:
    if not user.is_authenticated:
        return set()
    cached = getattr(user, "_lims_roles", None)
    if cached is None:
        cached = set(user.groups.values_list("name", flat=True))
        user._lims_roles = cached
    return cached


def has_role(user, *roles: str) -> bool:
    return bool(roles_of(user) & set(roles))


def can_record_production(user) -> bool:
    return user.is_authenticated and user.is_active and has_role(user, TECHNICIAN)


def can_view_records(user) -> bool:
    return user.is_authenticated and user.is_active and bool(roles_of(user))


def can_enter_results(user) -> bool:
    """Manual result entry and instrument-file upload from the browser."""
    return user.is_authenticated and user.is_active and has_role(user, TECHNICIAN, ANALYST)


def can_review_runs(user) -> bool:
    return user.is_authenticated and user.is_active and has_role(user, ANALYST)


def can_invalidate_runs(user) -> bool:
    """Analysts invalidate a run with an assignable laboratory error; QA does it by closing an
    OOS investigation as "result invalidated"."""
    return user.is_authenticated and user.is_active and has_role(user, ANALYST, QA)


def can_manage_instruments(user) -> bool:
    """Instrument registry, calibration log, API keys and the assay catalogue."""
    return user.is_authenticated and user.is_active and has_role(user, ADMIN)


def can_sign_dispositions(user) -> bool:
    """QA signs dispositions; administrators never do (Annex 11 §15, segregation of duties)."""
    return (
        user.is_authenticated
        and user.is_active
        and has_role(user, QA)
        and not has_role(user, ADMIN)
    )


def can_lift_quarantine(user) -> bool:
    """A quarantined lot goes back to testing or review only with QA's signed approval, never
    an administrator's (21 CFR 211.22(a): the quality unit approves or rejects in-process
    material and drug products; Annex 11 §15); technicians may put a lot in quarantine."""
    return can_sign_dispositions(user)


def can_configure_assays(user) -> bool:
    """QC (analysts, who run and validate the methods, and QA) change an assay's analysis
    configuration, e.g. its qPCR references and efficiencies, as a new assay version."""
    return user.is_authenticated and user.is_active and has_role(user, ANALYST, QA)


def can_manage_specifications(user) -> bool:
    return user.is_authenticated and user.is_active and has_role(user, QA)


def can_propose_control_baselines(user) -> bool:
    """Analysts, who trend the QC data, and QA propose the baseline a control chart is judged
    against; only QA approves it."""
    return user.is_authenticated and user.is_active and has_role(user, ANALYST, QA)


def can_approve_control_baselines(user) -> bool:
    return user.is_authenticated and user.is_active and has_role(user, QA)


def can_view_release_review(user) -> bool:
    """The review-by-exception page: QA, who decide, and analysts, who prepare the review."""
    return user.is_authenticated and user.is_active and has_role(user, ANALYST, QA)


def can_handle_deviations(user) -> bool:
    """Investigation, CAPA and closure of deviations are QA's."""
    return user.is_authenticated and user.is_active and has_role(user, QA)


def can_open_deviations(user) -> bool:
    return user.is_authenticated and user.is_active and has_role(user, TECHNICIAN, ANALYST, QA)


def can_review_audit_trails(user) -> bool:
    """QA reviews audit trails and signs the review (EU GMP Annex 11 §9)."""
    return user.is_authenticated and user.is_active and has_role(user, QA)


def can_review_security(user) -> bool:
    """QA and administrators review failed sign-ins, signings and lockouts (21 CFR 11.300(d);
    lims.signin)."""
    return user.is_authenticated and user.is_active and has_role(user, QA, ADMIN)


def can_manage_training(user) -> bool:
    """QA records training (signed), issues SOP versions and says which steps need which SOP
    (lims.training; 21 CFR 211.25(a), 11.10(i))."""
    return user.is_authenticated and user.is_active and has_role(user, QA)


def can_manage_retains(user) -> bool:
    """QA sets a lot's retained samples aside and withdraws them, with a reason (EU GMP
    Annex 19; batches.retains)."""
    return user.is_authenticated and user.is_active and has_role(user, QA)


def can_receive_samples(user) -> bool:
    """Technicians log samples that arrive and their chain of custody (batches.retains)."""
    return user.is_authenticated and user.is_active and has_role(user, TECHNICIAN)


def can_unlock_sign_in(user) -> bool:
    """Administrators lift a sign-in lock before its cool-off ends, with a reason."""
    return user.is_authenticated and user.is_active and has_role(user, ADMIN)


def can_reset_passwords(user) -> bool:
    """Administrators reset a forgotten password; its owner then chooses a new one."""
    return user.is_authenticated and user.is_active and has_role(user, ADMIN)


def can_administer_users(user) -> bool:
    """Administrators create people, give and take away roles, deactivate and reactivate, reset
    passwords and unlock accounts (lims.user_admin; 21 CFR 11.10(d), (g))."""
    return user.is_authenticated and user.is_active and has_role(user, ADMIN)


def can_view_audit_trail(user) -> bool:
    return user.is_authenticated and user.has_perm("lims.view_audit_trail")


def role_context(request):
    """Template context: the signed-in user's roles and what they may do."""
    user = request.user
    return {
        "user_roles": sorted(roles_of(user)),
        "can_record_production": can_record_production(user),
        "can_view_records": can_view_records(user),
        "can_view_audit_trail": can_view_audit_trail(user),
        "can_review_audit_trails": can_review_audit_trails(user),
        "can_review_security": can_review_security(user),
        "can_administer_users": can_administer_users(user),
        "can_enter_results": can_enter_results(user),
        "can_review_runs": can_review_runs(user),
        "can_manage_instruments": can_manage_instruments(user),
        "can_sign_dispositions": can_sign_dispositions(user),
        "can_manage_specifications": can_manage_specifications(user),
        "can_configure_assays": can_configure_assays(user),
        "can_open_deviations": can_open_deviations(user),
        "can_propose_control_baselines": can_propose_control_baselines(user),
        "can_approve_control_baselines": can_approve_control_baselines(user),
        "can_manage_training": can_manage_training(user),
        "can_manage_retains": can_manage_retains(user),
        "can_receive_samples": can_receive_samples(user),
    }
