"""Lists that include deliveries load them per page, not per row (no N+1)."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import event

from app.core import sequencer
from tests.conftest import World
from tests.factories import document_json


def _statements(app: Any, client: Any, url: str, headers: dict[str, str]) -> int:
    count = 0

    def seen(*_: Any) -> None:
        nonlocal count
        # The request's statements, not the settler thread's catching up on earlier commits.
        if threading.current_thread().name != sequencer.THREAD_NAME:
            count += 1

    event.listen(app.state.engine, "before_cursor_execute", seen)
    try:
        r = client.get(url, headers=headers)
    finally:
        event.remove(app.state.engine, "before_cursor_execute", seen)
    assert r.status_code == 200, r.text
    return count


def _send(client: Any, world: World, n: int) -> None:
    for _ in range(n):
        r = client.post(
            "/api/v1/documents",
            json=document_json(world.OWN, [world.OWN2, world.FOREIGN]),
            headers=world.auth("system"),
        )
        assert r.status_code == 202, r.text


def test_document_and_inbox_lists_cost_the_same_for_2_and_6_rows(app, client, world: World) -> None:
    docs, inbox = "/api/v1/documents", f"/api/v1/inbox?organ_id={world.OWN2}"
    _send(client, world, 2)
    app.state.principals.clock = lambda: 0.0  # keys looked up once: the cache never expires
    for who in ("admin", "system"):
        client.get(docs, headers=world.auth(who))
    few = (
        _statements(app, client, docs, world.auth("admin")),
        _statements(app, client, docs, world.auth("system")),
        _statements(app, client, inbox, world.auth("system")),
    )
    _send(client, world, 4)
    many = (
        _statements(app, client, docs, world.auth("admin")),
        _statements(app, client, docs, world.auth("system")),
        _statements(app, client, inbox, world.auth("system")),
    )
    assert client.get(docs, headers=world.auth("admin")).json()["items"][5]["deliveries"]
    assert few == many
