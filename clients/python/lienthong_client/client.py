"""`Client` (sync) and `AsyncClient` (async) over httpx.

Each operation is described once, as a `Call` (method, path, what to send, how to read the
answer); the two clients only differ in how they send it. List operations return one `Page`;
the `iter_*` helpers follow `next_cursor` through every page.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

import httpx
from pydantic import BaseModel

from lienthong_client.errors import raise_for_problem
from lienthong_client.models import (
    Ack,
    AnnualReport,
    Document,
    Inactive,
    InboxItem,
    Interchange,
    Organization,
    Page,
    Status,
    Trace,
    ValidateResult,
    Validation,
    WebhookSecret,
)

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
API = "/api/v1"
InboxState = Literal["pending", "available", "acknowledged", "rejected", "all"]


@dataclass
class Call(Generic[T]):
    method: str
    path: str
    read: Callable[[httpx.Response], T]
    params: dict[str, Any] = field(default_factory=dict)
    json: Any = None
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def request(self, http: httpx.Client | httpx.AsyncClient) -> httpx.Request:
        params = {k: v for k, v in self.params.items() if v is not None}
        return http.build_request(
            self.method,
            API + self.path,
            params=params,
            json=self.json,
            content=self.content,
            headers=self.headers,
        )


def _model(cls: type[M]) -> Callable[[httpx.Response], M]:
    return lambda r: cls.model_validate(r.json())


def _page(cls: type[M]) -> Callable[[httpx.Response], Page[M]]:
    return lambda r: Page[cls].model_validate(r.json())  # type: ignore[valid-type]


def _bytes(r: httpx.Response) -> bytes:
    return r.content


def _body(document: Mapping[str, Any] | bytes | str) -> tuple[bytes, str]:
    """JSON for a mapping (the EdxmlDocument schema), edXML for bytes or str."""
    if isinstance(document, Mapping):
        return json.dumps(document, ensure_ascii=False).encode(), "application/json"
    raw = document.encode() if isinstance(document, str) else document
    return raw, "application/xml"


class Calls:
    """Every operation, as a description both clients send."""

    @staticmethod
    def submit(
        document: Mapping[str, Any] | bytes | str, idempotency_key: str | None
    ) -> Call[Document]:
        content, ctype = _body(document)
        headers = {"Content-Type": ctype}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        return Call("POST", "/documents", _model(Document), content=content, headers=headers)

    @staticmethod
    def documents(**params: Any) -> Call[Page[Document]]:
        if "from_" in params:
            params["from"] = params.pop("from_")
        return Call("GET", "/documents", _page(Document), params=params)

    @staticmethod
    def document(id: str) -> Call[Document]:
        return Call("GET", f"/documents/{id}", _model(Document))

    @staticmethod
    def edxml(id: str) -> Call[bytes]:
        return Call("GET", f"/documents/{id}/edxml", _bytes)

    @staticmethod
    def attachment(id: str, content_id: str) -> Call[bytes]:
        return Call("GET", f"/documents/{id}/attachments/{content_id}", _bytes)

    @staticmethod
    def trace(id: str) -> Call[Trace]:
        return Call("GET", f"/documents/{id}/trace", _model(Trace))

    @staticmethod
    def post_status(id: str, body: Mapping[str, Any] | bytes | str) -> Call[Status]:
        content, ctype = _body(body)
        return Call(
            "POST",
            f"/documents/{id}/statuses",
            _model(Status),
            content=content,
            headers={"Content-Type": ctype},
        )

    @staticmethod
    def statuses(id: str) -> Call[Page[Status]]:
        return Call("GET", f"/documents/{id}/statuses", _page(Status))

    @staticmethod
    def validation(id: str) -> Call[Validation]:
        return Call("GET", f"/documents/{id}/validation", _model(Validation))

    @staticmethod
    def revalidate(id: str) -> Call[Validation]:
        return Call("POST", f"/documents/{id}/validation", _model(Validation))

    @staticmethod
    def validate_edxml(xml: bytes | str) -> Call[ValidateResult]:
        content, _ = _body(xml)
        return Call(
            "POST",
            "/edxml/validate",
            _model(ValidateResult),
            content=content,
            headers={"Content-Type": "application/xml"},
        )

    @staticmethod
    def inbox(**params: Any) -> Call[Page[InboxItem]]:
        return Call("GET", "/inbox", _page(InboxItem), params=params)

    @staticmethod
    def inbox_edxml(delivery_id: str) -> Call[bytes]:
        return Call("GET", f"/inbox/{delivery_id}/edxml", _bytes)

    @staticmethod
    def ack(delivery_id: str, result: Literal["done", "fail"], reason: str | None) -> Call[Ack]:
        body: dict[str, Any] = {"result": result}
        if reason is not None:
            body["reason"] = reason
        return Call("POST", f"/inbox/{delivery_id}/ack", _model(Ack), json=body)

    @staticmethod
    def organizations(**params: Any) -> Call[Page[Organization]]:
        return Call("GET", "/organizations", _page(Organization), params=params)

    @staticmethod
    def organization(organ_id: str) -> Call[Organization]:
        return Call("GET", f"/organizations/{organ_id}", _model(Organization))

    @staticmethod
    def webhook_secret(organ_id: str) -> Call[WebhookSecret]:
        return Call("GET", f"/organizations/{organ_id}/webhook-secret", _model(WebhookSecret))

    @staticmethod
    def interchange(**params: Any) -> Call[Interchange]:
        return Call("GET", "/stats/interchange", _model(Interchange), params=params)

    @staticmethod
    def inactive(**params: Any) -> Call[Inactive]:
        return Call("GET", "/stats/inactive", _model(Inactive), params=params)

    @staticmethod
    def report(year: int | None) -> Call[AnnualReport]:
        return Call("GET", "/stats/report", _model(AnnualReport), params={"year": year})


def _status_body(
    organ_id: str,
    code: str,
    description: str | None,
    staff: Mapping[str, str] | None,
    timestamp: str | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"organ_id": organ_id, "code": code}
    if description is not None:
        body["description"] = description
    if staff is not None:
        body["staff"] = dict(staff)
    if timestamp is not None:
        body["timestamp"] = timestamp
    return body


def _http_options(base_url: str, api_key: str, timeout: float) -> dict[str, Any]:
    return {
        "base_url": base_url.rstrip("/"),
        "headers": {"Authorization": f"Bearer {api_key}", "User-Agent": "lienthong-client/0.1"},
        "timeout": timeout,
    }


class Client:
    """A synchronous client: `with Client(url, key) as hub: hub.submit({...})`.

    Refusals raise `lienthong_client.ProblemError` subclasses (`Conflict`, `Unprocessable`,
    `SignatureInvalid`, …); network failures raise httpx's errors.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.http = httpx.Client(transport=transport, **_http_options(base_url, api_key, timeout))

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def send(self, call: Call[T]) -> T:
        response = self.http.send(call.request(self.http))
        raise_for_problem(response)
        return call.read(response)

    def _pages(self, make: Callable[[str | None], Call[Page[M]]]) -> Iterator[M]:
        cursor: str | None = None
        while True:
            page = self.send(make(cursor))
            yield from page.items
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    # documents
    def submit(
        self, document: Mapping[str, Any] | bytes | str, *, idempotency_key: str | None = None
    ) -> Document:
        """Submit a document: a mapping in the JSON form (EdxmlDocument), or edXML bytes."""
        return self.send(Calls.submit(document, idempotency_key))

    def document(self, id: str) -> Document:
        return self.send(Calls.document(id))

    def documents(self, **filters: Any) -> Page[Document]:
        """One page; filters: direction, organ_id, document_id, from_, since, cursor, limit."""
        return self.send(Calls.documents(**filters))

    def iter_documents(self, **filters: Any) -> Iterator[Document]:
        return self._pages(lambda c: Calls.documents(**filters, cursor=c))

    def find_document(self, document_id: str, *, from_: str | None = None) -> Document | None:
        """The document filed under an edXML DocumentId (None when there is none you may see)."""
        page = self.documents(document_id=document_id, from_=from_, limit=1)
        return page.items[0] if page.items else None

    def edxml(self, id: str) -> bytes:
        return self.send(Calls.edxml(id))

    def attachment(self, id: str, content_id: str) -> bytes:
        return self.send(Calls.attachment(id, content_id))

    def trace(self, id: str) -> Trace:
        return self.send(Calls.trace(id))

    def post_status(
        self,
        id: str,
        organ_id: str,
        code: str,
        *,
        description: str | None = None,
        staff: Mapping[str, str] | None = None,
        timestamp: str | None = None,
    ) -> Status:
        body = _status_body(organ_id, code, description, staff, timestamp)
        return self.send(Calls.post_status(id, body))

    def statuses(self, id: str) -> list[Status]:
        return self.send(Calls.statuses(id)).items

    def validation(self, id: str) -> Validation:
        return self.send(Calls.validation(id))

    def revalidate(self, id: str) -> Validation:
        return self.send(Calls.revalidate(id))

    def validate_edxml(self, xml: bytes | str) -> ValidateResult:
        return self.send(Calls.validate_edxml(xml))

    # inbox
    def inbox(
        self,
        organ_id: str | None = None,
        *,
        state: InboxState = "pending",
        cursor: str | None = None,
        limit: int = 50,
    ) -> Page[InboxItem]:
        return self.send(Calls.inbox(organ_id=organ_id, state=state, cursor=cursor, limit=limit))

    def iter_inbox(
        self, organ_id: str | None = None, *, state: InboxState = "pending", limit: int = 50
    ) -> Iterator[InboxItem]:
        return self._pages(
            lambda c: Calls.inbox(organ_id=organ_id, state=state, cursor=c, limit=limit)
        )

    def inbox_edxml(self, delivery_id: str) -> bytes:
        return self.send(Calls.inbox_edxml(delivery_id))

    def ack(
        self, delivery_id: str, result: Literal["done", "fail"] = "done", reason: str | None = None
    ) -> Ack:
        return self.send(Calls.ack(delivery_id, result, reason))

    # directory
    def iter_organizations(self, **filters: Any) -> Iterator[Organization]:
        return self._pages(lambda c: Calls.organizations(**filters, cursor=c))

    def organization(self, organ_id: str) -> Organization:
        return self.send(Calls.organization(organ_id))

    def webhook_secret(self, organ_id: str) -> WebhookSecret:
        return self.send(Calls.webhook_secret(organ_id))

    # statistics (dates as "2026-01-01"; granularity day | month | quarter | year)
    def interchange(self, **params: Any) -> Interchange:
        """Every counter per organization and period: since, until, granularity, organ_id."""
        return self.send(Calls.interchange(**params))

    def inactive(self, **params: Any) -> Inactive:
        return self.send(Calls.inactive(**params))

    def report(self, year: int | None = None) -> AnnualReport:
        return self.send(Calls.report(year))


class AsyncClient:
    """The same operations as `Client`, awaited: `async with AsyncClient(url, key) as hub`."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.http = httpx.AsyncClient(
            transport=transport, **_http_options(base_url, api_key, timeout)
        )

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.http.aclose()

    async def send(self, call: Call[T]) -> T:
        response = await self.http.send(call.request(self.http))
        raise_for_problem(response)
        return call.read(response)

    async def _pages(self, make: Callable[[str | None], Call[Page[M]]]) -> AsyncIterator[M]:
        cursor: str | None = None
        while True:
            page = await self.send(make(cursor))
            for item in page.items:
                yield item
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    async def submit(
        self, document: Mapping[str, Any] | bytes | str, *, idempotency_key: str | None = None
    ) -> Document:
        return await self.send(Calls.submit(document, idempotency_key))

    async def document(self, id: str) -> Document:
        return await self.send(Calls.document(id))

    async def documents(self, **filters: Any) -> Page[Document]:
        return await self.send(Calls.documents(**filters))

    def iter_documents(self, **filters: Any) -> AsyncIterator[Document]:
        return self._pages(lambda c: Calls.documents(**filters, cursor=c))

    async def find_document(self, document_id: str, *, from_: str | None = None) -> Document | None:
        page = await self.documents(document_id=document_id, from_=from_, limit=1)
        return page.items[0] if page.items else None

    async def edxml(self, id: str) -> bytes:
        return await self.send(Calls.edxml(id))

    async def attachment(self, id: str, content_id: str) -> bytes:
        return await self.send(Calls.attachment(id, content_id))

    async def trace(self, id: str) -> Trace:
        return await self.send(Calls.trace(id))

    async def post_status(
        self,
        id: str,
        organ_id: str,
        code: str,
        *,
        description: str | None = None,
        staff: Mapping[str, str] | None = None,
        timestamp: str | None = None,
    ) -> Status:
        body = _status_body(organ_id, code, description, staff, timestamp)
        return await self.send(Calls.post_status(id, body))

    async def statuses(self, id: str) -> list[Status]:
        return (await self.send(Calls.statuses(id))).items

    async def validation(self, id: str) -> Validation:
        return await self.send(Calls.validation(id))

    async def revalidate(self, id: str) -> Validation:
        return await self.send(Calls.revalidate(id))

    async def validate_edxml(self, xml: bytes | str) -> ValidateResult:
        return await self.send(Calls.validate_edxml(xml))

    async def inbox(
        self,
        organ_id: str | None = None,
        *,
        state: InboxState = "pending",
        cursor: str | None = None,
        limit: int = 50,
    ) -> Page[InboxItem]:
        return await self.send(
            Calls.inbox(organ_id=organ_id, state=state, cursor=cursor, limit=limit)
        )

    def iter_inbox(
        self, organ_id: str | None = None, *, state: InboxState = "pending", limit: int = 50
    ) -> AsyncIterator[InboxItem]:
        return self._pages(
            lambda c: Calls.inbox(organ_id=organ_id, state=state, cursor=c, limit=limit)
        )

    async def inbox_edxml(self, delivery_id: str) -> bytes:
        return await self.send(Calls.inbox_edxml(delivery_id))

    async def ack(
        self, delivery_id: str, result: Literal["done", "fail"] = "done", reason: str | None = None
    ) -> Ack:
        return await self.send(Calls.ack(delivery_id, result, reason))

    def iter_organizations(self, **filters: Any) -> AsyncIterator[Organization]:
        return self._pages(lambda c: Calls.organizations(**filters, cursor=c))

    async def organization(self, organ_id: str) -> Organization:
        return await self.send(Calls.organization(organ_id))

    async def webhook_secret(self, organ_id: str) -> WebhookSecret:
        return await self.send(Calls.webhook_secret(organ_id))

    async def interchange(self, **params: Any) -> Interchange:
        return await self.send(Calls.interchange(**params))

    async def inactive(self, **params: Any) -> Inactive:
        return await self.send(Calls.inactive(**params))

    async def report(self, year: int | None = None) -> AnnualReport:
        return await self.send(Calls.report(year))
