"""What a process holds besides the database: settings, the blob store and key custody."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from app.core.blobs import BlobStore
from app.core.config import Settings
from app.core.metrics import Metrics
from app.keys.custody import KeyCustody


class ConfigurationError(RuntimeError):
    """A setting the hub cannot start without."""


def resolve_key_passphrase(settings: Settings) -> str:
    """KEY_PASSPHRASE, or on the embedded SQLite default one generated into DATA_DIR (0600)."""
    if settings.key_passphrase is not None:
        return settings.key_passphrase.get_secret_value()
    if not settings.is_sqlite:
        raise ConfigurationError(
            "LIENTHONG_KEY_PASSPHRASE is required with PostgreSQL (it encrypts private keys)"
        )
    path = settings.data_dir / "key-passphrase"
    if not path.exists():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(32))
    return path.read_text().strip()


@dataclass
class Hub:
    settings: Settings
    blobs: BlobStore
    custody: KeyCustody
    metrics: Metrics = field(default_factory=Metrics)

    @classmethod
    def from_settings(cls, settings: Settings) -> Hub:
        return cls(
            settings=settings,
            blobs=BlobStore(Path(settings.data_dir) / "blobs"),
            custody=KeyCustody(resolve_key_passphrase(settings), settings.trust_anchors),
        )
