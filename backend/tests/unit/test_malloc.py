"""The allocator thresholds apply on glibc and are a no-op elsewhere."""

from __future__ import annotations

import platform

import pytest

from pacs import malloc


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_thresholds_are_taken_on_glibc() -> None:
    assert malloc.tune() is True


def test_no_libc_means_no_change(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(*args: object, **kwargs: object) -> object:
        raise OSError("no libc here")

    monkeypatch.setattr(malloc.ctypes, "CDLL", missing)
    assert malloc.tune() is False
