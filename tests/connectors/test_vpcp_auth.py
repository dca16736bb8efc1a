"""Unit tests for the axis request authentication (pure functions, no I/O)."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.connectors.vpcp.auth import (
    AXIS_TZ,
    AxisAuthError,
    authenticate,
    build_headers,
    decode_header_value,
    encode_header_value,
    file_hash,
    file_hash_matches,
    format_timestamp,
    parse_timestamp,
    verify_headers,
)

SECRETS = {"sys-a": "secret-a", "sys-b": "khóa bí mật"}
NOW = datetime(2026, 11, 26, 7, 5, 9, 45_000, tzinfo=UTC)  # 14:05:09.045 in Hanoi
SEND_PARAMS = {
    "from": "000.00.00.H39",
    "to": '["000.00.00.G22","000.00.00.G12"]',
    "servicetype": "eDoc",
    "messagetype": "edoc",
    "hash-file": "3a7bd3e2360a3d29eea436fcfb7e44c735d117c42d1c1835420b6b9942dd4f1b",
}


def lookup(system_id: str) -> str | None:
    return SECRETS.get(system_id)


def reason(headers: Mapping[str, str], now: datetime = NOW) -> str:
    with pytest.raises(AxisAuthError) as caught:
        verify_headers(headers, lookup, now)
    return caught.value.reason


# --- timestamps -------------------------------------------------------------------------


def test_timestamp_is_local_hanoi_time_with_four_digit_milliseconds() -> None:
    assert format_timestamp(NOW) == "26112026T140509+0045"
    assert format_timestamp(NOW.replace(microsecond=999_999)) == "26112026T140509+0999"
    assert format_timestamp(NOW.replace(microsecond=0)) == "26112026T140509+0000"


def test_timestamp_crosses_the_date_line_into_the_next_local_day() -> None:
    late_utc = datetime(2026, 12, 31, 18, 30, 0, 123_000, tzinfo=UTC)
    assert format_timestamp(late_utc) == "01012027T013000+0123"
    other_zone = late_utc.astimezone(timezone(timedelta(hours=-5)))
    assert format_timestamp(other_zone) == "01012027T013000+0123"


def test_timestamp_round_trips_to_the_millisecond() -> None:
    parsed = parse_timestamp(format_timestamp(NOW))
    assert parsed == NOW
    assert parsed.tzinfo == AXIS_TZ


@pytest.mark.parametrize(
    "text", ["26112026T140509", "26112026T140509+045", "2611202614050+0045", "26112026T140509+1000"]
)
def test_malformed_timestamps_are_rejected(text: str) -> None:
    with pytest.raises(ValueError):
        parse_timestamp(text)


def test_naive_datetimes_are_rejected() -> None:
    with pytest.raises(ValueError):
        format_timestamp(datetime(2026, 1, 1))
    with pytest.raises(ValueError):
        build_headers("sys-a", "secret-a", {}, datetime(2026, 1, 1))


# --- building -----------------------------------------------------------------------------


def test_build_headers_exact_wire_form() -> None:
    headers = build_headers("sys-a", "secret-a", SEND_PARAMS, NOW)

    names = ["systemid", "timestamp", "from", "to", "servicetype", "messagetype", "hash-file"]
    assert headers["XroadVnpt-sign-header-key"] == ";".join(names)
    expected_json = json.dumps(
        {
            "XroadVnpt-systemid": "sys-a",
            "XroadVnpt-timestamp": "26112026T140509+0045",
            **{f"XroadVnpt-{k}": v for k, v in SEND_PARAMS.items()},
        },
        separators=(",", ":"),
    )
    assert headers["XroadVnpt-sign-header"] == expected_json
    assert (
        headers["XroadVnpt-hash-header"]
        == hmac.new(b"secret-a", expected_json.encode(), hashlib.sha256).hexdigest()
    )
    assert headers["XroadVnpt-systemid"] == "sys-a"
    assert headers["XroadVnpt-timestamp"] == "26112026T140509+0045"
    assert headers["XroadVnpt-to"] == '["000.00.00.G22","000.00.00.G12"]'
    assert headers["XroadVnpt-version"] == "3.0.201608"
    assert headers["User-Agent"] == "JAVASDKAgent/1.0.0 XRoad/VPCP"
    assert set(headers) == {f"XroadVnpt-{n}" for n in names} | {
        "XroadVnpt-sign-header",
        "XroadVnpt-sign-header-key",
        "XroadVnpt-hash-header",
        "XroadVnpt-version",
        "User-Agent",
    }


def test_hmac_key_is_the_utf8_secret() -> None:
    headers = build_headers("sys-b", "khóa bí mật", {}, NOW)
    assert (
        headers["XroadVnpt-hash-header"]
        == hmac.new(
            "khóa bí mật".encode(), headers["XroadVnpt-sign-header"].encode(), hashlib.sha256
        ).hexdigest()
    )
    assert verify_headers(headers, lookup, NOW) == "sys-b"


@pytest.mark.parametrize(
    "name", ["systemid", "timestamp", "sign-header", "Version", "bad name", ""]
)
def test_reserved_or_invalid_parameter_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError):
        build_headers("sys-a", "secret-a", {name: "x"}, NOW)


# --- non-ASCII values -----------------------------------------------------------------------


def test_vietnamese_values_round_trip_as_ascii_headers() -> None:
    note = "Ủy ban nhân dân tỉnh Long An — văn bản hỏa tốc 𝔸"
    headers = build_headers("sys-a", "secret-a", {"from": "000.00.00.H39", "note": note}, NOW)

    assert all(value.isascii() for value in headers.values())
    assert headers["XroadVnpt-note"].startswith("\\u1ee6y ban nh\\u00e2n")
    # httpx refuses non-ASCII header values, so this proves the request can actually be sent.
    request = httpx.Request("POST", "http://axis.test/sendEdoc", headers=headers)
    received = dict(request.headers)

    auth = authenticate(received, lookup, NOW)
    assert auth.system_id == "sys-a"
    assert auth.params == {"from": "000.00.00.H39", "note": note}
    assert json.loads(headers["XroadVnpt-sign-header"])["XroadVnpt-note"] == note


@given(st.text())
def test_header_value_encoding_round_trips_and_is_header_safe(value: str) -> None:
    encoded = encode_header_value(value)
    assert decode_header_value(encoded) == value
    assert all(0x20 <= ord(c) <= 0x7E for c in encoded)
    assert encoded == encoded.strip()


@given(
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters="\\"))
)
def test_printable_ascii_is_sent_unchanged_inside(value: str) -> None:
    if value == value.strip(" "):
        assert encode_header_value(value) == value


@pytest.mark.parametrize("raw", ["a\\x", "\\u12", "\\u12zz", "\\ud800", "\\udc00x", "end\\"])
def test_malformed_escapes_are_rejected(raw: str) -> None:
    with pytest.raises(ValueError):
        decode_header_value(raw)


def test_non_ascii_sign_header_is_refused() -> None:
    headers = build_headers("sys-a", "secret-a", {"note": "tỉnh Long An"}, NOW)
    raw_json = json.dumps(json.loads(headers["XroadVnpt-sign-header"]), ensure_ascii=False)
    headers["XroadVnpt-sign-header"] = raw_json
    headers["XroadVnpt-hash-header"] = hmac.new(
        b"secret-a", raw_json.encode(), hashlib.sha256
    ).hexdigest()
    assert "ASCII" in reason(headers)


# --- verification -----------------------------------------------------------------------------


def test_verify_accepts_own_headers_and_returns_signed_params() -> None:
    headers = build_headers("sys-a", "secret-a", SEND_PARAMS, NOW)
    auth = authenticate(headers, lookup, NOW)
    assert auth.system_id == "sys-a"
    assert auth.timestamp == NOW
    assert auth.params == SEND_PARAMS
    assert auth.param("HASH-FILE") == SEND_PARAMS["hash-file"]
    assert auth.param("docId") is None


def test_verify_is_case_insensitive_on_header_names() -> None:
    headers = build_headers("sys-a", "secret-a", {"docId": "d-1"}, NOW)
    lowered = {k.lower(): v for k, v in headers.items()}
    assert authenticate(lowered, lookup, NOW).param("docid") == "d-1"


def test_skew_window_is_five_minutes_either_way() -> None:
    headers = build_headers("sys-a", "secret-a", {}, NOW)
    assert verify_headers(headers, lookup, NOW + timedelta(minutes=5)) == "sys-a"
    assert verify_headers(headers, lookup, NOW - timedelta(minutes=5)) == "sys-a"
    assert "window" in reason(headers, NOW + timedelta(minutes=6))
    assert "window" in reason(headers, NOW - timedelta(minutes=6))
    assert verify_headers(headers, lookup, NOW + timedelta(minutes=6), timedelta(minutes=7))


def test_wrong_secret_is_refused() -> None:
    headers = build_headers("sys-a", "not-secret-a", SEND_PARAMS, NOW)
    assert "hash-header" in reason(headers)


def test_unknown_system_is_refused() -> None:
    headers = build_headers("sys-zzz", "secret-a", SEND_PARAMS, NOW)
    assert reason(headers) == "unknown systemid"


def test_named_header_differing_from_the_json_is_refused() -> None:
    headers = build_headers("sys-a", "secret-a", SEND_PARAMS, NOW)
    headers["XroadVnpt-to"] = '["000.00.00.G22"]'
    assert "XroadVnpt-to differs" in reason(headers)


def test_altered_sign_header_is_refused() -> None:
    headers = build_headers("sys-a", "secret-a", SEND_PARAMS, NOW)
    headers["XroadVnpt-sign-header"] = headers["XroadVnpt-sign-header"].replace("G12", "G13")
    headers["XroadVnpt-to"] = headers["XroadVnpt-to"].replace("G12", "G13")
    assert "hash-header" in reason(headers)


def test_uppercase_hash_header_is_accepted() -> None:
    headers = build_headers("sys-a", "secret-a", {}, NOW)
    headers["XroadVnpt-hash-header"] = headers["XroadVnpt-hash-header"].upper()
    assert verify_headers(headers, lookup, NOW) == "sys-a"


@pytest.mark.parametrize(
    "header",
    [
        "XroadVnpt-sign-header",
        "XroadVnpt-sign-header-key",
        "XroadVnpt-hash-header",
        "XroadVnpt-from",
    ],
)
def test_missing_header_is_refused(header: str) -> None:
    headers = build_headers("sys-a", "secret-a", SEND_PARAMS, NOW)
    del headers[header]
    assert "missing" in reason(headers)


def resign(headers: dict[str, str], signed: dict[str, str], names: list[str]) -> dict[str, str]:
    """Rewrite the sign-header with a valid HMAC: the attacker knows the secret here, so only
    the structural checks can catch what follows."""
    text = json.dumps(signed, separators=(",", ":"))
    headers = dict(headers)
    headers["XroadVnpt-sign-header"] = text
    headers["XroadVnpt-sign-header-key"] = ";".join(names)
    headers["XroadVnpt-hash-header"] = hmac.new(
        b"secret-a", text.encode(), hashlib.sha256
    ).hexdigest()
    return headers


def test_key_list_must_match_the_json_keys() -> None:
    base = build_headers("sys-a", "secret-a", {"docId": "d-1"}, NOW)
    signed = json.loads(base["XroadVnpt-sign-header"])
    assert "exactly" in reason(resign(base, signed, ["systemid", "timestamp"]))
    assert "exactly" in reason(resign(base, signed, ["systemid", "timestamp", "docId", "status"]))
    assert "duplicate" in reason(resign(base, signed, ["systemid", "timestamp", "docId", "DOCID"]))
    assert "malformed" in reason(resign(base, signed, ["systemid", "timestamp", "doc Id"]))


def test_key_list_tolerates_a_trailing_separator_and_spaces() -> None:
    base = build_headers("sys-a", "secret-a", {"docId": "d-1"}, NOW)
    headers = dict(base, **{"XroadVnpt-sign-header-key": "systemid; timestamp;docId;"})
    assert authenticate(headers, lookup, NOW).params == {"docId": "d-1"}


def test_systemid_and_timestamp_must_be_signed() -> None:
    base = build_headers("sys-a", "secret-a", {"docId": "d-1"}, NOW)
    signed = json.loads(base["XroadVnpt-sign-header"])
    del signed["XroadVnpt-timestamp"]
    assert reason(resign(base, signed, ["systemid", "docId"])) == "timestamp is not signed"


def test_malformed_sign_header_is_refused() -> None:
    base = build_headers("sys-a", "secret-a", {}, NOW)
    for text, expected in [
        ("not json", "not valid JSON"),
        ('["a"]', "JSON object of strings"),
        ('{"XroadVnpt-systemid": 5}', "JSON object of strings"),
        ('{"XroadVnpt-systemid":"a","XroadVnpt-systemid":"b"}', "duplicate key"),
    ]:
        headers = dict(base, **{"XroadVnpt-sign-header": text})
        assert expected in reason(headers)


def test_repeated_header_is_refused() -> None:
    headers = build_headers("sys-a", "secret-a", {"docId": "d-1"}, NOW)
    repeated = httpx.Headers([*headers.items(), ("XroadVnpt-docId", "d-2")])
    assert "more than once" in reason(repeated)


def test_malformed_signed_timestamp_is_refused() -> None:
    base = build_headers("sys-a", "secret-a", {}, NOW)
    signed = json.loads(base["XroadVnpt-sign-header"])
    signed["XroadVnpt-timestamp"] = "2026-11-26T14:05:09"
    headers = resign(base, signed, ["systemid", "timestamp"])
    headers["XroadVnpt-timestamp"] = "2026-11-26T14:05:09"
    assert reason(headers) == "malformed timestamp"


# --- hash-file ------------------------------------------------------------------------------


def leading_zero_body() -> bytes:
    """A body whose SHA-256 starts with a zero nibble, where padded and unpadded differ."""
    for n in range(1000):
        body = str(n).encode()
        if hashlib.sha256(body).hexdigest().startswith("0"):
            return body
    raise AssertionError("no such body below 1000")


def test_file_hash_is_unpadded_like_the_sdk() -> None:
    body = leading_zero_body()
    padded = hashlib.sha256(body).hexdigest()
    assert file_hash(body) == padded.lstrip("0")
    assert len(file_hash(body)) < 64
    assert file_hash(b"abc") == hashlib.sha256(b"abc").hexdigest()


def test_file_hash_check_accepts_padded_and_unpadded_only_for_the_right_body() -> None:
    body = leading_zero_body()
    padded = hashlib.sha256(body).hexdigest()
    assert file_hash_matches(body, padded)
    assert file_hash_matches(body, padded.lstrip("0"))
    assert file_hash_matches(body, padded.upper())
    assert not file_hash_matches(body + b"x", padded)
    assert not file_hash_matches(body, "")
    assert not file_hash_matches(body, "0" + padded)  # 65 digits: not a SHA-256
    assert not file_hash_matches(body, "xyz")
