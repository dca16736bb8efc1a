"""The hub's own signatures are verified on a sample, not every time (SPEC 12).

A document the hub has just signed would pass validation by construction: same key, same
certificate, same trust store. Re-running the whole validation on each costs C14N, a digest
and an RSA verification again. The first signature of each signer under each trust store is
validated in full, then every `every`-th (a self-check of the signing code), and whenever the
template is older than `ttl` seconds or the certificate nears its end; in between, the
report is that last full validation's, with this document's times. Any change of trust
(a revocation, a new CRL, an anchor) builds a new trust store, which starts again with a full
validation; a failing self-check is never reused.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from datetime import datetime

from lxml import etree

from app.core.timeutil import utcnow
from app.edxml.payloads import DetachedPayloads
from app.signing import TrustStore, ValidationReport, validate
from app.signing.validation import claimed_signing_time
from app.signing.xmldsig import Signer


@dataclasses.dataclass
class _Template:
    report: ValidationReport
    trust: TrustStore
    until: float
    uses: int = 0


class SelfCheck:
    def __init__(self, every: int = 64, ttl: float = 60.0) -> None:
        self.every = every
        self.ttl = ttl
        self.full = 0  # full validations made (for tests and the benchmark)
        self._templates: dict[tuple[str, int], _Template] = {}
        self._lock = threading.Lock()

    def report(
        self,
        root: etree._Element,
        signer: Signer,
        *,
        organ_id: str,
        trust: TrustStore,
        at: datetime,
        payloads: DetachedPayloads | None,
    ) -> ValidationReport:
        """The validation report of a signature `signer` just made over `root`."""
        key = (organ_id, signer.certificate.serial_number)
        now = time.monotonic()
        with self._lock:
            t = self._templates.get(key)
            reuse = (
                t is not None
                and t.trust is trust
                and now < t.until
                and t.uses % self.every != self.every - 1
                and at < signer.certificate.not_valid_after_utc
            )
            if reuse and t is not None:
                t.uses += 1
                template = t.report
        if reuse:
            try:
                claimed = claimed_signing_time(root)
            except ValueError:
                claimed = None
            return dataclasses.replace(
                template,
                claimed_signing_time=claimed,
                best_signature_time=at,
                validated_at=utcnow(),
            )
        report = validate(root, expected_organ_id=organ_id, trust=trust, at=at, payloads=payloads)
        with self._lock:
            self.full += 1
            if report.passed:
                self._templates[key] = _Template(report, trust, now + self.ttl)
            else:
                self._templates.pop(key, None)
        return report


#: One per process: the hub's signers and trust stores are process-wide too.
SELF_CHECK = SelfCheck()
