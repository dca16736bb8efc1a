"""problem+json for every refusal, and the OpenAPI description of those answers."""

from __future__ import annotations

import logging
from typing import Any, BinaryIO

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.core.blobs import file_chunks
from app.core.errors import PROBLEM_JSON, HubError
from app.edxml import EdxmlError

log = logging.getLogger("app.api")

_TITLES = {
    400: "Bad request",
    401: "Authentication required",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Unprocessable request",
    500: "Internal error",
    503: "Service unavailable",
}


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the problem answers a route can give."""
    # The content (problem+json, the `Problem` schema) is filled in by app/api/openapi.py.
    return {s: {"description": _TITLES.get(s, "Error")} for s in statuses}


def problem_response(error: HubError, request: Request) -> JSONResponse:
    headers = error.headers() | ({"WWW-Authenticate": "Bearer"} if error.status == 401 else {})
    body = error.problem(instance=request.url.path)
    if error.status == 422 and not body.get("errors"):
        # Every 422 names what it refused (SPEC 4); a refusal about the whole request is
        # located at the body.
        body["errors"] = [{"loc": ["body"], "msg": error.detail}]
    return JSONResponse(
        body,
        status_code=error.status,
        media_type=PROBLEM_JSON,
        headers=headers or None,
    )


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(HubError)
    async def _hub_error(request: Request, exc: HubError) -> JSONResponse:
        return problem_response(exc, request)

    @app.exception_handler(EdxmlError)
    async def _edxml_error(request: Request, exc: EdxmlError) -> JSONResponse:
        extra: dict[str, Any] = {
            "line": exc.line,
            "column": exc.column,
            "errors": [edxml_field_error(e) for e in exc.errors],
        }
        error = HubError(exc.detail, code=exc.code, status=exc.status, extra=extra)
        error.title = "edXML refused"
        return problem_response(error, request)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "loc": [str(p) for p in err.get("loc", ())],
                "msg": str(err.get("msg")),
                "type": str(err.get("type")),
            }
            for err in exc.errors()
        ]
        detail = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors[:5])
        error = HubError(detail, code="request.invalid", status=422, extra={"errors": errors})
        error.title = "Unprocessable request"
        return problem_response(error, request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:
            # FastAPI's "error parsing the body" (bytes that are not UTF-8 JSON): like every
            # other refused input, a 422 naming the body.
            error = HubError(
                "the body is not JSON (UTF-8)",
                code="request.invalid",
                status=422,
                extra={"errors": [{"loc": ["body"], "msg": "the body is not JSON (UTF-8)"}]},
            )
            error.title = _TITLES[422]
            return problem_response(error, request)
        codes = {404: "not_found", 405: "method_not_allowed"}
        error = HubError(
            str(exc.detail), code=codes.get(exc.status_code, "http.error"), status=exc.status_code
        )
        error.title = _TITLES.get(exc.status_code, "Error")
        return problem_response(error, request)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", extra={"path": request.url.path})
        error = HubError("an internal error occurred", code="internal", status=500)
        error.title = "Internal error"
        return problem_response(error, request)


def edxml_field_error(error: EdxmlError) -> dict[str, Any]:
    """An edXML refusal as an `errors[]` item: `loc` is the body (and its line when known),
    with the codec's own `code`, `line` and `column` kept beside `msg`."""
    loc: list[str | int] = ["body"] if error.line is None else ["body", f"line {error.line}"]
    return {"loc": loc, "msg": error.detail} | error.as_dict()


BYTES: dict[str, Any] = {"schema": {"type": "string", "format": "binary"}}


def edxml_response(fh: BinaryIO) -> StreamingResponse:
    """A stored edXML message (a file from the blob store, closed once sent)."""
    size = fh.seek(0, 2)
    fh.seek(0)
    return StreamingResponse(
        file_chunks(fh), media_type="application/xml", headers={"Content-Length": str(size)}
    )


def binary(media_type: str, *statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for a route answering bytes of `media_type`, plus its problems."""
    out: dict[int | str, dict[str, Any]] = {200: {"content": {media_type: BYTES}}}
    out.update(responses(*statuses))
    return out
