"""lienthong-client: a typed Python client for the Lienthong hub (sync and async).

from lienthong_client import Client
with Client("http://127.0.0.1:8080", api_key) as hub:
    doc = hub.submit({...})            # the JSON form of an edXML document
"""

from lienthong_client.client import AsyncClient, Call, Calls, Client
from lienthong_client.errors import (
    Conflict,
    Forbidden,
    LienthongError,
    NotFound,
    PayloadTooLarge,
    ProblemError,
    RateLimited,
    ServerError,
    SignatureInvalid,
    Unauthorized,
    Unprocessable,
)
from lienthong_client.models import (
    Ack,
    AnnualReport,
    Document,
    Inactive,
    InboxItem,
    Interchange,
    Organization,
    Page,
    Status,
    Trace,
    ValidateResult,
    Validation,
    WebhookSecret,
)
from lienthong_client.webhooks import WebhookVerificationError, sign, verify_webhook

__version__ = "0.1.0"
__all__ = [
    "Ack",
    "AnnualReport",
    "AsyncClient",
    "Call",
    "Calls",
    "Client",
    "Conflict",
    "Document",
    "Forbidden",
    "Inactive",
    "InboxItem",
    "Interchange",
    "LienthongError",
    "NotFound",
    "Organization",
    "Page",
    "PayloadTooLarge",
    "ProblemError",
    "RateLimited",
    "ServerError",
    "SignatureInvalid",
    "Status",
    "Trace",
    "Unauthorized",
    "Unprocessable",
    "ValidateResult",
    "Validation",
    "WebhookSecret",
    "WebhookVerificationError",
    "sign",
    "verify_webhook",
]
