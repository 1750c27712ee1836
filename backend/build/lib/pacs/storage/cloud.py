"""Cloud object stores (S3, GCS, Azure, in-memory) through obstore.

Credentials come from the environment as obstore reads them (``AWS_*``, ``GOOGLE_*`` ...).
"""

from __future__ import annotations

import obstore
from obstore.store import from_url

from pacs.storage.base import ObjectNotFoundError


class ObstoreStore:
    def __init__(self, url: str) -> None:
        self.url = url
        self._store = from_url(url)

    def put(self, key: str, data: bytes) -> None:
        obstore.put(self._store, key, data)

    def get(self, key: str) -> bytes:
        try:
            return bytes(obstore.get(self._store, key).bytes())
        except FileNotFoundError as exc:
            raise ObjectNotFoundError(f"object {key!r} is missing from the store") from exc

    def delete(self, key: str) -> None:
        try:
            obstore.delete(self._store, key)
        except FileNotFoundError:
            pass

    def check(self) -> None:
        obstore.put(self._store, ".readyz", b"ok")
        obstore.delete(self._store, ".readyz")
