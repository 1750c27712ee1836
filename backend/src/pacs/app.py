"""The HTTP application: DICOMweb at /dicom-web, the portal API at /api, health at /healthz and /readyz."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from pacs import __version__
from pacs.config import Settings, get_settings
from pacs.exceptions import PacsError
from pacs.security import authenticate
from pacs.services import Services

log = logging.getLogger(__name__)


def error_response(
    status: int, error: str, detail: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail}, status_code=status, headers=headers)


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = services is None
        app.state.services = services or Services.create(settings)
        app.state.ready = True
        try:
            yield
        finally:
            app.state.ready = False
            if own:
                app.state.services.close()

    app = FastAPI(
        title="PACS Portal",
        version=__version__,
        description="DICOM archive (DICOMweb, DIMSE) and clinician portal API. Synthetic data only; "
        "not for clinical use.",
        lifespan=lifespan,
        dependencies=[Depends(authenticate)],
    )
    app.state.settings = settings
    if services is not None:
        app.state.services = services

    @app.exception_handler(PacsError)
    async def pacs_error(_: Request, exc: PacsError) -> JSONResponse:
        return error_response(exc.http_status, exc.error, exc.detail)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(exc.status_code, "http_error", str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        errs = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return error_response(400, "bad_request", errs)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return error_response(500, "internal_error", f"{type(exc).__name__}; see the server log")

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str | int]:
        """Liveness: the process answers (``pid``: which of the HTTP worker processes, see pacs.workers)."""
        return {"status": "ok", "pid": os.getpid()}

    @app.get("/readyz", tags=["health"])
    def readyz(request: Request) -> JSONResponse:
        """Readiness: the database and the object store are reachable, and the process is not stopping."""
        if not getattr(request.app.state, "ready", False):
            return JSONResponse({"status": "stopping"}, status_code=503)
        try:
            checks = request.app.state.services.check_ready()
        except Exception as exc:
            return JSONResponse({"status": "unavailable", "detail": str(exc)[:300]}, status_code=503)
        return JSONResponse({"status": "ok", **checks})

    from pacs.dicomweb.routes import router as dicomweb_router

    app.include_router(dicomweb_router, prefix="/dicom-web")

    from pacs.portal.destinations import router as destinations_router

    app.include_router(destinations_router, prefix="/api/dimse/destinations")

    from pacs.portal.routes import router as portal_router

    app.include_router(portal_router, prefix="/api", tags=["portal"])
    return app
