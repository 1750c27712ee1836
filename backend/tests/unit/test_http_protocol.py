"""The HTTP protocol hands a whole response (head and body) to the kernel in one write.

A replica killed between two writes would leave the load balancer with headers and no body (see pacs.http_protocol).
These tests drive uvicorn's real protocol object over a recording transport, as the event loop would.
"""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from uvicorn.server import ServerState

from pacs.http_protocol import CoalescingHttpProtocol


class RecordingTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8000)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def whole(request: Any) -> Response:
    return Response(b"x" * 3058, media_type="application/dicom")


async def streamed(request: Any) -> StreamingResponse:
    async def chunks() -> Any:
        yield b"first"
        await asyncio.sleep(0.01)
        yield b"second"

    return StreamingResponse(chunks(), media_type="text/plain")


APP = Starlette(routes=[Route("/whole", whole), Route("/streamed", streamed)])


async def _exchange(path: str) -> RecordingTransport:
    config = uvicorn.Config(APP, http=CoalescingHttpProtocol, lifespan="off", log_level="warning")
    config.load()
    protocol = CoalescingHttpProtocol(config=config, server_state=ServerState(), app_state={})
    transport = RecordingTransport()
    protocol.connection_made(transport)
    protocol.data_received(f"GET {path} HTTP/1.1\r\nHost: pacs\r\n\r\n".encode())
    for _ in range(100):
        await asyncio.sleep(0.005)
        if protocol.cycle is not None and protocol.cycle.response_complete:
            break
    await asyncio.sleep(0.01)  # the end-of-turn flush
    protocol.connection_lost(None)
    return transport


def test_whole_response_reaches_the_socket_in_one_write() -> None:
    transport = asyncio.run(_exchange("/whole"))
    assert len(transport.writes) == 1, [w[:40] for w in transport.writes]
    head, _, body = transport.writes[0].partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert b"content-length: 3058" in head
    assert body == b"x" * 3058


def test_streaming_response_still_streams() -> None:
    transport = asyncio.run(_exchange("/streamed"))
    data = b"".join(transport.writes)
    assert data.startswith(b"HTTP/1.1 200 OK")
    assert b"first" in data and b"second" in data
    # the chunk that came after a pause went out on its own, not held back with the rest
    assert len(transport.writes) >= 2
    assert b"second" in transport.writes[-1] or b"second" in transport.writes[-2]
