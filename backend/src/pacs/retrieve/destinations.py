"""C-MOVE destinations (PS3.4 C.4.2.1.4.1, Move Destination): AE title → host and port, a retrieve service.

Two sources, merged: the setting ``PACS_DIMSE_DESTINATIONS`` (``AET@host:port,...``, read-only at runtime)
and the ``dimse_destinations`` table managed through ``/api/dimse/destinations``. Every replica reads the
table, so a destination added through the API is known to all of them. An AE title defined in the setting
cannot be redefined through the API (409), so the two sources never disagree.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Engine

from pacs.config import Settings
from pacs.exceptions import BadRequestError, NotFoundError, PacsError
from pacs.index import destinations as sql


class DestinationConflictError(PacsError):
    http_status = 409
    dicom_status = 0xA801
    error = "conflict"


@dataclass(frozen=True)
class Destination:
    ae_title: str
    host: str
    port: int
    description: str = ""
    source: str = "api"  # "api" (table) or "settings" (PACS_DIMSE_DESTINATIONS)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_ae_title(value: str) -> str:
    """An AE title as PS3.5 6.2 allows it: 1-16 characters of the default repertoire, no backslash or controls.

    >>> check_ae_title(" STORESCP ")
    'STORESCP'
    >>> check_ae_title("A" * 17)
    Traceback (most recent call last):
    ...
    pacs.exceptions.BadRequestError: AE title 'AAAAAAAAAAAAAAAAA' is longer than 16 characters
    """
    aet = value.strip()
    if not aet:
        raise BadRequestError("AE title is empty")
    if len(aet) > 16:
        raise BadRequestError(f"AE title {aet!r} is longer than 16 characters")
    if any(c == "\\" or ord(c) < 0x20 or ord(c) > 0x7E for c in aet):
        raise BadRequestError(f"AE title {aet!r} has characters outside the DICOM default repertoire")
    return aet


def check_address(host: str, port: int) -> tuple[str, int]:
    host = host.strip()
    if not host or any(c.isspace() for c in host) or len(host) > 253:
        raise BadRequestError(f"host {host!r} is not a host name or IP address")
    if not 1 <= port <= 65535:
        raise BadRequestError(f"port {port} is out of range; use 1..65535")
    return host, port


class DestinationRegistry:
    """Look up and manage C-MOVE destinations. Each call is its own transaction."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings

    def _configured(self) -> dict[str, Destination]:
        return {
            aet: Destination(aet, host, port, "from PACS_DIMSE_DESTINATIONS", "settings")
            for aet, (host, port) in self.settings.destinations.items()
        }

    def resolve(self, ae_title: str) -> Destination | None:
        """The destination for a Move Destination AE title, or None when it is unknown."""
        aet = ae_title.strip()
        configured = self._configured().get(aet)
        if configured is not None:
            return configured
        with self.engine.connect() as conn:
            row = sql.get_destination(conn, aet)
        return Destination(**row) if row else None

    def list(self) -> list[Destination]:
        configured = self._configured()
        with self.engine.connect() as conn:
            rows = sql.list_destinations(conn)
        out = dict(configured)
        for row in rows:
            out.setdefault(row["ae_title"], Destination(**row))
        return [out[k] for k in sorted(out)]

    def create(self, ae_title: str, host: str, port: int, description: str = "") -> Destination:
        aet = check_ae_title(ae_title)
        host, port = check_address(host, port)
        if aet in self._configured():
            raise DestinationConflictError(
                f"{aet} is defined by PACS_DIMSE_DESTINATIONS; change the setting instead"
            )
        with self.engine.begin() as conn:
            created = sql.create_destination(conn, aet, host, port, description)
        if not created:
            raise DestinationConflictError(f"destination {aet} already exists; use PUT to change it")
        return Destination(aet, host, port, description)

    def update(self, ae_title: str, host: str, port: int, description: str = "") -> Destination:
        aet = ae_title.strip()
        host, port = check_address(host, port)
        if aet in self._configured():
            raise DestinationConflictError(
                f"{aet} is defined by PACS_DIMSE_DESTINATIONS; change the setting instead"
            )
        with self.engine.begin() as conn:
            updated = sql.update_destination(conn, aet, host, port, description)
        if not updated:
            raise NotFoundError(f"no destination {aet}")
        return Destination(aet, host, port, description)

    def delete(self, ae_title: str) -> None:
        aet = ae_title.strip()
        if aet in self._configured():
            raise DestinationConflictError(
                f"{aet} is defined by PACS_DIMSE_DESTINATIONS; change the setting instead"
            )
        with self.engine.begin() as conn:
            deleted = sql.delete_destination(conn, aet)
        if not deleted:
            raise NotFoundError(f"no destination {aet}")
