"""A private PostgreSQL for laptops and `make test` when DATABASE_URL is unset.

The `pgserver` package ships PostgreSQL binaries and runs a server on a Unix socket inside
the data folder (`var/pgdata`). The server is shared by every process that asks for it
(runserver and its autoreloader, pytest, a worker) and stopped when the last of them exits;
the next start reuses the same data folder, so demo data survives restarts.
"""

import atexit
import os
import signal
import sys
import threading
import warnings
from pathlib import Path

# platformdirs warns when XDG_RUNTIME_DIR is unset (root shells, CI); pgserver copes with it.
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")

_server = None


def database_url(data_dir: Path) -> str:
    """Start (or join) the embedded server and return a Django-style database URL."""
    global _server
    if _server is None:
        import pgserver  # noqa: PLC0415  (lazily: production never needs it)

        data_dir.parent.mkdir(parents=True, exist_ok=True)
        _server = pgserver.get_server(data_dir, cleanup_mode="stop")
        # Registered after pgserver's own exit hook, so it runs first (atexit is last in, first
        # out): a process that died without its hook (runserver's reloader SIGKILLs its child
        # on shutdown) must not keep the server running for ever.
        atexit.register(_forget_dead_handles)
        # pgserver stops the server from an atexit hook, which SIGTERM would skip: turn SIGTERM
        # into a normal exit so `kill` (and CI's smoke test) stop the database cleanly too.
        if threading.current_thread() is threading.main_thread():
            if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
                signal.signal(signal.SIGTERM, _exit_on_sigterm)
    return _server.get_uri()


def _exit_on_sigterm(*_: object) -> None:
    # Only once: GNU make passes its own SIGTERM on to the child that a process-group kill has
    # already reached, and a second SystemExit would cut pgserver's exit hook short.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sys.exit(0)


def _forget_dead_handles() -> None:
    # From here on the process is exiting: a signal must not interrupt pgserver's hook halfway,
    # or our handle stays in the list and the server is never stopped.
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    handles = _server.global_process_id_list
    with _server._lock:
        try:
            pids = handles.get()
        except ValueError:  # a process killed while writing the list leaves it truncated
            pids = []
        alive = [pid for pid in pids if pid != os.getpid() and _running(pid)]
        handles.put([*alive, os.getpid()])


def _running(pid: int) -> bool:
    """True for a live process; a zombie (exited, not yet reaped by its parent) is not one."""
    import psutil  # noqa: PLC0415  (comes with pgserver, needed only beside it)

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
