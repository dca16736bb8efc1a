"""The CA certificates the hub trusts and issues under, its CRLs, and its demo TSA (no auth)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from app.api.deps import SessionDep
from app.api.problems import BYTES
from app.keys.caches import SigningUnavailable
from app.signing.timestamps import MAX_REQUEST_BYTES, rejection

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


TIMESTAMP_REPLY = "application/timestamp-reply"


async def timestamp_query(request: Request) -> bytes | None:
    """The request body, read up to MAX_REQUEST_BYTES (None beyond: the rest is not read)."""
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > MAX_REQUEST_BYTES:
            return None
    return bytes(data)


@router.post(
    "/tsa",
    response_class=Response,
    responses={200: {"content": {TIMESTAMP_REPLY: BYTES}}},
    openapi_extra={
        "requestBody": {"content": {"application/timestamp-query": BYTES}, "required": True}
    },
)
def timestamp(
    request: Request,
    session: SessionDep,
    query: Annotated[bytes | None, Depends(timestamp_query)],
) -> Response:
    """RFC 3161 over HTTP: a TimeStampReq in, a TimeStampResp out (a refusal is a rejection
    status inside the reply, as the RFC says, never an HTTP error)."""
    if query is None:
        return Response(
            rejection("bad_data_format", f"a request is at most {MAX_REQUEST_BYTES} bytes"),
            media_type=TIMESTAMP_REPLY,
        )
    try:
        authority = request.app.state.hub.custody.timestamp_authority(session)
    except SigningUnavailable:
        return Response(
            rejection("system_failure", "the TSA is not initialised (lienthong pki init)"),
            media_type=TIMESTAMP_REPLY,
        )
    return Response(authority.respond(query), media_type=TIMESTAMP_REPLY)
