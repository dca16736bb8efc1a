"""Request dependencies: the session (the one place a request commits) and authorization."""

from __future__ import annotations

import base64
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any, ParamSpec, TypeVar

from anyio import CancelScope, CapacityLimiter, to_thread
from fastapi import Depends, Query, Request
from fastapi.security import HTTPBearer
from sqlalchemy.orm import Session

from app.clients.schemas import Role
from app.clients.service import Principal, authenticate
from app.core.config import Settings
from app.core.db import begin_write, committed, is_writing, read_first
from app.core.errors import AuthMissing, Forbidden, Unprocessable

P = ParamSpec("P")
R = TypeVar("R")


def _has_work(session: Session) -> bool:
    """The session still holds a transaction or unflushed rows: ending it is database I/O."""
    return session.in_transaction() or bool(session.new or session.dirty or session.deleted)


async def get_session(request: Request) -> AsyncIterator[Session]:
    """The request's one session: it reads first (authentication included, without the SQLite
    write lock) and commits after the handler returns, before the response is sent, so a 2xx
    is durable (`committed`, the same block the worker and the CLI use).

    Opening it is no I/O, so it happens on the event loop; the commit (or rollback) runs on a
    worker thread, and not at all when the handler already ended the session on its own
    thread (`commits_in_handler`): the hot routes then take one thread hop, not two."""
    # The gate (app/api/gate.py) authenticated on this request's session before the body was
    # read; a request it did not see (outside /api/v1) gets a new one.
    opened = getattr(request.state, "session", None)
    session: Session = opened if opened is not None else request.app.state.sessionmaker()
    read_first(session)
    block = committed(session)
    block.__enter__()
    try:
        yield session
    except BaseException as exc:
        if not await _end(session, block.__exit__, type(exc), exc, exc.__traceback__):
            raise
    else:
        await _end(session, block.__exit__, None, None, None)


async def _end(session: Session, exit_: Callable[..., bool | None], *exc_info: Any) -> bool:
    """Run `committed`'s exit: inline when there is nothing left to end (no I/O), else on a
    worker thread outside the shared thread limiter (the commit must not wait behind handlers
    waiting for pooled connections, as FastAPI's own `contextmanager_in_threadpool` does) and
    shielded from cancellation (a client that goes away never leaves a transaction open)."""
    if not _has_work(session):
        return bool(exit_(*exc_info))
    with CancelScope(shield=True):
        suppressed = await to_thread.run_sync(exit_, *exc_info, limiter=CapacityLimiter(1))
    return bool(suppressed)


def commits_in_handler(endpoint: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    """For a sync write handler taking `request` and `session` (the submissions): it runs on a
    worker thread under the process's submission limiter (`SUBMISSION_THREADS`, at most that
    many at once; the others wait on the event loop, which costs nothing), and its transaction
    ends (`committed`) on that thread as soon as it returns, before the response is built and
    sent: one thread hop, and the session dependency then finds nothing left to do. Errors
    roll back (or keep a refusal on record, `commit_despite`) exactly as in `get_session`.

    Why a limiter of its own: every database round trip gives up the GIL and takes it back,
    and with a dozen submissions of one process in flight each of those handovers is contested;
    a few at a time keep the cores as busy for less CPU per document (bench/README.md)."""

    @functools.wraps(endpoint)
    async def run(*args: P.args, **kwargs: P.kwargs) -> R:
        request, session = kwargs["request"], kwargs["session"]
        assert isinstance(request, Request), "commits_in_handler needs a `request` argument"
        assert isinstance(session, Session), "commits_in_handler needs a `session` argument"

        def handle() -> R:
            with committed(session):
                return endpoint(*args, **kwargs)

        slots: CapacityLimiter = request.app.state.submission_slots
        return await to_thread.run_sync(handle, limiter=slots)

    return run


SessionDep = Annotated[Session, Depends(get_session, scope="function")]
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


#: The OpenAPI `securitySchemes` entry (the Authorize button of /docs). It is not a request
#: dependency: the gate (app/api/gate.py) already checked the key and `get_principal` reads
#: its verdict; `app.api.openapi` declares it on every route behind an `Authorize`.
API_KEY = HTTPBearer(
    scheme_name="ApiKey",
    bearerFormat="API key",
    description="`Authorization: Bearer <api key>`: the key `POST /clients` or "
    "`lienthong clients create` printed once",
    auto_error=False,
)


async def get_principal(request: Request, session: SessionDep) -> Principal:
    """The principal the gate found (a dict lookup, on the event loop: no thread hop)."""
    found = getattr(request.state, "principal", None)
    if isinstance(found, Principal):
        principal = found
    else:  # the gate (app/api/gate.py) did not see this request
        header = request.headers.get("authorization")
        if not header:
            raise AuthMissing("send Authorization: Bearer <api key>")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthMissing("send Authorization: Bearer <api key>")
        principal = await to_thread.run_sync(authenticate, session, token.strip())
        request.state.principal = principal
    # GET and HEAD handlers go on reading in the same transaction (on SQLite: no write lock).
    # Other handlers write by default; the document pipeline goes back to reading until its
    # store stage (`read_first` … `begin_write`).
    if request.method not in SAFE_METHODS and not is_writing(session):
        if session.in_transaction() and session.get_bind().dialect.name == "sqlite":
            await to_thread.run_sync(begin_write, session)  # ends the read transaction: I/O
        else:
            begin_write(session)  # sets the mode only
    return principal


class Authorize:
    """Role gate declared on every protected route; the access-matrix test reads `roles`."""

    def __init__(self, *roles: Role) -> None:
        self.roles: frozenset[str] = frozenset(roles)

    def dep(self) -> Any:
        """`Annotated[Principal, Authorize(...).dep()]` for a route-specific role set."""
        return Depends(self)

    async def __call__(self, principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
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
