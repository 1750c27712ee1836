"""The one authentication seam: every HTTP endpoint depends on :func:`authenticate`.

It lets everyone in for now; real authentication (OIDC bearer tokens, mTLS) lands here and only here.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request


@dataclass(frozen=True)
class Principal:
    name: str
    authenticated: bool


ANONYMOUS = Principal(name="anonymous", authenticated=False)


async def authenticate(request: Request) -> Principal:
    # async: it does no I/O today, and a sync dependency would cost every request a thread-pool hop.
    # Real authentication that must block (token introspection) belongs in a thread, not here.
    request.state.principal = ANONYMOUS
    return ANONYMOUS
