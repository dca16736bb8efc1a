"""Audit-log routes (auditor, admin)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from app.api.deps import (
    AuditPrincipal,
    Cursor,
    Limit,
    OrganIdQuery,
    SessionDep,
    decode_cursor,
    encode_cursor,
)
from app.api.problems import responses
from app.api.schemas import Page
from app.audit import service
from app.audit.schemas import AuditEntryOut, ChainVerdictOut
from app.core.timeutil import as_utc, iso
from app.documents import repository as repo
from app.documents.schemas import Indication, SignatureRow, SignedBy

router = APIRouter(prefix="/audit", tags=["audit"])

PdfIndication = Literal[
    "TOTAL_PASSED", "TOTAL_FAILED", "INDETERMINATE", "NO_SIGNATURE_FOUND", "NONE"
]


class AuditPage(Page[AuditEntryOut]):
    pass


class SignaturePage(Page[SignatureRow]):
    pass


class HeldRow(BaseModel):
    """A document or status message from the axis held for lack of revocation data (SPEC 5.1)."""

    held: str
    kind: Literal["document", "status"] = Field(
        description="a held document, or a held status message (not applied while held)"
    )
    state: str
    axis_doc_id: str
    document_id: str = Field(description="the document's DocumentId (a status: the one it answers)")
    from_: str = Field(serialization_alias="from")
    to: list[str]
    origin: Literal["vpcp"] = "vpcp"
    held_since: str
    attempts: int
    next_attempt_at: str
    indication: str
    sub_indication: str | None
    report: dict[str, Any]


class HeldPage(Page[HeldRow]):
    pass


class SignatureListing(Page[SignatureRow | HeldRow]):
    """`/audit/signatures`: documents with their latest verdict, or with `state=held` the
    documents and status messages from the axis held now."""


@router.get("/log", response_model=AuditPage, responses=responses(401, 403, 422))
def audit_log(
    session: SessionDep,
    _: AuditPrincipal,
    since: datetime | None = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> AuditPage:
    after = decode_cursor(cursor)
    rows = service.list_entries(
        session,
        since=as_utc(since) if since else None,
        after_seq=int(after) if after and after.isdigit() else None,
        limit=limit + 1,
    )
    page = rows[:limit]
    return AuditPage(
        items=[
            AuditEntryOut(
                seq=e.seq,
                at=iso(e.at),
                actor=e.actor,
                action=e.action,
                target_type=e.target_type,
                target_id=e.target_id,
                details=json.loads(e.details),
                prev_hash=e.prev_hash,
                hash=e.hash,
            )
            for e in page
        ],
        next_cursor=encode_cursor(page[-1].seq) if len(rows) > limit else None,
    )


@router.get("/log/verify", response_model=ChainVerdictOut, responses=responses(401, 403))
def audit_verify(session: SessionDep, _: AuditPrincipal) -> ChainVerdictOut:
    """Recompute the hash chain; `first_broken` names the first entry that does not match."""
    return ChainVerdictOut.model_validate(service.verify(session).as_dict())


@router.get("/signatures", response_model=SignatureListing, responses=responses(401, 403, 422))
def audit_signatures(
    session: SessionDep,
    _: AuditPrincipal,
    indication: Indication | None = None,
    organ_id: OrganIdQuery = None,
    since: datetime | None = None,
    until: datetime | None = None,
    state: Annotated[
        Literal["held"] | None,
        Query(
            description="`held`: documents and status messages from the axis held for lack "
            "of revocation data"
        ),
    ] = None,
    cursor: Cursor = None,
    limit: Limit = 50,
    pdf_indication: Annotated[
        PdfIndication | None,
        Query(description="the PDF attachments' verdict (SPEC 5.3); NONE: documents without PDF"),
    ] = None,
) -> SignaturePage | HeldPage:
    """Documents with their latest validation summary, for auditors; `state=held` lists the
    documents and status messages from the axis that are held (SPEC 5.1) with their latest
    report and next attempt. A status message's own reports are in its resource
    (`GET /documents/{id}/statuses`, `validation`)."""
    if state == "held":
        return _held(session, organ_id, since, until, cursor, limit)
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
    return SignaturePage(
        items=[
            SignatureRow(
                document=d.id,
                document_id=d.document_id,
                from_=d.from_organ,
                accepted_at=iso(d.accepted_at),
                origin=d.origin,
                signed_by_hub=d.signed_by_hub,
                indication=d.indication,
                sub_indication=d.sub_indication,
                signed_by=SignedBy.model_validate(d.signed_by) if d.signed_by else None,
                pdf_indication=d.pdf_indication,
                pdf_signed_by_sender=d.pdf_signed,
                reports=counts.get(d.id, 0),
            )
            for d in page
        ],
        next_cursor=encode_cursor(page[-1].id) if len(rows) > limit else None,
    )


def _held(
    session: Session,
    organ_id: str | None,
    since: datetime | None,
    until: datetime | None,
    cursor: str | None,
    limit: int,
) -> HeldPage:
    rows = repo.held_page(
        session,
        organ_id=organ_id,
        since=as_utc(since) if since else None,
        until=as_utc(until) if until else None,
        after=decode_cursor(cursor),
        limit=limit + 1,
    )
    page = rows[:limit]
    return HeldPage(
        items=[
            HeldRow(
                held=h.id,
                kind="status" if h.kind == "status" else "document",
                state=h.state,
                axis_doc_id=h.axis_doc_id,
                document_id=h.document_id,
                from_=h.from_organ,
                to=list(h.axis_to),
                held_since=iso(h.held_since),
                attempts=h.attempts,
                next_attempt_at=iso(h.next_attempt_at),
                indication=h.indication,
                sub_indication=h.sub_indication,
                report=h.report,
            )
            for h in page
        ],
        next_cursor=encode_cursor(page[-1].id) if len(rows) > limit else None,
    )
