"""The axis's behaviour without any transport: queues per system, statuses, faults.

Both the mock ASGI app and the in-memory fake drive this one class, so that unit tests against
the fake see exactly what integration tests against the mock see. Thread-safe: every read and
write of the message store happens under one lock.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from app.connectors.vpcp.auth import AXIS_TZ
from app.connectors.vpcp.protocol import (
    ACK_STATUSES,
    ERROR_AUTH,
    ERROR_BAD_REQUEST,
    ERROR_CONFLICT,
    ERROR_FORBIDDEN,
    ERROR_UNKNOWN_DOC,
    ERROR_UNKNOWN_RECIPIENT,
    MESSAGE_TYPES,
    STATUS_INITIAL,
    Agency,
    AxisError,
    Clock,
    MessageType,
    ReceivedItem,
)

logger = logging.getLogger(__name__)

SignatureVerifier = Callable[[bytes, str], bool]
"""Called with the edXML bytes and the sender organ id; True when the signature is valid."""


class SystemConfig(BaseModel):
    """A system connected to the axis: the hub, another province, a ministry.

    Lienthong extensions, both optional: an ``organ_ids`` entry ``"*.<suffix>"`` serves every
    code ending in ``.<suffix>`` (``"*.H39"``: all of Long An's units, so a demo hub need not
    list each commune); such patterns are not listed by getAgenciesList. ``organ_names`` names
    agencies in getAgenciesList; without it an organ is listed under the system's ``name``.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    systemid: str = Field(min_length=1)
    secret: str = Field(min_length=1)
    organ_ids: tuple[str, ...] = Field(min_length=1)
    name: str = ""
    organ_names: dict[str, str] = Field(default_factory=dict)


_SYSTEMS = TypeAdapter(list[SystemConfig])


def parse_systems(data: str | bytes) -> list[SystemConfig]:
    """Parse the systems JSON (``[{"systemid", "secret", "organ_ids", "name"}]``)."""
    systems = _SYSTEMS.validate_json(data)
    check_systems(systems)
    return systems


def load_systems(path: str | Path) -> list[SystemConfig]:
    """Read the systems file given to ``lienthong mock-vpcp --systems FILE``."""
    return parse_systems(Path(path).read_bytes())


def check_systems(systems: Sequence[SystemConfig]) -> None:
    """Refuse configurations that would make authentication or routing ambiguous."""
    seen: set[str] = set()
    for system in systems:
        if system.systemid in seen:
            raise ValueError(f"systemid {system.systemid!r} appears twice")
        seen.add(system.systemid)
        for organ in system.organ_ids:
            if not _valid_organ_entry(organ):
                raise ValueError(f"{system.systemid}: bad organ id or pattern {organ!r}")


def _valid_organ_entry(organ: str) -> bool:
    """An exact code, or ``*.<suffix>`` with a non-empty suffix and no other wildcard."""
    if organ.startswith("*."):
        return len(organ) > 2 and "*" not in organ[1:]
    return bool(organ.strip()) and "*" not in organ


# --- faults ---------------------------------------------------------------------------------


class FaultConfig(BaseModel):
    """Failure injection (``PUT /_mock/faults``). Rates are probabilities per request."""

    model_config = ConfigDict(extra="forbid")

    error_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    latency_ms: int = Field(default=0, ge=0, le=600_000)
    reset_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    lose_after_accept_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    seed: int | None = None


@dataclass(frozen=True)
class FaultDecision:
    """What to do to one request. ``error`` picks the shape of an injected error."""

    latency_ms: int = 0
    reset: bool = False
    error: Literal["http_503", "fail_answer"] | None = None
    lose_after_accept: bool = False


class FaultInjector:
    """Draws a FaultDecision per request from a seedable generator, so runs are reproducible.

    Every draw consumes the same number of random numbers whatever the rates, so a given seed
    yields the same sequence of decisions for the same sequence of requests.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._config = FaultConfig()
        self._rng = random.Random()

    @property
    def config(self) -> FaultConfig:
        with self._lock:
            return self._config

    def configure(self, config: FaultConfig) -> None:
        with self._lock:
            self._config = config
            self._rng = random.Random(config.seed)

    def clear(self) -> None:
        self.configure(FaultConfig())

    def draw(self) -> FaultDecision:
        with self._lock:
            cfg = self._config
            reset, error, kind, lose = (self._rng.random() for _ in range(4))
        if reset < cfg.reset_rate:
            return FaultDecision(latency_ms=cfg.latency_ms, reset=True)
        if error < cfg.error_rate:
            shape: Literal["http_503", "fail_answer"] = "http_503" if kind < 0.5 else "fail_answer"
            return FaultDecision(latency_ms=cfg.latency_ms, error=shape)
        return FaultDecision(
            latency_ms=cfg.latency_ms, lose_after_accept=lose < cfg.lose_after_accept_rate
        )


# --- the message store ----------------------------------------------------------------------


@dataclass
class StoredMessage:
    """One sendEdoc the axis accepted, with one status per recipient system."""

    doc_id: str
    sender_system: str
    from_organ: str
    to: tuple[str, ...]
    message_type: MessageType
    edxml: bytes
    signature_valid: bool | None
    created_time: datetime
    statuses: dict[str, str] = field(default_factory=dict)
    updated_time: dict[str, datetime] = field(default_factory=dict)


def format_time(moment: datetime) -> str:
    """ISO 8601 in Asia/Ho_Chi_Minh with milliseconds: how the mock writes every time."""
    return moment.astimezone(AXIS_TZ).isoformat(timespec="milliseconds")


def _default_clock() -> datetime:
    return datetime.now(AXIS_TZ)


def _bad_request(message: str) -> AxisError:
    return AxisError(message, retryable=False, error_code=ERROR_BAD_REQUEST)


def parse_to(raw: str) -> tuple[str, ...]:
    """The ``to`` parameter: JSON array text of organ codes (duplicates dropped, order kept)."""
    try:
        parsed = json.loads(raw)
    except ValueError as exc:
        raise _bad_request("`to` is not a JSON array") from exc
    if not isinstance(parsed, list) or not parsed:
        raise _bad_request("`to` must be a non-empty JSON array")
    codes: list[str] = []
    for code in parsed:
        if not isinstance(code, str) or not code.strip():
            raise _bad_request("`to` must hold organ codes (non-empty strings)")
        if code not in codes:
            codes.append(code)
    return tuple(codes)


def check_message_type(value: str | None) -> MessageType:
    if value == "edoc":
        return "edoc"
    if value == "status":
        return "status"
    raise _bad_request(f"messagetype must be one of {', '.join(MESSAGE_TYPES)}")


class AxisState:
    """Everything the axis holds: systems, organ index, messages and per-recipient status."""

    def __init__(
        self,
        systems: Sequence[SystemConfig],
        verify_signature: SignatureVerifier | None = None,
        clock: Clock | None = None,
    ) -> None:
        check_systems(systems)
        self.systems: dict[str, SystemConfig] = {s.systemid: s for s in systems}
        self._serving: dict[str, list[str]] = {}
        self._patterns: list[tuple[str, str]] = []
        for system in systems:
            for organ in system.organ_ids:
                if organ.startswith("*."):
                    self._patterns.append((organ[1:], system.systemid))
                else:
                    self._serving.setdefault(organ, []).append(system.systemid)
        self._verify = verify_signature
        self.clock: Clock = clock or _default_clock
        self._lock = threading.Lock()
        self._messages: dict[str, StoredMessage] = {}

    def serving(self, code: str) -> list[str]:
        """Systems that serve an organ code, by exact code first, then by ``*.`` pattern."""
        systems = list(self._serving.get(code, []))
        for suffix, system_id in self._patterns:
            if code.endswith(suffix) and len(code) > len(suffix) and system_id not in systems:
                systems.append(system_id)
        return systems

    def secret_for(self, system_id: str) -> str | None:
        system = self.systems.get(system_id)
        return None if system is None else system.secret

    def _system(self, system_id: str) -> SystemConfig:
        system = self.systems.get(system_id)
        if system is None:
            raise AxisError(f"unknown system {system_id!r}", retryable=False, error_code=ERROR_AUTH)
        return system

    def _verify_signature(self, edxml: bytes, from_organ: str) -> bool | None:
        if self._verify is None:
            return None
        try:
            return bool(self._verify(edxml, from_organ))
        except Exception:  # a verifier bug must not lose the message: record it as invalid
            logger.exception("signature verifier raised; recording signature_valid=false")
            return False

    def send(
        self,
        system_id: str,
        edxml: bytes,
        *,
        from_organ: str,
        to: Sequence[str],
        message_type: str,
        lose: bool = False,
    ) -> str:
        """Queue a message for every system serving a code in ``to``; returns the DocId.

        With ``lose`` the message is validated and answered for, then forgotten
        (the lose-after-accept fault).
        """
        self._system(system_id)
        kind = check_message_type(message_type)
        if system_id not in self.serving(from_organ):
            raise AxisError(
                f"`from` {from_organ!r} is not served by system {system_id!r}",
                retryable=False,
                error_code=ERROR_FORBIDDEN,
            )
        codes = tuple(dict.fromkeys(to))
        if not codes:
            raise _bad_request("`to` is empty")
        routes = {code: self.serving(code) for code in codes}
        unknown = [code for code, systems in routes.items() if not systems]
        if unknown:
            raise AxisError(
                f"unknown recipient(s): {', '.join(unknown)}",
                retryable=False,
                error_code=ERROR_UNKNOWN_RECIPIENT,
            )
        doc_id = str(uuid.uuid4())
        if lose:
            logger.info("lose-after-accept: answering OK for %s and forgetting it", doc_id)
            return doc_id
        recipients = list(dict.fromkeys(s for code in codes for s in routes[code]))
        valid = self._verify_signature(edxml, from_organ)
        now = self.clock()
        message = StoredMessage(
            doc_id=doc_id,
            sender_system=system_id,
            from_organ=from_organ,
            to=codes,
            message_type=kind,
            edxml=edxml,
            signature_valid=valid,
            created_time=now,
            statuses=dict.fromkeys(recipients, STATUS_INITIAL),
            updated_time=dict.fromkeys(recipients, now),
        )
        with self._lock:
            self._messages[doc_id] = message
        return doc_id

    def received(self, system_id: str, message_type: str) -> list[ReceivedItem]:
        """Items for ``system_id`` of that type that it has not marked done, oldest first."""
        self._system(system_id)
        kind = check_message_type(message_type)
        with self._lock:
            waiting = [
                m
                for m in self._messages.values()
                if m.message_type == kind and m.statuses.get(system_id, "done") != "done"
            ]
            return [
                ReceivedItem(
                    doc_id=m.doc_id,
                    from_organ=m.from_organ,
                    to=m.to,
                    message_type=m.message_type,
                    status=m.statuses[system_id],
                    created_time=format_time(m.created_time),
                )
                for m in sorted(waiting, key=lambda m: m.created_time)
            ]

    def _addressed(self, system_id: str, doc_id: str) -> StoredMessage:
        """The message `doc_id` if it was addressed to `system_id` (called under the lock)."""
        message = self._messages.get(doc_id)
        if message is None or system_id not in message.statuses:
            raise AxisError(
                f"no document {doc_id!r} for this system",
                retryable=False,
                error_code=ERROR_UNKNOWN_DOC,
            )
        return message

    def get(self, system_id: str, doc_id: str) -> bytes:
        """The edXML of an item addressed to ``system_id`` (also after it is done)."""
        self._system(system_id)
        with self._lock:
            message = self._addressed(system_id, doc_id)
            return message.edxml

    def update_status(self, system_id: str, doc_id: str, status: str) -> None:
        """Record this recipient's acknowledgement; ``done`` is final and idempotent."""
        self._system(system_id)
        if status not in ACK_STATUSES:
            raise _bad_request(f"status must be one of {', '.join(ACK_STATUSES)}")
        with self._lock:
            message = self._addressed(system_id, doc_id)
            if message.statuses[system_id] == "done" and status != "done":
                raise AxisError(
                    f"{doc_id!r} is already done", retryable=False, error_code=ERROR_CONFLICT
                )
            message.statuses[system_id] = status
            message.updated_time[system_id] = self.clock()

    def agencies(self) -> list[Agency]:
        return [
            Agency(code=organ, name=system.organ_names.get(organ, system.name), systemid=sid)
            for sid, system in self.systems.items()
            for organ in system.organ_ids
            if not organ.startswith("*.")
        ]

    def snapshot(self) -> list[dict[str, object]]:
        """Everything held, for ``GET /_mock/messages`` and test assertions."""
        with self._lock:
            messages = sorted(self._messages.values(), key=lambda m: m.created_time)
            return [
                {
                    "docId": m.doc_id,
                    "from": m.from_organ,
                    "from_system": m.sender_system,
                    "to": list(m.to),
                    "messagetype": m.message_type,
                    "signature_valid": m.signature_valid,
                    "status": dict(m.statuses),
                    "created_time": format_time(m.created_time),
                    "updated_time": {s: format_time(t) for s, t in m.updated_time.items()},
                    "size": len(m.edxml),
                }
                for m in messages
            ]

    def clear(self) -> int:
        """Forget every message; returns how many there were."""
        with self._lock:
            count = len(self._messages)
            self._messages.clear()
            return count
