"""Directory decisions: validation of codes and hierarchy, activation, audit."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from app.audit import service as audit
from app.core import webhooks
from app.core.db import begin_write
from app.core.errors import Conflict, NotFound, Unprocessable
from app.core.timeutil import iso
from app.directory import cache
from app.directory.models import Organization
from app.directory.organ_id import organ_id_problem, organ_level
from app.directory.push_targets import check_push_url
from app.directory.repository import OrganizationRepository
from app.directory.schemas import (
    CertificateInfo,
    DeliverySetting,
    OrganizationCreate,
    OrganizationOut,
    OrganizationPatch,
    OrganizationPut,
    OrganizationWrite,
    WebhookSecretOut,
)


def to_out(
    org: Organization,
    certificate: CertificateInfo | None = None,
    *,
    reveal_secret: bool = False,
    show_url: bool = True,
) -> OrganizationOut:
    """`show_url` is for admins: a push URL tells other clients where the receivers live."""
    delivery = DeliverySetting(
        mode="push" if org.delivery_mode == "push" else "pull",
        url=org.delivery_url if org.delivery_mode == "push" and show_url else None,
    )
    return OrganizationOut(
        organ_id=org.organ_id,
        name=org.name,
        parent_id=org.parent_id,
        level=org.level,
        email=org.email,
        address=org.address,
        route=org.route,
        delivery=delivery,
        active=org.active,
        certificate=certificate,
        webhook_secret=org.webhook_secret
        if reveal_secret and org.delivery_mode == "push"
        else None,
        created_at=iso(org.created_at) or "",
        updated_at=iso(org.updated_at) or "",
    )


def get_organization(session: Session, organ_id: str) -> Organization:
    org = OrganizationRepository(session).get(organ_id)
    if org is None:
        raise NotFound(f"no organization {organ_id}", code="organization.not_found")
    return org


def _check_parent(repo: OrganizationRepository, organ_id: str, parent_id: str | None) -> None:
    if parent_id is None:
        return
    if parent_id == organ_id:
        raise Unprocessable("an organization cannot be its own parent", code="organization.invalid")
    seen = {organ_id}
    cursor: str | None = parent_id
    while cursor is not None:
        parent = repo.get(cursor)
        if parent is None:
            raise Unprocessable(f"unknown parent {cursor}", code="organization.unknown")
        if parent.organ_id in seen:
            raise Unprocessable("the parent chain would form a cycle", code="organization.invalid")
        seen.add(parent.organ_id)
        cursor = parent.parent_id


def _apply(org: Organization, data: OrganizationWrite, allow_private_push: bool) -> None:
    if data.route == "vpcp" and data.delivery.mode == "push":
        raise Unprocessable(
            "organizations reached through the axis (route vpcp) take no webhook",
            code="organization.invalid",
        )
    if data.delivery.url is not None:
        check_push_url(str(data.delivery.url), allow_private=allow_private_push)
    org.name = data.name
    org.parent_id = data.parent_id
    org.email = data.email
    org.address = data.address
    org.route = data.route
    org.delivery_mode = data.delivery.mode
    org.delivery_url = str(data.delivery.url) if data.delivery.url else None
    if org.delivery_mode == "push" and not org.webhook_secret:
        org.webhook_secret = webhooks.new_secret()
    org.active = data.active


def _snapshot(org: Organization) -> dict[str, Any]:
    return {
        "name": org.name,
        "parent_id": org.parent_id,
        "route": org.route,
        "delivery_mode": org.delivery_mode,
        "delivery_url": org.delivery_url,
        "active": org.active,
    }


def create_organization(
    session: Session, data: OrganizationCreate, *, actor: str, allow_private_push: bool = False
) -> Organization:
    problem = organ_id_problem(data.organ_id)
    if problem:
        raise Unprocessable(problem, code="organization.invalid")
    repo = OrganizationRepository(session)
    if repo.get(data.organ_id) is not None:
        raise Conflict(f"organization {data.organ_id} exists", code="organization.exists")
    _check_parent(repo, data.organ_id, data.parent_id)
    org = Organization(organ_id=data.organ_id, level=organ_level(data.organ_id))
    _apply(org, data, allow_private_push)
    cache.changed(session)
    repo.add(org)
    audit.record(
        session,
        actor=actor,
        action="organization.created",
        target_type="organization",
        target_id=org.organ_id,
        details=_snapshot(org),
    )
    return org


def update_organization(
    session: Session,
    organ_id: str,
    data: OrganizationWrite,
    *,
    actor: str,
    allow_private_push: bool = False,
) -> Organization:
    repo = OrganizationRepository(session)
    org = get_organization(session, organ_id)
    _check_parent(repo, organ_id, data.parent_id)
    before = _snapshot(org)
    _apply(org, data, allow_private_push)
    cache.changed(session)
    session.flush()
    after = _snapshot(org)
    changed = {k: {"from": before[k], "to": after[k]} for k in after if before[k] != after[k]}
    if changed:
        audit.record(
            session,
            actor=actor,
            action="organization.updated",
            target_type="organization",
            target_id=organ_id,
            details=changed,
        )
    return org


def check_read_only(organ_id: str, org: Organization, data: OrganizationPut) -> None:
    """A PUT may carry what GET answered; its read-only fields must agree with the entry."""
    if data.organ_id is not None and data.organ_id != organ_id:
        raise Unprocessable(
            f"organ_id {data.organ_id} is not the one in the path ({organ_id})",
            code="organization.invalid",
            extra={"errors": [{"loc": ["body", "organ_id"], "msg": "must match the path"}]},
        )
    if data.level is not None and data.level != org.level:
        raise Unprocessable(
            f"level is derived from the OrganId ({org.level}), not set",
            code="organization.invalid",
            extra={"errors": [{"loc": ["body", "level"], "msg": f"the level is {org.level}"}]},
        )


def put_organization(
    session: Session,
    organ_id: str,
    data: OrganizationPut,
    *,
    actor: str,
    allow_private_push: bool = False,
) -> Organization:
    check_read_only(organ_id, get_organization(session, organ_id), data)
    write = OrganizationWrite.model_validate(
        data.model_dump(include=set(OrganizationWrite.model_fields))
    )
    return update_organization(
        session, organ_id, write, actor=actor, allow_private_push=allow_private_push
    )


def patch_organization(
    session: Session,
    organ_id: str,
    changes: OrganizationPatch,
    *,
    actor: str,
    allow_private_push: bool = False,
) -> Organization:
    """Only the fields sent change; the result is checked as a whole, as a PUT would be."""
    org = get_organization(session, organ_id)
    current: dict[str, Any] = {
        "name": org.name,
        "parent_id": org.parent_id,
        "email": org.email,
        "address": org.address,
        "route": org.route,
        "delivery": {"mode": org.delivery_mode, "url": org.delivery_url},
        "active": org.active,
    }
    if current["delivery"]["url"] is None:
        del current["delivery"]["url"]
    merged = current | changes.model_dump(exclude_unset=True, mode="json")
    try:
        write = OrganizationWrite.model_validate(merged)
    except ValidationError as exc:
        raise Unprocessable(
            "; ".join(str(e["msg"]) for e in exc.errors()),
            code="organization.invalid",
            extra={
                "errors": [
                    {"loc": ["body", *e["loc"]], "msg": e["msg"]}
                    for e in exc.errors(include_url=False, include_input=False)
                ]
            },
        ) from None
    return update_organization(
        session, organ_id, write, actor=actor, allow_private_push=allow_private_push
    )


def reveal_webhook_secret(session: Session, organ_id: str, *, actor: str) -> WebhookSecretOut:
    """The push secret, for an admin configuring the receiver; each reading is audited."""
    org = get_organization(session, organ_id)
    if org.delivery_mode != "push" or not org.webhook_secret or not org.delivery_url:
        raise NotFound(
            f"{organ_id} takes pull delivery: it has no webhook secret",
            code="organization.no_webhook",
        )
    begin_write(session)  # a GET that leaves an audit entry
    audit.record(
        session,
        actor=actor,
        action="organization.webhook_secret_read",
        target_type="organization",
        target_id=organ_id,
        details={},
    )
    return WebhookSecretOut(organ_id=organ_id, url=org.delivery_url, secret=org.webhook_secret)


def deactivate_organization(session: Session, organ_id: str, *, actor: str) -> Organization:
    org = get_organization(session, organ_id)
    if org.active:
        org.active = False
        cache.changed(session)
        session.flush()
        audit.record(
            session,
            actor=actor,
            action="organization.deactivated",
            target_type="organization",
            target_id=organ_id,
            details={},
        )
    return org


def add_verified_sender(session: Session, organ_id: str, name: str | None) -> Organization:
    """An external organization the directory did not know, added because a document from the
    axis carries a passing signature bound to its OrganId (SPEC 5: unverified input never
    creates or renames an entry; an existing entry is returned unchanged, never renamed)."""
    existing = OrganizationRepository(session).get(organ_id)
    if existing is not None:
        return existing
    return create_organization(
        session,
        OrganizationCreate(organ_id=organ_id, name=(name or organ_id)[:300], route="vpcp"),
        actor=f"axis:{organ_id}",
    )
