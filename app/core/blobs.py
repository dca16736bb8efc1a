"""Content-addressed storage for edXML bytes, on disk beside the database.

Documents reach 50 MiB, so they are streamed to files rather than held in database rows; a
blob is fsynced before the transaction that references it commits, so a 2xx never points at
bytes that a crash could lose. Orphans (written, never committed) are harmless and
content-addressed writes are idempotent.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO


class _HashingWriter:
    """A file wrapper that hashes and counts what passes through it."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.size += len(data)
        return self.raw.write(data)


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, digest: str) -> Path:
        if len(digest) != 64 or not all(c in "0123456789abcdef" for c in digest):
            raise ValueError("not a sha256 digest")
        return self.root / digest[:2] / digest[2:4] / digest

    def put(self, data: bytes) -> str:
        return self.put_chunks([data])

    def put_chunks(self, chunks: Iterable[bytes]) -> str:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        digest = hashlib.sha256()
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in chunks:
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            self._commit(tmp, digest.hexdigest())
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return digest.hexdigest()

    def put_writer(self, write: Callable[[BinaryIO], None]) -> tuple[str, int]:
        """Store what `write` writes to a file object, hashing as it goes; (digest, size)."""
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as raw:
                out = _HashingWriter(raw)
                write(out)  # type: ignore[arg-type]
                raw.flush()
                os.fsync(raw.fileno())
            digest = out.digest.hexdigest()
            self._commit(tmp, digest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return digest, out.size

    def _commit(self, tmp: str, digest: str) -> None:
        target = self.path(digest)
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.replace(tmp, target)
        dir_fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def open(self, digest: str) -> BinaryIO:
        return self.path(digest).open("rb")

    def read(self, digest: str) -> bytes:
        return self.path(digest).read_bytes()

    def size(self, digest: str) -> int:
        return self.path(digest).stat().st_size
