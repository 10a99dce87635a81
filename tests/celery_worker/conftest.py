"""A private Redis broker and real Celery worker processes for the fault tests.

Each test gets its own redis-server on a free port (so it can be stopped and restarted to
simulate a broker outage) and a worker that uses the test database; nothing here touches the
machine's shared Redis.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import psutil
import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    def __init__(self, workdir: Path):
        self.port = _free_port()
        self.workdir = workdir
        self.proc = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


def _test_database_url() -> str:
    s = connection.settings_dict
    user = quote(s.get("USER") or "postgres")
    password = quote(s.get("PASSWORD") or "")
    # The embedded server's socket folder arrives as OPTIONS["host"] (from its ?host= URL).
    host = s.get("HOST") or (s.get("OPTIONS") or {}).get("host") or ""
    if host.startswith("/"):  # the embedded server listens on a Unix socket
        return f"postgresql://{user}:{password}@/{s['NAME']}?host={host}"
    return f"postgresql://{user}:{password}@{host}:{s.get('PORT') or 5432}/{s['NAME']}"


class Worker:
    """`celery -A lims worker` (prefork, one child) on the test database and private broker."""

    def __init__(self, broker: Broker, tmp: Path, media_root: str, extra_env: dict):
        self.broker, self.tmp = broker, tmp
        self.queue = f"lims-test-{uuid.uuid4().hex[:8]}"
        self.name = f"{self.queue}@localhost"
        self.env = {
            **os.environ,
            "DATABASE_URL": _test_database_url(),
            "CELERY_BROKER_URL": broker.url,
            "CELERY_RESULT_BACKEND": "",
            "CELERY_QUEUE": self.queue,
            "FILE_STORE": media_root,
            "DEBUG": "True",
            **extra_env,
        }
        self.proc = None
        self.log = tmp / f"{self.queue}.log"

    def start(self, beat: bool = False):
        cmd = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "lims",
            "worker",
            "--loglevel=INFO",
            "--concurrency=1",
            "--pool=prefork",
            "-Q",
            self.queue,
            "-n",
            self.name,
            "--without-mingle",
            "--without-gossip",
        ]
        if beat:
            cmd += ["--beat", "--schedule", str(self.tmp / f"{self.queue}-beat")]
        self.proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=self.env,
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if " ready." in self.log.read_text(errors="replace"):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        raise RuntimeError(f"worker did not start:\n{self.log.read_text(errors='replace')}")

    def children(self) -> list[psutil.Process]:
        return psutil.Process(self.proc.pid).children(recursive=True)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def broker(tmp_path):
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed: the Celery worker tests need one")
    b = Broker(tmp_path)
    b.start()
    yield b
    b.stop()


class SharedBroker(Broker):
    """The machine's Redis (CI's TEST_REDIS_URL): used as it is, never stopped."""

    def __init__(self, url: str):
        self._url = url
        self.proc = None

    @property
    def url(self) -> str:
        return self._url

    def start(self):
        pass

    def stop(self):
        pass


@pytest.fixture
def shared_broker():
    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        pytest.skip("TEST_REDIS_URL is not set (CI sets it to the machine's Redis)")
    return SharedBroker(url)


@pytest.fixture
def celery_app_on(settings, tmp_path):
    """Point this test process's Celery app at a broker (not eager), restoring it afterwards."""
    from lims.celery import app

    settings.MEDIA_ROOT = str(tmp_path / "files")
    saved = dict(app.conf.broker_url and {"broker_url": app.conf.broker_url} or {})

    def use(broker: Broker, queue: str):
        app.conf.task_always_eager = False
        app.conf.broker_url = broker.url
        app.conf.task_default_queue = queue
        app.conf.result_backend = None
        # Drop cached connections and producers so the next send uses the new broker.
        app._pool = None
        app.amqp._producer_pool = None
        return app

    yield use
    app.conf.task_always_eager = True
    app.conf.broker_url = saved.get("broker_url")
    app.conf.task_default_queue = "celery"
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture
def start_worker(tmp_path, settings, request):
    workers = []

    def start(beat=False, broker=None, **extra_env):
        broker = broker or request.getfixturevalue("broker")
        w = Worker(broker, tmp_path, settings.MEDIA_ROOT, {k: str(v) for k, v in extra_env.items()})
        w.start(beat=beat)
        workers.append(w)
        return w

    yield start
    for w in workers:
        w.stop()


def wait_for(predicate, timeout=60.0, interval=0.25, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
