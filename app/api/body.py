"""Request bodies read once, with the size cap applied while reading (never after)."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from pydantic import BaseModel, ValidationError

from app.api.deps import get_principal
from app.clients.service import Principal
from app.core.errors import PayloadTooLarge, Unprocessable
from app.edxml import EdxmlError, ParsedMessage, parse_file, parse_message

IN_MEMORY_LIMIT = 4 * 1024 * 1024


@dataclass
class Body:
    content_type: str
    size: int
    sha256: str
    data: bytes | None = None
    path: Path | None = None

    @property
    def is_json(self) -> bool:
        return self.content_type == "application/json"

    @property
    def is_xml(self) -> bool:
        return self.content_type in ("application/xml", "text/xml", "application/edxml+xml") or (
            self.content_type.endswith("+xml")
        )

    def read(self) -> bytes:
        if self.data is not None:
            return self.data
        assert self.path is not None
        return self.path.read_bytes()

    def parse_edxml(self, max_bytes: int) -> ParsedMessage:
        if self.path is not None:
            return parse_file(self.path, max_bytes=max_bytes)
        return parse_message(self.data or b"", max_bytes=max_bytes)


M = TypeVar("M", bound=BaseModel)


def parse_json(model: type[M], raw: bytes, *, code: str = "request.invalid") -> M:
    """A JSON body read by `capped_body`, validated into `model`: a refusal is 422 naming
    every field (`errors[{loc, msg}]`, `loc` starting at "body"), as FastAPI's own bodies."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        errors = [
            {"loc": ["body", *e["loc"]], "msg": e["msg"], "type": e["type"]}
            for e in exc.errors(include_url=False, include_input=False)
        ]
        raise Unprocessable(
            "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors[:5]),
            code=code,
            extra={"errors": errors},
        ) from None


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the body is larger than {limit} bytes (MAX_DOCUMENT_BYTES of content, base64-encoded)"
    )


async def capped_body(
    request: Request, _: Annotated[Principal, Depends(get_principal)]
) -> AsyncIterator[Body]:
    """Stream the body: memory up to 4 MiB, then a temp file; refuse past MAX_DOCUMENT_BYTES.

    It depends on the caller's authentication, so no route can read a body before it (the
    gate in app/api/gate.py already refused requests without a valid key).
    """
    settings = request.app.state.settings
    limit: int = settings.max_edxml_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    digest = hashlib.sha256()
    buf = bytearray()
    fh = None
    path: Path | None = None
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            digest.update(chunk)
            if fh is None and len(buf) + len(chunk) <= IN_MEMORY_LIMIT:
                buf += chunk
                continue
            if fh is None:
                tmpdir = Path(settings.data_dir) / "tmp"
                tmpdir.mkdir(parents=True, exist_ok=True, mode=0o700)
                fd, name = tempfile.mkstemp(dir=tmpdir, prefix="body-")
                fh = os.fdopen(fd, "wb")
                path = Path(name)
                fh.write(buf)
                buf = bytearray()
            fh.write(chunk)
        if fh is not None:
            fh.close()
            fh = None
        yield Body(
            content_type=ctype,
            size=size,
            sha256=digest.hexdigest(),
            data=bytes(buf) if path is None else None,
            path=path,
        )
    finally:
        if fh is not None:
            fh.close()
        if path is not None:
            path.unlink(missing_ok=True)


BodyDep = Annotated[Body, Depends(capped_body)]

__all__ = ["Body", "BodyDep", "EdxmlError", "capped_body", "parse_json"]
