"""Pure signing and signature validation for edXML (SPEC section 5).

Bytes, keys, certificates, CRLs and trust material in; signed documents and validation reports
out. No database, HTTP or filesystem: callers load keys once and hand in what they hold.

- `xmldsig`: `Signer`, `sign_tree`, `sign_bytes`, `parse_document` (enveloped XML-DSig).
- `report`: `ValidationReport` and its parts (the `TimestampToken` too), `Policy`, the indications.
- `trust`: `TrustStore` (anchors, CRLs/OCSP, registered fingerprints, the path-validation
  cache) and the bridge to pyhanko-certvalidator.
- `validation`: `validate`, `validate_bytes`: the run of the SPEC's checks, in order.
- `pki`: the demo PKI (root, issuing CA, organization and TSA certificates, CRLs, key encryption).
- `timestamps`: RFC 3161: `build_request`, `TimestampAuthority`, `parse_response`, `verify_token`.

The names below are the package's API for the rest of the hub.
"""

from app.signing.report import (
    DEFAULT_POLICY,
    INDETERMINATE,
    NO_SIGNATURE_FOUND,
    TOTAL_FAILED,
    TOTAL_PASSED,
    Policy,
    ValidationReport,
)
from app.signing.trust import TrustStore
from app.signing.validation import validate, validate_bytes

__all__ = [
    "DEFAULT_POLICY",
    "INDETERMINATE",
    "NO_SIGNATURE_FOUND",
    "TOTAL_FAILED",
    "TOTAL_PASSED",
    "Policy",
    "TrustStore",
    "ValidationReport",
    "validate",
    "validate_bytes",
]
