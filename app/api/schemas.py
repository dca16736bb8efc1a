"""Shapes every router shares: the list envelope, the problem body, the operations answers."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """A list answer (SPEC 4): pass `next_cursor` back as `cursor` until it is null."""

    items: list[T]
    next_cursor: str | None = Field(
        default=None, description="the `cursor` of the next page; null on the last page"
    )


class FieldError(BaseModel):
    """One refused input: where (`loc`, e.g. ["query", "indication"]) and why (`msg`)."""

    model_config = ConfigDict(extra="allow")

    loc: list[str | int]
    msg: str
    type: str | None = None


class Problem(BaseModel):
    """RFC 9457 problem+json, with the hub's stable `code`. Every 422 carries `errors[]`."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "type": "https://lienthong.gov.vn/problems/request.invalid",
                    "title": "Unprocessable request",
                    "status": 422,
                    "detail": "query.indication: Input should be 'TOTAL_PASSED', …",
                    "code": "request.invalid",
                    "instance": "/api/v1/audit/signatures",
                    "errors": [
                        {
                            "loc": ["query", "indication"],
                            "msg": "Input should be 'TOTAL_PASSED', 'TOTAL_FAILED', …",
                        }
                    ],
                }
            ]
        },
    )

    type: str
    title: str
    status: int
    detail: str | None = None
    code: str = Field(description="stable: clients branch on it (e.g. `document.duplicate`)")
    instance: str | None = None
    errors: list[FieldError] | None = Field(
        default=None, description="every refused field (always present on a 422)"
    )
    validation: dict[str, Any] | None = Field(
        default=None, description="`signature.invalid`: the validation report (SPEC 5)"
    )


class Health(BaseModel):
    status: str = Field(examples=["ok"])


class Check(BaseModel):
    ok: bool
    reason: str | None = None


class Readiness(BaseModel):
    ready: bool
    checks: dict[str, Check]
    failing: list[str] | None = None
    detail: str | None = None
