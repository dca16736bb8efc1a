"""Strict base64 for attachment payloads, in bounded memory.

Attachments reach 50 MiB (67 MB of base64). Checking one must not need a second full copy of
it, so the text is walked in 1 Mi-character slices. Validation does not decode at all: it
checks the alphabet and the padding with `bytes.translate` (a C table loop, several times
faster than binascii's strict mode) and computes the decoded size arithmetically.

Line-wrapped base64 (MIME style, which some Java and C# encoders write) is accepted: ASCII
whitespace between characters is skipped. Anything else that is not standard-alphabet base64
with correct padding is refused.
"""

from __future__ import annotations

import binascii
from collections.abc import Iterator

_WHITESPACE = b" \t\r\n"
_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
#: Slice length in characters; a multiple of 4 so that slices without whitespace decode alone.
CHUNK_CHARS = 1 << 20


class _Checker:
    """Incremental validation over slices: alphabet, '=' only at the very end, length."""

    __slots__ = ("chars", "padding")

    def __init__(self) -> None:
        self.chars = 0
        self.padding = 0

    def feed(self, text: str, offset: int) -> bytes:
        """Validate one slice of text; return it as ASCII bytes without whitespace."""
        try:
            raw = text.encode("ascii")
        except UnicodeEncodeError as exc:
            raise ValueError(
                f"non-ASCII character at offset {offset + exc.start} is not base64"
            ) from None
        if b"\n" in raw or b" " in raw or b"\r" in raw or b"\t" in raw:  # cheap memchr scans
            raw = raw.translate(None, _WHITESPACE)
        if not raw:
            return raw
        if self.padding:  # only more padding may follow (a slice may end between two '=')
            if raw.strip(b"="):
                raise ValueError("base64 data continues after its '=' padding")
            self.padding += len(raw)
            if self.padding > 2:
                raise ValueError("more than two '=' padding characters")
            self.chars += len(raw)
            return raw
        rest = raw.translate(None, _ALPHABET)
        if rest:
            if rest.strip(b"=") or not raw.endswith(rest):
                bad = next(chr(c) for c in rest if c != 0x3D) if rest.strip(b"=") else "="
                raise ValueError(f"{bad!r} is not a base64 character here")
            self.padding = len(rest)
            if self.padding > 2:
                raise ValueError("more than two '=' padding characters")
        self.chars += len(raw)
        return raw

    def finish(self) -> int:
        """Check the total length; return the decoded size in bytes."""
        if self.chars % 4:
            raise ValueError("base64 length is not a multiple of 4 (truncated or unpadded)")
        return self.chars // 4 * 3 - self.padding


def decoded_size(text: str, chunk_chars: int = CHUNK_CHARS) -> int:
    """Validate `text` strictly and return the number of bytes it decodes to (no decoding)."""
    checker = _Checker()
    for start in range(0, len(text), chunk_chars):
        checker.feed(text[start : start + chunk_chars], start)
    return checker.finish()


def iter_decode(text: str, chunk_chars: int = CHUNK_CHARS) -> Iterator[bytes]:
    """Validate and decode `text` slice by slice (about 3/4 of `chunk_chars` bytes each).

    Peak extra memory is about two slices, whatever the size of `text`.
    """
    checker = _Checker()
    carry = b""
    for start in range(0, len(text), chunk_chars):
        raw = checker.feed(text[start : start + chunk_chars], start)
        if not raw:
            continue
        buf = carry + raw if carry else raw
        cut = len(buf) - len(buf) % 4
        carry = buf[cut:]
        if cut:
            yield binascii.a2b_base64(buf[:cut])  # validated above: the lenient decoder is exact
    checker.finish()


def decode(text: str) -> bytes:
    """Strictly decode `text` into one bytes object (whitespace between characters allowed)."""
    decoded_size(text)
    # Validated: the lenient decoder only skips the whitespace, without an intermediate copy.
    return binascii.a2b_base64(text)


def encode(data: bytes) -> bytes:
    """Base64 without line breaks, as ASCII bytes (lxml stores bytes text without a str copy)."""
    return binascii.b2a_base64(data, newline=False)
