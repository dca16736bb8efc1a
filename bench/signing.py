"""Signing + verification cost of a 20 KB edXML document against the bare cryptographic work.

SPEC section 12: signing and verification of a 20 KB document must cost at most 1.5x the bare
work (lxml parse + exclusive C14N + SHA-256 + one RSA-2048 signature + one verification),
measured in the same run.

    .venv/bin/python bench/signing.py [--iterations N] [--runs R]

(a) hub:  parse, sign_tree (digest, SignedInfo, RSA-2048 signature, KeyInfo), then the full
          validate() on that tree (shape checks, digest, signature, algorithms, chain + CRL
          answered from the TrustStore cache as for a known sender, key usage, organization,
          report). One parse, like (b).
(b) bare: parse + exclusive C14N + SHA-256 + RSA-2048 PKCS#1 v1.5 sign + verify.
(c) outside: the same as (a) for a signer under an outside CA (TRUST_ANCHORS) whose OCSP answer
          and CRL come from the network: the revocation service answers from its warm cache
          (`Revocation.trust_store`) before validate(); this is the request path's cost when
          the worker keeps the cache fresh. Compared with (b) like (a).
Also measured: the cold fetch for (c) over loopback (a new process's first document: OCSP answer
and CRL fetched, checked and kept in SQLite, then an uncached path validation), and the
database-warm case (memo empty, fresh rows in the database). Also: the bytes round trip (sign_bytes, then parse the output and validate: one more
parse and a serialization, which the hub pays anyway when it stores or receives bytes) and one
uncached validation (what the path-validation cache saves), and the RFC 3161 token the hub
adds to every accepted signature (SPEC 5.2): (d) = (a) plus the in-process TSA's token over the
SignatureValue (what the request path pays when TSA_URL is unset), and one full verification
of such a token (what the worker and re-validation pay).
The workloads alternate within each run so that the noise of a shared machine hits them alike;
each figure is the median over runs of the per-run medians.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree
from sqlalchemy import delete
from sqlalchemy.orm import Session

from app.core.db import make_engine, read_first
from app.core.migrate import upgrade
from app.revocation.models import RevocationAnswer
from app.revocation.service import Revocation
from app.signing import TrustStore, pki, validate
from app.signing.timestamps import TimestampAuthority, imprint_of, verify_token
from app.signing.xmldsig import (
    Signer,
    keyinfo_certificates,
    parse_document,
    safe_parser,
    sign_bytes,
    sign_tree,
    signature_value_of,
)
from tests.outside_pki import OutsidePki, RevocationServer

SENDER = "000.00.00.H39"
TEXT = (
    "Ủy ban nhân dân tỉnh Long An đề nghị các sở, ban, ngành và Ủy ban nhân dân các huyện, "
    "thành phố, thị xã triển khai kết nối, liên thông phần mềm quản lý văn bản và điều hành; "
    "bảo đảm gửi, nhận văn bản điện tử có ký số theo đúng quy định của Chính phủ. "
)


def make_document(size: int = 20_000) -> bytes:
    """An edXML-like document of about `size` bytes: Vietnamese text plus a base64 attachment."""
    ns = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
    head = f"""<?xml version="1.0" encoding="UTF-8"?>
<edXML xmlns="{ns}">
  <edXML:edXMLEnvelope xmlns:edXML="{ns}">
    <edXML:edXMLHeader>
      <edXML:MessageHeader>
        <edXML:From><edXML:OrganId>{SENDER}</edXML:OrganId><edXML:OrganName>UBND Tỉnh Long An</edXML:OrganName></edXML:From>
        <edXML:To><edXML:OrganId>000.00.00.G22</edXML:OrganId><edXML:OrganName>Văn phòng Chính phủ</edXML:OrganName></edXML:To>
        <edXML:DocumentId>{SENDER},2026/11/26,1234/UBND-VX</edXML:DocumentId>
        <edXML:Code><edXML:CodeNumber>1234</edXML:CodeNumber><edXML:CodeNotation>UBND-VX</edXML:CodeNotation></edXML:Code>
        <edXML:PromulgationInfo><edXML:Place>Long An</edXML:Place><edXML:PromulgationDate>2026/11/26</edXML:PromulgationDate></edXML:PromulgationInfo>
        <edXML:Subject>V/v triển khai liên thông văn bản điện tử</edXML:Subject>
        <edXML:Content>{TEXT * 12}</edXML:Content>
      </edXML:MessageHeader>
      <edXML:TraceHeaderList>
        <edXML:TraceHeader><edXML:OrganId>{SENDER}</edXML:OrganId><edXML:Timestamp>2026/11/26 09:30:00</edXML:Timestamp></edXML:TraceHeader>
      </edXML:TraceHeaderList>
    </edXML:edXMLHeader>
    <edXML:edXMLBody>
      <edXML:edXMLManifest version="1.0">
        <edXML:Reference><edXML:ContentId>cid:1</edXML:ContentId><edXML:ContentType>application/pdf</edXML:ContentType><edXML:AttachmentName>congvan.pdf</edXML:AttachmentName></edXML:Reference>
      </edXML:edXMLManifest>
    </edXML:edXMLBody>
  </edXML:edXMLEnvelope>
  <AttachmentEncoded>
    <Attachment><ContentId>cid:1</ContentId><AttachmentName>congvan.pdf</AttachmentName><ContentType>application/pdf</ContentType><ContentTransferEncoded>"""
    tail = """</ContentTransferEncoded></Attachment>
  </AttachmentEncoded>
</edXML>
"""
    room = size - len(head.encode()) - len(tail.encode())
    payload = base64.b64encode(os.urandom(max(0, room) * 3 // 4)).decode()
    return (head + payload + tail).encode()


def median_ms(fn: Callable[[], object], iterations: int) -> float:
    for _ in range(min(20, iterations)):
        fn()
    samples = []
    for _ in range(iterations):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples) * 1000


def interleaved_samples(
    fns: dict[str, Callable[[], object]], iterations: int
) -> dict[str, list[float]]:
    """Seconds per call of each function, alternating them so machine noise hits all alike."""
    names = list(fns)
    samples: dict[str, list[float]] = {n: [] for n in names}
    for n in names:
        for _ in range(20):
            fns[n]()
    for i in range(iterations):
        order = names[i % len(names) :] + names[: i % len(names)]
        for n in order:
            t0 = time.perf_counter()
            fns[n]()
            samples[n].append(time.perf_counter() - t0)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    now = dt.datetime.now(dt.UTC)
    root_key, root_cert = pki.create_root_ca("Bench Root CA")
    ca_key, ca_cert = pki.create_issuing_ca(root_key, root_cert, "Bench Issuing CA")
    key, cert = pki.issue_org_certificate(ca_key, ca_cert, SENDER, "UBND Tỉnh Long An")
    crls = [
        pki.build_crl(k, c, [], now - dt.timedelta(hours=1), now + dt.timedelta(days=1))
        for k, c in ((root_key, root_cert), (ca_key, ca_cert))
    ]
    trust = TrustStore([root_cert], [ca_cert], crls)
    signer = Signer(key, cert, [ca_cert])
    tsa = TimestampAuthority(*pki.issue_tsa_certificate(ca_key, ca_cert, "Bench TSA"))
    assert isinstance(key, rsa.RSAPrivateKey)
    public = key.public_key()
    document = make_document()

    def hub_bytes() -> None:
        signed = sign_bytes(document, signer)
        report = validate(parse_document(signed), expected_organ_id=SENDER, trust=trust)
        assert report.passed, report.to_dict()

    def hub_in_tree() -> None:
        root = parse_document(document)
        sign_tree(root, signer)
        assert validate(root, expected_organ_id=SENDER, trust=trust).passed

    def hub_with_token() -> None:
        root = parse_document(document)
        sign_tree(root, signer)
        report = validate(root, expected_organ_id=SENDER, trust=trust)
        value = signature_value_of(root)
        assert report.passed and value is not None
        report.with_timestamp(tsa.stamp(imprint_of(value)))

    token_imprint = imprint_of(b"a signature value")
    token = tsa.stamp(token_imprint)

    def token_check() -> None:
        verify_token(token.der, token_imprint, trust)

    def bare() -> None:
        root = etree.fromstring(document, safe_parser())
        canonical = etree.tostring(root, method="c14n", exclusive=True)
        digest = hashlib.sha256(canonical).digest()
        signature = key.sign(digest, padding.PKCS1v15(), hashes.SHA256())
        public.verify(signature, digest, padding.PKCS1v15(), hashes.SHA256())

    def cold_chain() -> None:
        fresh = TrustStore([root_cert], [ca_cert], crls)
        signed = parse_document(sign_bytes(document, signer))
        assert validate(signed, expected_organ_id=SENDER, trust=fresh).passed

    # (c): an outside CA served on loopback, its answers cached in a SQLite database.
    server = RevocationServer.start()
    outside = OutsidePki(server.url)
    outside.serve(server)
    outside_doc = make_document().replace(SENDER.encode(), b"000.00.02.H39")
    outside_signer = outside.signer(outside.leaf("000.00.02.H39"))
    base = TrustStore([root_cert, outside.root.cert], [ca_cert], crls)
    db = Path(os.environ.get("TMPDIR", "/tmp")) / f"lienthong-bench-{os.getpid()}.db"
    upgrade(f"sqlite:///{db}")
    engine = make_engine(f"sqlite:///{db}")
    session = Session(engine)
    read_first(session)  # as the request path: reads, and keeps fetched answers on its own
    revocation = Revocation(5.0, allow_private=True)  # the outside CA is on loopback

    def hub_outside() -> None:
        root = parse_document(outside_doc)
        sign_tree(root, outside_signer)
        store, _ = revocation.trust_store(session, base, keyinfo_certificates(root))
        assert validate(root, expected_organ_id="000.00.02.H39", trust=store).passed

    def cold_outside(from_database: bool) -> None:
        fresh_base = TrustStore([root_cert, outside.root.cert], [ca_cert], crls)
        if not from_database:
            with Session(engine) as s, s.begin():
                s.execute(delete(RevocationAnswer))
        service = Revocation(5.0, allow_private=True)
        root = parse_document(sign_bytes(outside_doc, outside_signer))
        with Session(engine) as s:
            read_first(s)
            store, material = service.trust_store(s, fresh_base, keyinfo_certificates(root))
        assert validate(root, expected_organ_id="000.00.02.H39", trust=store).passed, material

    signed_size = len(sign_bytes(document, signer))
    print(f"document: {len(document):,} bytes, signed: {signed_size:,} bytes; ", end="")
    print(f"{args.runs} runs x {args.iterations} iterations, median per document")
    results: dict[str, list[float]] = {
        "bare": [],
        "hub": [],
        "bytes": [],
        "outside": [],
        "token": [],
    }
    fastest: dict[str, float] = {}
    hub_outside()  # the first document fetches; the runs below see a warm cache
    session.commit()
    fetched_before = server.fetches()
    for run in range(1, args.runs + 1):
        samples = interleaved_samples(
            {
                "bare": bare,
                "hub": hub_in_tree,
                "bytes": hub_bytes,
                "outside": hub_outside,
                "token": hub_with_token,
            },
            args.iterations,
        )
        m = {n: statistics.median(v) * 1000 for n, v in samples.items()}
        for name, values in samples.items():
            results[name].append(m[name])
            fastest[name] = min(fastest.get(name, float("inf")), min(values) * 1000)
        print(
            f"  run {run}: hub {m['hub']:.3f} ms, bare {m['bare']:.3f} ms, "
            f"ratio {m['hub'] / m['bare']:.2f}; outside CA {m['outside']:.3f} ms, "
            f"ratio {m['outside'] / m['bare']:.2f}; bytes round trip {m['bytes']:.3f} ms; "
            f"with token {m['token']:.3f} ms"
        )
    assert server.fetches() == fetched_before, "the warm path fetched"
    hub_ms, bare_ms, bytes_ms, outside_ms, token_ms = (
        statistics.median(results[n]) for n in ("hub", "bare", "bytes", "outside", "token")
    )
    cold = median_ms(cold_chain, max(10, args.iterations // 20))
    cold_fetch = median_ms(lambda: cold_outside(False), max(10, args.iterations // 20))
    from_db = median_ms(lambda: cold_outside(True), max(10, args.iterations // 20))
    print(f"(a) hub sign_tree + validate (cached chain + CRL):             {hub_ms:.3f} ms")
    print(f"(b) bare parse + exc-C14N + SHA-256 + RSA-2048 sign + verify:  {bare_ms:.3f} ms")
    print(f"ratio (a)/(b): {hub_ms / bare_ms:.2f}  (target <= 1.5)")
    print(f"(c) outside CA, revocation data from the warm cache:           {outside_ms:.3f} ms")
    print(f"ratio (c)/(b): {outside_ms / bare_ms:.2f}  (target <= 1.5)")
    print(
        f"bytes round trip (sign_bytes, parse, validate): {bytes_ms:.3f} ms, "
        f"ratio {bytes_ms / bare_ms:.2f}"
    )
    print(
        f"fastest single samples (least disturbed by other load): hub {fastest['hub']:.3f} ms, "
        f"bare {fastest['bare']:.3f} ms, ratio {fastest['hub'] / fastest['bare']:.2f}; "
        f"outside {fastest['outside']:.3f} ms, ratio {fastest['outside'] / fastest['bare']:.2f}"
    )
    print(
        f"outside CA, cold (OCSP + CRL fetched on loopback, checked, kept; uncached path): "
        f"{cold_fetch:.2f} ms"
    )
    print(f"outside CA, memo empty, answers fresh in the database: {from_db:.2f} ms")
    print(f"one uncached validation (path building + 2 CRLs): {cold:.2f} ms")
    print(
        f"(d) (a) + in-process RFC 3161 token over the SignatureValue: {token_ms:.3f} ms, "
        f"ratio (d)/(b) {token_ms / bare_ms:.2f}; the token alone {token_ms - hub_ms:.3f} ms"
    )
    check = median_ms(token_check, max(20, args.iterations // 5))
    print(f"one token verification (signature, ESS, EKU, cached TSA chain): {check:.3f} ms")
    session.close()
    engine.dispose()
    server.stop()
    db.unlink(missing_ok=True)
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)


if __name__ == "__main__":
    main()
