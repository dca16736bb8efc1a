"""Request dependencies: the session (the one place a request commits) and authorization."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from app.clients.schemas import Role
from app.clients.service import Principal, authenticate
from app.core.config import Settings
from app.core.db import begin_write, committed, read_first
from app.core.errors import AuthMissing, Forbidden, Unprocessable


def get_session(request: Request) -> Iterator[Session]:
    """The request's one session: it reads first (authentication included, without the SQLite
    write lock) and commits after the handler returns, before the response is sent, so a 2xx
    is durable (`committed`, the same block the worker and the CLI use)."""
    # The gate (app/api/gate.py) authenticated on this request's session before the body was
    # read; a request it did not see (outside /api/v1) gets a new one.
    opened = getattr(request.state, "session", None)
    session: Session = opened if opened is not None else request.app.state.sessionmaker()
    read_first(session)
    with committed(session):
        yield session


SessionDep = Annotated[Session, Depends(get_session, scope="function")]
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


#: The OpenAPI `securitySchemes` entry (the Authorize button of /docs). It checks nothing
#: itself: the gate (app/api/gate.py) already did, and `get_principal` reads its verdict.
API_KEY = HTTPBearer(
    scheme_name="ApiKey",
    bearerFormat="API key",
    description="`Authorization: Bearer <api key>`: the key `POST /clients` or "
    "`lienthong clients create` printed once",
    auto_error=False,
)


def get_principal(
    request: Request,
    session: SessionDep,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(API_KEY)] = None,
) -> Principal:
    principal = getattr(request.state, "principal", None)
    if not isinstance(principal, Principal):  # the gate (app/api/gate.py) found none
        header = request.headers.get("authorization")
        if not header:
            raise AuthMissing("send Authorization: Bearer <api key>")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthMissing("send Authorization: Bearer <api key>")
        principal = authenticate(session, token.strip())
        request.state.principal = principal
    # GET and HEAD handlers go on reading in the same transaction (on SQLite: no write lock).
    # Other handlers write by default; the document pipeline goes back to reading until its
    # store stage (`read_first` … `begin_write`).
    if request.method not in SAFE_METHODS:
        begin_write(session)
    return principal


class Authorize:
    """Role gate declared on every protected route; the access-matrix test reads `roles`."""

    def __init__(self, *roles: Role) -> None:
        self.roles: frozenset[str] = frozenset(roles)

    def dep(self) -> Any:
        """`Annotated[Principal, Authorize(...).dep()]` for a route-specific role set."""
        return Depends(self)

    def __call__(self, principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if principal.role not in self.roles:
            raise Forbidden(f"role {principal.role} may not do this")
        return principal


ANY_ROLE = Authorize("system", "admin", "auditor", "reporter")
ADMIN = Authorize("admin")
AUDIT = Authorize("auditor", "admin")
STATS = Authorize("reporter", "admin")
SYSTEM = Authorize("system")
SYSTEM_OR_ADMIN = Authorize("system", "admin")

AnyPrincipal = Annotated[Principal, Depends(ANY_ROLE)]
AdminPrincipal = Annotated[Principal, Depends(ADMIN)]
AuditPrincipal = Annotated[Principal, Depends(AUDIT)]
StatsPrincipal = Annotated[Principal, Depends(STATS)]
SystemPrincipal = Annotated[Principal, Depends(SYSTEM)]


def encode_cursor(value: str | int) -> str:
    return base64.urlsafe_b64encode(str(value).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> str | None:
    if not cursor:
        return None
    try:
        raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
        value = raw.decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise Unprocessable("cursor is not one this API issued", code="cursor.invalid") from exc
    if not value:
        raise Unprocessable("cursor is not one this API issued", code="cursor.invalid")
    return value


Limit = Annotated[int, Query(ge=1, le=500, description="page size, at most 500")]
ORGAN_ID_PATTERN = r"^[0-9A-Z]+(\.[0-9A-Z]+)*$"


def organ_id_query(description: str = "an OrganId (QCVN 102)", alias: str | None = None) -> Any:
    """An OrganId filter: a malformed one is 422 naming the parameter, never an empty page."""
    return Query(
        alias=alias,
        max_length=35,
        pattern=ORGAN_ID_PATTERN,
        description=description,
        examples=["000.00.01.H39"],
    )


OrganIdQuery = Annotated[str | None, organ_id_query()]
Cursor = Annotated[str | None, Query(description="next_cursor of the previous page")]
