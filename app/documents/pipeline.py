"""The one path of a message through the hub, top to bottom:

    parse → authorise → sign or verify → store → route → answer

A `Submission` carries the parsed message, the verdict and the rows written through the
stages. Everything up to `store` only reads (on SQLite in a deferred transaction, without the
write lock): the write transaction begins at `store` (`begin_write`). API submissions
(`submit_from_api`), statuses (`report_status`) and documents from the axis
(`app.documents.inbound`) all run these stages; the axis configures `sign or verify` not to
refuse (a failing signature is quarantined instead) and parses its own bytes.

Business data is read from the parsed tree only after the signature over the whole file
(Reference URI="") has been checked or made, so what is stored and routed is what is signed.

Longer than ~600 lines on purpose: the stages are kept in this one module so that the path of
a document reads top to bottom (issue 13); what a stage needs beyond itself lives beside it
(`status_rules`, `pdf_signatures`, `timestamps`, `hold`, `trust`).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from lxml import etree
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.audit import service as audit
from app.clients.service import Principal
from app.core.db import begin_write, commit_despite, read_first
from app.core.errors import Conflict, HubError, PayloadTooLarge, Unprocessable
from app.core.ids import new_id
from app.core.timeutil import utcnow
from app.delivery import service as delivery
from app.delivery.models import Delivery
from app.directory.cache import Entry
from app.documents import repository as repo
from app.documents import service, status_rules, timestamps
from app.documents.hold import SignatureTryLater, is_try_later
from app.documents.models import Document, StatusMessage
from app.documents.pdf_signatures import (
    attachment_verdicts,
    enforce_policy,
    pdf_trust,
    sign_pdf_attachments,
)
from app.documents.selfcheck import SELF_CHECK
from app.documents.service import SignatureInvalid, has_signature, require_serves
from app.documents.status_rules import StatusReport
from app.documents.trust import trust_for
from app.edxml import (
    EdxmlDocument,
    EdxmlError,
    EdxmlWarning,
    ParsedMessage,
    parse_message,
    prepare_package,
    serialize_to,
)
from app.edxml.payloads import DetachedPayloads, detach_payloads
from app.hub import Hub
from app.signing import ValidationReport, validate


@dataclass
class Submission:
    """One message on its way through the stages: what was parsed, decided and written."""

    principal: Principal
    parsed: ParsedMessage
    origin: str = "api"  # "api" (a department system) or "vpcp" (the national axis)
    actor: str = ""
    sign_pdf: bool = False  # POST /documents?sign_pdf=true: the hub signs the PDFs too
    at: datetime = field(default_factory=utcnow)
    # when the hub first had the message, if earlier than `at` (a held document from the
    # axis): its signature is judged at that time
    poe: datetime | None = None
    # authorise
    sender: Entry | None = None
    recipients: list[Entry] = field(default_factory=list)
    revoke_targets: list[Document] = field(default_factory=list)
    update_target: Document | None = None
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    replaced_ids: list[str] = field(default_factory=list)
    # sign or verify (large attachment texts held outside the tree meanwhile)
    payloads: DetachedPayloads | None = None
    verdict: ValidationReport | None = None
    timestamp_imprint: bytes | None = None  # set while the token is pending (worker fetches)
    signed_by_hub: bool = False
    warnings: list[EdxmlWarning] = field(default_factory=list)  # what was accepted liberally
    # store
    blob: str = ""
    size: int = 0
    document: Document | None = None  # transient: its row is inserted, not tracked
    trace: list[dict[str, Any]] = field(default_factory=list)  # written at once, after routing
    # route
    deliveries: list[Delivery] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.actor = self.actor or (
            self.principal.actor if self.origin == "api" else f"axis:{self.from_organ}"
        )

    @property
    def message(self) -> EdxmlDocument:
        if self.parsed.kind != "document" or self.parsed.document is None:
            raise Unprocessable(
                "this is a status message: post it to /documents/{id}/statuses",
                code="edxml.invalid",
            )
        return self.parsed.document

    @property
    def root(self) -> etree._Element:
        return self.parsed.root

    @property
    def from_organ(self) -> str:
        doc = self.parsed.document
        return doc.from_.organ_id if doc is not None else "-"


# -- the API's submission: every stage, in order ----------------------------------------------


@dataclass
class Answer:
    status: int
    body: dict[str, Any]
    replayed: bool = False
    document: Document | None = None


def submit_from_api(
    session: Session,
    hub: Hub,
    principal: Principal,
    parse: Callable[[], ParsedMessage],
    *,
    idempotency_key: str | None,
    request_hash: str,
    sign_pdf: bool = False,
) -> Answer:
    """POST /documents: a replayed Idempotency-Key answers as before; otherwise all stages.
    `sign_pdf`: the hub signs every top-level PDF attachment as the sender (SPEC 5.3)."""
    read_first(session)
    replay = service.idempotent_replay(session, principal, idempotency_key, request_hash)
    if replay is not None:
        return Answer(replay[0], replay[1], replayed=True)
    parsed: ParsedMessage | None = None
    try:
        parsed = parse()
        sub = Submission(principal, parsed, sign_pdf=sign_pdf)
        authorise(session, hub, sub)
        sign_and_store(session, hub, sub)
        doc = route_and_record(session, sub)  # its flush may find a duplicate: refused too
    except (HubError, EdxmlError) as exc:
        # Every refused submission stays on record (SPEC 8), whatever stage refused it; the
        # gate has already turned away callers without a valid key, so only clients the hub
        # knows can add entries.
        refuse(session, principal, parsed, exc)
        raise
    body = service.to_out(
        session, doc, principal, deliveries=sub.deliveries, warnings=sub.warnings
    ).model_dump(mode="json", by_alias=True)
    service.remember(session, principal, idempotency_key, request_hash, 202, body)
    return Answer(202, body, document=doc)


def parse(hub: Hub, data: bytes) -> ParsedMessage:
    """Bytes from the axis: parsed once, safely (no DTD, entities or network; capped)."""
    return parse_message(data, max_bytes=hub.settings.max_edxml_bytes)


def submit_document(session: Session, hub: Hub, sub: Submission) -> Document:
    """authorise → sign or verify → store → route → answer, for callers that parsed already
    (the axis, the demo)."""
    authorise(session, hub, sub)
    sign_and_store(session, hub, sub)
    return route_and_record(session, sub)


def sign_and_store(session: Session, hub: Hub, sub: Submission) -> None:
    # SDK habits (SPEC 3): the placeholder Signature dropped, DocumentId and TraceHeader
    # written into the package the hub signs (a sender-signed package is never changed).
    sub.warnings = [
        *sub.parsed.warnings,
        *prepare_package(
            sub.root,
            document_id=sub.message.effective_document_id,
            hub_organ_id=hub.settings.hub_organ_id,
            when=sub.at,
        ),
    ]
    if sub.sign_pdf:
        sign_pdfs(session, hub, sub)
    # The PDF attachments' own signatures (SPEC 5.3), read while the tree still holds them.
    pdfs = attachment_verdicts(
        sub.parsed.document,
        organ_id=sub.from_organ,
        trust=hub.custody.trust_store(session),
        at=sub.at,
        max_bytes=hub.settings.max_document_bytes,
        trust_for=pdf_trust(session, hub),
    )
    # Large attachments leave the tree while it is signed and stored (memory: SPEC 12); the
    # tree is not used afterwards, so they are not put back.
    with detach_payloads(sub.root, restore=False) as sub.payloads:
        if sub.verdict is None:  # the axis verified before deciding to quarantine
            sign_or_verify(session, hub, sub)
        assert sub.verdict is not None
        sub.verdict = dataclasses.replace(
            service.with_warnings(sub.verdict, sub.warnings), attachments=pdfs
        )
        if sub.origin == "api":
            enforce_policy(hub.settings.pdf_signature_policy, sub.verdict)
        sub.verdict, sub.timestamp_imprint = timestamps.stamp_verdict(
            session, hub, sub.root, sub.verdict
        )
        store(session, hub, sub)


def sign_pdfs(session: Session, hub: Hub, sub: Submission) -> None:
    """sign_pdf=true: before the package is sealed, each top-level PDF attachment is signed as
    the sender (reads only: the key and the trust store). A package its sender signed cannot
    have its attachments changed, so sign_pdf needs an unsigned one."""
    if has_signature(sub.root):
        raise Unprocessable(
            "sign_pdf=true needs an unsigned package: the hub cannot change the attachments "
            "of a package its sender signed",
            code="edxml.invalid",
        )
    organ = sub.from_organ
    sender = sub.sender or hub.directory.entries(session, [organ]).get(organ)
    sign_pdf_attachments(
        sub.parsed,
        signer=hub.custody.signer_for(session, organ),
        organ_id=organ,
        organ_name=sender.name if sender is not None else organ,
        trust=hub.custody.trust_store(session),
        timestamper=hub.pdf_timestamper or functools.partial(hub.timestamps.query, session),
        at=sub.at,
        font=hub.settings.pdf_stamp_font,
    )


def route_and_record(session: Session, sub: Submission) -> Document:
    """route → answer: the deliveries in one INSERT, then every trace event of the submission
    in one; a revoke's or update's changes to earlier rows are flushed with them."""
    with _unique(sub):
        route(session, sub)
        doc = answer(session, sub)
        repo.insert_traces(session, sub.trace)
        session.flush()
    return doc


@contextmanager
def _unique(sub: Submission) -> Iterator[None]:
    """The (From, DocumentId) unique index turned into 409 `document.duplicate`: the read in
    `authorise` misses a twin committed meanwhile, the index does not. Other constraint
    failures pass unchanged."""
    try:
        yield
    except IntegrityError as exc:
        if "document_id" not in str(exc.orig):
            raise
        raise Conflict(
            f"{sub.from_organ} already sent {sub.message.effective_document_id}",
            code="document.duplicate",
        ) from exc


# -- stages -----------------------------------------------------------------------------------


def authorise(session: Session, hub: Hub, sub: Submission) -> None:
    """Who may send this, to whom, and what it changes: reads only."""
    msg = sub.message
    from_organ = msg.from_.organ_id
    if sub.origin == "api":
        require_serves(sub.principal, from_organ)
    document_id = msg.effective_document_id
    # The sender and recipients from the directory as this process holds it (at most
    # DIRECTORY_CACHE_SECONDS old, `hub.directory`); an entry it lacks is read now.
    directory = hub.directory.snapshot(session)
    sender = directory.get(from_organ) or hub.directory.entries(session, [from_organ]).get(
        from_organ
    )
    if sender is None or not sender.active:
        raise Unprocessable(
            f"{from_organ} is not an active organization of the directory",
            code="organization.unknown",
        )
    if sub.origin == "api" and sender.route != "local":
        raise Unprocessable(
            f"{from_organ} is not a local organization", code="organization.invalid"
        )
    sub.sender = sender
    # An earlier (From, DocumentId): 409 before anything is signed or written (the unique
    # index still decides a twin committed meanwhile, `_unique`).
    if repo.document_by_sender(session, from_organ, document_id) is not None:
        raise Conflict(f"{from_organ} already sent {document_id}", code="document.duplicate")

    recipients = [o.organ_id for o in msg.to]
    business = msg.business
    if msg.business_type == 1:
        sub.revoke_targets = _targets(
            session,
            from_organ,
            [r.document_id for r in msg.response_for if r.document_id],
            origin=sub.origin,
        )
        for t in sub.revoke_targets:
            recipients += [d.organ_id for d in delivery.deliveries_of(session, t.id)]
    elif msg.business_type == 2:
        target_id = business.document_id or next(
            (r.document_id for r in msg.response_for if r.document_id), None
        )
        if not target_id:
            raise Unprocessable("an update names the document it updates", code="edxml.invalid")
        sub.update_target = _targets(session, from_organ, [target_id], origin=sub.origin)[0]
        for r in business.document_info.receivers if business.document_info else []:
            (sub.added if r.receiver_type == 0 else sub.removed).append(r.organ_id)
        recipients += sub.removed
    elif msg.business_type == 3:
        sub.replaced_ids = [r.document_id for r in business.replacement_infos]
        _targets(session, from_organ, sub.replaced_ids, origin=sub.origin)

    sub.recipients = delivery.resolve_recipients(session, recipients, known=directory)
    if from_organ in {r.organ_id for r in sub.recipients}:
        raise Unprocessable("a document is not sent to its own sender", code="edxml.invalid")
    carried = sum(a.size for a in msg.attachments)
    if carried > hub.settings.max_document_bytes:
        raise PayloadTooLarge(
            f"the attachments hold {carried} bytes, more than MAX_DOCUMENT_BYTES "
            f"({hub.settings.max_document_bytes})"
        )


def _targets(
    session: Session, from_organ: str, document_ids: list[str], *, origin: str
) -> list[Document]:
    """The sender's own documents named by a revoke, update or replace. A quarantined copy is
    never the target of traffic from the axis (it is not the From's)."""
    if not document_ids:
        return []
    found = repo.documents_by_sender(session, from_organ, document_ids, quarantined=origin == "api")
    missing = sorted(set(document_ids) - {d.document_id for d in found})
    if missing:
        raise Unprocessable(
            f"{from_organ} sent no document {', '.join(missing)}", code="document.unknown_target"
        )
    return found


def sign_or_verify(
    session: Session,
    hub: Hub,
    sub: Submission,
    *,
    organ_id: str | None = None,
    unsigned: Literal["sign", "accept", "verify"] = "sign",
    refuse: bool = True,
) -> None:
    """Signed input must be TOTAL_PASSED (or, with `refuse=False`, its verdict is left for the
    caller: the axis quarantines). Unsigned input is signed as its sender (`sign`), accepted
    as it is (`accept`: statuses of organizations the hub holds no key for) or given its
    failing verdict (`verify`: documents from the axis)."""
    organ = organ_id or sub.from_organ
    if has_signature(sub.root) or unsigned == "verify":
        report = verify_signature(
            session, hub, sub.root, organ=organ, at=sub.poe or sub.at, payloads=sub.payloads
        )
        sub.verdict = report
        if not report.passed:
            hub.metrics.signature_failures.labels(
                "api" if refuse else "vpcp", report.indication, report.sub_indication or ""
            ).inc()
        if refuse and not report.passed:
            if sub.parsed.kind == "status":
                title = f"the status message's signature is {report.indication}"
            else:
                title = f"the signature is {report.indication}" + (
                    f" ({report.sub_indication})" if report.sub_indication else ""
                )
            if is_try_later(report):
                # No fresh revocation data: nothing is wrong with the message, ask again later.
                raise SignatureTryLater(
                    title + ": no fresh revocation data, try again later",
                    extra={"validation": report.to_dict()},
                )
            raise SignatureInvalid(title, extra={"validation": report.to_dict()})
        return
    if unsigned == "accept":
        return
    from app.signing.xmldsig import sign_tree

    signer = hub.custody.signer_for(session, organ)
    sign_tree(sub.root, signer, sub.payloads)
    sub.signed_by_hub = True
    # The hub's own signature (a document's or a status's), under its own trust store (which
    # holds the revocation data of the hub's certificates): validated in full on a sample
    # only (`selfcheck`).
    sub.verdict = SELF_CHECK.report(
        sub.root,
        signer,
        organ_id=organ,
        trust=hub.custody.trust_store(session),
        at=sub.at,
        payloads=sub.payloads,
    )


def verify_signature(
    session: Session,
    hub: Hub,
    root: etree._Element,
    *,
    organ: str,
    at: datetime,
    payloads: DetachedPayloads | None = None,
    now: datetime | None = None,
) -> ValidationReport:
    """The one place a signature someone else made is judged: the hub's trust store plus
    revocation data for the certificates it did not issue, cached or fetched now
    (`documents.trust`, `app.revocation`). Submissions, statuses, axis traffic, held documents
    (so they pass once a responder answers again), re-validation and `/edxml/validate` all
    come through here; a report that does not pass names what could not be fetched."""
    trust = trust_for(session, hub, root)
    return trust.explain(
        validate(
            root, expected_organ_id=organ, trust=trust.store, at=at, payloads=payloads, now=now
        )
    )


def store(session: Session, hub: Hub, sub: Submission) -> Document:
    """The write transaction begins here: the blob, the document row and its report, each one
    INSERT without the unit of work (the `Document` kept is transient: what later stages and
    the 202 read); its trace is written after routing, with the deliveries' events."""
    begin_write(session)
    msg = sub.message
    assert sub.verdict is not None
    sub.blob, sub.size = hub.blobs.put_writer(
        session, lambda out: serialize_to(sub.root, out, sub.payloads)
    )
    row: dict[str, Any] = {
        "id": new_id(),
        "document_id": msg.effective_document_id,
        "from_organ": sub.from_organ,
        "business_type": msg.business_type,
        "subject": msg.subject,
        "code": f"{msg.code.code_number}/{msg.code.code_notation}",
        "promulgation_date": msg.promulgation_info.promulgation_date,
        "to_organs": [o.organ_id for o in msg.to],
        "response_for": [r.document_id for r in msg.response_for if r.document_id]
        + sub.replaced_ids,
        "attachments": [
            {"content_id": a.content_id, "name": a.name, "content_type": a.content_type}
            | {"size": a.size}
            for a in msg.attachments
        ],
        "origin": sub.origin,
        "submitted_by": sub.principal.client_id if sub.origin == "api" else None,
        "blob": sub.blob,
        "size": sub.size,
        "signed_by_hub": sub.signed_by_hub,
        "quarantined": False,
        "accepted_at": sub.at,
    }
    doc = Document(**row)
    rec = service.report_row(doc, sub.verdict, "signing" if sub.signed_by_hub else "receipt")
    for name in REPORT_SUMMARY:
        row[name] = getattr(doc, name)
    with _unique(sub):
        repo.insert_document(session, row)
    repo.insert_report(session, rec)
    sub.document = doc
    if sub.timestamp_imprint is not None:
        timestamps.add_pending(
            session, document=doc.id, report=rec["id"], imprint=sub.timestamp_imprint, at=sub.at
        )
    sub.trace += [
        repo.trace_row(
            doc.id,
            "accepted",
            organ_id=sub.from_organ,
            detail={"origin": sub.origin, "size": sub.size},
            at=sub.at,
        ),
        repo.trace_row(
            doc.id,
            "signed" if sub.signed_by_hub else "verified",
            organ_id=sub.from_organ,
            detail={
                "indication": sub.verdict.indication,
                "sub_indication": sub.verdict.sub_indication,
            },
            at=sub.at,
        ),
    ]
    return doc


# The document's columns `service.report_row` sets from its report.
REPORT_SUMMARY = ("indication", "sub_indication", "signed_by", "pdf_indication", "pdf_signed")


def route(session: Session, sub: Submission) -> None:
    """One delivery per recipient; revokes and updates change the earlier document's copies."""
    doc, msg = sub.document, sub.message
    assert doc is not None
    pending = str(msg.business_type) if msg.business_type in (1, 2) else None
    sub.deliveries = delivery.enqueue(
        session,
        kind="document",
        document=doc.id,
        message_id=doc.id,
        recipients=sub.recipients,
        pending_change=pending,
        trace=sub.trace,
    )
    sub.deliveries.sort(key=lambda d: d.organ_id)  # as `deliveries_of` lists them
    for t in sub.revoke_targets:
        for d in delivery.deliveries_of(session, t.id):
            d.revoked = True
            d.updated_at = sub.at
        sub.trace.append(
            repo.trace_row(t.id, "revoked", organ_id=sub.from_organ, detail={"by": doc.id})
        )
    target = sub.update_target
    if target is not None:
        if sub.added:
            existing = {d.organ_id for d in delivery.deliveries_of(session, target.id)}
            new_orgs = delivery.resolve_recipients(
                session, [a for a in sub.added if a not in existing]
            )
            delivery.enqueue(
                session,
                kind="document",
                document=target.id,
                message_id=target.id,
                recipients=new_orgs,
                trace=sub.trace,
            )
        for organ in sub.removed:
            copy = delivery.delivery_to(session, target.id, organ)
            if copy is not None:
                copy.revoked = True
                copy.updated_at = sub.at
        sub.trace.append(
            repo.trace_row(
                target.id,
                "updated",
                organ_id=sub.from_organ,
                detail={"by": doc.id, "added": sub.added, "removed": sub.removed},
            )
        )


def answer(session: Session, sub: Submission) -> Document:
    """The audit entry (appended at commit) and the stored document."""
    doc = sub.document
    assert doc is not None and sub.verdict is not None
    audit.record(
        session,
        actor=sub.actor,
        action="document.accepted",
        target_type="document",
        target_id=doc.id,
        details={
            "document_id": doc.document_id,
            "from": sub.from_organ,
            "to": [r.organ_id for r in sub.recipients],
            "business_type": doc.business_type,
            "signed_by_hub": sub.signed_by_hub,
            "indication": sub.verdict.indication,
            "sha256": sub.blob,
        },
    )
    return doc


def refuse(
    session: Session,
    principal: Principal,
    parsed: ParsedMessage | None,
    error: HubError | EdxmlError,
) -> None:
    """A refused submission (422 `signature.invalid`, a malformed or forbidden message, a
    duplicate, …) stays on record: nothing of the submission was written, so the refusal's
    audit entry is the transaction's only write and commits while the request fails."""
    session.rollback()
    begin_write(session)
    msg = parsed.document if parsed is not None else None
    extra = error.extra if isinstance(error, HubError) else {}
    audit.record(
        session,
        actor=principal.actor,
        action="document.refused",
        target_type="document",
        target_id=msg.effective_document_id if msg else "-",
        details={
            "code": error.code,
            "detail": error.detail[:500],  # bounded: it may quote the input
            "document_id": msg.effective_document_id if msg else None,
            "from": msg.from_.organ_id if msg else None,
            "indication": extra.get("validation", {}).get("indication"),
        },
    )
    commit_despite(session, error)


# -- statuses: the same stages for a status message -----------------------------------------


# Statuses are checked against their reporter by `authorise`; the submission's principal is
# the hub itself, which carries the status on.
HUB = Principal(client_id="hub", name="hub", role="system", organ_ids=frozenset())


def report_status(session: Session, hub: Hub, rep: StatusReport) -> StatusMessage:
    """authorise (transition) → sign or verify → store → route → answer.

    (Parsed by the caller: the API's body, an axis item, or built here from JSON.)"""
    reporter = status_rules.authorise(session, rep)
    root = rep.root if rep.root is not None else status_rules.build_tree(rep, reporter)
    sub = Submission(
        HUB,
        ParsedMessage(root=root, kind="status"),
        origin=rep.origin,
        actor=rep.actor,
        at=rep.at,
    )
    if rep.verified is not None and rep.verified.passed:
        sub.verdict = rep.verified
    else:
        sign_or_verify(
            session,
            hub,
            sub,
            organ_id=rep.organ_id,
            # Traffic from the axis is verified, never signed by the hub on anyone's behalf (SPEC 5).
            unsigned="verify"
            if rep.origin == "vpcp"
            else ("sign" if reporter.route == "local" else "accept"),
        )
    # Every signature the hub makes or accepts gets its token (SPEC 5.2), as a document's.
    if sub.verdict is not None:
        sub.verdict, sub.timestamp_imprint = timestamps.stamp_verdict(
            session, hub, root, sub.verdict
        )
    # store: the write transaction begins; the transition is re-checked on the fresh row
    begin_write(session)
    status = status_rules.store(session, hub, rep, root)
    if sub.verdict is not None:  # none for a status accepted unsigned: nothing was checked
        rec = service.report_row(
            rep.document,
            sub.verdict,
            "signing" if sub.signed_by_hub else "receipt",
            status=status,
        )
        repo.insert_report(session, rec)  # the status row is flushed first
        if sub.timestamp_imprint is not None:
            timestamps.add_pending(
                session,
                document=rep.document.id,
                report=rec["id"],
                imprint=sub.timestamp_imprint,
                at=sub.at,
            )
    # route: back to the sender (or, for a 13, to every recipient)
    delivery.enqueue(
        session,
        kind="status",
        document=rep.document.id,
        message_id=status.id,
        recipients=delivery.resolve_recipients(
            session, rep.to, known=hub.directory.snapshot(session)
        ),
        trace=sub.trace,
    )
    # answer
    sub.trace.append(
        repo.trace_row(
            rep.document.id,
            "status",
            organ_id=rep.organ_id,
            detail={"code": rep.code, "status_id": status.id},
        )
    )
    repo.insert_traces(session, sub.trace)
    audit.record(
        session,
        actor=rep.actor,
        action="status.reported",
        target_type="document",
        target_id=rep.document.id,
        details={"from": rep.organ_id, "code": rep.code, "to": rep.to},
    )
    return status
