"""The work queues of the home page: what each role has to do next.

A person sees the queues of every role they hold. Each queue is one query whatever the data
(the total comes with the first items, a window count), shows at most HOME_QUEUE_ITEMS items,
each linking to the record to work on, and a "see all" link to the list filtered the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.postgres.expressions import ArraySubquery
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Subquery, Window
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone

from assays.models import AssayRun, ControlBaseline, Instrument, RecomputeJob
from assays.selectors import CALIBRATION_WARNING_DAYS, calibration_state
from batches.filters import due_passage, vials_to_place
from batches.models import Aliquot, CultureBatch, ExosomeLot
from lims.models import User
from lims.roles import ADMIN, ANALYST, QA, ROLES, TECHNICIAN, roles_of
from lims.signin import held_locks
from release.filters import capa_due
from release.lot_progress import RESULT_IN
from release.models import (
    AuditTrailReview,
    Criterion,
    CriterionEvaluation,
    Deviation,
    Specification,
)

# A failed recompute job stays in the analysts' queue this long, then only on its own page.
FAILED_JOB_DAYS = 14
SUITABILITY_FAILED = "System suitability failed"


@dataclass
class Item:
    label: str
    url: str
    detail: str = ""
    age_days: int | None = None
    tone: str = ""  # "danger": overdue; "warning": due soon


@dataclass
class Queue:
    key: str
    title: str
    total: int
    items: list[Item]
    see_all: str
    help: str = ""

    @property
    def more(self) -> bool:
        return self.total > len(self.items)


@dataclass
class RoleQueues:
    role: str
    title: str
    queues: list[Queue] = field(default_factory=list)


def _take(qs: QuerySet, n: int) -> tuple[list, int]:
    """The first `n` rows and how many there are in all, in one query."""
    rows = list(qs.annotate(queue_total=Window(Count("pk")))[:n])
    return rows, (rows[0].queue_total if rows else 0)


def _url(name: str, *args, **params) -> str:
    url = reverse(name, args=args)
    return f"{url}?{urlencode(params)}" if params else url


def _days(since: date, today: date) -> int:
    return (today - since).days


# --- Technician ---------------------------------------------------------------------------------


def passages_due(n: int, today: date) -> Queue:
    rows, total = _take(due_passage(CultureBatch.objects.select_related("cell_bank"), on=today), n)
    return Queue(
        "passages_due",
        "Culture batches due a passage",
        total,
        [
            Item(
                str(b),
                b.get_absolute_url(),
                f"last passage or start {b.last_passaged_on:%Y-%m-%d}, from {b.cell_bank}",
                _days(b.last_passaged_on, today),
                "warning",
            )
            for b in rows
        ],
        _url("batches:culturebatch_list", status="in_culture", passage_due="true"),
        f"In culture, last passaged (or started) {settings.PASSAGE_INTERVAL_DAYS} days ago or "
        "more.",
    )


def results_to_enter(n: int, today: date) -> Queue:
    """Lots in testing whose specification still waits for a required result: the runs to do
    and enter (an invalid run's retest included)."""
    effective = (
        Specification.objects.filter(product=Specification.Product.DRUG_SUBSTANCE)
        .filter(status=Specification.Status.EFFECTIVE)
        .values("pk")[:1]
    )
    owed = Criterion.objects.filter(
        specification=OuterRef("judging_spec"), required=True, voided_at__isnull=True
    ).exclude(
        Exists(
            CriterionEvaluation.objects.filter(
                lot=OuterRef(OuterRef("pk")), criterion=OuterRef("pk"), status__in=RESULT_IN
            )
        )
    )
    lots = (
        ExosomeLot.objects.filter(status=ExosomeLot.Status.IN_TESTING, voided_at__isnull=True)
        .annotate(judging_spec=Coalesce(F("judged_by__specification"), Subquery(effective)))
        .filter(Exists(owed))
        .annotate(owed_tests=ArraySubquery(owed.order_by("position", "pk").values("test")))
        .order_by("manufactured_on", "pk")
    )
    rows, total = _take(lots, n)
    return Queue(
        "results_to_enter",
        "Runs to enter",
        total,
        [
            Item(
                str(lot),
                lot.get_absolute_url(),
                f"{len(lot.owed_tests)} required result{'s' if len(lot.owed_tests) != 1 else ''}"
                f" to enter: {', '.join(lot.owed_tests)}",
                _days(lot.manufactured_on, today),
            )
            for lot in rows
        ],
        _url("batches:exosomelot_list", status="in_testing"),
        "Lots in testing with a required result of their specification not in yet.",
    )


def vials_unplaced(n: int, today: date) -> Queue:
    rows, total = _take(
        vials_to_place(Aliquot.objects.select_related("lot")).order_by("created_at", "pk"), n
    )
    return Queue(
        "vials_to_place",
        "Vials to place in storage",
        total,
        [
            Item(
                str(v),
                reverse("batches:aliquot_move", args=[v.pk]),
                f"lot {v.lot}, {v.get_status_display().lower()}",
                _days(timezone.localdate(v.created_at), today),
            )
            for v in rows
        ],
        _url("batches:aliquot_list", to_place="true"),
        "Vials with no storage position.",
    )


# --- Analyst ------------------------------------------------------------------------------------


def runs_awaiting_review(n: int, today: date) -> Queue:
    runs = (
        AssayRun.objects.filter(status=AssayRun.Status.RECORDED, voided_at__isnull=True)
        .select_related("assay", "operator")
        .order_by("started_at", "pk")
    )
    rows, total = _take(runs, n)
    return Queue(
        "runs_to_review",
        "Runs awaiting review",
        total,
        [
            Item(
                f"{r.assay.code} run {r.pk}",
                r.get_absolute_url(),  # its data, with the review button
                f"{r.assay.name}, by {r.operator.printed_name if r.operator else 'instrument'}",
                _days(timezone.localdate(r.started_at), today),
            )
            for r in rows
        ],
        _url("assays:run_list", status="recorded"),
        "Second-person review: not a run you performed or recorded.",
    )


def runs_failed_suitability(n: int, today: date) -> Queue:
    runs = (
        AssayRun.objects.filter(
            status=AssayRun.Status.INVALIDATED,
            voided_at__isnull=True,
            status_reason__startswith=SUITABILITY_FAILED,
        )
        .exclude(Exists(AssayRun.objects.filter(retest_of=OuterRef("pk"))))
        .select_related("assay")
        .order_by("started_at", "pk")
    )
    rows, total = _take(runs, n)
    return Queue(
        "runs_failed_suitability",
        "Runs that failed system suitability",
        total,
        [
            Item(
                f"{r.assay.code} run {r.pk}",
                r.get_absolute_url(),
                r.status_reason[len(SUITABILITY_FAILED) :].lstrip(": ")[:160],
                _days(timezone.localdate(r.started_at), today),
                "danger",
            )
            for r in rows
        ],
        _url("assays:run_list", status="invalidated"),
        "Invalid, and no retest recorded yet.",
    )


def recompute_jobs(n: int, today: date) -> Queue:
    since = timezone.now() - timedelta(days=FAILED_JOB_DAYS)
    jobs = RecomputeJob.objects.filter(
        Q(status__in=[RecomputeJob.Status.QUEUED, RecomputeJob.Status.RUNNING])
        | Q(status=RecomputeJob.Status.FAILED, created_at__gte=since)
    ).order_by("-created_at", "-pk")
    rows, total = _take(jobs, n)
    return Queue(
        "recompute_jobs",
        "Recompute jobs running or failed",
        total,
        [
            Item(
                str(j),
                reverse("qc:recompute_job", args=[j.pk]),
                j.error[:160] if j.status == RecomputeJob.Status.FAILED else f"{j.percent} %",
                _days(timezone.localdate(j.created_at), today),
                "danger" if j.status == RecomputeJob.Status.FAILED else "",
            )
            for j in rows
        ],
        reverse("qc:recompute"),
        f"Queued or running, and those failed in the last {FAILED_JOB_DAYS} days.",
    )


# --- QA -----------------------------------------------------------------------------------------


def lots_awaiting_disposition(n: int, today: date) -> Queue:
    lots = ExosomeLot.objects.filter(
        status__in=[ExosomeLot.Status.UNDER_REVIEW, ExosomeLot.Status.QUARANTINED],
        voided_at__isnull=True,
    ).order_by("manufactured_on", "pk")
    rows, total = _take(lots, n)
    return Queue(
        "lots_awaiting_disposition",
        "Lots awaiting disposition",
        total,
        [
            Item(
                str(lot),
                reverse("release:lot_review", args=[lot.pk]),
                lot.get_status_display(),
                _days(lot.manufactured_on, today),
            )
            for lot in rows
        ],
        reverse("release:dashboard"),
        "Under review or quarantined: QA's signed decision.",
    )


def open_deviations(n: int, today: date) -> Queue:
    deviations = (
        Deviation.objects.exclude(status=Deviation.Status.CLOSED)
        .filter(voided_at__isnull=True)
        .select_related("lot", "culture_batch")
        .order_by("created_at", "pk")
    )
    rows, total = _take(deviations, n)
    items = []
    for d in rows:
        about = d.lot or d.culture_batch
        kind = "OOS" if d.kind == Deviation.Kind.OOS else d.get_kind_display()
        # An OOS opened by the system is already titled "OOS: … of lot EXO-…": say each once.
        title = d.title if d.title.startswith(f"{kind}:") else f"{kind}: {d.title}"
        if about and str(about) not in title:
            title += f" ({about})"
        items.append(
            Item(
                d.code,
                d.get_absolute_url(),
                f"{title}, {d.get_status_display().lower()}",
                _days(timezone.localdate(d.created_at), today),
                "danger" if d.kind == Deviation.Kind.OOS else "",
            )
        )
    return Queue(
        "open_deviations",
        "Open deviations and OOS investigations",
        total,
        items,
        _url("release:deviation_list", open="true"),
        "Oldest first; each blocks the release of the lots it concerns.",
    )


def capas_due(n: int, today: date) -> Queue:
    rows, total = _take(capa_due().select_related("deviation"), n)
    return Queue(
        "capas_due",
        "CAPA actions due or overdue",
        total,
        [
            Item(
                f"{a.deviation.code}: {a.description[:80]}",
                a.deviation.get_absolute_url(),
                f"{a.owner}, {'overdue since' if a.due_on < today else 'due'} {a.due_on:%Y-%m-%d}",
                None,
                "danger" if a.due_on < today else "warning",
            )
            for a in rows
        ],
        _url("release:deviation_list", capa_due="true"),
        "Not done, overdue or due within the week.",
    )


def specifications_to_approve(n: int, today: date) -> Queue:
    specs = Specification.objects.filter(
        status__in=[Specification.Status.DRAFT, Specification.Status.APPROVED],
        voided_at__isnull=True,
    ).order_by("created_at", "pk")
    rows, total = _take(specs, n)
    return Queue(
        "specifications_to_approve",
        "Specifications to approve or make effective",
        total,
        [
            Item(
                str(s),
                s.get_absolute_url(),
                f"{s.get_status_display()}: {s.title}",
                _days(timezone.localdate(s.created_at), today),
            )
            for s in rows
        ],
        reverse("release:specification_list"),
    )


def baselines_to_approve(n: int, today: date) -> Queue:
    baselines = ControlBaseline.objects.filter(
        status=ControlBaseline.Status.DRAFT, voided_at__isnull=True
    ).order_by("created_at", "pk")
    rows, total = _take(baselines, n)
    return Queue(
        "baselines_to_approve",
        "Control baselines to approve",
        total,
        [
            Item(
                str(b),
                b.get_absolute_url(),
                f"mean {b.mean:g}, SD {b.sd:g}, n = {b.n}",
                _days(timezone.localdate(b.created_at), today),
            )
            for b in rows
        ],
        _url("qc:baseline_list", status="draft"),
    )


def audit_reviews_due(n: int, today: date) -> Queue:
    """Lots under review whose audit trail QA has not reviewed yet (EU GMP Annex 11 §9: before
    the release; the review page says whether a change came after the last review)."""
    lots = (
        ExosomeLot.objects.filter(status=ExosomeLot.Status.UNDER_REVIEW, voided_at__isnull=True)
        .exclude(Exists(AuditTrailReview.objects.filter(lot=OuterRef("pk"))))
        .order_by("manufactured_on", "pk")
    )
    rows, total = _take(lots, n)
    return Queue(
        "audit_reviews_due",
        "Audit-trail reviews due",
        total,
        [
            Item(
                str(lot),
                _url("release:audit_review_create", lot=lot.code),
                "under review, its audit trail not reviewed",
                _days(lot.manufactured_on, today),
            )
            for lot in rows
        ],
        reverse("release:audit_review_list"),
        "Lots under review: the changes after first entry, reviewed before the release.",
    )


# --- Administrator ------------------------------------------------------------------------------


def locked_accounts(n: int, today: date) -> Queue:
    locks = held_locks()
    return Queue(
        "locked_accounts",
        "Sign-in locks",
        len(locks),
        [
            Item(
                h.username or h.ip_address or "?",
                reverse("security_review"),
                f"{h.label}, {h.failures} failures"
                + (f", until {timezone.localtime(h.until):%Y-%m-%d %H:%M}" if h.until else ""),
                None,
                "danger",
            )
            for h in locks[:n]
        ],
        reverse("security_review"),
        "Accounts or addresses locked after failed sign-ins.",
    )


def must_change_password(n: int, today: date) -> Queue:
    users = User.objects.filter(must_change_password=True, is_active=True).order_by(
        "password_changed_at", "pk"
    )
    rows, total = _take(users, n)
    return Queue(
        "must_change_password",
        "Users who must change their password",
        total,
        [
            Item(
                u.username,
                reverse("users:detail", args=[u.pk]),
                f"{u.printed_name}, password set "
                f"{timezone.localtime(u.password_changed_at):%Y-%m-%d}",
                _days(timezone.localdate(u.password_changed_at), today),
            )
            for u in rows
        ],
        _url("users:list", active="yes"),
        "A reset password, not yet replaced by its owner.",
    )


def calibration_due(n: int, today: date) -> Queue:
    horizon = today + timedelta(days=CALIBRATION_WARNING_DAYS)
    instruments = Instrument.objects.filter(
        calibration_due_on__lte=horizon, voided_at__isnull=True
    ).order_by("calibration_due_on", "code")
    rows, total = _take(instruments, n)
    items = []
    for i in rows:
        state = calibration_state(i, on=today)
        items.append(
            Item(
                str(i),
                i.get_absolute_url(),
                f"{i.instrument_type}, {i.location}: "
                f"{'overdue since' if state == 'overdue' else 'due'} "
                f"{i.calibration_due_on:%Y-%m-%d}",
                None,
                "danger" if state == "overdue" else "warning",
            )
        )
    return Queue(
        "calibration_due",
        "Calibration due",
        total,
        items,
        _url(
            "assays:instrument_list",
            calibration_due_before=(horizon + timedelta(days=1)).isoformat(),
        ),
        f"Overdue, or due within {CALIBRATION_WARNING_DAYS} days.",
    )


QueueFn = Callable[[int, date], Queue]
ROLE_QUEUES: dict[str, tuple[str, list[QueueFn]]] = {
    TECHNICIAN: ("Technician", [passages_due, results_to_enter, vials_unplaced]),
    ANALYST: ("Analyst", [runs_awaiting_review, runs_failed_suitability, recompute_jobs]),
    QA: (
        "QA",
        [
            lots_awaiting_disposition,
            open_deviations,
            capas_due,
            specifications_to_approve,
            baselines_to_approve,
            audit_reviews_due,
        ],
    ),
    ADMIN: ("Administrator", [locked_accounts, must_change_password, calibration_due]),
}


def queues_for(user, *, today: date | None = None) -> list[RoleQueues]:
    """The queues of each role the user holds, in the order of lims.roles.ROLES."""
    today = today or timezone.localdate()
    n = settings.HOME_QUEUE_ITEMS
    held = roles_of(user)
    out = []
    for role in ROLES:
        if role not in held:
            continue
        title, fns = ROLE_QUEUES[role]
        out.append(RoleQueues(role, title, [fn(n, today) for fn in fns]))
    return out
