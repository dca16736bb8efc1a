"""Audit-log routes (auditor, admin)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from app.api.deps import AuditPrincipal, Cursor, Limit, SessionDep, decode_cursor, encode_cursor
from app.api.problems import responses
from app.audit import service
from app.core.timeutil import as_utc, iso
from app.documents import repository as repo

router = APIRouter(prefix="/audit", tags=["audit"])

PdfIndication = Literal[
    "TOTAL_PASSED", "TOTAL_FAILED", "INDETERMINATE", "NO_SIGNATURE_FOUND", "NONE"
]


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
    pdf_indication: Annotated[
        PdfIndication | None,
        Query(description="the PDF attachments' verdict (SPEC 5.3); NONE: documents without PDF"),
    ] = None,
) -> dict[str, Any]:
    """Documents with their latest validation summary, for auditors."""
    rows = repo.signatures_page(
        session,
        indication=indication,
        pdf_indication=pdf_indication,
        organ_id=organ_id,
        since=as_utc(since) if since else None,
        until=as_utc(until) if until else None,
        after=decode_cursor(cursor),
        limit=limit + 1,
    )
    page = rows[:limit]
    counts = repo.report_counts(session, [d.id for d in page])
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
                "pdf_indication": d.pdf_indication,
                "pdf_signed_by_sender": d.pdf_signed,
                "reports": counts.get(d.id, 0),
            }
            for d in page
        ],
        "next_cursor": encode_cursor(page[-1].id) if len(rows) > limit else None,
    }
