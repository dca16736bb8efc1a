"""The CA certificates the hub trusts and issues under, and its CRLs (no auth)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from app.api.deps import SessionDep
from app.api.problems import BYTES

router = APIRouter(prefix="/pki", tags=["pki"])


@router.get(
    "/ca", response_class=Response, responses={200: {"content": {"application/x-pem-file": BYTES}}}
)
def ca_bundle(request: Request, session: SessionDep) -> Response:
    pem = request.app.state.hub.custody.ca_bundle_pem(session)
    return Response(pem, media_type="application/x-pem-file")


@router.get(
    "/crl", response_class=Response, responses={200: {"content": {"application/pkix-crl": BYTES}}}
)
def crl(request: Request, session: SessionDep) -> Response:
    return Response(
        request.app.state.hub.custody.crl_der(session, "issuing"), media_type="application/pkix-crl"
    )


@router.get(
    "/crl/root",
    response_class=Response,
    responses={200: {"content": {"application/pkix-crl": BYTES}}},
)
def root_crl(request: Request, session: SessionDep) -> Response:
    return Response(
        request.app.state.hub.custody.crl_der(session, "root"), media_type="application/pkix-crl"
    )
