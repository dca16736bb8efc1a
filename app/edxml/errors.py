"""The one exception of the edXML codec, with the stable codes the REST API shows.

Every refusal carries a `code` from SPEC section 4 and the HTTP status the API should answer
with, so a router can turn it into an RFC 9457 problem without a lookup table of its own.
"""

from __future__ import annotations

from typing import Any

PAYLOAD_TOO_LARGE = "payload.too_large"
MALFORMED = "edxml.malformed"
INVALID = "edxml.invalid"
FORBIDDEN_CONSTRUCT = "edxml.forbidden_construct"

#: HTTP status per code. 413 for size (the body was not read as XML at all); 422 for everything
#: else, because the request was syntactically a body we understood but its content is refused.
HTTP_STATUS: dict[str, int] = {
    PAYLOAD_TOO_LARGE: 413,
    MALFORMED: 422,
    INVALID: 422,
    FORBIDDEN_CONSTRUCT: 422,
}


class EdxmlError(Exception):
    """A refused edXML message.

    `errors` holds every problem found (this one first) when the caller stopped at the first,
    so that `parse_message` and `validate_message` can share one code path.
    """

    def __init__(
        self,
        code: str,
        detail: str,
        status: int | None = None,
        line: int | None = None,
        column: int | None = None,
        *,
        errors: tuple[EdxmlError, ...] = (),
    ) -> None:
        super().__init__(f"{code}: {detail}" + (f" (line {line})" if line else ""))
        self.code = code
        self.detail = detail
        self.status = status if status is not None else HTTP_STATUS.get(code, 422)
        self.line = line
        self.column = column
        self.errors: tuple[EdxmlError, ...] = errors or (self,)

    def as_dict(self) -> dict[str, Any]:
        """The `errors[]` item of POST /edxml/validate."""
        return {"code": self.code, "detail": self.detail, "line": self.line, "column": self.column}

    def __repr__(self) -> str:
        return (
            f"EdxmlError(code={self.code!r}, detail={self.detail!r}, status={self.status}, "
            f"line={self.line}, column={self.column})"
        )
