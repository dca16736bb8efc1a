"""The trust store a signature is validated with: the hub's own (anchors, its CRLs, registered
fingerprints) plus revocation data from the network for the signature's certificates that the
hub did not issue (SPEC 5.1; `app.revocation`), gathered before validation so that
`app.signing` stays free of HTTP."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from lxml import etree
from sqlalchemy.orm import Session

from app.hub import Hub
from app.signing.report import Message, ValidationReport
from app.signing.trust import TrustStore
from app.signing.xmldsig import keyinfo_certificates


@dataclasses.dataclass(frozen=True)
class Trust:
    store: TrustStore
    problems: tuple[str, ...] = ()
    """What revocation data could not be obtained, and why (shown when validation fails)."""

    def explain(self, report: ValidationReport) -> ValidationReport:
        """A report that did not pass gets the fetch problems as warnings."""
        if report.passed or not self.problems:
            return report
        extra = tuple(Message("revocation.fetch_failed", p[:500]) for p in self.problems)
        return dataclasses.replace(report, warnings=report.warnings + extra)


def trust_for_certificates(session: Session, hub: Hub, certificates: Sequence[bytes]) -> Trust:
    """Trust for a signature that carries these DER certificates (signer and intermediates)."""
    base = hub.custody.trust_store(session)
    store, material = hub.revocation.trust_store(session, base, certificates)
    return Trust(store, material.problems)


def trust_for(session: Session, hub: Hub, root: etree._Element) -> Trust:
    """Trust for the XML-DSig signature of an edXML tree."""
    return trust_for_certificates(session, hub, keyinfo_certificates(root))
