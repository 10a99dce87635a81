"""Reads behind the QC pages: the data each chart and table shows, in a fixed number of queries.

Charts are built from these by :mod:`assays.charts`; nothing here writes.
"""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import numpy as np
from django.db import connection
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from assays.metrics import RULES, current_metrics
from assays.models import AssayRun, ControlBaseline, QCMetric, Result
from assays.parsers import ParseError, nanosight
from assays.plate_models import PlateAnalysis
from assays.qc import curves, westgard
from assays.qc import nta as nta_maths
from assays.qc import plate as plate_maths

NTA_D_CODES = {"D10": "nta.d10", "D50": "nta.d50", "D90": "nta.d90"}
RQ_CODE = re.compile(r"^mirna\.(?P<target>.+)\.rq$")


# --- Metrics tables ----------------------------------------------------------------------------


def lot_metrics(lot) -> list[QCMetric]:
    """The lot's metrics in force (metrics.current_metrics), by code."""
    return [m for _, m in sorted(current_metrics(lot=lot).items())]


def batch_metrics(batch) -> list[QCMetric]:
    return [m for _, m in sorted(current_metrics(culture_batch=batch).items())]


def run_metrics(run: AssayRun) -> list[QCMetric]:
    """Every metric of a run, old algorithm versions included; ``is_current`` marks the newest
    of each code and sample (older versions stay visible, never replaced)."""
    rows = list(
        QCMetric.objects.filter(run=run)
        .select_related("lot", "culture_batch")
        .order_by("code", "lot_id", "culture_batch_id", "-computed_at", "-pk")
    )
    seen = set()
    for m in rows:
        key = (m.code, m.lot_id, m.culture_batch_id)
        m.is_current = key not in seen
        seen.add(key)
    return rows


# --- NTA size distribution -----------------------------------------------------------------


@dataclass
class NtaDistribution:
    """The per-video distributions of one NTA run's original file and its D-values."""

    run: AssayRun
    bins_nm: np.ndarray | None = None
    videos: dict[str, np.ndarray] = field(default_factory=dict)
    d_values: dict[str, float] = field(default_factory=dict)
    note: str = ""


def latest_nta_run(lot) -> AssayRun | None:
    """The lot's most recent NTA run that is not invalidated."""
    return (
        AssayRun.objects.filter(assay__code="NTA", samples__lot=lot)
        .exclude(status=AssayRun.Status.INVALIDATED)
        .select_related("source_file")
        .order_by("-started_at", "-pk")
        .first()
    )


def has_nta_file(run: AssayRun) -> bool:
    source = run.source_file
    return source is not None and source.detected_format == "nanosight"


def nta_stored_d_values(run: AssayRun, lot) -> dict[str, float | None]:
    """The run's stored D10/D50/D90 metrics of the lot (the newest of each), by metric code."""
    stored = (
        QCMetric.objects.filter(run=run, lot=lot, code__in=NTA_D_CODES.values())
        .order_by("code", "-computed_at", "-pk")
        .distinct("code")
    )
    return {m.code: m.value for m in stored}


def nta_distribution(
    lot, *, run: AssayRun | None = None, stored: dict[str, float | None] | None = None
) -> NtaDistribution | None:
    """Bins per video from the original NanoSight file of the lot's latest NTA run.

    D10/D50/D90 are the run's stored metrics (mean of the per-video values, as reported);
    when a metric is missing, the percentile of the mean distribution (with the convention of
    the file's NTA version).
    None when the lot has no NTA run; a ``note`` says why a run has no distribution to show.
    ``run`` (the lot's latest_nta_run) and ``stored`` (its nta_stored_d_values) when the caller
    has already read them.
    """
    run = run if run is not None else latest_nta_run(lot)
    if run is None:
        return None
    found = NtaDistribution(run=run)
    source = run.source_file
    if source is None or not has_nta_file(run):
        found.note = "This run's values were not read from a NanoSight file: no size distribution."
        return found
    try:
        export = nanosight.parse(source.original_bytes())
    except (OSError, RuntimeError, ParseError) as exc:
        found.note = f"The original file {source.original_name} could not be read: {exc}"
        return found
    found.bins_nm = export.videos[0].bins_nm
    found.videos = {v.name: v.concentration_per_bin for v in export.videos}
    by_code = stored if stored is not None else nta_stored_d_values(run, lot)
    mean = np.mean(np.vstack(list(found.videos.values())), axis=0)
    fallback = nta_maths.summarize_distribution(
        found.bins_nm, mean, cumulative_at=export.cumulative_at
    )
    for key, code in NTA_D_CODES.items():
        value = by_code.get(code)
        found.d_values[key] = value if value is not None else getattr(fallback, key.lower())
    return found


# --- qPCR -------------------------------------------------------------------------------------


@dataclass
class RelativeQuantities:
    targets: list[str]
    rq: list[float | None]
    ci_low: list[float | None]
    ci_high: list[float | None]
    reference: str


def relative_quantities(metrics: Iterable[QCMetric]) -> RelativeQuantities | None:
    """The ``mirna.<target>.rq`` metrics among ``metrics`` (details ci_low, ci_high)."""
    rows = [(RQ_CODE.match(m.code), m) for m in metrics]
    rows = [(match["target"], m) for match, m in rows if match]
    if not rows:
        return None
    return RelativeQuantities(
        targets=[t for t, _ in rows],
        rq=[m.value for _, m in rows],
        ci_low=[m.details.get("ci_low") for _, m in rows],
        ci_high=[m.details.get("ci_high") for _, m in rows],
        reference=next((m.details.get("reference", "") for _, m in rows), ""),
    )


# --- Standard curves --------------------------------------------------------------------------

# Plate convention (documented in templates/qc/run_detail.html): on an absorbance plate, a
# standard is a result of analyte "absorbance" whose target is "standard" or whose instrument
# sample name starts with "STD"; its known concentration is written in the result's replicate
# as "<number> <unit>", e.g. "125 ug/mL". Every other absorbance result is an unknown.
STANDARD_ANALYTE = "absorbance"
CONCENTRATION_TEXT = re.compile(
    r"^\s*(?P<value>\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)\s*(?P<unit>[^\d\s][^\s]*)\s*$"
)


@dataclass(frozen=True)
class PlateValue:
    """One absorbance result as the standard-curve split sees it."""

    label: str
    well: str
    response: float
    target: str = ""
    source_sample: str = ""
    replicate: str = ""


@dataclass
class StandardCurve:
    """Standards with known concentrations, unknowns, and the 4PL fit (or why there is none)."""

    x_std: list[float]
    y_std: list[float]
    unknowns: list[PlateValue]
    x_unit: str
    without_concentration: int = 0
    fit: curves.FourPLFit | None = None
    back_calculated: list[curves.BackCalc] = field(default_factory=list)
    error: str = ""


def is_standard(value: PlateValue) -> bool:
    named_standard = value.target.strip().lower() == "standard"
    return named_standard or value.source_sample.strip().upper().startswith("STD")


def standard_concentration(value: PlateValue) -> tuple[float, str] | None:
    """The known concentration and unit written in a standard's replicate ("125 ug/mL")."""
    match = CONCENTRATION_TEXT.match(value.replicate)
    if match is None:
        return None
    return float(match["value"]), match["unit"]


def fit_standard_curve(values: Iterable[PlateValue]) -> StandardCurve | None:
    """Split plate values into standards and unknowns, fit the 4PL, back-calculate unknowns.

    None when there is no standard at all. Standards without a readable concentration are
    counted, not used; units must agree between standards.
    """
    values = [v for v in values if v.response is not None and math.isfinite(v.response)]
    standards = [v for v in values if is_standard(v)]
    if not standards:
        return None
    x_std, y_std, units, without = [], [], set(), 0
    for v in standards:
        known = standard_concentration(v)
        if known is None:
            without += 1
            continue
        x_std.append(known[0])
        y_std.append(v.response)
        units.add(known[1])
    curve = StandardCurve(
        x_std=x_std,
        y_std=y_std,
        unknowns=[v for v in values if not is_standard(v)],
        x_unit=next(iter(units)) if len(units) == 1 else "",
        without_concentration=without,
    )
    if len(units) > 1:
        curve.error = "The standards' concentrations are given in different units."
        return curve
    try:
        curve.fit = curves.fit_four_pl(x_std, y_std)
    except ValueError as exc:
        curve.error = f"No 4PL fit: {exc}."
        return curve
    curve.back_calculated = curve.fit.back_calculate([v.response for v in curve.unknowns])
    return curve


def run_standard_curve(run: AssayRun) -> StandardCurve | None:
    """The standard curve of an absorbance plate run (see the plate convention above)."""
    rows = (
        Result.objects.filter(run=run, analyte__code=STANDARD_ANALYTE, value__isnull=False)
        .select_related("sample")
        .order_by("pk")
    )
    return fit_standard_curve(
        PlateValue(
            label=r.source_sample or r.sample.label,
            well=r.well,
            response=r.value,
            target=r.target,
            source_sample=r.source_sample,
            replicate=r.replicate,
        )
        for r in rows
    )


# --- Trends (control charts across lots) -----------------------------------------------------


@dataclass(frozen=True)
class TrendPoint:
    x: datetime.date | datetime.datetime
    value: float
    label: str
    unit: str
    metric_id: int
    run_id: int | None
    lot_id: int | None
    culture_batch_id: int | None


def metric_codes() -> list[str]:
    """Every metric code stored so far (for the trend page's choice).

    A loose index scan: each code found by one probe of the unique index whose leading column is
    the code (the next code after the last found), so the cost is the number of distinct codes
    (a few dozen), never a DISTINCT over every stored metric (issue 14: 1.3 s at a tenth of a
    busy site's ten years)."""
    table = connection.ops.quote_name(QCMetric._meta.db_table)
    sql = (
        f"WITH RECURSIVE codes(code) AS ("  # noqa: S608 (our table's name)
        f"(SELECT code FROM {table} ORDER BY code LIMIT 1) UNION ALL "
        f"SELECT (SELECT m.code FROM {table} m WHERE m.code > codes.code ORDER BY m.code LIMIT 1) "
        f"FROM codes WHERE codes.code IS NOT NULL) "
        f"SELECT code FROM codes WHERE code IS NOT NULL"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return [code for (code,) in cursor.fetchall()]


def assay_codes() -> list[str]:
    """Assays that produce metrics (no query: the rules are code)."""
    return sorted(RULES)


def trend_points(code: str, *, assay_code: str = "", x_axis: str = "date") -> list[TrendPoint]:
    """One point per lot (or culture batch): its newest metric ``code`` from a valid run.

    One query whatever the number of lots. ``x_axis="date"`` puts a lot at its manufacturing
    date (a batch at its start date), ``"computed"`` at the time the metric was computed.
    Points are in x order (the order Westgard's consecutive rules read them in).
    """
    return trend_series([(code, assay_code)], x_axis=x_axis)[(code, assay_code)]


def trend_series(
    series: Iterable[tuple[str, str]], *, x_axis: str = "date"
) -> dict[tuple[str, str], list[TrendPoint]]:
    """The points of several series at once, ``{(code, assay_code): trend_points(...)}``.

    One query whatever the number of series and lots: the newest metric of each code, assay,
    lot and batch; a series without an assay keeps the newest of its lot's assays.
    """
    wanted = list(dict.fromkeys(series))
    found: dict[tuple[str, str], list[TrendPoint]] = {key: [] for key in wanted}
    if not wanted:
        return found
    by_assay = any(assay for _, assay in wanted)
    keys = ["code", *(["run__assay__code"] if by_assay else []), "lot_id", "culture_batch_id"]
    qs = (
        QCMetric.objects.filter(code__in={code for code, _ in wanted})
        .exclude(run__status=AssayRun.Status.INVALIDATED)
        .select_related("lot", "culture_batch")
    )
    if by_assay:
        qs = qs.annotate(assay_code=F("run__assay__code"))
    rows = list(qs.order_by(*keys, F("computed_at").desc(), "-pk").distinct(*keys))
    for code, assay in wanted:
        newest: dict[tuple[int | None, int | None], QCMetric] = {}
        for m in rows:
            if m.code != code or (assay and getattr(m, "assay_code", None) != assay):
                continue
            subject = (m.lot_id, m.culture_batch_id)
            kept = newest.get(subject)
            if kept is None or (m.computed_at, m.pk) > (kept.computed_at, kept.pk):
                newest[subject] = m
        points = [_trend_point(m, x_axis) for m in newest.values()]
        found[(code, assay)] = sorted(
            (p for p in points if p is not None), key=lambda p: (_sortable(p.x), p.label)
        )
    return found


def _trend_point(m: QCMetric, x_axis: str) -> TrendPoint | None:
    if m.value is None or not math.isfinite(m.value):
        return None
    subject = m.lot or m.culture_batch
    if x_axis == "computed" or subject is None:
        x = m.computed_at
    else:
        x = m.lot.manufactured_on if m.lot else m.culture_batch.started_on
    return TrendPoint(
        x=x,
        value=m.value,
        label=str(subject) if subject else f"run {m.run_id}",
        unit=m.unit,
        metric_id=m.pk,
        run_id=m.run_id,
        lot_id=m.lot_id,
        culture_batch_id=m.culture_batch_id,
    )


def _sortable(x) -> datetime.datetime:
    if isinstance(x, datetime.datetime):
        return x.replace(tzinfo=None)
    return datetime.datetime.combine(x, datetime.time())


# --- The trend page's window: the latest points, bounded ---------------------------------------

# Points one view of the trend page charts: the latest, with a date range to look further back.
# A control chart is read at its recent end; the whole history of a busy site (5,000 lots in ten
# years) in one chart is unreadable and made every view cost in proportion to it (issue 14).
TREND_WINDOW = 250


@dataclass(frozen=True)
class TrendWindow:
    """The points one view charts (x order) and up to ``westgard.LOOKBACK`` points just before
    them, so that the consecutive rules judge the window's first points as in the whole series."""

    points: list[TrendPoint]
    lead_in: list[TrendPoint]

    @property
    def earlier(self) -> bool:
        """Whether the series goes on before the window."""
        return bool(self.lead_in)


def trend_window(
    code: str,
    *,
    assay_code: str = "",
    x_axis: str = "date",
    since: datetime.date | None = None,
    until: datetime.date | None = None,
    limit: int | None = None,
) -> TrendWindow:
    """The latest ``limit`` points of :func:`trend_points` up to ``until`` and from ``since``
    (days, inclusive; of the x a point is charted at), and the points just before them.

    One query whose cost is the window's, not the series' (lots and batches read newest first
    by date, each with its newest metric of the code: an index probe per subject).
    ``limit`` is TREND_WINDOW unless given."""
    limit = TREND_WINDOW if limit is None else limit
    rows = _trend_rows(
        code,
        assay_code=assay_code,
        x_axis=x_axis,
        until=until,
        newest_first=True,
        limit=limit + westgard.LOOKBACK,
    )
    shown = []
    for point in rows[:limit]:
        if since is not None and day_of(point.x) < since:
            break
        shown.append(point)
    lead_in = rows[len(shown) : len(shown) + westgard.LOOKBACK]
    return TrendWindow(points=shown[::-1], lead_in=lead_in[::-1])


def first_trend_points(
    code: str, n: int, *, assay_code: str = "", x_axis: str = "date"
) -> list[TrendPoint]:
    """The first ``n`` points of :func:`trend_points` (a provisional baseline's), in one query."""
    return _trend_rows(code, assay_code=assay_code, x_axis=x_axis, newest_first=False, limit=n)


def day_of(x: datetime.date | datetime.datetime) -> datetime.date:
    return timezone.localdate(x) if isinstance(x, datetime.datetime) else x


@dataclass(frozen=True)
class _Kind:
    """What a metric describes, as the trend queries read it. A metric of a lot is the lot's
    point whatever else it names; a run's (neither lot nor batch) are one subject together, as
    in trend_series."""

    metric: str  # the condition on a metric ``m`` (matching a partial index of QCMetric)
    table: str = ""
    dated: str = ""  # the subject's date column
    key: str = ""  # the metric's column naming the subject
    ids: str = "NULL::bigint, NULL::bigint"  # lot_id, culture_batch_id


_KINDS = (
    _Kind(
        metric="{m}.lot_id IS NOT NULL",
        table="batches_exosomelot",
        dated="manufactured_on",
        key="lot_id",
        ids="s.id, NULL::bigint",
    ),
    _Kind(
        metric="{m}.lot_id IS NULL AND {m}.culture_batch_id IS NOT NULL",
        table="batches_culturebatch",
        dated="started_on",
        key="culture_batch_id",
        ids="NULL::bigint, s.id",
    ),
)
_OF_A_RUN = _Kind(metric="{m}.lot_id IS NULL AND {m}.culture_batch_id IS NULL")

_COLUMNS = "m.id, m.value, m.unit, m.run_id, m.computed_at"
_VALID = "{r}.status IS DISTINCT FROM %(invalidated)s"  # a metric without a run counts
_ASSAY_JOIN = "JOIN assays_assaydefinition {a} ON {a}.id = {r}.assay_id AND {a}.code = %(assay)s"
_FINITE = "m.value IS NOT NULL AND m.value NOT IN ('NaN', 'Infinity', '-Infinity')"
# The newest valid metric of the code of one subject (``{subject}``): the point trend_series
# keeps for it.
_NEWEST = """SELECT {columns}
    FROM assays_qcmetric m LEFT JOIN assays_assayrun r ON r.id = m.run_id {assay_join}
    WHERE m.code = %(code)s AND {subject} AND {valid}
    ORDER BY m.computed_at DESC, m.id DESC LIMIT 1"""
# A kind the code has no metric of is skipped at once (a one-time filter), not walked through.
_ANY = "EXISTS (SELECT 1 FROM assays_qcmetric e WHERE e.code = %(code)s AND {kind})"

# By the subject's date: lots (batches) read in date order by their (date, code) index, each
# with its newest metric probed by the metric's (subject, code) index, until enough are found.
_BY_DATE = """(SELECT {columns}, {ids}, s.code, s.{dated}::timestamp
    FROM {table} s CROSS JOIN LATERAL ({newest}) m
    WHERE {any} AND {finite} {until}
    ORDER BY s.{dated} {d}, s.code {d} LIMIT %(limit)s)"""
# By the time the metric was computed: the kind's metrics of the code in that order (an
# index-only scan of a partial (code, computed_at) index), each kept when it is its subject's
# newest valid one: one probe per metric read, in a lateral subquery (always a nested loop), so
# the scan stops at the limit. Joined to the assay's runs instead, the planner misjudged how
# few rows the limit needs and read and sorted every metric of the code.
_BY_COMPUTED = """(SELECT {columns}, {ids},
           (SELECT s.code FROM {table} s WHERE s.id = c.{key}), c.computed_at AT TIME ZONE 'UTC'
    FROM (SELECT c.id, c.{key}, c.computed_at FROM assays_qcmetric c
          WHERE c.code = %(code)s AND {kind} {until}) c
    CROSS JOIN LATERAL ({newest}) m
    WHERE m.id = c.id AND {finite}
    ORDER BY c.computed_at {d} LIMIT %(limit)s)"""
_RUNS = """(SELECT {columns}, NULL::bigint, NULL::bigint, '', m.computed_at AT TIME ZONE 'UTC'
    FROM ({newest}) m WHERE {finite} {until})"""
_SERIES = """SELECT * FROM ({branches}) t (id, value, unit, run_id, computed_at, lot_id,
    culture_batch_id, label, x_at) ORDER BY x_at {d}, label {d} LIMIT %(limit)s"""


def _series_sql(
    *, by_assay: bool, x_axis: str, newest_first: bool, until: bool, until_label: bool = False
) -> str:
    d = "DESC" if newest_first else "ASC"
    assay_join = _ASSAY_JOIN.format(a="a", r="r") if by_assay else ""
    common = {"columns": _COLUMNS, "finite": _FINITE, "d": d}
    branches = []
    for kind in _KINDS:
        if x_axis == "computed":
            branch = _BY_COMPUTED.format(
                **common,
                ids=kind.ids.replace("s.id", f"c.{kind.key}"),
                table=kind.table,
                key=kind.key,
                kind=kind.metric.format(m="c"),
                newest=_NEWEST.format(
                    columns=_COLUMNS,
                    assay_join=assay_join,
                    subject=f"m.{kind.key} = c.{kind.key} AND {kind.metric.format(m='m')}",
                    valid=_VALID.format(r="r"),
                ),
                until="AND c.computed_at < %(until_at)s" if until else "",
            )
        else:
            newest = _NEWEST.format(
                columns=_COLUMNS,
                assay_join=assay_join,
                subject=f"m.{kind.key} = s.id AND {kind.metric.format(m='m')}",
                valid=_VALID.format(r="r"),
            )
            branch = _BY_DATE.format(
                **common,
                ids=kind.ids,
                table=kind.table,
                dated=kind.dated,
                newest=newest,
                any=_ANY.format(kind=kind.metric.format(m="e")),
                until=(
                    f"AND (s.{kind.dated}, s.code) <= (%(until)s, %(until_label)s)"
                    if until_label
                    else f"AND s.{kind.dated} <= %(until)s"
                    if until
                    else ""
                ),
            )
        branches.append(branch)
    newest_of_runs = _NEWEST.format(
        columns=_COLUMNS,
        assay_join=assay_join,
        subject=_OF_A_RUN.metric.format(m="m"),
        valid=_VALID.format(r="r"),
    )
    branches.append(
        _RUNS.format(
            **common,
            newest=newest_of_runs,
            until=(
                # A run's point (x: when computed, UTC as x_at) before the subject's day began.
                "AND m.computed_at AT TIME ZONE 'UTC' <= %(until)s::timestamp"
                if until_label
                else "AND m.computed_at < %(until_at)s"
                if until
                else ""
            ),
        )
    )
    return _SERIES.format(branches=" UNION ALL ".join(branches), d=d)


def _trend_rows(
    code: str,
    *,
    assay_code: str,
    x_axis: str,
    newest_first: bool,
    limit: int,
    until: datetime.date | None = None,
) -> list[TrendPoint]:
    """Points of the series in x order (newest first or oldest first), at most ``limit``."""
    key = (code, assay_code)
    found = _series_rows([key], x_axis=x_axis, newest_first=newest_first, limit=limit, until=until)
    return found[key]


def _series_rows(
    series: Iterable[tuple[str, str]],
    *,
    x_axis: str,
    newest_first: bool,
    limit: int,
    until: datetime.date | None = None,
    until_label: str | None = None,
) -> dict[tuple[str, str], list[TrendPoint]]:
    """:func:`_trend_rows` of several series ``(code, assay_code)`` in one query.

    With ``until_label`` (x by date only), a series ends at the subject of that label on day
    ``until``: its point and those before it in x order (a day's points ordered by label), not
    the day's later points, so that a lot's point is found with exactly the points before it.
    """
    wanted = list(dict.fromkeys(series))
    found: dict[tuple[str, str], list[TrendPoint]] = {key: [] for key in wanted}
    if not wanted:
        return found
    if until_label is not None and (until is None or x_axis == "computed"):
        raise ValueError("until_label places a subject on its day: x by date, with until")
    params: dict[str, Any] = {
        "invalidated": AssayRun.Status.INVALIDATED,
        "limit": limit,
        "until": until,
        "until_at": None,
        "until_label": until_label,
    }
    if until is not None:  # a datetime x before the next day begins (the site's time zone)
        params["until_at"] = timezone.make_aware(
            datetime.datetime.combine(until + datetime.timedelta(days=1), datetime.time())
        )
    selects = []
    for k, (code, assay_code) in enumerate(wanted):
        sql = _series_sql(
            by_assay=bool(assay_code),
            x_axis=x_axis,
            newest_first=newest_first,
            until=until is not None,
            until_label=until_label is not None,
        )
        # Each series its own parameters: the same statement per series, planned as alone.
        sql = sql.replace("%(code)s", f"%(code_{k})s").replace("%(assay)s", f"%(assay_{k})s")
        params[f"code_{k}"] = code
        params[f"assay_{k}"] = assay_code
        selects.append(f"SELECT {k}, t.* FROM ({sql}) t")
    d = "DESC" if newest_first else "ASC"
    # UNION ALL keeps no order of its own: each series' order again (a few rows each).
    query = f"{' UNION ALL '.join(selects)} ORDER BY 1, x_at {d}, label {d}"
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        rows = cursor.fetchall()
    for k, metric_id, value, unit, run_id, computed_at, lot_id, batch_id, label, x_at in rows:
        if x_axis == "computed" or (lot_id is None and batch_id is None):
            x = computed_at
        else:
            x = x_at.date()
        found[wanted[k]].append(
            TrendPoint(
                x=x,
                value=value,
                label=label or f"run {run_id}",
                unit=unit,
                metric_id=metric_id,
                run_id=run_id,
                lot_id=lot_id,
                culture_batch_id=batch_id,
            )
        )
    return found


# --- Control baselines and out-of-trend alerts -------------------------------------------------


def metric_baselines(code: str) -> list[ControlBaseline]:
    """The metric's approved baseline and its drafts (newest first), in one query."""
    return list(
        ControlBaseline.objects.filter(
            metric_code=code,
            status__in=(ControlBaseline.Status.APPROVED, ControlBaseline.Status.DRAFT),
        )
        .select_related("approval_signature", "created_by")
        .order_by("-version")
    )


def trend_url(code: str, assay_code: str = "", *, until: datetime.date | None = None) -> str:
    """The trend page of one metric (and assay), as the form there asks for it; with ``until``,
    the chart's window ending on that day (the latest points otherwise)."""
    query = {
        "code": code,
        **({"assay": assay_code} if assay_code else {}),
        **({"until": until.isoformat()} if until else {}),
    }
    return f"{reverse('qc:trends')}?{urlencode(query)}"


@dataclass(frozen=True)
class TrendAlert:
    """A lot's point that a Westgard rule flags against its metric's approved baseline."""

    baseline: ControlBaseline
    point: TrendPoint
    z: float
    rules: list[str]

    @property
    def rejected(self) -> bool:
        """Out of trend (a rejection rule); False for the 1-2s warning alone."""
        return westgard.is_rejected(set(self.rules))

    @property
    def kind(self) -> str:
        return "out of trend" if self.rejected else "warning"

    @property
    def trend_url(self) -> str:
        """The control chart ending on the point's day: the point and those the rules read
        before it, wherever it is in the history (a retest of an old lot included)."""
        return trend_url(
            self.baseline.metric_code, self.baseline.assay_code, until=day_of(self.point.x)
        )


def out_of_trend(lot) -> list[TrendAlert]:
    """The lot's points that a Westgard rule flags, for each metric with an approved baseline.

    Each series (every lot's point of the metric, in date order, as the trend page charts it:
    :func:`trend_series`) is judged against the baseline's fixed mean and SD; an alert is the
    lot's own point when it violates any rule: 1-2s as a warning, the others as out of trend.
    A rule reads a point and at most ``westgard.LOOKBACK`` points before it, so only the lot's
    point and those are read: the cost is the same after ten years as after one (issue 14).
    Two queries whatever the number of metrics and lots: the baselines, and the windows.
    """
    baselines = list(
        ControlBaseline.objects.filter(status=ControlBaseline.Status.APPROVED)
        .select_related("approval_signature")
        .order_by("metric_code")
    )
    if not baselines:
        return []
    # A lot has one point per series (its newest valid metric), at its manufacturing date and,
    # within the day, by its code: the series up to it, newest first.
    windows = _series_rows(
        [(b.metric_code, b.assay_code) for b in baselines],
        x_axis="date",
        newest_first=True,
        limit=westgard.LOOKBACK + 1,
        until=lot.manufactured_on,
        until_label=lot.code,
    )
    alerts = []
    for baseline in baselines:
        window = windows[(baseline.metric_code, baseline.assay_code)][::-1]
        if not window or window[-1].lot_id != lot.pk:
            continue  # no point of the lot in this series
        point = window[-1]
        flags = westgard.evaluate([p.value for p in window], baseline.mean, baseline.sd)[-1]
        if flags:
            alerts.append(
                TrendAlert(
                    baseline=baseline,
                    point=point,
                    z=(point.value - baseline.mean) / baseline.sd,
                    rules=[r for r in westgard.RULES if r in flags],
                )
            )
    return alerts


# --- Culture growth -------------------------------------------------------------------------


def batch_passages(batch) -> list:
    """The batch's passages that are not voided, by number."""
    return list(batch.passages.filter(voided_at__isnull=True).order_by("number"))


# --- A metric's specification limits, from the layer that owns specifications -----------------

# release (above assays) registers how a metric's LSL/USL are found in the effective
# specification; assays never imports it (the layers: lims <- batches <- assays <- release).
_SPECIFICATION_LIMITS: list = []


def register_specification_limits(provider) -> None:
    """`provider(code)` gives {"lsl", "usl", "unit", "source", "url"} or None."""
    if provider not in _SPECIFICATION_LIMITS:
        _SPECIFICATION_LIMITS.append(provider)


def specification_limits(code: str) -> dict | None:
    for provider in _SPECIFICATION_LIMITS:
        found = provider(code)
        if found is not None:
            return found
    return None


# --- Plate assays computed from the plate (issue 10 item 5) ---------------------------------

ROLE_COLOURS = {
    "standard": "success",
    "blank": "secondary",
    "sample": "primary",
    "spike": "warning",
    "control": "info",
}


@dataclass
class PlateCell:
    well: str
    role: str = ""
    name: str = ""
    reading: float | None = None
    detail: str = ""  # concentration of a standard, dilution of a sample, spike added

    @property
    def colour(self) -> str:
        return ROLE_COLOURS.get(self.role, "light")


@dataclass
class PlateView:
    """A run's plate: the stored record, the computation redone from it (same algorithm, no
    write) and one 8 × 12 grid per plate."""

    record: object
    outcome: plate_maths.PlateOutcome
    grids: dict[str, list[list[PlateCell]]]
    # A multiplex plate: each analyte's curve and samples (``outcome`` is the first's).
    by_analyte: dict[str, plate_maths.PlateOutcome] = field(default_factory=dict)


def run_plate(run: AssayRun) -> PlateView | None:
    """The plate of a run computed from its plate, or None (typed values, other assays)."""
    record = PlateAnalysis.objects.filter(run=run).first()
    if record is None:
        return None
    layout = plate_maths.PlateLayout.from_dict(record.layout)
    if layout.response == "mfi":
        # analyte → plate → well → Net MFI: one curve, and one plate map, per analyte.
        by_analyte = plate_maths.compute_multiplex(layout, record.readings)
        grids = {
            f"{analyte}{f' {name}' if name else ''}": grid
            for analyte, plates in record.readings.items()
            for name, grid in _grids(layout, plates).items()
        }
        first = next(iter(by_analyte.values()))
        return PlateView(record=record, outcome=first, grids=grids, by_analyte=by_analyte)
    outcome = plate_maths.compute_plate(layout, record.readings)
    return PlateView(record=record, outcome=outcome, grids=_grids(layout, record.readings))


def _grids(
    layout: plate_maths.PlateLayout, readings: dict[str, dict[str, float | None]]
) -> dict[str, list[list[PlateCell]]]:
    by_well = layout.group_of()
    grids = {}
    for plate_name, values in readings.items():
        grid = []
        for row in plate_maths.ROWS:
            cells = []
            for column in plate_maths.COLUMNS:
                well = f"{row}{column}"
                group = by_well.get(well)
                cell = PlateCell(well=well, reading=values.get(well))
                if group is not None:
                    cell.role, cell.name = group.role, group.name
                    if group.role == "standard" and group.concentration is not None:
                        cell.detail = f"{group.concentration:g} {layout.unit}"
                    elif group.role == "standard":
                        cell.detail = "per analyte"
                    elif group.role == "spike":
                        cell.detail = f"1:{group.dilution:g} + {group.concentration:g}"
                    elif group.role in ("sample", "control") and group.dilution != 1:
                        cell.detail = f"1:{group.dilution:g}"
                cells.append(cell)
            grid.append(cells)
        grids[plate_name or "Plate"] = grid
    return grids
