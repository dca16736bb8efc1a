"""Which attachments are PDFs, and the PDFs inside ZIP attachments, within SPEC 5.3's limits.

A PDF is recognised by its content type, its name or the `%PDF-` magic; a ZIP by the
`PK\\x03\\x04` magic. A ZIP is read only within the limits (at most
`MAX_ZIP_ENTRIES` entries, at most `max_bytes` decompressed in all, no entry expanding more
than `MAX_RATIO` times): sizes are counted while decompressing, never taken from the headers
alone, so a ZIP bomb stops after at most `max_bytes` of output. ZIPs inside ZIPs are not opened.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

MAX_ZIP_ENTRIES = 100
MAX_RATIO = 100
RATIO_FLOOR = 1 << 16
"""The ratio limit applies once an entry has produced this much: a 5 KB text of one letter
compresses 250 times and is no bomb."""
PDF_MAGIC = b"%PDF-"
ZIP_MAGIC = b"PK\x03\x04"
_CHUNK = 1 << 16
_PDF_TYPES = frozenset({"application/pdf", "application/x-pdf"})


class ContainerLimit(ValueError):
    """A ZIP over SPEC 5.3's limits, or one that cannot be read; `code` names which."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _media(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def _head_is_pdf(head: bytes) -> bool:
    # The PDF reference lets the header start within the first 1024 bytes.
    return PDF_MAGIC in head[:1024]


def looks_like_pdf(name: str | None, content_type: str | None, head: bytes) -> bool:
    return (
        _media(content_type) in _PDF_TYPES
        or (name or "").lower().endswith(".pdf")
        or _head_is_pdf(head)
    )


def looks_like_zip(head: bytes) -> bool:
    """A ZIP by its magic only: the national SDK writes application/zip as the type of every
    attachment (SPEC 3), so neither type nor name says that the bytes are one."""
    return head.startswith(ZIP_MAGIC)


@dataclass(frozen=True, slots=True)
class ZippedPdf:
    path: str
    data: bytes


def pdfs_in_zip(data: bytes | IO[bytes], *, max_bytes: int) -> Iterator[ZippedPdf]:
    """The PDF entries of a ZIP (by name or magic), decompressed within the limits.

    Raises `ContainerLimit` as soon as a limit is passed or the archive is unreadable (what was
    yielded before stays valid, but callers treat the whole ZIP as refused)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data) if isinstance(data, bytes) else data)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ContainerLimit("zip.malformed", f"the ZIP cannot be read: {exc}") from exc
    with archive:
        entries = archive.infolist()
        if len(entries) > MAX_ZIP_ENTRIES:
            raise ContainerLimit(
                "zip.too_many_entries",
                f"the ZIP has {len(entries)} entries, more than {MAX_ZIP_ENTRIES}",
            )
        declared = sum(e.file_size for e in entries)
        if declared > max_bytes:
            raise ContainerLimit(
                "zip.too_large",
                f"the ZIP declares {declared} bytes uncompressed, more than {max_bytes}",
            )
        budget = max_bytes
        for entry in entries:
            if entry.is_dir():
                continue
            if entry.flag_bits & 0x1:
                raise ContainerLimit("zip.encrypted", f"{entry.filename} is encrypted")
            content, budget = _read_entry(archive, entry, budget)
            if content is not None:
                yield ZippedPdf(entry.filename, content)


def _read_entry(
    archive: zipfile.ZipFile, entry: zipfile.ZipInfo, budget: int
) -> tuple[bytes | None, int]:
    """The entry's bytes if it is a PDF (None otherwise), counting what is decompressed."""
    allowed_by_ratio = max(MAX_RATIO * entry.compress_size, RATIO_FLOOR)
    by_name = entry.filename.lower().endswith(".pdf")
    out = bytearray()
    try:
        with archive.open(entry) as stream:
            while True:
                chunk = stream.read(_CHUNK)
                if not chunk:
                    break
                out += chunk
                if len(out) > budget:
                    raise ContainerLimit(
                        "zip.too_large",
                        "the ZIP expands to more than MAX_DOCUMENT_BYTES "
                        f"(stopped in {entry.filename})",
                    )
                if len(out) > allowed_by_ratio:
                    raise ContainerLimit(
                        "zip.ratio",
                        f"{entry.filename} expands more than {MAX_RATIO} times (a ZIP bomb)",
                    )
                if not by_name and len(out) >= 1024 and not _head_is_pdf(bytes(out[:1024])):
                    # not a PDF: the rest need not be decompressed
                    return None, budget - len(out)
    except ContainerLimit:
        raise
    except (zipfile.BadZipFile, zlib.error, OSError, ValueError, EOFError, RuntimeError) as exc:
        raise ContainerLimit(
            "zip.malformed", f"{entry.filename} cannot be decompressed: {exc}"
        ) from exc
    if by_name or _head_is_pdf(bytes(out[:1024])):
        return bytes(out), budget - len(out)
    return None, budget - len(out)


__all__ = [
    "MAX_RATIO",
    "MAX_ZIP_ENTRIES",
    "ContainerLimit",
    "ZippedPdf",
    "looks_like_pdf",
    "looks_like_zip",
    "pdfs_in_zip",
]
