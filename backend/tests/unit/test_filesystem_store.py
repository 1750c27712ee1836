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
