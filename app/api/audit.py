"""Audit-log routes (auditor, admin)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from fastapi import APIRouter
from sqlalchemy import func, select

from app.api.deps import AuditPrincipal, Cursor, Limit, SessionDep, decode_cursor, encode_cursor
from app.api.problems import responses
from app.audit import service
from app.core.timeutil import as_utc, iso
from app.documents.models import Document, ValidationRecord

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


@router.get("/signatures", responses=responses(401, 403, 422))
def audit_signatures(
    session: SessionDep,
    _: AuditPrincipal,
    indication: str | None = None,
    organ_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> dict[str, Any]:
    """Documents with their latest validation summary, for auditors."""
    stmt = select(Document).order_by(Document.id).limit(limit + 1)
    if indication:
        stmt = stmt.where(Document.indication == indication)
    if organ_id:
        stmt = stmt.where(Document.from_organ == organ_id)
    if since:
        stmt = stmt.where(Document.accepted_at >= as_utc(since))
    if until:
        stmt = stmt.where(Document.accepted_at <= as_utc(until))
    after = decode_cursor(cursor)
    if after:
        stmt = stmt.where(Document.id > after)
    rows = list(session.scalars(stmt))
    page = rows[:limit]
    counts = dict(
        session.execute(
            select(ValidationRecord.document, func.count())
            .where(ValidationRecord.document.in_([d.id for d in page]))
            .group_by(ValidationRecord.document)
        ).all()
    )
    return {
        "items": [
            {
                "document": d.id,
                "document_id": d.document_id,
                "from": d.from_organ,
                "accepted_at": iso(d.accepted_at),
                "origin": d.origin,
                "signed_by_hub": d.signed_by_hub,
                "indication": d.indication,
                "sub_indication": d.sub_indication,
                "signed_by": d.signed_by,
                "reports": counts.get(d.id, 0),
            }
            for d in page
        ],
        "next_cursor": encode_cursor(page[-1].id) if len(rows) > limit else None,
    }
