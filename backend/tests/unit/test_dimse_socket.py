"""The SCP's PDU reads: a whole PDU in few system calls, short only when the peer closes."""

from __future__ import annotations

import socket
import threading
from types import SimpleNamespace

from pacs.dimse.server import QuickAckSocket, _recv_exactly


def _pair() -> tuple[socket.socket, socket.socket]:
    with socket.create_server(("127.0.0.1", 0)) as srv:
        client = socket.create_connection(srv.getsockname())
        raw, _ = srv.accept()
    accepted = QuickAckSocket(raw.family, raw.type, raw.proto, fileno=raw.detach())
    return client, accepted


def test_reads_a_large_pdu_sent_in_pieces() -> None:
    client, server = _pair()
    payload = bytes(range(256)) * 2052  # 525,312 bytes, about one 512x512 16-bit CT slice

    def send() -> None:
        for i in range(0, len(payload), 70_001):  # odd-sized writes
            client.sendall(payload[i : i + 70_001])

    t = threading.Thread(target=send)
    t.start()
    got = _recv_exactly(SimpleNamespace(socket=server), len(payload))
    t.join()
    assert isinstance(got, bytearray)
    assert got == payload
    client.close()
    server.close()


def test_short_read_when_the_peer_closes() -> None:
    client, server = _pair()
    client.sendall(b"0123456789")
    client.close()
    got = _recv_exactly(SimpleNamespace(socket=server), 100)
    assert got == b"0123456789"
    assert _recv_exactly(SimpleNamespace(socket=server), 6) == b""
    server.close()
