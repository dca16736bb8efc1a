"""Key custody over the API: rotation and revocation of an organization's signing key."""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from app.directory.schemas import CertificateInfo
from app.signing.pki import RevocationReason


class KeyRevoke(BaseModel):
    """`POST /organizations/{organ_id}/keys/revoke`."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"since": "2026-11-20T08:00:00+07:00", "reason": "keyCompromise"}]
        },
    )

    since: AwareDatetime | None = Field(
        default=None,
        description="when the key stopped being trustworthy (may be in the past: documents "
        "the hub received after it then fail re-validation with REVOKED); default now",
    )
    reason: RevocationReason = Field(
        default="unspecified", description="an RFC 5280 CRLReason name, written in the CRL"
    )
    reissue: bool = Field(
        default=True, description="issue a successor key and certificate at once (default)"
    )


class KeyChange(BaseModel):
    """What a rotation or revocation did; `certificate` is the one that signs from now on."""

    organ_id: str
    certificate: CertificateInfo | None
    superseded: list[str] = Field(
        default_factory=list, description="serials retired (not revoked) by a rotation"
    )
    revoked: list[str] = Field(default_factory=list, description="serials revoked")
    since: str | None = None
    reason: str | None = None
