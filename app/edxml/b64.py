"""Strict base64 for attachment payloads, in bounded memory.

Attachments reach 50 MiB (67 MB of base64). Checking one must not need a second full copy of
it, so validation walks the text in 1 Mi-character slices and throws each decoded slice away;
only the byte count is kept. Line-wrapped base64 (MIME style, which some Java and C# encoders
write) is accepted: ASCII whitespace between characters is skipped. Anything else that is not
standard-alphabet base64 with correct padding is refused.
"""

from __future__ import annotations

import binascii
from collections.abc import Iterator

_WHITESPACE = b" \t\r\n"
#: Slice length in characters; a multiple of 4 so that slices without whitespace decode alone.
CHUNK_CHARS = 1 << 20


def iter_decode(text: str, chunk_chars: int = CHUNK_CHARS) -> Iterator[bytes]:
    """Decode `text` slice by slice, raising ValueError at the first invalid character.

    Peak extra memory is about two slices, whatever the size of `text`.
    """
    carry = b""
    padded = False
    for start in range(0, len(text), chunk_chars):
        try:
            raw = text[start : start + chunk_chars].encode("ascii")
        except UnicodeEncodeError as exc:
            raise ValueError(
                f"non-ASCII character at offset {start + exc.start} is not base64"
            ) from None
        raw = raw.translate(None, _WHITESPACE)
        if not raw:
            continue
        if padded:
            raise ValueError("base64 data continues after its '=' padding")
        buf = carry + raw if carry else raw
        cut = len(buf) - len(buf) % 4
        carry = buf[cut:]
        if cut:
            block = buf[:cut]
            try:
                out = binascii.a2b_base64(block, strict_mode=True)
            except binascii.Error as exc:
                raise ValueError(f"not valid base64 ({exc})") from None
            padded = block.endswith(b"=")
            yield out
    if carry:
        raise ValueError("base64 length is not a multiple of 4 (truncated or unpadded)")


def decoded_size(text: str) -> int:
    """Validate `text` strictly and return the number of bytes it decodes to."""
    return sum(len(piece) for piece in iter_decode(text))


def decode(text: str) -> bytes:
    """Strictly decode `text` into one bytes object (whitespace between characters allowed)."""
    try:
        # Fast path, no whitespace: one C call, no intermediate copies.
        return binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError):
        pass
    decoded_size(text)  # raises with a precise message if it really is invalid
    # Validated above, so the lenient decoder only skips the whitespace.
    return binascii.a2b_base64(text)


def encode(data: bytes) -> bytes:
    """Base64 without line breaks, as ASCII bytes (lxml stores bytes text without a str copy)."""
    return binascii.b2a_base64(data, newline=False)
