"""Graceful shutdown of ``pacs serve``: spot-VM preemption, rolling updates, ``docker stop``.

On the first SIGTERM (or SIGINT) the process goes through three steps, and exits within
``PACS_SHUTDOWN_DRAIN_SECONDS + PACS_SHUTDOWN_TIMEOUT_SECONDS`` (5 + 20 s by default, inside Kubernetes'
``terminationGracePeriodSeconds: 30``):

1. **Drain.** Readiness turns false at once (``GET /readyz`` answers 503, :data:`draining` is set), but the
   process keeps serving new and in-flight HTTP requests and DIMSE associations for
   ``PACS_SHUTDOWN_DRAIN_SECONDS``, so load balancers (HAProxy, GKE, kube-proxy endpoints) notice and stop
   sending work here before anything is refused.
2. **Stop.** uvicorn's graceful shutdown closes the listening socket and lets in-flight requests finish (up to
   ``PACS_SHUTDOWN_TIMEOUT_SECONDS``); at the same time every registered stop hook runs, in its own thread,
   with that same timeout.
3. **Exit 0** once the HTTP side has shut down and the stop hooks have returned (or their time ran out).
   A second signal skips the waiting.

The hook for the other front doors (the DIMSE server is the one user): call :func:`on_stop` with a function
``fn(timeout: float) -> None`` that stops accepting new work (e.g. pynetdicom's listening server
``shutdown()``), waits up to ``timeout`` seconds for active associations to finish, then aborts what is left.
A process without the HTTP side (``pacs serve --only dimse``) calls :func:`wait_for_signal`, which does
steps 1-3 without uvicorn.
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

import uvicorn

log = logging.getLogger(__name__)

StopHook = Callable[[float], None]

draining = threading.Event()
"""Set from the first SIGTERM/SIGINT on: readiness is false, new work should go elsewhere."""

_stop_hooks: list[StopHook] = []
_signal_hooks: list[Callable[[int], None]] = []
_hooks_lock = threading.Lock()


def on_signal(hook: Callable[[int], None]) -> None:
    """Register ``hook(signum)``: called at once for every SIGTERM/SIGINT the HTTP server gets (the HTTP
    worker processes hear of it this way, see :mod:`pacs.workers`). It must not block."""
    with _hooks_lock:
        _signal_hooks.append(hook)


def _run_signal_hooks(sig: int) -> None:
    with _hooks_lock:
        hooks = list(_signal_hooks)
    for hook in hooks:
        try:
            hook(sig)
        except Exception:
            log.exception("signal hook %r failed", hook)


def on_stop(hook: StopHook) -> None:
    """Register ``hook(timeout)``: called once the drain period is over; must return within ``timeout``."""
    with _hooks_lock:
        _stop_hooks.append(hook)


def run_stop_hooks(timeout: float) -> None:
    """Run every stop hook in parallel and wait for them, at most ``timeout`` seconds (plus a little)."""
    with _hooks_lock:
        hooks = list(_stop_hooks)
        _stop_hooks.clear()

    def call(hook: StopHook) -> None:
        try:
            hook(timeout)
        except Exception:
            log.exception("stop hook %r failed", hook)

    threads = [threading.Thread(target=call, args=(h,), name="stop-hook", daemon=True) for h in hooks]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout + 1.0
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))


def reset() -> None:
    """Forget the draining state and the hooks (tests start several servers in one process)."""
    draining.clear()
    with _hooks_lock:
        _stop_hooks.clear()


class DrainingServer(uvicorn.Server):
    """uvicorn's server with a drain period before its graceful shutdown (see the module docstring).

    ``app.state.ready`` (which drives ``/readyz``) turns false at the first signal; uvicorn's own shutdown
    starts ``drain_seconds`` later. Unlike plain uvicorn it does not re-raise the signal on the way out, so
    the process exits 0 after a graceful stop.
    """

    def __init__(
        self,
        config: uvicorn.Config,
        *,
        drain_seconds: float,
        stop_timeout: float,
        accept_one: bool = False,
    ) -> None:
        self.listen_backlog = config.backlog
        if accept_one:
            # Several processes share the listening socket (pacs.workers): each takes one connection per
            # wake-up, as nginx does with ``multi_accept off``, so a process that is busy leaves the next
            # connection to an idle one. asyncio accepts up to ``backlog`` connections per wake-up, and uses
            # the same number for listen(); :meth:`startup` restores the socket's queue length afterwards.
            config.backlog = 1
        super().__init__(config)
        self.accept_one = accept_one
        self.drain_seconds = max(0.0, drain_seconds)
        self.stop_timeout = stop_timeout
        self._stopper: threading.Thread | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.accept_one:
            for sock in sockets or []:
                sock.listen(self.listen_backlog)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        _run_signal_hooks(sig)
        if self._stopper is not None:  # a second signal: stop waiting
            log.warning("second signal %s: shutting down now", signal.Signals(sig).name)
            if self.should_exit:
                self.force_exit = True
            self.should_exit = True
            return
        self._mark_not_ready()
        log.info(
            "signal %s: readiness is now false; draining for %.1f s, then a graceful shutdown (up to %.0f s)",
            signal.Signals(sig).name,
            self.drain_seconds,
            self.stop_timeout,
        )
        self._stopper = threading.Thread(target=self._drain_then_stop, name="drain", daemon=True)
        self._stopper.start()

    def _mark_not_ready(self) -> None:
        draining.set()
        app: Any = self.config.app
        state = getattr(app, "state", None)
        if state is not None:
            state.ready = False

    def _drain_then_stop(self) -> None:
        time.sleep(self.drain_seconds)
        # uvicorn: close the listener, finish in-flight requests, run the lifespan end
        self.should_exit = True
        run_stop_hooks(self.stop_timeout)

    def wait_stopped(self) -> None:
        """After ``run()``: wait for the stop hooks (DIMSE associations) too."""
        if self._stopper is not None:
            self._stopper.join(self.stop_timeout + 2.0)


def wait_for_signal(drain_seconds: float, stop_timeout: float) -> None:
    """Block until SIGTERM/SIGINT, drain, then run the stop hooks (for processes without the HTTP side)."""
    got = threading.Event()

    def handler(sig: int, _frame: FrameType | None) -> None:
        if got.is_set():
            raise SystemExit(1)
        log.info("signal %s: draining for %.1f s", signal.Signals(sig).name, drain_seconds)
        draining.set()
        got.set()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        while not got.wait(0.5):
            pass
        time.sleep(drain_seconds)
        run_stop_hooks(stop_timeout)
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
