"""Local-disk object store with durable, atomic writes."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from pacs.storage.base import ObjectNotFoundError


class FileSystemStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self._root_str = str(self.root)
        self._root_prefix = self._root_str.rstrip(os.sep) + os.sep
        self.url = f"file://{self.root}"

    def _path(self, key: str) -> Path:
        # A lexical check (no filesystem calls; ``resolve()`` stats every component and showed up in ingest
        # profiles): the key must stay below the root once normalised. Keys are built by ingest from validated
        # UIDs, and nothing else creates symbolic links inside the store.
        path = os.path.normpath(os.path.join(self._root_str, key))
        if not path.startswith(self._root_prefix) or "\x00" in key:
            raise ValueError(f"object key escapes the store: {key!r}")
        return Path(path)

    def put(self, key: str, data: bytes) -> None:
        """Write, ``fdatasync``, then ``fsync`` the directory (and any directory created on the way).

        A new key is written in place (ingest's keys are always new: nothing refers to one before it is
        indexed, and a crash can leave only an unreferenced file, as a temporary file would). That is one
        journal commit less than a temporary file and a rename: ~0.9 instead of 1.1-2.3 ms per 513 kB file
        here. An existing key is replaced through a temporary file and ``rename``, atomically.
        """
        path = self._path(key)
        self._ensure_dir(path.parent)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            target = None
        except FileExistsError:
            target = path
            path = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            try:
                view = memoryview(data)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
                os.fdatasync(fd)
            finally:
                os.close(fd)
        except BaseException:
            path.unlink(missing_ok=True)  # no partial file left behind (disk full, I/O error)
            raise
        if target is not None:
            os.replace(path, target)
        self._fsync_dir(path.parent)

    def _ensure_dir(self, directory: Path) -> None:
        """Create ``directory`` (and missing parents below the root), each made durable in its parent."""
        if directory.is_dir():
            return
        if directory.parent != self.root and not directory.parent.is_dir():
            self._ensure_dir(directory.parent)
        try:
            directory.mkdir()
        except FileExistsError:
            pass  # a concurrent put made it; its entry is made durable here too, before this put returns
        self._fsync_dir(directory.parent)

    @staticmethod
    def _fsync_dir(directory: Path) -> None:
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as exc:
            raise ObjectNotFoundError(f"object {key!r} is missing from the store") from exc

    def delete(self, key: str) -> None:
        try:
            self._path(key).unlink()
        except FileNotFoundError:
            pass

    def check(self) -> None:
        probe = self.root / ".readyz"
        probe.write_bytes(b"ok")
        probe.unlink()
