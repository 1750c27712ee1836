"""Where DICOM bytes live: one ``ObjectStore`` interface, chosen by URL.

- a path or ``file://`` URL: :class:`FileSystemStore` (default, ``var/storage``), durable writes
  (temporary file, fsync, atomic rename, fsync of the directory);
- ``s3://``, ``gs://``, ``az://``, ``memory://``: :class:`ObstoreStore` through obstore.

Bytes are stored exactly as received.
"""

from __future__ import annotations

from pacs.storage.base import ObjectNotFoundError, ObjectStore
from pacs.storage.cloud import ObstoreStore
from pacs.storage.filesystem import FileSystemStore


def open_store(url: str) -> ObjectStore:
    """Open the object store named by ``url``.

    >>> type(open_store("memory://")).__name__
    'ObstoreStore'
    >>> type(open_store("/tmp/pacs-doctest-store")).__name__
    'FileSystemStore'
    """
    if "://" not in url or url.startswith("file://"):
        return FileSystemStore(url.removeprefix("file://"))
    return ObstoreStore(url)


__all__ = ["FileSystemStore", "ObjectNotFoundError", "ObjectStore", "ObstoreStore", "open_store"]
