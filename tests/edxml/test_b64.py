"""The streaming base64 checker agrees with the standard library, across slice boundaries."""

from __future__ import annotations

import base64
import binascii

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.edxml import b64


@settings(max_examples=200, deadline=None)
@given(
    data=st.binary(max_size=64),
    wrap=st.integers(1, 12),
    chunk=st.integers(1, 9).map(lambda n: n * 4 if n % 3 else n),
)
def test_valid_base64_any_slicing(data: bytes, wrap: int, chunk: int) -> None:
    encoded = base64.b64encode(data).decode()
    wrapped = "\r\n".join(encoded[i : i + wrap] for i in range(0, len(encoded), wrap))
    assert b64.decoded_size(wrapped, chunk) == len(data)
    assert b"".join(b64.iter_decode(wrapped, chunk)) == data
    assert b64.decode(wrapped) == data


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(alphabet="QUJD=+/ \n!é", max_size=16),
    chunk=st.integers(1, 9),
)
def test_verdict_matches_strict_stdlib(text: str, chunk: int) -> None:
    """Valid for us exactly when binascii's strict mode accepts it once whitespace is gone."""
    compact = "".join(text.split())
    try:
        expected: int | None = len(binascii.a2b_base64(compact.encode(), strict_mode=True))
    except (binascii.Error, ValueError, UnicodeEncodeError):
        expected = None
    if not compact.isascii() or len(compact) % 4:
        # Python 3.11's strict mode still takes a stray '=' after a whole quantum ("DDDD=");
        # RFC 4648 does not, and neither do we.
        expected = None
    try:
        got: int | None = b64.decoded_size(text, chunk)
    except ValueError:
        got = None
    assert got == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("QUJD!", "'!' is not a base64 character"),
        ("QQ=A", "'=' is not a base64 character"),
        ("QQ==QUJD", "'=' is not a base64 character"),
        ("Q===", "more than two"),
        ("QUJDQ", "multiple of 4"),
        ("QUJ\u1ea0", "non-ASCII character at offset 3"),
    ],
)
def test_error_messages(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        b64.decoded_size(text)


def test_padding_split_across_slices() -> None:
    assert b64.decoded_size("QQ==", chunk_chars=3) == 1
    with pytest.raises(ValueError, match="after its '=' padding"):
        b64.decoded_size("QQ==QUJD", chunk_chars=4)
