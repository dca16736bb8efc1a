"""Rows that almost never change (the organization directory, each organization's active
signing key), read once and reused for at most a short bound instead of on every request.

The bound (DIRECTORY_CACHE_SECONDS, at most 1 s, the precedent of AUTH_CACHE_SECONDS) is how
long a process may go on using what it read before a change another process committed. The
process that makes a change does not wait: the writing service calls `changed(session, kind)`,
and every cache of that kind in the process is emptied right after that session commits (not
before: a request reloading between the write and the COMMIT would read the old rows again).
The writing session itself neither uses nor fills a cache of that kind meanwhile: it must see
its own uncommitted rows, and others must not see them before they are committed.

A value is kept from the moment its read began, so it is never older than the bound; a read
that began before the latest `changed` is used by its caller but not kept.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

from sqlalchemy import event
from sqlalchemy.orm import Session

K = TypeVar("K")
V = TypeVar("V")

_WROTE = "lienthong.recent.wrote"
_caches: dict[str, weakref.WeakSet[Recent[object, object]]] = {}
_registry_lock = threading.Lock()


class Recent(Generic[K, V]):
    """Values by key, each reused for at most `ttl` seconds of `clock` (0: never kept)."""

    def __init__(self, kind: str, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.kind = kind
        self.ttl = ttl
        self.clock = clock
        self._entries: dict[K, tuple[V, float]] = {}
        self._generation = 0
        self._lock = threading.Lock()
        with _registry_lock:
            _caches.setdefault(kind, weakref.WeakSet()).add(self)  # type: ignore[arg-type]

    def get(self, session: Session, key: K) -> V | None:
        """The kept value, unless it has expired or this session changed `kind` itself."""
        entry = self._entries.get(key)
        if entry is None or entry[1] <= self.clock() or wrote(session, self.kind):
            return None
        return entry[0]

    def begin(self, session: Session) -> tuple[int, float] | None:
        """Before a read whose result may be kept: a ticket for `put`, None if it may not."""
        if self.ttl <= 0 or wrote(session, self.kind):
            return None
        return self._generation, self.clock()

    def put(self, key: K, value: V, ticket: tuple[int, float] | None) -> None:
        """Keep `value` until `ttl` after its read began, unless a change came meanwhile."""
        if ticket is None:
            return
        generation, began = ticket
        with self._lock:
            if generation != self._generation:
                return
            if len(self._entries) > 10_000:  # bounded: expired entries go first
                now = self.clock()
                self._entries = {k: v for k, v in self._entries.items() if v[1] > now}
            self._entries[key] = (value, began + self.ttl)

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            self._entries = {}


def wrote(session: Session, kind: str) -> bool:
    """Did this session change rows of `kind` (it then reads them fresh)?"""
    return kind in session.info.get(_WROTE, ())


def forget(kind: str) -> None:
    """Every cache of `kind` in this process forgets what it holds."""
    with _registry_lock:
        caches = list(_caches.get(kind, ()))
    for cache in caches:
        cache.clear()


def changed(session: Session, kind: str) -> None:
    """`session` changes rows of `kind`: this process forgets them when it commits, and the
    session reads them fresh until then."""
    kinds: set[str] = session.info.setdefault(_WROTE, set())
    if kind in kinds:
        return
    kinds.add(kind)

    def committed(_session: Session) -> None:
        kinds.discard(kind)
        forget(kind)

    event.listen(session, "after_commit", committed, once=True)
