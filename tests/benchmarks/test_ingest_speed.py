"""Ingest speed (issue 10 item 7): a file posted over the instrument API → its results → its
QC metrics → the lot's evaluation, each visible through the API, on a real, idle Celery worker.

Two files: a NanoSight NTA 3.2 export of one lot, and a Gen5 96-well BCA plate with its layout
(the plate is computed from its standards). Each is posted N times, for a new lot each time;
the clock runs from the POST until the file's status URL shows it parsed with its results and
the lot's evaluation (read by a QA person) shows a criterion judged from that run's metric.
The NanoSight file does not record its dilution: an analyst records it once the results are
seen (its concentration counts only then, assays.nta_services), and the clock runs on.
The baseline is parsing alone: ``ingest.records_from_file`` on the same bytes in this process
(format detection + the reader; for Gen5 allotropy's conversion, its schema check skipped as
on the upload path). The target is p95 ≤ 1 s, printed as met or missed; what is asserted is the
median's ratio to that baseline, which a shared 2-core CI machine does not blur.
Run: `.venv/bin/pytest tests/benchmarks/test_ingest_speed.py -s -p no:cacheprovider`.
"""

import json
import os
import re
import statistics
import time
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from assays import ingest
from assays.models import AssayRun
from assays.nta_services import nta_dilution_record
from tests import factories
from tests.api.conftest import issue_key, key_client, register_instrument
from tests.celery_worker.conftest import (  # noqa: F401  (fixtures)
    broker,
    celery_app_on,
    shared_broker,
    start_worker,
)
from tests.plate.test_plate_upload import bca_layout

pytestmark = [
    pytest.mark.benchmark,
    pytest.mark.celery_worker,
    pytest.mark.django_db(transaction=True),
]

DATA = Path(__file__).resolve().parents[1] / "data"
NTA = DATA / "nta" / "nanosight_nta32_beads.csv"
GEN5 = DATA / "instruments" / "gen5_absorbance_stdcurve_singleplate.txt"
N = 10
TARGET_P95 = 1.0
# The worker's work (recording the run, its metrics and the lot's evaluation in the parse's own
# task, assays.tasks.follow_up; the file read once, assays.kept_readings) and polling every
# 20 ms, over parsing alone: the bound when the machine is too loaded for the absolute target.
# On a loaded machine the p95 is other processes' noise: the median is bounded instead, against
# parsing alone. Measured at a load average of 8-9 on 2 cores, 2026-12-04: NTA 27× and Gen5 5.7×
# (before the file was read once and the steps ran in one task: NTA 40×, Gen5 7.7×).
MAX_RATIO = {"nta": 45.0, "gen5": 10.0}
POLL = 0.02


def _percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


_TASK_DONE = re.compile(r"Task ([\w.]+)\[[^\]]+\] succeeded in ([\d.]+)s")


def _task_times(log: str) -> list[tuple[str, float]]:
    return [(m[1], float(m[2])) for m in _TASK_DONE.finditer(log)]


def _task_summary(worker, skip: int) -> str:
    """Where the worker's time went: each task's median duration and count (from its log)."""
    by_task: dict[str, list[float]] = {}
    for task, seconds in _task_times(worker.output())[skip:]:
        by_task.setdefault(task.rsplit(".", 1)[-1], []).append(seconds)
    return ", ".join(
        f"{task} {statistics.median(times) * 1000:.0f} ({len(times)})"
        for task, times in sorted(by_task.items())
    )


def _parse_alone(path: Path) -> float:
    data = path.read_bytes()
    ingest.records_from_file(data, filename=path.name)  # imports (allotropy) out of the clock
    times = []
    for _ in range(N):
        # Parsing, not remembering: the worker keeps the NanoSight exports it read last
        # (assays.ingest.nanosight_export), which would make the baseline a dictionary look-up.
        ingest._NTA_EXPORTS.clear()
        started = time.perf_counter()
        ingest.records_from_file(data, filename=path.name)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _visible(instrument_client, person, body, lot, deadline, on_results=None):
    """Poll until the file is parsed with results, and the lot's evaluation judges a criterion
    on that run's metric; when the results were first seen, and when ``on_results`` (the
    analyst's step, if the run needs one) was done."""
    results_seen = acted = None
    while time.perf_counter() < deadline:
        status = instrument_client.get(body["status_url"]).json()
        assert status["status"] != "failed", status["error"]
        if status["status"] == "parsed" and status["results"]:
            run_id = status["run"]["id"]
            if results_seen is None:
                results_seen = time.perf_counter()
                if on_results is not None:
                    on_results(run_id)
                acted = time.perf_counter()
            evaluation = person.get(f"/api/v1/lots/{lot.pk}/evaluation/").json()
            if any(c["run"] == run_id for c in evaluation["criteria"]):
                return results_seen, acted
        time.sleep(POLL)
    raise AssertionError(f"not visible in time: {status}")


def _nta_dilution_recorder(analyst):
    """The NanoSight file says "Not recorded" for its dilution: its concentration counts only
    once an analyst records the factor with a reason (assays.nta_services), as the
    ``receive_nta_file`` fixture does (tests/qc_engine/conftest.py). This test is transactional:
    the recording's announcement follows its commit without capturing on-commit callbacks."""

    def record(run_id):
        nta_dilution_record(
            actor=analyst,
            run=AssayRun.objects.get(pk=run_id),
            dilution_factor=1,
            reason="Measured undiluted (bench)",
        )

    return record


def _post_nta(client, lot):
    return client.post(
        "/api/v1/instrument-files/",
        {"file": NTA.open("rb"), "assay": "NTA", "sample": lot.code},
        format="multipart",
    )


def _post_gen5(client, lot):
    return client.post(
        "/api/v1/instrument-files/",
        {
            "file": GEN5.open("rb"),
            "assay": "BCA",
            "plate_layout": json.dumps(bca_layout({"SPL1": lot.code})),
            "reagent_lots": factories.reagent_ids_for("BCA"),
        },
        format="multipart",
    )


def test_posted_file_to_lot_evaluation_p95_within_a_second(
    request,
    settings,
    admin_user,
    technician,
    analyst,
    qa_user,
    celery_app_on,  # noqa: F811  (the imported fixture)
    start_worker,  # noqa: F811
):
    settings.API_THROTTLE_RATE = "100000/minute"
    use_shared = bool(os.environ.get("TEST_REDIS_URL"))
    the_broker = request.getfixturevalue("shared_broker" if use_shared else "broker")
    worker = start_worker(broker=the_broker)
    celery_app_on(the_broker, worker.queue)
    instrument = register_instrument(admin_user, assays=("NTA", "BCA"))
    client = key_client(issue_key(admin_user, instrument))
    person = APIClient()
    person.force_login(qa_user)

    report, stages, failures = [], [], []
    record_dilution = _nta_dilution_recorder(analyst)
    for name, path, post, on_results in (
        ("nta", NTA, _post_nta, record_dilution),
        ("gen5", GEN5, _post_gen5, None),
    ):
        lots = [factories.lot(technician) for _ in range(N + 1)]
        tasks_before = len(_task_times(worker.output()))
        # One untimed round first: the worker's child imports allotropy on its first plate.
        for i, lot in enumerate(lots):
            started = time.perf_counter()
            response = post(client, lot)
            assert response.status_code == 202, response.json()
            accepted = time.perf_counter()
            results_seen, acted = _visible(
                client, person, response.json(), lot, started + 30, on_results
            )
            if i:
                done = time.perf_counter()
                report.append((name, done - started))
                stages.append(
                    (
                        accepted - started,
                        results_seen - accepted,
                        acted - results_seen,
                        done - acted,
                    )
                )
        timings = [t for n, t in report if n == name]
        post_s, results_s, analyst_s, evaluation_s = (
            statistics.median(x) for x in zip(*stages[-N:], strict=True)
        )
        parse = _parse_alone(path)
        p50, p95 = statistics.median(timings), _percentile(timings, 0.95)
        ratio = p95 / parse
        print(
            f"\n{name}: posted → results → metrics → evaluation over the API, N={N}: "
            f"p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms; parsing alone "
            f"{parse * 1000:.0f} ms; p95 / parsing {ratio:.1f}× (medians: POST "
            f"{post_s * 1000:.0f} ms, then results {results_s * 1000:.0f} ms, "
            + (f"then the analyst's dilution {analyst_s * 1000:.0f} ms, " if on_results else "")
            + f"then metrics and evaluation {evaluation_s * 1000:.0f} ms; "
            f"load {os.getloadavg()[0]:.1f})"
        )
        print(f"{name}: worker tasks, median ms (count): {_task_summary(worker, tasks_before)}")
        # The absolute target is printed, not asserted: on a shared 2-core CI machine a p95 of 10
        # samples is other processes' noise (issue 10 item 7 stays open until an idle machine
        # shows it). What a regression moves, the median over parsing alone, is asserted.
        print(f"{name}: target p95 ≤ {TARGET_P95:.0f} s {'met' if p95 <= TARGET_P95 else 'MISSED'}")
        if p50 / parse > MAX_RATIO[name]:
            failures.append(f"{name}: p95 {p95:.2f} s, p50 {p50 / parse:.1f}× parsing")
    assert not failures, failures
