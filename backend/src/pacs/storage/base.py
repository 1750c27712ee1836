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
        """Store ``data`` durably under ``key``: on return the bytes are on stable storage.

        Replacing an existing key is atomic (readers see the old or the new bytes). A new key may be readable
        while it is being written: callers publish a key (ingest indexes it) only after ``put`` returns.
        """

    def get(self, key: str) -> bytes:
        """Return the bytes under ``key``; raise :class:`ObjectNotFoundError` if absent."""
        ...

    def delete(self, key: str) -> None:
        """Remove ``key``; no error if it is absent."""

    def check(self) -> None:
        """Raise if the store is not reachable and writable (readiness probe)."""
