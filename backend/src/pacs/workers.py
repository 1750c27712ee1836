"""HTTP worker processes: ``pacs serve`` on every CPU core, all sharing one listening socket.

One Python process runs Python code on one core at a time (the GIL), so a single ``pacs serve`` leaves the other
cores to PostgreSQL and the clients. With ``PACS_HTTP_WORKERS`` (default 0: one per CPU core this process may
run on) the process that ``pacs serve`` starts binds the HTTP port, then starts ``N - 1`` more processes that
serve HTTP on the same socket (``pacs serve --only http --listen-fd N``), each with its own services and
database pool. They are replicas in one box: no state is shared between them that is not in PostgreSQL or the
object store, as between the replicas of a deployment.

- **Who does what.** The first process also runs the DIMSE SCP, the demo seeding and the migrations; the others
  serve HTTP only. The kernel hands each new connection to whichever process accepts it first.
- **Stopping.** A SIGTERM/SIGINT to the first process is passed on to the others at once, so every process
  drains and stops as :mod:`pacs.lifecycle` describes, in parallel; the first one exits after them. The others
  run in their own session (a Ctrl-C in a terminal reaches the first process only, which passes it on once) and
  get SIGTERM from the kernel if the first process dies, even by SIGKILL.
- **Crashes.** A worker that exits while nothing is stopping is started again (after 1 s, doubling up to 30 s
  while it keeps failing within a minute of its start).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time

log = logging.getLogger(__name__)

#: Environment variable naming the process a worker belongs to (it exits when that one is gone).
PARENT_ENV = "PACS_WORKER_PARENT_PID"
_PR_SET_PDEATHSIG = 1


def cpu_count() -> int:
    """CPU cores this process may run on (its affinity mask: a container's cpuset, ``taskset``)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def worker_count(setting: int) -> int:
    """``PACS_HTTP_WORKERS`` as a number of processes: 0 means one per CPU core."""
    if setting < 0:
        raise ValueError(f"PACS_HTTP_WORKERS must be 0 (one per CPU core) or more, not {setting}")
    return setting or cpu_count()


def listen_socket(host: str, port: int, backlog: int = 2048) -> socket.socket:
    """The HTTP listening socket, bound before any worker starts, inheritable by the workers."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock


def inherited_socket(fd: int) -> socket.socket:
    """In a worker: the listening socket its parent passed as file descriptor ``fd``."""
    return socket.socket(fileno=fd)


def die_with_parent() -> None:
    """In a worker: get SIGTERM when the parent process dies (Linux), and exit now if it already has."""
    parent = int(os.environ.get(PARENT_ENV, "0") or 0)
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if parent and os.getppid() != parent:
        log.error("the parent process %d is gone; exiting", parent)
        raise SystemExit(1)


class HttpWorkers:
    """The extra HTTP processes of one ``pacs serve``: started, restarted on a crash, stopped with it."""

    def __init__(
        self, sock: socket.socket, count: int, *, host: str, port: int, env: dict[str, str] | None = None
    ) -> None:
        self.sock = sock
        self.count = count
        self.host = host
        self.port = port
        self.extra_env = env or {}
        self._procs: list[subprocess.Popen[bytes] | None] = [None] * count
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._watchers: list[threading.Thread] = []

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "pacs",
            "serve",
            "--only",
            "http",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--listen-fd",
            str(self.sock.fileno()),
        ]

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.extra_env)
        env.update({PARENT_ENV: str(os.getpid()), "PACS_HTTP_WORKERS": "1", "PACS_SEED_DEMO": "false"})
        return env

    def _spawn(self, slot: int) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            self.command(),
            env=self.env(),
            pass_fds=(self.sock.fileno(),),
            start_new_session=True,  # terminal signals reach the first process only; it passes them on
        )
        with self._lock:
            self._procs[slot] = proc
        log.info("HTTP worker %d started (pid %d)", slot + 1, proc.pid)
        return proc

    def start(self) -> None:
        for slot in range(self.count):
            self._spawn(slot)
            t = threading.Thread(
                target=self._watch, args=(slot,), name=f"http-worker-{slot + 1}", daemon=True
            )
            t.start()
            self._watchers.append(t)

    def _watch(self, slot: int) -> None:
        delay = 0.5  # the first restart comes after 1 s
        while True:
            with self._lock:
                proc = self._procs[slot]
            if proc is None:
                return
            started = time.monotonic()
            code = proc.wait()
            if self._stopping.is_set():
                return
            log.error("HTTP worker %d (pid %d) exited with %s; starting it again", slot + 1, proc.pid, code)
            delay = 1.0 if time.monotonic() - started > 60 else min(delay * 2, 30.0)
            if self._stopping.wait(delay):
                return
            try:
                self._spawn(slot)
            except OSError:
                log.exception("cannot start HTTP worker %d", slot + 1)

    @property
    def pids(self) -> list[int]:
        with self._lock:
            return [p.pid for p in self._procs if p is not None and p.poll() is None]

    def forward(self, sig: int) -> None:
        """Pass a stop signal on: every worker drains and stops as the first process does."""
        self._stopping.set()
        with self._lock:
            procs = [p for p in self._procs if p is not None]
        for p in procs:
            with contextlib.suppress(ProcessLookupError):
                p.send_signal(sig)

    def stop(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for the workers to exit (after :meth:`forward`), then kill the rest."""
        if not self._stopping.is_set():
            self.forward(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        with self._lock:
            procs = [p for p in self._procs if p is not None]
        for p in procs:
            try:
                p.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("HTTP worker pid %d did not stop in time; killing it", p.pid)
                p.kill()
                p.wait()
        for t in self._watchers:
            t.join(1.0)
