"""The request path's framework work: how many worker-thread hops a request takes, and that
its transaction is committed before its response starts, whichever thread commits it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import anyio.to_thread
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.clients.models import ApiClient
from app.clients.service import authenticate
from app.core.errors import PROBLEM_JSON
from app.documents.models import Document
from tests.conftest import World
from tests.factories import document_json

DOCS = "/api/v1/documents"


class Recorder:
    """Wraps the app: counts `anyio.to_thread.run_sync` calls (thread hops) per request and
    runs `probe` (a read on another connection) when a response starts."""

    def __init__(self, app: Any, probe: Callable[[], int]) -> None:
        self.app, self.probe = app, probe
        self.hops = 0
        self.at_start: list[int] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async def watched(message: Any) -> None:
            if message["type"] == "http.response.start":
                self.at_start.append(self.probe())
            await send(message)

        await self.app(scope, receive, watched if scope["type"] == "http" else send)


@pytest.fixture
def recorder(app, sessions, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Recorder, Any]]:
    def documents() -> int:
        with sessions() as s:
            return int(s.scalar(select(func.count()).select_from(Document)) or 0)

    rec = Recorder(app, documents)
    original = anyio.to_thread.run_sync

    async def counted(func: Any, *args: Any, **kw: Any) -> Any:
        rec.hops += 1
        return await original(func, *args, **kw)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counted)
    # The key's principal stays cached for the whole test: the gate looks it up once.
    app.state.principals.ttl = 60
    with TestClient(rec, raise_server_exceptions=False) as client:
        yield rec, client


async def until(condition: Callable[[], bool]) -> None:
    """Let the event loop run until `condition` holds (no timing: a bounded number of turns)."""
    for _ in range(1_000_000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("never happened")


def test_a_submission_takes_one_thread_hop_and_is_committed_before_its_202(
    recorder: tuple[Recorder, Any], world: World
) -> None:
    rec, client = recorder
    headers = world.auth("system")
    first = client.post(DOCS, json=document_json(world.OWN, [world.OWN2]), headers=headers)
    assert first.status_code == 202, first.text
    rec.hops = 0
    r = client.post(DOCS, json=document_json(world.OWN, [world.OWN2]), headers=headers)
    assert r.status_code == 202, r.text
    # Authentication, the role and the body on the event loop; the pipeline and its commit on
    # one worker thread (before: five hops, the session's entry and exit, the principal, the
    # role check and the handler).
    assert rec.hops == 1
    # Another connection sees each document when the 202 starts: a 2xx is durable.
    assert rec.at_start == [1, 2]


def test_a_refused_submission_is_rolled_back_and_answered_as_a_problem(
    recorder: tuple[Recorder, Any], world: World
) -> None:
    rec, client = recorder
    body = document_json(world.OWN, [world.FOREIGN, world.OWN2])
    body["to"] = [{"organ_id": "000.00.99.H39"}]  # no such organization
    r = client.post(DOCS, json=body, headers=world.auth("system"))
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == PROBLEM_JSON
    assert rec.at_start == [0]


def test_a_handler_without_its_own_commit_is_committed_before_its_response(
    app, sessions, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    def clients() -> int:
        with sessions() as s:
            return int(s.scalar(select(func.count()).select_from(ApiClient)) or 0)

    rec = Recorder(app, clients)
    before = clients()
    with TestClient(rec, raise_server_exceptions=False) as client:
        r = client.post(
            "/api/v1/clients",
            json={"name": "one more", "role": "reporter", "organ_ids": []},
            headers=world.auth("admin"),
        )
    assert r.status_code == 201, r.text
    assert rec.at_start == [before + 1]


def test_the_openapi_document_declares_the_key_where_the_gate_asks_for_it(client) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path, operations in paths.items():
        for operation in operations.values():
            secured = operation.get("security") == [{"ApiKey": []}]
            assert secured == path.startswith("/api/v1/"), path


def test_requests_arriving_while_their_key_is_looked_up_share_that_lookup(
    app, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    import httpx

    from app.api import gate

    looked_up: list[str] = []
    release = threading.Event()
    lookups: list[Any] = []

    def held(session: Any, token: str) -> Any:
        looked_up.append(token)
        assert release.wait(timeout=60), "the test never released the lookup"
        return authenticate(session, token)

    class Seen(gate._Lookup):
        def __init__(self) -> None:
            super().__init__()
            lookups.append(self)

    monkeypatch.setattr(gate, "authenticate", held)
    monkeypatch.setattr(gate, "_Lookup", Seen)
    assert app.state.principals.ttl > 0

    async def both() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as c:
            me = "/api/v1/clients/me"
            first = asyncio.ensure_future(c.get(me, headers=world.auth("admin")))
            await until(lambda: bool(looked_up))
            second = asyncio.ensure_future(c.get(me, headers=world.auth("admin")))
            await until(lambda: any(entry.waiting for entry in lookups))
            release.set()
            return [await first, await second]

    answers = asyncio.run(both())
    assert [r.status_code for r in answers] == [200, 200]
    assert [r.json()["role"] for r in answers] == ["admin", "admin"]
    assert len(looked_up) == 1


@pytest.mark.parametrize("slots", [1, 2])
def test_submissions_beyond_the_process_slots_wait_without_holding_up_other_routes(
    app, world: World, monkeypatch: pytest.MonkeyPatch, slots: int
) -> None:
    """SUBMISSION_THREADS: at most that many submissions of a process run on worker threads at
    once; one more waits for a slot (no thread, no transaction), while reads go on."""
    import threading

    import httpx

    from app.core import sequencer
    from app.documents import pipeline

    original = pipeline.submit_from_api
    entered: list[str] = []
    release = threading.Event()

    def held(*args: Any, **kwargs: Any) -> Any:
        entered.append(threading.current_thread().name)
        assert release.wait(timeout=60), "the test never released the submissions"
        return original(*args, **kwargs)

    monkeypatch.setattr(pipeline, "submit_from_api", held)

    async def run() -> tuple[list[httpx.Response], httpx.Response, int]:
        limiter = anyio.CapacityLimiter(slots)
        app.state.submission_slots = limiter
        headers = world.auth("system")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as c:
            posts = [
                asyncio.ensure_future(
                    c.post(DOCS, json=document_json(world.OWN, [world.OWN2]), headers=headers)
                )
                for _ in range(slots + 1)
            ]
            # every slot taken by a submission in the pipeline, one more waiting for a slot
            await until(lambda: len(entered) == slots)
            await until(lambda: limiter.statistics().tasks_waiting == 1)
            running = len(entered)
            # a read is not held up by the submissions
            listed = await c.get(DOCS, headers=world.auth("admin"))
            release.set()
            return [await p for p in posts], listed, running

    try:
        answers, listed, running = asyncio.run(run())
    finally:
        sequencer.stop(app.state.engine)  # what the lifespan would do: no settle after teardown
    assert running == slots
    assert listed.status_code == 200, listed.text
    assert [r.status_code for r in answers] == [202] * (slots + 1)
    assert len(entered) == slots + 1
    assert len({r.json()["id"] for r in answers}) == slots + 1


def test_the_submission_slots_follow_the_setting(settings, monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    from app.core import sequencer
    from app.core.config import Settings
    from app.main import create_app

    monkeypatch.setenv("LIENTHONG_SUBMISSION_THREADS", "3")
    configured = Settings(database_url=settings.database_url, data_dir=settings.data_dir)
    assert configured.submission_threads == 3
    app = create_app(settings.model_copy(update={"submission_threads": 3}))
    try:
        assert app.state.submission_slots.total_tokens == 3
    finally:
        sequencer.stop(app.state.engine)
        app.state.engine.dispose()
    monkeypatch.setenv("LIENTHONG_SUBMISSION_THREADS", "0")
    with pytest.raises(ValidationError, match="submission_threads"):
        Settings(database_url=settings.database_url, data_dir=settings.data_dir)
