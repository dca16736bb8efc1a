"""Content-addressed storage for edXML bytes, behind one interface (`BlobStore`).

Two stores:

- `DatabaseBlobStore` (the default with PostgreSQL): the bytes live in the database, written
  on the caller's session, so they commit with the rows that reference them and every hub
  process on every machine reaches them. A message up to `INLINE_BYTES` is one row of
  `blobs` (one INSERT in the accepting transaction, no file, no fsync); a larger one is
  streamed in `CHUNK_BYTES` rows of `blob_chunks` as it is serialised, and read back chunk by
  chunk, so a 50 MiB attachment never sits whole in memory.
- `DirectoryBlobStore` (the embedded SQLite default): files beside the database, fsynced
  before the transaction that references them commits, so a 2xx never points at bytes a
  crash could lose. Orphans (written, never committed) are harmless.

Content-addressed writes are idempotent in both.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import BinaryIO, Protocol

from sqlalchemy import Integer, LargeBinary, String, Table, delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.sql.dml import ReturningInsert

from app.core.db import Base
from app.core.ids import new_id

#: Messages up to this size are kept in one `blobs` row; larger ones in chunks of this size.
CHUNK_BYTES = 1024 * 1024
INLINE_BYTES = CHUNK_BYTES
#: Reading a blob back: up to this much stays in memory, beyond it a temporary file.
SPOOL_BYTES = 4 * 1024 * 1024


class Blob(Base):
    """One stored message: inline bytes (small) or the chunks of `blob_chunks` (large)."""

    __tablename__ = "blobs"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    #: The chunks' key, when not inline (chunks are written before the digest is known).
    chunked: Mapped[str | None] = mapped_column(String(36), nullable=True, unique=True)


class BlobChunk(Base):
    __tablename__ = "blob_chunks"

    # No foreign key to blobs: the chunks are written first, the `blobs` row last.
    blob: Mapped[str] = mapped_column(String(36), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


def _check(digest: str) -> str:
    if len(digest) != 64 or not all(c in "0123456789abcdef" for c in digest):
        raise ValueError("not a sha256 digest")
    return digest


class BlobStore(Protocol):
    """Where edXML bytes are kept; `session` is the caller's (the database store writes and
    reads on it, the directory store ignores it)."""

    def put_writer(self, session: Session, write: Callable[[BinaryIO], None]) -> tuple[str, int]:
        """Store what `write` writes to a file object, hashing as it goes: (digest, size)."""
        ...

    def put(self, session: Session, data: bytes) -> str: ...

    def read(self, session: Session, digest: str) -> bytes: ...

    def open(self, session: Session, digest: str) -> BinaryIO:
        """A readable file of the blob, at its start (the caller closes it)."""
        ...

    def as_path(self, session: Session, digest: str) -> AbstractContextManager[Path]:
        """A path to the blob's bytes while the context is open."""
        ...


def file_chunks(fh: BinaryIO, size: int = 64 * 1024) -> Iterator[bytes]:
    """The file's bytes in slices, then the file closed (for streaming responses)."""
    try:
        while chunk := fh.read(size):
            yield chunk
    finally:
        fh.close()


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


class DirectoryBlobStore:
    """Files in DATA_DIR/blobs, fsynced before the referencing transaction commits."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, digest: str) -> Path:
        _check(digest)
        return self.root / digest[:2] / digest[2:4] / digest

    def put(self, session: Session | None, data: bytes) -> str:
        return self.put_chunks([data])

    def put_chunks(self, chunks: Iterable[bytes]) -> str:
        def write(out: BinaryIO) -> None:
            for chunk in chunks:
                out.write(chunk)

        return self._put(write)[0]

    def put_writer(
        self, session: Session | None, write: Callable[[BinaryIO], None]
    ) -> tuple[str, int]:
        return self._put(write)

    def _put(self, write: Callable[[BinaryIO], None]) -> tuple[str, int]:
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

    def open(self, session: Session | None, digest: str) -> BinaryIO:
        return self.path(digest).open("rb")

    def read(self, session: Session | None, digest: str) -> bytes:
        return self.path(digest).read_bytes()

    @contextmanager
    def as_path(self, session: Session | None, digest: str) -> Iterator[Path]:
        yield self.path(digest)


class _ChunkWriter:
    """Hashes what is written; past INLINE_BYTES, sends full chunks to `blob_chunks`."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.digest = hashlib.sha256()
        self.size = 0
        self.buffer = bytearray()
        self.key: str | None = None
        self.seq = 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.size += len(data)
        self.buffer += data
        while len(self.buffer) > CHUNK_BYTES:
            self._send(bytes(self.buffer[:CHUNK_BYTES]))
            del self.buffer[:CHUNK_BYTES]
        return len(data)

    def _send(self, chunk: bytes) -> None:
        if self.key is None:
            self.key = new_id()
        self.session.execute(insert(BlobChunk).values(blob=self.key, seq=self.seq, data=chunk))
        self.seq += 1

    def finish(self) -> tuple[str, int]:
        digest = self.digest.hexdigest()
        if self.key is None:
            row = {"digest": digest, "size": self.size, "data": bytes(self.buffer)}
        else:
            if self.buffer:
                self._send(bytes(self.buffer))
            row = {"digest": digest, "size": self.size, "chunked": self.key}
        self.buffer = bytearray()
        conn = self.session.connection()
        stored = conn.execute(_insert_new(conn.dialect.name), row)
        if stored.first() is None and self.key is not None:
            # The same bytes were stored before: the chunks just written are not needed.
            self.session.execute(delete(BlobChunk).where(BlobChunk.blob == self.key))
        return digest, self.size


def _insert_new(dialect: str) -> ReturningInsert[tuple[str]]:
    """INSERT … ON CONFLICT (digest) DO NOTHING RETURNING digest in this dialect, on the
    table (Core: no ORM bulk path for one row), built once per dialect so it compiles once
    per set of columns (inline data or chunked)."""
    stmt = _INSERT_NEW.get(dialect)
    if stmt is None:
        table: Table = Blob.__table__  # type: ignore[assignment]
        ins = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
        stmt = ins.on_conflict_do_nothing(index_elements=["digest"]).returning(table.c.digest)
        _INSERT_NEW[dialect] = stmt
    return stmt


_INSERT_NEW: dict[str, ReturningInsert[tuple[str]]] = {}


class DatabaseBlobStore:
    """Blobs in the database itself (`blobs`, `blob_chunks`): every process reaches them."""

    def put_writer(self, session: Session, write: Callable[[BinaryIO], None]) -> tuple[str, int]:
        out = _ChunkWriter(session)
        write(out)  # type: ignore[arg-type]
        return out.finish()

    def put(self, session: Session, data: bytes) -> str:
        def write(out: BinaryIO) -> None:
            out.write(data)

        return self.put_writer(session, write)[0]

    def _row(self, session: Session, digest: str) -> tuple[bytes | None, str | None]:
        row = session.execute(
            select(Blob.data, Blob.chunked).where(Blob.digest == _check(digest))
        ).one_or_none()
        if row is None:
            raise FileNotFoundError(f"no blob {digest}")
        return row.data, row.chunked

    def chunks(self, session: Session, digest: str) -> Iterator[bytes]:
        data, key = self._row(session, digest)
        if key is None:
            yield data or b""
            return
        seq = 0
        while True:  # one chunk in memory at a time
            chunk = session.scalar(
                select(BlobChunk.data).where(BlobChunk.blob == key, BlobChunk.seq == seq)
            )
            if chunk is None:
                return
            yield chunk
            seq += 1

    def read(self, session: Session, digest: str) -> bytes:
        return b"".join(self.chunks(session, digest))

    def open(self, session: Session, digest: str) -> BinaryIO:
        out = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 (caller closes)
        try:
            for chunk in self.chunks(session, digest):
                out.write(chunk)
            out.seek(0)
        except BaseException:
            out.close()
            raise
        return out  # type: ignore[return-value]

    @contextmanager
    def as_path(self, session: Session, digest: str) -> Iterator[Path]:
        with tempfile.TemporaryDirectory(prefix="lienthong-blob-") as tmp:
            path = Path(tmp) / digest
            with path.open("wb") as out, self.open(session, digest) as src:
                shutil.copyfileobj(src, out, CHUNK_BYTES)
            yield path
