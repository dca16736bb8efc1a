"""Request authentication of the national axis (SPEC section 7), as the VNPT VXP SDK does it.

Pure functions, no I/O: the HTTP connector signs with :func:`build_headers`, the mock axis checks
with :func:`authenticate` / :func:`verify_headers`.

Wire format. The parameters of a request (always ``systemid`` and ``timestamp``, plus the
operation's own: ``from``, ``to``, ``servicetype``, ``messagetype``, ``docId``, ``status``,
``hash-file``) each travel as a header ``XroadVnpt-<name>``. ``XroadVnpt-sign-header`` is the JSON
object text of exactly those ``"XroadVnpt-<name>": value`` pairs, ``XroadVnpt-sign-header-key`` the
names joined by ``;``, and ``XroadVnpt-hash-header`` the lowercase hex HMAC-SHA256 of the
sign-header text keyed with the system's secret.

Non-ASCII values (Lienthong convention). HTTP header values are ASCII, and what the SDK sends
(organ codes, ids, timestamps, hashes) always is. So that a Vietnamese value can still travel:

* the sign-header JSON is written with ``\\uXXXX`` escapes (``json.dumps(ensure_ascii=True)``),
  and a verifier refuses a sign-header that is not pure ASCII;
* each ``XroadVnpt-<name>`` header carries the value with the same JSON-style escapes: ``\\`` is
  sent as ``\\\\`` and every character outside printable ASCII (U+0020..U+007E) as ``\\uXXXX``
  (UTF-16 surrogate pairs beyond the BMP), as is a space at either end (HTTP strips those).
  Printable ASCII without a backslash is sent as is, so SDK traffic is byte-for-byte unchanged.
  See :func:`encode_header_value` / :func:`decode_header_value`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from app.core.timeutil import LOCAL_TZ

AXIS_TZ = LOCAL_TZ  # the axis keeps the province's time
HEADER_PREFIX = "XroadVnpt-"
SIGN_HEADER = "XroadVnpt-sign-header"
SIGN_HEADER_KEY = "XroadVnpt-sign-header-key"
HASH_HEADER = "XroadVnpt-hash-header"
VERSION_HEADER = "XroadVnpt-version"
AXIS_VERSION = "3.0.201608"
USER_AGENT = "JAVASDKAgent/1.0.0 XRoad/VPCP"
DEFAULT_MAX_SKEW = timedelta(minutes=5)

# Names the signer adds itself, and header names the protocol uses for its own purposes.
_AUTOMATIC = ("systemid", "timestamp")
_RESERVED = frozenset(
    {"systemid", "timestamp", "sign-header", "sign-header-key", "hash-header", "version"}
)
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
_TIMESTAMP_RE = re.compile(r"(\d{2})(\d{2})(\d{4})T(\d{2})(\d{2})(\d{2})\+(\d{4})")
_HEX_RE = re.compile(r"[0-9a-fA-F]{1,64}")


class AxisAuthError(Exception):
    """A request failed axis authentication; ``reason`` is a short, stable explanation."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class AuthenticatedRequest:
    """What a verified request proves: who sent it, when, and the parameters it signed.

    ``params`` holds only signed parameters (never ``systemid``/``timestamp``), keyed by the
    names as the signer spelled them; use :meth:`param` for a case-insensitive lookup because
    HTTP header names are case-insensitive.
    """

    system_id: str
    timestamp: datetime
    params: dict[str, str] = field(default_factory=dict)

    def param(self, name: str) -> str | None:
        wanted = name.lower()
        for key, value in self.params.items():
            if key.lower() == wanted:
                return value
        return None


# --- timestamps -------------------------------------------------------------------------


def format_timestamp(moment: datetime) -> str:
    """``ddMMyyyy'T'HHmmss+SSSS`` in Asia/Ho_Chi_Minh (the SDK's SimpleDateFormat pattern).

    ``+`` is a literal and ``SSSS`` the milliseconds zero-padded to four digits, as Java prints
    ``S`` repeated four times.
    """
    if moment.tzinfo is None:
        raise ValueError("timestamp needs an aware datetime")
    local = moment.astimezone(AXIS_TZ)
    return f"{local:%d%m%Y}T{local:%H%M%S}+{local.microsecond // 1000:04d}"


def parse_timestamp(text: str) -> datetime:
    """Inverse of :func:`format_timestamp`; raises ValueError on anything else."""
    match = _TIMESTAMP_RE.fullmatch(text)
    if match is None:
        raise ValueError(f"not a ddMMyyyy'T'HHmmss+SSSS timestamp: {text!r}")
    day, month, year, hour, minute, second, millis = (int(g) for g in match.groups())
    if millis > 999:
        raise ValueError(f"milliseconds out of range: {text!r}")
    return datetime(year, month, day, hour, minute, second, millis * 1000, tzinfo=AXIS_TZ)


# --- header value escaping ---------------------------------------------------------------


def encode_header_value(value: str) -> str:
    """Make a value safe for an HTTP header (see the module docstring for the convention)."""
    out: list[str] = []
    last = len(value) - 1
    for index, char in enumerate(value):
        code = ord(char)
        if char == "\\":
            out.append("\\\\")
        elif 0x20 <= code <= 0x7E and not (char == " " and index in (0, last)):
            out.append(char)
        elif code > 0xFFFF:
            code -= 0x10000
            out.append(f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}")
        else:
            out.append(f"\\u{code:04x}")
    return "".join(out)


def decode_header_value(raw: str) -> str:
    """Inverse of :func:`encode_header_value`; raises ValueError on a malformed escape."""
    if "\\" not in raw:
        return raw
    units: list[int] = []
    index = 0
    while index < len(raw):
        char = raw[index]
        if char != "\\":
            units.append(ord(char))
            index += 1
            continue
        nxt = raw[index + 1 : index + 2]
        if nxt == "\\":
            units.append(ord("\\"))
            index += 2
        elif nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", raw[index + 2 : index + 6]):
            units.append(int(raw[index + 2 : index + 6], 16))
            index += 6
        else:
            raise ValueError(f"malformed escape at position {index} in header value")
    return _utf16_units_to_str(units)


def _utf16_units_to_str(units: list[int]) -> str:
    chars: list[str] = []
    index = 0
    while index < len(units):
        unit = units[index]
        if 0xD800 <= unit <= 0xDBFF:
            low = units[index + 1] if index + 1 < len(units) else -1
            if not 0xDC00 <= low <= 0xDFFF:
                raise ValueError("unpaired surrogate escape in header value")
            chars.append(chr(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)))
            index += 2
        elif 0xDC00 <= unit <= 0xDFFF:
            raise ValueError("unpaired surrogate escape in header value")
        else:
            chars.append(chr(unit))
            index += 1
    return "".join(chars)


# --- body hash ------------------------------------------------------------------------------


def file_hash(body: bytes) -> str:
    """``hash-file`` as the SDK sends it: SHA-256 as lowercase hex *without* leading zeros.

    The SDK prints ``new BigInteger(1, digest).toString(16)``; sending exactly that keeps us
    compatible with an axis that compares strings.
    """
    return hashlib.sha256(body).hexdigest().lstrip("0") or "0"


def file_hash_matches(body: bytes, claimed: str) -> bool:
    """True when ``claimed`` is the body's SHA-256 in hex, zero-padded to 64 digits or not."""
    if _HEX_RE.fullmatch(claimed) is None:
        return False
    return int(claimed, 16) == int.from_bytes(hashlib.sha256(body).digest(), "big")


# --- signing --------------------------------------------------------------------------------


def sign(secret: str, sign_header_text: str) -> str:
    """Lowercase hex HMAC-SHA256 of the sign-header text, keyed with the secret (both UTF-8)."""
    return hmac.new(
        secret.encode("utf-8"), sign_header_text.encode("utf-8"), hashlib.sha256
    ).hexdigest()


def build_headers(
    system_id: str,
    secret: str,
    params: Mapping[str, str],
    now: datetime | None = None,
) -> dict[str, str]:
    """The complete authentication headers for one axis request.

    ``params`` are the operation's own parameters, e.g. ``{"docId": "…"}``; ``systemid`` and
    ``timestamp`` are added here. ``now`` defaults to the current time and must be aware.
    """
    moment = datetime.now(AXIS_TZ) if now is None else now
    values: dict[str, str] = {"systemid": system_id, "timestamp": format_timestamp(moment)}
    for name, value in params.items():
        if name.lower() in _RESERVED or _NAME_RE.fullmatch(name) is None:
            raise ValueError(f"invalid or reserved parameter name: {name!r}")
        if any(name.lower() == existing.lower() for existing in values):
            raise ValueError(f"duplicate parameter name: {name!r}")
        values[name] = value

    signed = {HEADER_PREFIX + name: value for name, value in values.items()}
    sign_header = json.dumps(signed, ensure_ascii=True, separators=(",", ":"))
    headers = {HEADER_PREFIX + name: encode_header_value(value) for name, value in values.items()}
    headers[SIGN_HEADER] = sign_header
    headers[SIGN_HEADER_KEY] = ";".join(values)
    headers[HASH_HEADER] = sign(secret, sign_header)
    headers[VERSION_HEADER] = AXIS_VERSION
    headers["User-Agent"] = USER_AGENT
    return headers


# --- verification ---------------------------------------------------------------------------


def authenticate(
    headers: Mapping[str, str],
    lookup_secret: Callable[[str], str | None],
    now: datetime | None = None,
    max_skew: timedelta = DEFAULT_MAX_SKEW,
) -> AuthenticatedRequest:
    """Check a request's authentication headers and return what they prove.

    The HMAC is recomputed over the sign-header text exactly as received; every name in
    sign-header-key must be a key of the JSON and vice versa, and each ``XroadVnpt-<name>``
    header must carry (after unescaping) exactly the JSON's value. Raises AxisAuthError.
    """
    moment = datetime.now(AXIS_TZ) if now is None else now
    if moment.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    received = _collect_headers(headers)

    sign_header = _single(received, SIGN_HEADER)
    key_header = _single(received, SIGN_HEADER_KEY)
    hash_header = _single(received, HASH_HEADER)
    if not sign_header.isascii():
        raise AxisAuthError("sign-header is not ASCII (non-ASCII must be \\u-escaped)")
    signed = _parse_sign_header(sign_header)

    names = [name.strip() for name in key_header.split(";") if name.strip()]
    if any(_NAME_RE.fullmatch(name) is None for name in names):
        raise AxisAuthError("malformed sign-header-key")
    if len({name.lower() for name in names}) != len(names):
        raise AxisAuthError("duplicate name in sign-header-key")
    if {HEADER_PREFIX + name for name in names} != set(signed):
        raise AxisAuthError("sign-header-key does not list exactly the sign-header keys")
    for required in _AUTOMATIC:
        if HEADER_PREFIX + required not in signed:
            raise AxisAuthError(f"{required} is not signed")

    system_id = signed[HEADER_PREFIX + "systemid"]
    secret = lookup_secret(system_id)
    if secret is None:
        raise AxisAuthError("unknown systemid")
    expected = sign(secret, sign_header).encode("ascii")
    if not hash_header.isascii() or not hmac.compare_digest(
        expected, hash_header.strip().lower().encode("ascii")
    ):
        raise AxisAuthError("hash-header does not match (wrong secret or altered sign-header)")

    for name in names:
        header_name = HEADER_PREFIX + name
        raw = _single(received, header_name)
        try:
            value = decode_header_value(raw)
        except ValueError as exc:
            raise AxisAuthError(f"{header_name}: {exc}") from exc
        if value != signed[header_name]:
            raise AxisAuthError(f"{header_name} differs from the signed value")

    try:
        stamp = parse_timestamp(signed[HEADER_PREFIX + "timestamp"])
    except ValueError as exc:
        raise AxisAuthError("malformed timestamp") from exc
    if abs(moment - stamp) > max_skew:
        raise AxisAuthError("timestamp outside the allowed window")

    params = {
        name: signed[HEADER_PREFIX + name] for name in names if name.lower() not in _AUTOMATIC
    }
    return AuthenticatedRequest(system_id=system_id, timestamp=stamp, params=params)


def verify_headers(
    headers: Mapping[str, str],
    lookup_secret: Callable[[str], str | None],
    now: datetime | None = None,
    max_skew: timedelta = DEFAULT_MAX_SKEW,
) -> str:
    """Verify a request's authentication and return the calling system id (AxisAuthError)."""
    return authenticate(headers, lookup_secret, now, max_skew).system_id


def _collect_headers(headers: Mapping[str, str]) -> dict[str, list[str]]:
    """Group header values by lowercase name; repeated headers are kept to be refused later."""
    grouped: dict[str, list[str]] = {}
    items = headers.items()
    # httpx.Headers.items() joins repeats with ", "; multi_items() lists each one, as
    # starlette's Headers.items() already does.
    multi = getattr(headers, "multi_items", None)
    if callable(multi):
        items = multi()
    for name, value in items:
        grouped.setdefault(name.lower(), []).append(value)
    return grouped


def _single(received: Mapping[str, list[str]], name: str) -> str:
    values = received.get(name.lower())
    if not values:
        raise AxisAuthError(f"missing {name}")
    if len(values) > 1:
        raise AxisAuthError(f"{name} sent more than once")
    return values[0]


def _parse_sign_header(text: str) -> dict[str, str]:
    def no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
        result: dict[str, object] = {}
        for key, value in pairs:
            if key in result:
                raise AxisAuthError(f"duplicate key {key!r} in sign-header")
            result[key] = value
        return result

    try:
        parsed = json.loads(text, object_pairs_hook=no_duplicates)
    except ValueError as exc:
        raise AxisAuthError("sign-header is not valid JSON") from exc
    if not isinstance(parsed, dict) or not all(
        isinstance(key, str) and isinstance(value, str) for key, value in parsed.items()
    ):
        raise AxisAuthError("sign-header is not a JSON object of strings")
    return {str(key): str(value) for key, value in parsed.items()}
