"""One error base class, rendered as RFC 9457 problem+json with a stable `code`."""

from __future__ import annotations

from typing import Any


class HubError(Exception):
    """A refusal the client can act on. Subclasses fix `status` and `code`."""

    status: int = 400
    code: str = "request.invalid"
    title: str = "Bad request"

    def __init__(
        self,
        detail: str,
        *,
        code: str | None = None,
        status: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.extra = extra or {}

    def problem(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": f"https://lienthong.gov.vn/problems/{self.code}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        }
        if instance:
            body["instance"] = instance
        body.update(self.extra)
        return body


class SettingError(RuntimeError):
    """A setting the hub cannot work with (the message names the variable): commands show it
    as one line and exit 2."""


class AuthMissing(HubError):
    status, code, title = 401, "auth.missing", "Authentication required"


class AuthInvalid(HubError):
    status, code, title = 401, "auth.invalid", "Invalid credentials"


class Forbidden(HubError):
    status, code, title = 403, "auth.forbidden", "Forbidden"


class NotFound(HubError):
    status, code, title = 404, "not_found", "Not found"


class Conflict(HubError):
    status, code, title = 409, "conflict", "Conflict"


class Unprocessable(HubError):
    status, code, title = 422, "request.invalid", "Unprocessable request"


class PayloadTooLarge(HubError):
    status, code, title = 413, "payload.too_large", "Payload too large"


PROBLEM_JSON = "application/problem+json"
