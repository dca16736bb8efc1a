"""Large attachment payloads held outside the lxml tree while a message is signed and stored.

lxml copies a text node two or three times whenever it canonicalises or serialises it, so a
50 MiB attachment (67 MB of base64) would cost several hundred MB. While `detach_payloads` is
active, each large `ContentTransferEncoded` text is replaced in the tree by a unique marker
and kept here as one Python string; C14N (for digests) and serialisation write the small tree
around the markers and the payloads in slices. Base64 has nothing that C14N or XML escaping
would change, so the bytes are exactly those of the whole document.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from lxml import etree

from app.edxml.schema import NS

LARGE = 1 << 20
SLICE = 1 << 20
_PAYLOAD_TAG = f"{{{NS}}}ContentTransferEncoded"
_ESCAPED = re.compile(r"[&<>\r\"]")
MARKER = re.compile(rb"LIENTHONGPAYLOAD[0-9a-f]{32}")

_lock = threading.Lock()
_active: dict[int, dict[bytes, str]] = {}


def _key(root: etree._Element) -> int:
    return id(root.getroottree().getroot())


@contextmanager
def detach_payloads(root: etree._Element, *, restore: bool = True) -> Iterator[int]:
    """Swap large payload texts out of the tree; yields how many were detached."""
    payloads: dict[bytes, str] = {}
    elements: list[tuple[etree._Element, str]] = []
    for element in root.getroottree().getroot().iter(_PAYLOAD_TAG):
        if len(element):
            continue
        text = element.text
        if text is None or len(text) < LARGE or _ESCAPED.search(text):
            continue
        marker = f"LIENTHONGPAYLOAD{os.urandom(16).hex()}"
        element.text = marker
        payloads[marker.encode()] = text
        elements.append((element, text))
        del text
    key = _key(root)
    if payloads:
        with _lock:
            _active[key] = payloads
    try:
        yield len(payloads)
    finally:
        with _lock:
            _active.pop(key, None)
        if restore:
            for element, text in elements:
                element.text = text
        elements.clear()
        payloads.clear()


def detached(root: etree._Element) -> dict[bytes, str] | None:
    with _lock:
        return _active.get(_key(root))


def write_around(data: bytes, payloads: dict[bytes, str], write: Callable[[bytes], object]) -> None:
    """Write `data` with every marker replaced by its payload, in slices."""
    pos = 0
    for match in MARKER.finditer(data):
        text = payloads.get(match.group())
        if text is None:
            continue
        write(data[pos : match.start()])
        for i in range(0, len(text), SLICE):
            write(text[i : i + SLICE].encode("utf-8"))
        pos = match.end()
    write(data[pos:])
