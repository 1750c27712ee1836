"""The object store interface."""

from __future__ import annotations

from typing import Protocol

from pacs.exceptions import NotFoundError


class ObjectNotFoundError(NotFoundError):
    error = "object_not_found"


class ObjectStore(Protocol):
    """Keys are ``/``-separated relative paths. Implementations are thread-safe."""

    url: str

    def put(self, key: str, data: bytes) -> None:
        """Store ``data`` durably under ``key`` (visible only once complete)."""

    def get(self, key: str) -> bytes:
        """Return the bytes under ``key``; raise :class:`ObjectNotFoundError` if absent."""
        ...

    def delete(self, key: str) -> None:
        """Remove ``key``; no error if it is absent."""

    def check(self) -> None:
        """Raise if the store is not reachable and writable (readiness probe)."""
