"""pacs.lifecycle without I/O: the order of a graceful shutdown (the real process is tested in
tests/integration/test_graceful_shutdown.py)."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
import uvicorn

from pacs import lifecycle


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    lifecycle.reset()
    yield
    lifecycle.reset()


def make_server(drain: float, timeout: float = 5.0) -> tuple[lifecycle.DrainingServer, SimpleNamespace]:
    app = SimpleNamespace(state=SimpleNamespace(ready=True))
    server = lifecycle.DrainingServer(uvicorn.Config(app), drain_seconds=drain, stop_timeout=timeout)
    return server, app


def test_sigterm_turns_readiness_off_at_once_and_stops_after_the_drain() -> None:
    server, app = make_server(drain=0.4)
    seen: list[tuple[float, bool]] = []
    lifecycle.on_stop(lambda timeout: seen.append((timeout, server.should_exit)))
    t0 = time.monotonic()
    server.handle_exit(signal.SIGTERM, None)
    assert app.state.ready is False and lifecycle.draining.is_set()
    assert server.should_exit is False, "still serving during the drain"
    time.sleep(0.2)
    assert server.should_exit is False
    server.wait_stopped()
    assert server.should_exit is True
    assert time.monotonic() - t0 >= 0.4
    assert seen == [(5.0, True)], "the stop hooks ran once, after uvicorn was told to stop"


def test_a_second_signal_stops_without_waiting() -> None:
    server, _ = make_server(drain=30)
    server.handle_exit(signal.SIGTERM, None)
    server.handle_exit(signal.SIGINT, None)
    assert server.should_exit is True
    server.handle_exit(signal.SIGINT, None)
    assert server.force_exit is True


def test_every_signal_reaches_the_signal_hooks_at_once() -> None:
    """How the HTTP worker processes (pacs.workers) hear of a stop: before the drain, every signal."""
    server, _ = make_server(drain=30)
    heard: list[int] = []
    lifecycle.on_signal(heard.append)
    lifecycle.on_signal(lambda sig: 1 / 0)  # a failing hook does not keep the others or the stop from running
    server.handle_exit(signal.SIGTERM, None)
    assert heard == [signal.SIGTERM] and server.should_exit is False
    server.handle_exit(signal.SIGINT, None)
    assert heard == [signal.SIGTERM, signal.SIGINT] and server.should_exit is True


def test_accept_one_takes_one_connection_per_wake_up_but_keeps_the_listen_queue() -> None:
    app = SimpleNamespace(state=SimpleNamespace(ready=True))
    server = lifecycle.DrainingServer(
        uvicorn.Config(app, backlog=512), drain_seconds=0, stop_timeout=1, accept_one=True
    )
    assert server.config.backlog == 1  # asyncio accepts at most this many per wake-up
    assert server.listen_backlog == 512  # restored on the socket after startup


def test_stop_hooks_run_in_parallel_within_the_timeout() -> None:
    started = threading.Barrier(3, timeout=2)
    finished: list[str] = []

    def hook(name: str) -> lifecycle.StopHook:
        def run(timeout: float) -> None:
            started.wait()  # all three must be running at once
            finished.append(name)

        return run

    def failing(timeout: float) -> None:
        raise RuntimeError("a broken hook does not stop the others")

    for name in ("dimse", "events", "jobs"):
        lifecycle.on_stop(hook(name))
    lifecycle.on_stop(failing)
    lifecycle.run_stop_hooks(2.0)
    assert sorted(finished) == ["dimse", "events", "jobs"]


def test_a_stuck_hook_does_not_hold_the_process_past_its_timeout() -> None:
    release = threading.Event()
    lifecycle.on_stop(lambda timeout: release.wait(30))
    t0 = time.monotonic()
    lifecycle.run_stop_hooks(0.3)
    assert time.monotonic() - t0 < 3
    release.set()
