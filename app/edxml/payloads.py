"""Large attachment payloads held outside the lxml tree while a message is signed and stored.

lxml copies a text node two or three times whenever it canonicalises or serialises it, so a
50 MiB attachment (67 MB of base64) would cost several hundred MB. `detach_payloads` replaces
each large `ContentTransferEncoded` text in the tree by a unique marker and hands back the texts
as a `DetachedPayloads` value; whoever canonicalises (for digests) or serialises that tree gets
the value as an argument and writes the small tree around the markers with the payloads in
slices. Base64 has nothing that C14N or XML escaping would change, so the bytes are exactly
those of the whole document. The value is passed explicitly, never looked up: a tree and its
payloads travel together from the caller that detached them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from types import MappingProxyType

from lxml import etree

from app.edxml.schema import NS

LARGE = 1 << 20
SLICE = 1 << 20
_PAYLOAD_TAG = f"{{{NS}}}ContentTransferEncoded"
_ESCAPED = re.compile(r"[&<>\r\"]")
MARKER = re.compile(rb"LIENTHONGPAYLOAD[0-9a-f]{32}")


@dataclass(frozen=True, slots=True, eq=False)
class DetachedPayloads:
    """The large attachment texts taken out of one tree, by the marker that stands for each."""

    root: etree._Element
    """The document element of the tree they were taken from."""
    texts: Mapping[bytes, str]

    def __len__(self) -> int:
        return len(self.texts)

    def belongs_to(self, root: etree._Element) -> bool:
        return root.getroottree().getroot() is self.root

    def write_around(self, data: bytes, write: Callable[[bytes], object]) -> None:
        """Write `data` (C14N or serialisation of the tree) with every marker replaced by its
        payload, in slices."""
        pos = 0
        for match in MARKER.finditer(data):
            text = self.texts.get(match.group())
            if text is None:
                continue
            write(data[pos : match.start()])
            for i in range(0, len(text), SLICE):
                write(text[i : i + SLICE].encode("utf-8"))
            pos = match.end()
        write(data[pos:])


def checked(payloads: DetachedPayloads | None, root: etree._Element) -> DetachedPayloads | None:
    """`payloads` if it has any texts, after making sure they came out of `root`'s tree."""
    if not payloads:
        return None
    if not payloads.belongs_to(root):
        raise ValueError("these detached payloads belong to another tree")
    return payloads


def _large_texts(document: etree._Element) -> list[tuple[etree._Element, str]]:
    found = []
    for element in document.iter(_PAYLOAD_TAG):
        if len(element):
            continue
        text = element.text
        if text is None or len(text) < LARGE or _ESCAPED.search(text):
            continue
        found.append((element, text))
    return found


def has_large_payloads(root: etree._Element) -> bool:
    """Whether `detach_payloads` would take anything out (small documents skip it)."""
    return bool(_large_texts(root.getroottree().getroot()))


@contextmanager
def detach_payloads(root: etree._Element, *, restore: bool = True) -> Iterator[DetachedPayloads]:
    """Swap large payload texts out of the tree for the duration of the block.

    With `restore=False` the markers stay in the tree afterwards (the caller is done with it).
    """
    document = root.getroottree().getroot()
    elements = _large_texts(document)
    texts: dict[bytes, str] = {}
    for element, text in elements:
        marker = f"LIENTHONGPAYLOAD{os.urandom(16).hex()}"
        element.text = marker
        texts[marker.encode()] = text
    try:
        yield DetachedPayloads(document, MappingProxyType(texts))
    finally:
        if restore:
            for element, text in elements:
                element.text = text
        elements.clear()
        texts.clear()
