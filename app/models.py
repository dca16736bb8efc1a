"""Every table, imported in one place so Alembic and the tests see the whole schema."""

from app.audit.models import AuditEntry, AuditHead
from app.clients.models import ApiClient, client_organizations
from app.core.db import Base
from app.directory.models import Organization
from app.keys.models import CaMaterial, RegisteredFingerprint, RevokedCertificate, SigningKey

__all__ = [
    "ApiClient",
    "AuditEntry",
    "AuditHead",
    "Base",
    "CaMaterial",
    "Organization",
    "RegisteredFingerprint",
    "RevokedCertificate",
    "SigningKey",
    "client_organizations",
]
