"""The local-disk object store: keys stay inside the root; bytes come back as stored."""

from __future__ import annotations

from pathlib import Path

import pytest

from pacs.storage import FileSystemStore
from pacs.storage.base import ObjectNotFoundError


def test_put_get_delete_round_trip(tmp_path: Path) -> None:
    store = FileSystemStore(tmp_path / "store")
    key = "1.2.3/1.2.3.4/1.2.3.4.5.abcd.dcm"
    store.put(key, b"DICM bytes")
    assert store.get(key) == b"DICM bytes"
    assert (tmp_path / "store" / key).read_bytes() == b"DICM bytes"
    assert not list((tmp_path / "store").rglob("*.tmp"))
    store.delete(key)
    with pytest.raises(ObjectNotFoundError):
        store.get(key)
    store.delete(key)  # deleting twice is fine


@pytest.mark.parametrize(
    "key", ["../outside.dcm", "a/../../outside.dcm", "/etc/passwd", "a/\x00.dcm", "", "."]
)
def test_keys_cannot_escape_the_root(tmp_path: Path, key: str) -> None:
    store = FileSystemStore(tmp_path / "store")
    with pytest.raises(ValueError, match="escapes the store"):
        store.put(key, b"x")
    assert not (tmp_path / "outside.dcm").exists()


def test_a_root_that_is_a_prefix_of_a_sibling_is_not_fooled(tmp_path: Path) -> None:
    store = FileSystemStore(tmp_path / "store")
    with pytest.raises(ValueError):
        store.put("../store-evil/x.dcm", b"x")
    assert not (tmp_path / "store-evil").exists()


def test_an_existing_key_is_replaced_whole(tmp_path: Path) -> None:
    store = FileSystemStore(tmp_path / "store")
    store.put("a/b.dcm", b"old bytes")
    store.put("a/b.dcm", b"new")
    assert store.get("a/b.dcm") == b"new"
    assert sorted(p.name for p in (tmp_path / "store" / "a").iterdir()) == ["b.dcm"]  # no temporary file left


def test_a_failed_write_leaves_no_partial_file(tmp_path: Path) -> None:
    store = FileSystemStore(tmp_path / "store")
    with pytest.raises(TypeError):
        store.put("a/b/c.dcm", object())  # type: ignore[arg-type]  # not a buffer: fails after the open
    assert not (tmp_path / "store" / "a" / "b" / "c.dcm").exists()
    assert not list((tmp_path / "store").rglob("*.tmp"))
    store.put("a/b/c.dcm", b"x")  # the key is still free
    assert store.get("a/b/c.dcm") == b"x"


SIZES = [0, 1, 4095, 4096, 4097, 525_312 + 132, 4 * 1024 * 1024, 4 * 1024 * 1024 + 4096 * 3 + 7]


@pytest.mark.parametrize("size", SIZES)
def test_bytes_come_back_exactly_whatever_their_size(tmp_path: Path, size: int) -> None:
    """Around the 4 KiB blocks and the 4 MiB chunks of the O_DIRECT writes: no padding is left behind."""
    import os

    store = FileSystemStore(tmp_path / "store")
    data = os.urandom(size)
    store.put("s/x.dcm", data)
    assert (tmp_path / "store" / "s" / "x.dcm").stat().st_size == size
    assert store.get("s/x.dcm") == data
    store.put("s/x.dcm", data[::-1])  # replacing goes through a temporary file, the same writer
    assert store.get("s/x.dcm") == data[::-1]


@pytest.mark.parametrize("fail_at", ["fcntl", "pwrite"])
def test_without_direct_io_the_bytes_go_through_the_page_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fail_at: str
) -> None:
    """A filesystem that refuses O_DIRECT (EINVAL when the flag is set, or on the write for a larger
    alignment): the same bytes are written the ordinary way."""
    import errno
    import os

    import pacs.storage.filesystem as fs

    real = {"fcntl": fs.fcntl.fcntl, "pwrite": fs.os.pwrite}
    refused: list[str] = []

    def refuse(*args: object) -> object:
        if fail_at == "fcntl" and args[1] == fs.fcntl.F_SETFL and int(args[2]) & os.O_DIRECT:  # type: ignore[call-overload]
            refused.append("fcntl")
            raise OSError(errno.EINVAL, "Invalid argument")
        if fail_at == "pwrite" and len(args) == 3:
            refused.append("pwrite")
            raise OSError(errno.EINVAL, "Invalid argument")
        return real[fail_at](*args)  # type: ignore[operator]

    monkeypatch.setattr(fs.fcntl if fail_at == "fcntl" else fs.os, fail_at, refuse)
    store = FileSystemStore(tmp_path / "store")
    data = os.urandom(10_000)
    store.put("s/x.dcm", data)
    assert refused and store.get("s/x.dcm") == data
