"""Settings: every knob of SPEC section 11, read once from `LIENTHONG_*` and `.env`."""

from __future__ import annotations

import sys
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

#: Secrets the hub refuses outside the embedded SQLite demo: placeholders that shipped in
#: docker-compose.yml and deploy/ files, and the usual guesses. Exact values (case-insensitive)
#: rather than a substring rule, so a real passphrase that happens to contain "test" is fine.
KNOWN_DEFAULT_SECRETS = frozenset(
    {
        "change-me",
        "changeme",
        "change_me",
        "change me",
        "changeit",
        "secret",
        "password",
        "passphrase",
        "passw0rd",
        "test",
        "testing",
        "default",
        "admin",
        "lienthong",
        "123456",
        "12345678",
        "compose-hub-secret-change-me",
        "demo-hub-secret-change-me",
    }
)


def _is_embedded_sqlite(info: ValidationInfo) -> bool:
    url = info.data.get("database_url")
    return url is not None and (not url or str(url).startswith("sqlite"))


class Settings(BaseSettings):
    """The hub's configuration; wrong values fail at start with the field named."""

    model_config = SettingsConfigDict(
        env_prefix="LIENTHONG_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    data_dir: Path = Path("var")
    database_url: str = Field(
        default="", description="SQLAlchemy URL; empty means SQLite in DATA_DIR/lienthong.db"
    )
    key_passphrase: SecretStr | None = Field(
        default=None,
        description="Encrypts private keys at rest; generated into DATA_DIR on SQLite if absent",
    )
    trust_anchors: Path | None = None
    vpcp_url: str | None = None
    vpcp_system_id: str | None = None
    vpcp_secret: SecretStr | None = None
    vpcp_poll_seconds: float = Field(default=5.0, gt=0)
    max_document_bytes: int = Field(default=50 * 1024 * 1024, gt=1024)
    max_attempts: int = Field(default=10, ge=1)
    max_age: int = Field(default=2 * 24 * 3600, ge=1, description="seconds before a delivery dies")
    hold_max_age: int = Field(
        default=24 * 3600,
        ge=1,
        description="seconds a document from the axis stays held (TRY_LATER) before it is "
        "quarantined and answered 02",
    )
    log_level: str = "INFO"
    worker_enabled: bool = True
    worker_poll_seconds: float = Field(default=0.5, gt=0)
    worker_lease_seconds: int = Field(default=60, ge=5)
    worker_heartbeat_max_age: int = Field(default=30, ge=1)
    readyz_requires_worker: bool = True
    embedded_mock: bool = Field(
        default=True, description="on SQLite without VPCP_URL, serve starts the mock axis too"
    )
    mock_port: int = Field(default=8090, ge=0, le=65535)
    auto_migrate: bool = Field(default=True, description="serve upgrades an embedded SQLite db")
    hub_organ_id: str = Field(
        default="000.00.00.H39",
        # The OrganId form of Decision 20/2020 (app.edxml's organ_id_is_valid); core stays
        # below the codec, so the rule is stated here as a pattern.
        pattern=r"^[0-9A-Z]+(\.[0-9A-Z]+)*$",
        max_length=35,
        description="the hub's own OrganId, written in the TraceHeader of packages it builds "
        "or fills in (default: the demo province's People's Committee)",
    )
    pdf_signature_policy: Literal["report", "require_valid"] = Field(
        default="report",
        description="report: PDF attachments' signatures are shown, never block; require_valid: "
        "a document whose PDF attachments do not all pass (unsigned included) is refused",
    )
    pdf_stamp_font: Path | None = Field(
        default=None,
        description="TrueType font of the sign_pdf stamp; default DejaVu Sans (fonts-dejavu-core)",
    )
    webhook_allow_private: bool = Field(
        default=False,
        description="allow push URLs on loopback, link-local and private addresses",
    )
    revocation_allow_private: bool = Field(
        default=False,
        description="allow fetching revocation data and caIssuers certificates (URLs written "
        "in certificates) from loopback, link-local, private and reserved addresses",
    )
    revocation_allowed_hosts: str = Field(
        default="",
        description="comma-separated hosts (as written in certificate URLs) that may be fetched "
        "from although they are on private addresses, e.g. an internal CRL mirror",
    )
    fetch_timeout: float = Field(
        default=5.0,
        gt=0,
        le=60,
        description="seconds one fetch of revocation data (CRL, OCSP, caIssuers) or of a "
        "timestamp token may take in all, redirects and body included",
    )
    http_keep_alive: int = Field(default=5, ge=1, description="seconds an idle connection stays")
    http_header_timeout: float = Field(
        default=10.0, gt=0, description="seconds to receive a request's headers"
    )
    http_max_connections: int = Field(
        default=1000, ge=0, description="connections at once per process, then 503; 0 = no cap"
    )
    submission_threads: int = Field(
        default=2,
        ge=1,
        le=64,
        description="submissions (POST /documents, POST /documents/{id}/statuses) a process "
        "runs at once on worker threads; the others wait their turn without a thread. More "
        "threads than cores cost CPU per document (GIL handovers at every database round "
        "trip); fewer let a slow revocation fetch or TSA hold up more of the process's "
        "submissions. Other routes are not limited by it",
    )
    tsa_url: str | None = Field(
        default=None,
        description="RFC 3161 TSA that timestamps every signature; unset: the hub's own TSA "
        "(/pki/tsa), called in process",
    )
    timestamp_lease_seconds: int = Field(
        default=60, ge=5, description="how long a worker holds a pending timestamp it fetches"
    )
    auth_cache_seconds: float = Field(
        default=1.0,
        ge=0,
        le=1.0,
        description="seconds an API key's lookup is reused; a revocation acts within it "
        "(at once in the process that revoked); 0 = every request looks it up",
    )
    directory_cache_seconds: float = Field(
        default=1.0,
        ge=0,
        le=1.0,
        description="seconds a process reuses what it read of the organization directory and "
        "of each organization's active signing key; a deactivation, rotation or revocation "
        "committed by another process acts within it (at once in the process that made it); "
        "0 = every request reads them",
    )
    blob_store: Literal["auto", "database", "directory"] = Field(
        default="auto",
        description="where edXML bytes are kept: auto = in the database with PostgreSQL (every "
        "process on every machine reaches them), in DATA_DIR/blobs with SQLite",
    )
    rate_limit_per_minute: int = Field(
        default=6000, ge=0, description="requests a minute per API key, per process; 0 = off"
    )

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    @field_validator("tsa_url")
    @classmethod
    def _http_tsa(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            return None
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        if value and not value.startswith(("sqlite", "postgresql")):
            raise ValueError("only sqlite:/// and postgresql:// URLs are supported")
        if value.startswith("postgresql://"):
            # psycopg 3 is the driver this project ships; say so once, here.
            value = "postgresql+psycopg://" + value.removeprefix("postgresql://")
        return value

    @field_validator("key_passphrase", "vpcp_secret")
    @classmethod
    def _no_default_secret(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        """Outside the embedded SQLite demo, a known default or empty secret stops the start."""
        if value is None or _is_embedded_sqlite(info):
            return value
        secret = value.get_secret_value().strip()
        if not secret:
            raise ValueError("is empty: set a secret of your own")
        if secret.lower() in KNOWN_DEFAULT_SECRETS:
            raise ValueError("is a known default value: set a secret of your own")
        return value

    @model_validator(mode="after")
    def _default_database(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{(self.data_dir / 'lienthong.db').as_posix()}"
        return self

    @property
    def max_edxml_bytes(self) -> int:
        """The cap on an edXML message on the wire.

        MAX_DOCUMENT_BYTES bounds what a document carries (its attachments, decoded); base64
        makes them 4/3 as large in the file, plus room for the envelope and signature. Without
        this a 50 MiB attachment (a 70 MB file) could never be sent with the default cap.
        """
        return self.max_document_bytes * 4 // 3 + 2 * 1024 * 1024

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def format_settings_error(exc: Exception) -> str:
    """Turn a pydantic ValidationError into lines an operator can act on."""
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return str(exc)
    lines = ["invalid configuration:"]
    for err in errors():
        name = "LIENTHONG_" + "_".join(str(p) for p in err.get("loc", ())).upper()
        lines.append(f"  {name}: {err.get('msg')}")
    return "\n".join(lines)


def load_settings() -> Settings:
    """Settings for a command: on bad configuration, say what to fix and exit 2."""
    try:
        return Settings()
    except ValidationError as exc:
        print(format_settings_error(exc), file=sys.stderr)
        sys.exit(2)
