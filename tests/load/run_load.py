"""Load and soak against the production stack on localhost: gunicorn (2 workers, DEBUG off) and
a real Celery worker on Redis, the application connected as its least-privilege database role.

    python -m tests.load.run_load --clients 1,10,20 --seconds 60 --soak-seconds 600

Each client loops over a fixed mix with an instrument's API key: list lots, list runs, list
results (GET), record an NTA run (POST /api/v1/runs/ with an Idempotency-Key) and, every tenth
operation, upload a real NanoSight export (POST /api/v1/instrument-files/, parsed by the worker).
Reported per client count: requests per second, p50/p95/p99 latency, errors (any status other
than 2xx). The soak runs 10 clients and samples the resident memory of the gunicorn and Celery
processes; memory is "flat" when the last minute's mean is within 10 % of the second minute's.
Bounded: every phase has a fixed duration, every request a 30 s timeout.

DATABASE_URL names a server where the load creates (and at the end drops) its own database
`lims_load`; LOAD_REDIS_URL (default redis://127.0.0.1:6379/9) the broker.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psutil
import requests

ROOT = Path(__file__).resolve().parents[2]
NTA_FILE = ROOT / "tests" / "data" / "nta" / "nanosight_nta32_beads.csv"
PORT = 8765
BASE = f"http://127.0.0.1:{PORT}"
APP_ROLE = "lims_load_app"


def _with_db(url: str, name: str, user: str | None = None) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc
    if user is not None:
        netloc = f"{user}@{netloc.rsplit('@', 1)[-1]}"
    return urlunsplit((parts.scheme, netloc, f"/{name}", parts.query, ""))


def _psql(server_url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(_with_db(server_url, "postgres"), autocommit=True) as conn:
        conn.execute(sql)


class Stack:
    """Migrate, seed, then gunicorn and a Celery worker, all as the production settings run."""

    def __init__(self, server_url: str, redis_url: str, workdir: Path):
        self.owner_url = _with_db(server_url, "lims_load")
        self.app_url = _with_db(server_url, "lims_load", user=APP_ROLE)
        self.server_url = server_url
        self.env = {
            **os.environ,
            "DEBUG": "False",
            "SECRET_KEY": "load-" + uuid.uuid4().hex,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "False",
            "SECURE_HSTS_SECONDS": "0",
            "CELERY_BROKER_URL": redis_url,
            "CELERY_RESULT_BACKEND": redis_url,
            "API_THROTTLE_RATE": "1000000/minute",
            "FILE_STORE": str(workdir / "files"),
            "DATABASE_URL": self.app_url,
        }
        self.processes: list[subprocess.Popen] = []
        self.workdir = workdir

    def _manage(self, *args: str, url: str) -> str:
        env = {**self.env, "DATABASE_URL": url, "DATABASE_APP_ROLE": APP_ROLE}
        done = subprocess.run(
            [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900
        )
        if done.returncode != 0:
            raise RuntimeError(f"{args} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def start(self) -> dict:
        _psql(self.server_url, "DROP DATABASE IF EXISTS lims_load WITH (FORCE)")
        _psql(self.server_url, "CREATE DATABASE lims_load")
        self._manage("manage.py", "migrate", "--noinput", "-v", "0", url=self.owner_url)
        out = self._manage("-m", "tests.load.setup_data", url=self.app_url)
        data = json.loads(out.strip().splitlines()[-1])
        log = (self.workdir / "stack.log").open("w")
        self.processes.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "lims",
                    "worker",
                    "--concurrency",
                    "1",
                    "--loglevel",
                    "WARNING",
                ],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        self.processes.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "lims.wsgi:application",
                    "--bind",
                    f"127.0.0.1:{PORT}",
                    "--workers",
                    "2",
                    "--max-requests",
                    "1000",
                    "--max-requests-jitter",
                    "100",
                    "--timeout",
                    "60",
                ],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        headers = {"Authorization": f"Api-Key {data['key']}"}
        for _ in range(120):
            try:
                if requests.get(f"{BASE}/api/v1/lots/", headers=headers, timeout=2).ok:
                    return data
            except requests.RequestException:
                pass
            time.sleep(1)
        log.close()
        tail = (self.workdir / "stack.log").read_text()[-3000:]
        raise RuntimeError(f"gunicorn did not answer:\n{tail}")

    def rss_mb(self) -> dict[str, float]:
        """Resident memory of the gunicorn and Celery process trees, in MB."""
        out = {}
        for name, proc in zip(("celery", "gunicorn"), self.processes, strict=True):
            try:
                parent = psutil.Process(proc.pid)
                tree = [parent, *parent.children(recursive=True)]
                out[name] = sum(p.memory_info().rss for p in tree) / 1e6
            except psutil.Error:
                out[name] = float("nan")
        return out

    def stop(self) -> None:
        for proc in self.processes:
            proc.terminate()
        for proc in self.processes:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        _psql(self.server_url, "DROP DATABASE IF EXISTS lims_load WITH (FORCE)")


def _operations(key: str, lots: list[str]):
    headers = {"Authorization": f"Api-Key {key}"}
    nta = NTA_FILE.read_bytes()
    lot_cycle = itertools.cycle(lots)

    def get(path):
        return lambda s: s.get(f"{BASE}{path}", headers=headers, timeout=30)

    def post_run(s):
        started = datetime.now(UTC) - timedelta(minutes=30)
        body = {
            "assay": "NTA",
            "started_at": started.isoformat(),
            "external_id": f"LOAD-{uuid.uuid4().hex[:8]}",
            "results": [
                {
                    "sample": next(lot_cycle),
                    "analyte": "concentration",
                    "value": 3.2e11,
                    "unit": "particle/mL",
                },
                {"sample": next(lot_cycle), "analyte": "mode_size", "value": 112.0, "unit": "nm"},
            ],
        }
        return s.post(
            f"{BASE}/api/v1/runs/",
            json=body,
            headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
            timeout=30,
        )

    def post_file(s):
        return s.post(
            f"{BASE}/api/v1/instrument-files/",
            data={"sample": next(lot_cycle), "assay": "NTA"},
            files={"file": ("nta.csv", nta)},
            headers=headers,
            timeout=30,
        )

    mix = [
        ("GET lots", get("/api/v1/lots/")),
        ("GET runs", get("/api/v1/runs/")),
        ("GET results", get("/api/v1/results/")),
        ("POST run", post_run),
    ] * 2 + [("GET lots", get("/api/v1/lots/")), ("POST file", post_file)]
    return mix


def _phase(mix, clients: int, seconds: float) -> dict:
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client(offset: int):
        session = requests.Session()
        ops = itertools.islice(itertools.cycle(mix), offset, None)
        while time.monotonic() < deadline:
            name, op = next(ops)
            start = time.perf_counter()
            try:
                response = op(session)
                ok = 200 <= response.status_code < 300
                what = f"{name}: {response.status_code} {response.text[:120]}"
            except requests.RequestException as exc:
                ok, what = False, f"{name}: {exc}"
            elapsed = time.perf_counter() - start
            with lock:
                latencies.append(elapsed)
                if not ok:
                    errors.append(what)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    began = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - began
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    return {
        "clients": clients,
        "seconds": round(wall, 1),
        "requests": len(latencies),
        "rps": round(len(latencies) / wall, 1),
        "p50_ms": round(q[49] * 1000, 1),
        "p95_ms": round(q[94] * 1000, 1),
        "p99_ms": round(q[98] * 1000, 1),
        "errors": len(errors),
        "first_errors": errors[:5],
    }


def _soak(stack: Stack, mix, seconds: float, clients: int = 10) -> dict:
    samples: list[tuple[float, dict]] = []
    done = threading.Event()

    def sample():
        start = time.monotonic()
        while not done.wait(15):
            samples.append((time.monotonic() - start, stack.rss_mb()))

    sampler = threading.Thread(target=sample)
    sampler.start()
    result = _phase(mix, clients, seconds)
    done.set()
    sampler.join()

    def mean_between(lo, hi, name):
        values = [m[name] for t, m in samples if lo <= t < hi]
        return round(statistics.mean(values), 1) if values else None

    memory = {}
    for name in ("gunicorn", "celery"):
        second = mean_between(60, 120, name)
        last = mean_between(seconds - 60, seconds + 60, name)
        memory[name] = {
            "second_minute_mb": second,
            "last_minute_mb": last,
            "flat": bool(second and last and abs(last - second) <= 0.10 * second),
        }
    return {**result, "memory": memory, "samples": len(samples)}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default="1,10,20")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--soak-seconds", type=float, default=0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    server = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    redis_url = os.environ.get("LOAD_REDIS_URL", "redis://127.0.0.1:6379/9")
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        stack = Stack(server, redis_url, Path(tmp))
        try:
            data = stack.start()
            mix = _operations(data["key"], data["lots"])
            _phase(mix, 2, 5)  # warm-up: imports, connections, caches
            report = {
                "phases": [_phase(mix, int(n), args.seconds) for n in args.clients.split(",")],
                "machine": f"{psutil.cpu_count()} cores",
            }
            if args.soak_seconds:
                report["soak"] = _soak(stack, mix, args.soak_seconds)
        finally:
            stack.stop()
    text = json.dumps(report, indent=1)
    if args.out:
        args.out.write_text(text)
    print(text)
    print(
        "\n| clients | requests/s | p50 ms | p95 ms | p99 ms | errors |\n|---|---|---|---|---|---|"
    )
    for p in report["phases"]:
        print(
            f"| {p['clients']} | {p['rps']} | {p['p50_ms']} | {p['p95_ms']} | {p['p99_ms']} "
            f"| {p['errors']} |"
        )
    return report


if __name__ == "__main__":
    main()
