"""Every table, imported in one place so Alembic and the tests see the whole schema."""

from app.audit.models import AuditEntry, AuditHead, AuditPending
from app.clients.models import ApiClient, client_organizations
from app.core.blobs import Blob, BlobChunk
from app.core.db import Base
from app.delivery.models import AxisReceipt, Delivery, TraceEvent, WorkerHeartbeat
from app.directory.models import Organization
from app.documents.models import (
    Document,
    HeldDocument,
    IdempotencyRecord,
    StatusMessage,
    ValidationRecord,
)
from app.keys.models import (
    CaMaterial,
    PublishedCrl,
    RegisteredFingerprint,
    RevokedCertificate,
    SigningKey,
)
from app.revocation.models import RevocationAnswer
from app.stats.models import StatsDaily, StatsDelta, StatsMonthly

__all__ = [
    "ApiClient",
    "AuditEntry",
    "AuditHead",
    "AuditPending",
    "AxisReceipt",
    "Base",
    "Blob",
    "BlobChunk",
    "CaMaterial",
    "Delivery",
    "Document",
    "HeldDocument",
    "IdempotencyRecord",
    "Organization",
    "PublishedCrl",
    "RegisteredFingerprint",
    "RevocationAnswer",
    "RevokedCertificate",
    "SigningKey",
    "StatsDaily",
    "StatsDelta",
    "StatsMonthly",
    "StatusMessage",
    "TraceEvent",
    "ValidationRecord",
    "WorkerHeartbeat",
    "client_organizations",
]
