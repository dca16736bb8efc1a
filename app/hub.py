"""What a process holds besides the database: settings, the blob store, key custody, the
revocation service and the TSA client."""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from app.core.blobs import BlobStore, DatabaseBlobStore, DirectoryBlobStore
from app.core.config import Settings
from app.core.errors import SettingError
from app.core.metrics import Metrics
from app.directory.cache import DirectoryCache
from app.keys.custody import KeyCustody
from app.keys.timestamping import TimestampClient
from app.revocation.service import Revocation
from app.signing.pdf_signing import Timestamper


class ConfigurationError(SettingError):
    """A setting the hub cannot start without."""


PASSPHRASE_FILE = "key-passphrase"


def resolve_key_passphrase(settings: Settings) -> str:
    """KEY_PASSPHRASE, or on the embedded SQLite default one generated into DATA_DIR (0600)."""
    if settings.key_passphrase is not None:
        return settings.key_passphrase.get_secret_value()
    if not settings.is_sqlite:
        raise ConfigurationError(
            "LIENTHONG_KEY_PASSPHRASE is required with PostgreSQL (it encrypts private keys)"
        )
    return generated_passphrase(Path(settings.data_dir))


def generated_passphrase(data_dir: Path) -> str:
    """The passphrase in DATA_DIR/key-passphrase, created once even when processes race.

    The file only ever appears whole: it is written and fsynced under a temporary name, then
    hard-linked into place. A process that loses the link (EEXIST) reads the winner's file, so
    every process of one data directory ends with the same passphrase.
    """
    path = data_dir / PASSPHRASE_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(prefix=f".{PASSPHRASE_FILE}.", dir=data_dir)
        try:
            with os.fdopen(fd, "w") as fh:  # mkstemp creates it 0600
                fh.write(secrets.token_urlsafe(32))
                fh.flush()
                os.fsync(fh.fileno())
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
        finally:
            os.unlink(tmp)
        _fsync_dir(data_dir)
    passphrase = path.read_text().strip()
    if not passphrase:
        raise ConfigurationError(
            f"{path} is empty: remove it only if no key was ever encrypted with it, "
            "or set LIENTHONG_KEY_PASSPHRASE"
        )
    return passphrase


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def blob_store(settings: Settings) -> BlobStore:
    """BLOB_STORE: the database with PostgreSQL (shared by every process), else DATA_DIR/blobs."""
    kind = settings.blob_store
    if kind == "auto":
        kind = "directory" if settings.is_sqlite else "database"
    if kind == "database":
        return DatabaseBlobStore()
    return DirectoryBlobStore(Path(settings.data_dir) / "blobs")


@dataclass
class Hub:
    settings: Settings
    blobs: BlobStore
    custody: KeyCustody
    timestamps: TimestampClient
    metrics: Metrics = field(default_factory=Metrics)
    pdf_timestamper: Timestamper | None = None
    """Overrides the RFC 3161 exchange `sign_pdf=true` timestamps with (PAdES B-LT); None:
    `timestamps.query` (the hub's TSA in process, or TSA_URL)."""
    revocation: Revocation = field(default_factory=Revocation)
    """Revocation data from the network for certificates the hub did not issue (SPEC 5.1)."""
    directory: DirectoryCache = field(default_factory=lambda: DirectoryCache(0))
    """The directory as routing reads it, reused for DIRECTORY_CACHE_SECONDS."""

    @classmethod
    def from_settings(cls, settings: Settings) -> Hub:
        custody = KeyCustody(
            resolve_key_passphrase(settings),
            settings.trust_anchors,
            cache_seconds=settings.directory_cache_seconds,
        )
        metrics = Metrics()
        return cls(
            settings=settings,
            metrics=metrics,
            blobs=blob_store(settings),
            custody=custody,
            timestamps=TimestampClient.from_settings(custody, settings),
            revocation=Revocation(
                settings.fetch_timeout,
                allow_private=settings.revocation_allow_private,
                allowed_hosts=settings.revocation_allowed_hosts.split(","),
                metrics=metrics,
            ),
            directory=DirectoryCache(settings.directory_cache_seconds),
        )
