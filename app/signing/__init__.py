"""Pure signing and signature validation for edXML (SPEC section 5).

Bytes, keys, certificates, CRLs and trust material in; signed documents and validation reports
out. No database, HTTP or filesystem: callers load keys once and hand in what they hold.

- `xmldsig`: `Signer`, `sign_tree`, `sign_bytes`, `parse_document` (enveloped XML-DSig).
- `validation`: `TrustStore`, `Policy`, `validate`, `validate_bytes`, `ValidationReport`.
- `pki`: the demo PKI (root, issuing CA, organization certificates, CRLs, key encryption).
"""
