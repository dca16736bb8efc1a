"""The two delivery sinks behind the worker's one `send` call (no database, no sockets)."""

from __future__ import annotations

from collections.abc import Sequence

import httpx

from app.connectors.vpcp import AxisError
from app.core import webhooks
from app.delivery.outbox import Claimed
from app.delivery.sinks import AxisSink, Job, Unroutable, WebhookSink, sink_for

SECRET = webhooks.new_secret()


def _job(mode: str, kind: str = "document", **kw: str | None) -> Job:
    claimed = Claimed("dlv-1", kind, "doc-1", "msg-1", "000.00.00.G22", mode, 1)
    return Job(claimed, b"<edXML/>", "000.00.02.H39", **kw)


def _http(status: int, seen: list[httpx.Request]) -> httpx.Client:
    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status)

    return httpx.Client(transport=httpx.MockTransport(answer))


def test_webhook_sink_posts_a_signed_body_and_reads_the_answer() -> None:
    seen: list[httpx.Request] = []
    job = _job("push", url="https://93.184.216.34/hook", secret=SECRET)
    assert WebhookSink(_http(204, seen)).send(job).delivered
    sent = seen[0]
    assert sent.content == b"<edXML/>" and sent.headers["webhook-id"] == "dlv-1"
    assert webhooks.verify(SECRET, dict(sent.headers), sent.content)

    failed = WebhookSink(_http(503, seen)).send(job)
    assert not failed.delivered and failed.retryable and failed.error == "webhook answered 503"


def test_webhook_sink_turns_transport_errors_into_retryable_failures() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    http = httpx.Client(transport=httpx.MockTransport(refuse))
    out = WebhookSink(http).send(_job("push", url="https://93.184.216.34/hook", secret=SECRET))
    assert not out.delivered and out.retryable and out.error is not None
    # A generic reason: the library's message would tell a port scanner what answers inside.
    assert out.error == "webhook not reachable: connection refused or failed"


class _Axis:
    def __init__(self, error: AxisError | None = None) -> None:
        self.error = error
        self.sent: list[tuple[bytes, str, Sequence[str], str]] = []

    def send_edoc(
        self, edxml: bytes, *, from_organ: str, to: Sequence[str], message_type: str
    ) -> str:
        if self.error is not None:
            raise self.error
        self.sent.append((edxml, from_organ, to, message_type))
        return "axis-42"


def test_axis_sink_sends_as_the_sender_and_keeps_the_axis_id() -> None:
    axis = _Axis()
    out = AxisSink(axis).send(_job("axis", kind="status"))  # type: ignore[arg-type]
    assert out.delivered and out.external_id == "axis-42"
    assert axis.sent == [(b"<edXML/>", "000.00.02.H39", ["000.00.00.G22"], "status")]


def test_axis_sink_failures_keep_the_axis_verdict_on_retrying() -> None:
    final = AxisSink(_Axis(AxisError("unknown recipient", False))).send(_job("axis"))  # type: ignore[arg-type]
    assert not final.delivered and not final.retryable and "unknown recipient" in str(final.error)
    later = AxisSink(_Axis(AxisError("timeout", True))).send(_job("axis"))  # type: ignore[arg-type]
    assert not later.delivered and later.retryable
    unconfigured = AxisSink(None).send(_job("axis"))
    assert not unconfigured.delivered and unconfigured.retryable
    assert "LIENTHONG_VPCP_URL" in str(unconfigured.error)


def test_the_sink_is_chosen_by_the_delivery_mode() -> None:
    http = httpx.Client()
    assert isinstance(sink_for("push", http=http, axis=None), WebhookSink)
    assert isinstance(sink_for("axis", http=http, axis=None), AxisSink)
    odd = sink_for("carrier-pigeon", http=http, axis=None)
    assert isinstance(odd, Unroutable)
    out = odd.send(_job("carrier-pigeon"))
    assert not out.delivered and not out.retryable


def test_webhook_sink_refuses_a_private_target_unless_allowed() -> None:
    seen: list[httpx.Request] = []
    job = _job("push", url="http://127.0.0.1:5432/", secret=SECRET)
    refused = WebhookSink(_http(204, seen)).send(job)
    assert not refused.delivered and not refused.retryable and seen == []
    assert WebhookSink(_http(204, seen), allow_private=True).send(job).delivered
    assert len(seen) == 1
