"""Directory decisions: validation of codes and hierarchy, activation, audit."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from app.audit import service as audit
from app.core import webhooks
from app.core.errors import Conflict, NotFound, Unprocessable
from app.core.timeutil import iso
from app.directory.models import Organization
from app.directory.organ_id import organ_id_problem, organ_level
from app.directory.repository import OrganizationRepository
from app.directory.schemas import (
    CertificateInfo,
    OrganizationCreate,
    OrganizationOut,
    OrganizationWrite,
)


def to_out(
    org: Organization, certificate: CertificateInfo | None = None, *, reveal_secret: bool = False
) -> OrganizationOut:
    delivery: dict[str, str | None] = {"mode": org.delivery_mode}
    if org.delivery_mode == "push":
        delivery["url"] = org.delivery_url
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


def _apply(org: Organization, data: OrganizationWrite) -> None:
    if data.route == "vpcp" and data.delivery.mode == "push":
        raise Unprocessable(
            "organizations reached through the axis (route vpcp) take no webhook",
            code="organization.invalid",
        )
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


def create_organization(session: Session, data: OrganizationCreate, *, actor: str) -> Organization:
    problem = organ_id_problem(data.organ_id)
    if problem:
        raise Unprocessable(problem, code="organization.invalid")
    repo = OrganizationRepository(session)
    if repo.get(data.organ_id) is not None:
        raise Conflict(f"organization {data.organ_id} exists", code="organization.exists")
    _check_parent(repo, data.organ_id, data.parent_id)
    org = Organization(organ_id=data.organ_id, level=organ_level(data.organ_id))
    _apply(org, data)
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
    session: Session, organ_id: str, data: OrganizationWrite, *, actor: str
) -> Organization:
    repo = OrganizationRepository(session)
    org = get_organization(session, organ_id)
    _check_parent(repo, organ_id, data.parent_id)
    before = _snapshot(org)
    _apply(org, data)
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


def deactivate_organization(session: Session, organ_id: str, *, actor: str) -> Organization:
    org = get_organization(session, organ_id)
    if org.active:
        org.active = False
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
