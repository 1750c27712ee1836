"""Live events for the portal: one PostgreSQL LISTEN per process, fanned out to server-sent-event clients.

Ingest (any replica, any front door) calls ``pg_notify('pacs_events', ...)`` in its transaction; PostgreSQL
delivers it at commit to every listening process, so all replicas' dashboards hear every store. LISTEN needs
session state, so the listener uses a *direct* connection (``PACS_MIGRATE_DATABASE_URL``, else the database
URL), never the transaction pooler. The listener thread runs only while someone is subscribed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from pacs.index import analytics as index

log = logging.getLogger(__name__)

READY = json.dumps({"type": "ready"})
RESYNC = json.dumps({"type": "resync"})


class EventHub:
    def __init__(self, direct_url: str, on_notify: Callable[[], None] | None = None, poll: float = 1.0):
        self.url = direct_url
        self.on_notify = on_notify
        self.poll = poll
        self._lock = threading.Lock()
        self._subs: dict[asyncio.Queue[str], asyncio.AbstractEventLoop] = {}
        self._thread: threading.Thread | None = None
        self._listening = False
        self._stop = threading.Event()

    # --- subscribers (event-loop side) --------------------------------------------------------------------
    def subscribe(self) -> asyncio.Queue[str]:
        q: asyncio.Queue[str] = asyncio.Queue(maxsize=256)
        loop = asyncio.get_running_loop()
        with self._lock:
            self._subs[q] = loop
            if self._listening:
                q.put_nowait(READY)
            if self._thread is None:
                self._stop.clear()
                self._thread = threading.Thread(target=self._run, name="pacs-events", daemon=True)
                self._thread.start()
        return q

    def unsubscribe(self, q: asyncio.Queue[str]) -> None:
        with self._lock:
            self._subs.pop(q, None)

    @property
    def subscribers(self) -> int:
        return len(self._subs)

    def close(self) -> None:
        self._stop.set()
        t = self._thread
        if t is not None:
            t.join(timeout=5)

    # --- listener thread ------------------------------------------------------------------------------------
    def _publish(self, payload: str) -> None:
        with self._lock:
            subs = list(self._subs.items())
        for q, loop in subs:
            try:
                loop.call_soon_threadsafe(_offer, q, payload)
            except RuntimeError:  # the loop is closed: the subscriber is gone
                self.unsubscribe(q)

    def _idle(self) -> bool:
        """True (and the thread is released) when nobody listens any more."""
        with self._lock:
            if self._subs:
                return False
            self._thread = None
            self._listening = False
            return True

    def _run(self) -> None:
        backoff = 0.5
        last_fold = 0.0
        while not self._stop.is_set():
            if self._idle():
                return
            conn = None
            try:
                conn = index.listen(self.url)
                with self._lock:
                    self._listening = True
                self._publish(READY)
                backoff = 0.5
                while not self._stop.is_set():
                    if self._idle():
                        return
                    got = False
                    for payload in index.notifications(conn, self.poll):
                        got = True
                        self._publish(payload)
                    if got and self.on_notify and time.monotonic() - last_fold > 1.0:
                        last_fold = time.monotonic()
                        try:
                            self.on_notify()
                        except Exception:
                            log.exception("analytics fold after an event failed")
            except Exception as exc:
                log.warning("event listener lost its connection (%s); reconnecting in %.1fs", exc, backoff)
                with self._lock:
                    self._listening = False
                self._publish(RESYNC)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)
            finally:
                if conn is not None:
                    try:
                        conn.close()
                    except Exception:
                        pass
        with self._lock:
            self._thread = None
            self._listening = False


def _offer(q: asyncio.Queue[str], payload: str) -> None:
    try:
        q.put_nowait(payload)
    except asyncio.QueueFull:  # a stalled client: it gets a resync hint instead of an unbounded backlog
        pass


def event_type(payload: str) -> str:
    try:
        data: Any = json.loads(payload)
        return str(data.get("type", "message")) if isinstance(data, dict) else "message"
    except ValueError:
        return "message"
