"""The organization directory as routing reads it: plain immutable values, shared by the
requests of a process for at most DIRECTORY_CACHE_SECONDS (`app.core.recent`).

A submission needs, of its sender and recipients, whether they exist, are active, are local
or reached through the axis, take pull or push, and the sender's name; reading those rows
(as ORM objects) on every request cost more than anything else `authorise` does. The whole
directory (a few hundred rows, one SELECT of five columns) is read at most once per bound
and process instead. What it does not hold (an organization created since, elsewhere) is
read at once; what it holds may lag a change committed by another process by the bound (a
deactivation acts there within it); the process that makes a change drops its snapshots when
that change commits (`changed`). No contact details and no webhook secret are kept.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from sqlalchemy.orm import Session

from app.core import recent
from app.directory.models import Organization
from app.directory.repository import OrganizationRepository

KIND = "directory"


@dataclass(frozen=True, slots=True)
class Entry:
    """What routing needs of a directory entry."""

    organ_id: str
    name: str
    route: str
    delivery_mode: str
    active: bool

    @classmethod
    def of(cls, org: Organization) -> Entry:
        return cls(org.organ_id, org.name, org.route, org.delivery_mode, org.active)


def changed(session: Session) -> None:
    """`session` writes the directory: every snapshot of this process is dropped at its
    COMMIT, and the session reads the directory fresh until then."""
    recent.changed(session, KIND)


class DirectoryCache:
    """One process's snapshot of the directory (per Hub), at most `ttl` seconds old."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.recent: recent.Recent[str, Mapping[str, Entry]] = recent.Recent(KIND, ttl, clock)

    def snapshot(self, session: Session) -> Mapping[str, Entry]:
        """Every entry by OrganId, read in `session` when the kept one is too old."""
        kept = self.recent.get(session, KIND)
        if kept is not None:
            return kept
        ticket = self.recent.begin(session)
        rows = OrganizationRepository(session).routing_entries()
        entries = MappingProxyType({r[0]: Entry(r[0], r[1], r[2], r[3], r[4]) for r in rows})
        self.recent.put(KIND, entries, ticket)
        return entries

    def entries(self, session: Session, organ_ids: Iterable[str]) -> dict[str, Entry]:
        """The entries of `organ_ids` that exist: from the snapshot, those it lacks read now."""
        snapshot = self.snapshot(session)
        wanted = list(dict.fromkeys(organ_ids))
        found = {o: snapshot[o] for o in wanted if o in snapshot}
        missing = [o for o in wanted if o not in found]
        if missing:
            found |= {
                o.organ_id: Entry.of(o) for o in OrganizationRepository(session).get_many(missing)
            }
        return found
