"""Every refusal of the hub is RFC 9457 problem+json with a stable `code`; the client raises
it as a typed exception (`except lienthong_client.Conflict`, or branch on `.code`)."""

from __future__ import annotations

from typing import Any

import httpx


class LienthongError(Exception):
    """Base of everything this client raises."""


class ProblemError(LienthongError):
    """The hub refused the request. `problem` is the whole body."""

    status: int
    code: str
    title: str
    detail: str | None
    errors: list[dict[str, Any]]

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        self.status = status
        self.problem = problem
        self.code = str(problem.get("code") or "http.error")
        self.title = str(problem.get("title") or "")
        self.detail = problem.get("detail")
        self.errors = list(problem.get("errors") or [])
        super().__init__(f"{status} {self.code}: {self.detail or self.title}")


class Unauthorized(ProblemError):
    """401: no key, or a key that is unknown or revoked."""


class Forbidden(ProblemError):
    """403: this key's role may not do that."""


class NotFound(ProblemError):
    """404: no such resource, or one this key may not see."""


class Conflict(ProblemError):
    """409: a duplicate document, an idempotency conflict, a state that forbids it."""


class PayloadTooLarge(ProblemError):
    """413: larger than the hub's MAX_DOCUMENT_BYTES."""


class Unprocessable(ProblemError):
    """422: `errors` names each refused field (`loc`, `msg`)."""


class SignatureInvalid(Unprocessable):
    """422 `signature.invalid`: `report` is the validation report (`problem["validation"]`)."""

    @property
    def report(self) -> dict[str, Any] | None:
        report = self.problem.get("validation")
        return report if isinstance(report, dict) else None


class RateLimited(ProblemError):
    """429: wait `retry_after` seconds."""

    @property
    def retry_after(self) -> int | None:
        value = self.problem.get("retry_after")
        return int(value) if value is not None else None


class ServerError(ProblemError):
    """5xx."""


_BY_CODE: dict[str, type[ProblemError]] = {"signature.invalid": SignatureInvalid}
_BY_STATUS: dict[int, type[ProblemError]] = {
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    422: Unprocessable,
    429: RateLimited,
}


def raise_for_problem(response: httpx.Response) -> None:
    """Raise the typed exception for a 4xx/5xx answer; return for anything else."""
    if response.status_code < 400:
        return
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        body = {"code": "http.error", "title": response.reason_phrase, "detail": response.text}
    cls = _BY_CODE.get(str(body.get("code"))) or _BY_STATUS.get(response.status_code)
    if cls is None:
        cls = ServerError if response.status_code >= 500 else ProblemError
    raise cls(response.status_code, body)
