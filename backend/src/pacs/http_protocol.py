"""uvicorn's HTTP/1.1 protocol, with each response's head and first body bytes written to the socket together.

uvicorn writes the status line and headers (``http.response.start``) and the body (``http.response.body``) with two
``write`` calls. Under CPU contention the process can be descheduled between the two, and a replica killed there
(SIGKILL: a spot VM gone, an OOM kill) leaves the load balancer holding headers that announce a body that never
comes. The proxy has already forwarded them, so it cannot retry elsewhere, and the client sees a truncated answer
(the preemption drill caught one: ``received 0 bytes, expected 3058``).

Here every write made during one turn of the event loop is held and handed to the kernel in a single call at the end
of that turn. A response built whole (everything under ``dicomweb.routes.BUFFERED_RESPONSE_BYTES``, the portal's JSON)
sends its head and body in the same turn, so it reaches the socket buffer in one piece: once there, the kernel
delivers it even if the process dies the next instant. Streaming responses behave as before, chunk by chunk.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class _CoalescingTransport:
    """Delegates to the real transport; ``write`` buffers until the end of the current event-loop turn."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(bytes(data))

    def writelines(self, chunks: Any) -> None:
        for chunk in chunks:
            self.write(chunk)

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        if not pending or self._transport.is_closing():
            return
        self._transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def write_eof(self) -> None:
        self._flush()
        self._transport.write_eof()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(len(p) for p in self._pending)

    def __getattr__(self, name: str) -> Any:  # is_closing, get_extra_info, pause_reading, abort, ...
        return getattr(self._transport, name)


class CoalescingHttpProtocol(HttpToolsProtocol):
    """``uvicorn.Config(http=CoalescingHttpProtocol)``: httptools parsing, coalesced writes."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]
