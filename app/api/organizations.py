"""Directory routes (thin: parse, authorise, call the service, shape the answer)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from app.api.deps import (
    AdminPrincipal,
    AnyPrincipal,
    Cursor,
    Limit,
    OrganIdQuery,
    SessionDep,
    decode_cursor,
    encode_cursor,
)
from app.api.problems import responses
from app.api.schemas import Page
from app.core.timeutil import iso
from app.directory import service
from app.directory.repository import OrganizationRepository
from app.directory.schemas import (
    FingerprintOut,
    FingerprintRemoved,
    OrganizationCreate,
    OrganizationOut,
    OrganizationPatch,
    OrganizationPut,
    Route,
    WebhookSecretOut,
)
from app.keys.schemas import KeyChange, KeyRevoke
from app.keys.service import (
    certificate_info,
    certificate_info_for,
    register_fingerprint,
    unregister_fingerprint,
)

router = APIRouter(prefix="/organizations", tags=["directory"])


class OrganizationPage(Page[OrganizationOut]):
    pass


@router.get("", response_model=OrganizationPage, responses=responses(401, 403, 422))
def list_organizations(
    session: SessionDep,
    principal: AnyPrincipal,
    cursor: Cursor = None,
    limit: Limit = 50,
    route: Route | None = None,
    active: bool | None = None,
    parent_id: OrganIdQuery = None,
) -> OrganizationPage:
    rows = OrganizationRepository(session).list(
        after=decode_cursor(cursor),
        limit=limit + 1,
        route=route,
        active=active,
        parent_id=parent_id,
    )
    page = rows[:limit]
    return OrganizationPage(
        items=[service.to_out(o, show_url=principal.role == "admin") for o in page],
        next_cursor=encode_cursor(page[-1].organ_id) if len(rows) > limit else None,
    )


@router.get("/{organ_id}", response_model=OrganizationOut, responses=responses(401, 403, 404))
def get_organization(
    organ_id: str, session: SessionDep, principal: AnyPrincipal
) -> OrganizationOut:
    org = service.get_organization(session, organ_id)
    return service.to_out(
        org, certificate_info_for(session, organ_id), show_url=principal.role == "admin"
    )


@router.post(
    "",
    status_code=201,
    response_model=OrganizationOut,
    responses=responses(401, 403, 409, 422, 503),
)
def create_organization(
    body: OrganizationCreate, request: Request, session: SessionDep, principal: AdminPrincipal
) -> OrganizationOut:
    """A local organization gets its signing key and certificate in the same transaction
    (SPEC 5), so it can send at once; without a CA to issue it (503 `signing.unavailable`)
    nothing is created."""
    org = service.create_organization(
        session,
        body,
        actor=principal.actor,
        allow_private_push=request.app.state.settings.webhook_allow_private,
    )
    request.app.state.hub.custody.ensure_key(session, org.organ_id, actor=principal.actor)
    return service.to_out(org, certificate_info_for(session, org.organ_id), reveal_secret=True)


@router.put(
    "/{organ_id}", response_model=OrganizationOut, responses=responses(401, 403, 404, 422, 503)
)
def update_organization(
    organ_id: str,
    body: OrganizationPut,
    request: Request,
    session: SessionDep,
    principal: AdminPrincipal,
) -> OrganizationOut:
    """Replace the organization. What GET answered may be sent back as it is."""
    org = service.put_organization(
        session,
        organ_id,
        body,
        actor=principal.actor,
        allow_private_push=request.app.state.settings.webhook_allow_private,
    )
    # An organization that becomes local holds a key from then on.
    request.app.state.hub.custody.ensure_key(session, organ_id, actor=principal.actor)
    return service.to_out(org, certificate_info_for(session, organ_id), reveal_secret=True)


@router.patch(
    "/{organ_id}", response_model=OrganizationOut, responses=responses(401, 403, 404, 422)
)
def patch_organization(
    organ_id: str,
    body: OrganizationPatch,
    request: Request,
    session: SessionDep,
    principal: AdminPrincipal,
) -> OrganizationOut:
    """Change only the fields sent."""
    org = service.patch_organization(
        session,
        organ_id,
        body,
        actor=principal.actor,
        allow_private_push=request.app.state.settings.webhook_allow_private,
    )
    return service.to_out(org, certificate_info_for(session, organ_id), reveal_secret=True)


@router.get(
    "/{organ_id}/webhook-secret",
    response_model=WebhookSecretOut,
    responses=responses(401, 403, 404),
)
def webhook_secret(
    organ_id: str, session: SessionDep, principal: AdminPrincipal
) -> WebhookSecretOut:
    """The push organization's Standard Webhooks secret (docs/WEBHOOKS.md); audited."""
    return service.reveal_webhook_secret(session, organ_id, actor=principal.actor)


@router.delete("/{organ_id}", response_model=OrganizationOut, responses=responses(401, 403, 404))
def deactivate_organization(
    organ_id: str, session: SessionDep, principal: AdminPrincipal
) -> OrganizationOut:
    org = service.deactivate_organization(session, organ_id, actor=principal.actor)
    return service.to_out(org)


class FingerprintIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sha256: Annotated[str, Field(pattern=r"^([0-9A-Fa-f]{2}:?){31}[0-9A-Fa-f]{2}$")]


@router.post(
    "/{organ_id}/certificates",
    status_code=201,
    response_model=FingerprintOut,
    responses=responses(401, 403, 404, 409, 422),
)
def register_certificate(
    organ_id: str,
    body: FingerprintIn,
    session: SessionDep,
    principal: AdminPrincipal,
) -> FingerprintOut:
    """Bind a certificate without organizationIdentifier to this organization (SPEC 5)."""
    row = register_fingerprint(session, organ_id, body.sha256, actor=principal.actor)
    return FingerprintOut(organ_id=row.organ_id, sha256=row.sha256, created_at=iso(row.created_at))


@router.delete(
    "/{organ_id}/certificates/{sha256}",
    response_model=FingerprintRemoved,
    responses=responses(401, 403, 404),
)
def unregister_certificate(
    organ_id: str, sha256: str, session: SessionDep, principal: AdminPrincipal
) -> FingerprintRemoved:
    unregister_fingerprint(session, organ_id, sha256, actor=principal.actor)
    return FingerprintRemoved(
        organ_id=organ_id, sha256=sha256.replace(":", "").lower(), registered=False
    )


@router.post(
    "/{organ_id}/keys",
    status_code=201,
    response_model=KeyChange,
    responses=responses(401, 403, 404, 422, 503),
)
def rotate_key(
    organ_id: str, request: Request, session: SessionDep, principal: AdminPrincipal
) -> KeyChange:
    """Rotate: a new key and certificate sign from now on. The previous certificate is
    superseded (retired, not revoked): what it signed still verifies."""
    before = certificate_info_for(session, organ_id)
    row = request.app.state.hub.custody.issue(session, organ_id, actor=principal.actor)
    return KeyChange(
        organ_id=organ_id,
        certificate=certificate_info(row.certificate_pem),
        superseded=[before.serial] if before else [],
    )


@router.post(
    "/{organ_id}/keys/revoke",
    response_model=KeyChange,
    responses=responses(401, 403, 404, 422, 503),
)
def revoke_key(
    organ_id: str,
    body: KeyRevoke,
    request: Request,
    session: SessionDep,
    principal: AdminPrincipal,
) -> KeyChange:
    """Revoke the active certificate from `since` (CRL republished at once) and, unless
    `reissue` is false, issue its successor."""
    custody = request.app.state.hub.custody
    revoked, successor = custody.revoke_and_reissue(
        session,
        organ_id,
        actor=principal.actor,
        reason=body.reason,
        revoked_at=body.since,
        reissue=body.reissue,
    )
    return KeyChange(
        organ_id=organ_id,
        certificate=certificate_info(successor.certificate_pem) if successor else None,
        revoked=revoked,
        since=iso(body.since) if body.since else None,
        reason=body.reason,
    )
