"""C-MOVE destinations, managed through the API at ``/api/dimse/destinations``.

A front door: it validates the JSON body and calls :class:`pacs.retrieve.destinations.DestinationRegistry`.
Destinations from ``PACS_DIMSE_DESTINATIONS`` are listed (``"source": "settings"``) but are read-only here.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from pacs.exceptions import NotFoundError
from pacs.retrieve.destinations import DestinationRegistry

router = APIRouter(tags=["dimse"])


class DestinationWrite(BaseModel):
    host: str = Field(description="Host name or IP address of the Storage SCP.", examples=["10.0.0.7"])
    port: int = Field(description="Its DIMSE port.", examples=[104])
    description: str = Field(default="", max_length=500)


class DestinationCreate(DestinationWrite):
    ae_title: str = Field(description="The Move Destination AE title (1-16 characters).", examples=["WS1"])


class DestinationRead(BaseModel):
    ae_title: str
    host: str
    port: int
    description: str
    source: str = Field(description='"api" (managed here) or "settings" (PACS_DIMSE_DESTINATIONS, read-only)')


def _registry(request: Request) -> DestinationRegistry:
    services = request.app.state.services
    return DestinationRegistry(services.engine, services.settings)


@router.get("", summary="List C-MOVE destinations", response_model=list[DestinationRead])
def list_destinations(request: Request) -> list[DestinationRead]:
    return [DestinationRead(**d.as_dict()) for d in _registry(request).list()]


@router.post("", summary="Add a C-MOVE destination", status_code=201, response_model=DestinationRead)
def create_destination(request: Request, body: DestinationCreate) -> DestinationRead:
    d = _registry(request).create(body.ae_title, body.host, body.port, body.description)
    return DestinationRead(**d.as_dict())


@router.get("/{ae_title}", summary="One C-MOVE destination", response_model=DestinationRead)
def get_destination(request: Request, ae_title: str) -> DestinationRead:
    d = _registry(request).resolve(ae_title)
    if d is None:
        raise NotFoundError(f"no destination {ae_title}")
    return DestinationRead(**d.as_dict())


@router.put("/{ae_title}", summary="Change a C-MOVE destination", response_model=DestinationRead)
def update_destination(request: Request, ae_title: str, body: DestinationWrite) -> DestinationRead:
    d = _registry(request).update(ae_title, body.host, body.port, body.description)
    return DestinationRead(**d.as_dict())


@router.delete("/{ae_title}", summary="Remove a C-MOVE destination", status_code=204)
def delete_destination(request: Request, ae_title: str) -> Response:
    _registry(request).delete(ae_title)
    return Response(status_code=204)
