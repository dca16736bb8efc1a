"""Audit-log routes (auditor, admin)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from fastapi import APIRouter

from app.api.deps import AuditPrincipal, Cursor, Limit, SessionDep, decode_cursor, encode_cursor
from app.api.problems import responses
from app.audit import service
from app.core.timeutil import as_utc, iso

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("/log", responses=responses(401, 403, 422))
def audit_log(
    session: SessionDep,
    _: AuditPrincipal,
    since: datetime | None = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> dict[str, Any]:
    after = decode_cursor(cursor)
    rows = service.list_entries(
        session,
        since=as_utc(since) if since else None,
        after_seq=int(after) if after and after.isdigit() else None,
        limit=limit + 1,
    )
    page = rows[:limit]
    return {
        "items": [
            {
                "seq": e.seq,
                "at": iso(e.at),
                "actor": e.actor,
                "action": e.action,
                "target_type": e.target_type,
                "target_id": e.target_id,
                "details": json.loads(e.details),
                "prev_hash": e.prev_hash,
                "hash": e.hash,
            }
            for e in page
        ],
        "next_cursor": encode_cursor(page[-1].seq) if len(rows) > limit else None,
    }


@router.get("/log/verify", responses=responses(401, 403))
def audit_verify(session: SessionDep, _: AuditPrincipal) -> dict[str, Any]:
    return service.verify(session).as_dict()
