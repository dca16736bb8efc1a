"""Session-scoped demo PKI and helpers for the signing tests.

Key generation is the slow part (RSA-2048 ~0.1 s each), so every certificate the tests need is
made once per session (per xdist worker). The root is RSA-2048 here only to keep that cost down.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from lxml import etree

from app.signing import TrustStore, ValidationReport, pki, validate
from app.signing.pki import PrivateKey
from app.signing.xmldsig import (
    DS_NS,
    ENVELOPED_SIGNATURE,
    EXC_C14N,
    RSA_SHA256,
    SHA256,
    Signer,
    c14n_signed_info,
    find_header,
    parse_document,
    raw_signature,
    sign_bytes,
)

SAMPLES = Path(__file__).resolve().parents[2].parent / "shared/interop/edxml"
NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
SENDER = "000.00.00.H39"
OTHER = "000.00.00.G22"
UNBOUND = "000.00.02.H39"
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
DAY = dt.timedelta(days=1)


def make_edxml(
    sender: str = SENDER,
    *,
    attachment: bytes = b"%PDF-1.7 demo \xe2\x80\x94 v\xc4\x83n b\xe1\xba\xa3n",
    trace_time: str = "2026/11/26 09:30:00",
) -> bytes:
    """A small edXML document (QCVN 102:2016 shape, both namespace spellings, one attachment)."""
    payload = base64.b64encode(attachment).decode()
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<edXML xmlns="{NS}">
  <edXML:edXMLEnvelope xmlns:edXML="{NS}">
    <edXML:edXMLHeader>
      <edXML:MessageHeader>
        <edXML:From><edXML:OrganId>{sender}</edXML:OrganId><edXML:OrganName>UBND Tỉnh Long An</edXML:OrganName></edXML:From>
        <edXML:To><edXML:OrganId>{OTHER}</edXML:OrganId><edXML:OrganName>Văn phòng Chính phủ</edXML:OrganName></edXML:To>
        <edXML:DocumentId>{sender},2026/11/26,1234/UBND-VX</edXML:DocumentId>
        <edXML:Code><edXML:CodeNumber>1234</edXML:CodeNumber><edXML:CodeNotation>UBND-VX</edXML:CodeNotation></edXML:Code>
        <edXML:PromulgationInfo><edXML:Place>Long An</edXML:Place><edXML:PromulgationDate>2026/11/26</edXML:PromulgationDate></edXML:PromulgationInfo>
        <edXML:Subject>V/v triển khai liên thông văn bản điện tử</edXML:Subject>
        <edXML:Content>Đề nghị các cơ quan, đơn vị kết nối phần mềm quản lý văn bản.</edXML:Content>
      </edXML:MessageHeader>
      <edXML:TraceHeaderList>
        <edXML:TraceHeader><edXML:OrganId>{sender}</edXML:OrganId><edXML:Timestamp>{trace_time}</edXML:Timestamp></edXML:TraceHeader>
      </edXML:TraceHeaderList>
    </edXML:edXMLHeader>
    <edXML:edXMLBody>
      <edXML:edXMLManifest version="1.0">
        <edXML:Reference><edXML:ContentId>cid:1</edXML:ContentId><edXML:ContentType>application/pdf</edXML:ContentType><edXML:AttachmentName>congvan.pdf</edXML:AttachmentName></edXML:Reference>
      </edXML:edXMLManifest>
    </edXML:edXMLBody>
  </edXML:edXMLEnvelope>
  <AttachmentEncoded>
    <Attachment><ContentId>cid:1</ContentId><AttachmentName>congvan.pdf</AttachmentName><ContentType>application/pdf</ContentType><ContentTransferEncoded>{payload}</ContentTransferEncoded></Attachment>
  </AttachmentEncoded>
</edXML>
""".encode()


@dataclass
class Party:
    """A key, its certificate, and the KeyInfo chain to send with it."""

    key: PrivateKey
    cert: x509.Certificate
    chain: list[x509.Certificate]

    @property
    def signer(self) -> Signer:
        return Signer(self.key, self.cert, self.chain)


@dataclass
class Pki:
    root_key: PrivateKey
    root: x509.Certificate
    ca_key: PrivateKey
    ca: x509.Certificate
    crls: list[bytes]
    parties: dict[str, Party] = field(default_factory=dict)
    foreign_root: x509.Certificate | None = None

    def trust(
        self,
        *,
        crls: Sequence[bytes] | None = None,
        ocsp_responses: Sequence[bytes] = (),
        registered_fingerprints: dict[str, set[str]] | None = None,
    ) -> TrustStore:
        """A fresh store (and so a fresh cache) over this PKI."""
        return TrustStore(
            [self.root],
            [self.ca],
            self.crls if crls is None else crls,
            ocsp_responses,
            registered_fingerprints,
        )

    def crl(
        self,
        revoked: Sequence[tuple[int, dt.datetime]] = (),
        *,
        this_update: dt.datetime = NOW - dt.timedelta(hours=1),
        next_update: dt.datetime = NOW + 7 * DAY,
    ) -> bytes:
        """A CRL of the issuing CA."""
        return pki.build_crl(self.ca_key, self.ca, list(revoked), this_update, next_update)

    def root_crl(self) -> bytes:
        return pki.build_crl(
            self.root_key, self.root, [], NOW - dt.timedelta(hours=1), NOW + 7 * DAY
        )


@pytest.fixture(scope="session")
def demo_pki() -> Pki:
    root_key, root = pki.create_root_ca(
        "Demo Root CA (Ban Cơ yếu Chính phủ)", key_size=2048, not_before=NOW - 800 * DAY
    )
    ca_key, ca = pki.create_issuing_ca(
        root_key, root, "Demo Issuing CA", not_before=NOW - 800 * DAY
    )

    def issue(organ: str, **kwargs: object) -> Party:
        # Valid from well before NOW: under xdist this fixture may be built minutes after NOW
        # was taken, and tests validate at NOW - 1 min.
        kwargs.setdefault("not_before", NOW - DAY)
        key, cert = pki.issue_org_certificate(ca_key, ca, organ, "UBND Tỉnh Long An", **kwargs)  # type: ignore[arg-type]
        return Party(key, cert, [ca])

    parties = {
        "rsa": issue(SENDER),
        "ec": issue(SENDER, key_type="ec"),
        "other": issue(OTHER),
        "expired": issue(
            SENDER, key_type="ec", not_before=NOW - 400 * DAY, not_after=NOW - 30 * DAY
        ),
        "future": issue(
            SENDER, key_type="ec", not_before=NOW + 30 * DAY, not_after=NOW + 400 * DAY
        ),
        "revoked": issue(SENDER, key_type="ec", not_before=NOW - 10 * DAY),
        "encipher": issue(SENDER, key_type="ec", key_usage=("key_encipherment",)),
        "rsa1024": issue(SENDER, key_size=1024),
        "unbound": issue(
            UNBOUND, key_type="ec", include_organ_id=False, common_name="Văn thư UBND xã"
        ),
        "ocsp": issue(
            SENDER, key_type="ec", ocsp_url="http://ocsp.demo.invalid/", not_before=NOW - DAY
        ),
    }
    foreign_root_key, foreign_root = pki.create_root_ca(
        "Demo Root CA (Ban Cơ yếu Chính phủ)", key_size=2048
    )
    foreign_ca_key, foreign_ca = pki.create_issuing_ca(
        foreign_root_key, foreign_root, "Demo Issuing CA"
    )
    fkey, fcert = pki.issue_org_certificate(foreign_ca_key, foreign_ca, SENDER, "UBND Tỉnh Long An")
    # KeyInfo carries the whole foreign chain, root included: it must still not be trusted.
    parties["foreign"] = Party(fkey, fcert, [foreign_ca, foreign_root])

    revoked_at = NOW - dt.timedelta(hours=2)
    env = Pki(root_key, root, ca_key, ca, [], parties, foreign_root)
    env.crls = [env.root_crl(), env.crl([(parties["revoked"].cert.serial_number, revoked_at)])]
    return env


@pytest.fixture(scope="session")
def trust(demo_pki: Pki) -> TrustStore:
    return demo_pki.trust()


@pytest.fixture(scope="session")
def signed_rsa(demo_pki: Pki) -> bytes:
    return sign_bytes(make_edxml(), demo_pki.parties["rsa"].signer)


Check = Callable[..., ValidationReport]


@pytest.fixture
def check(trust: TrustStore) -> Check:
    """Validate bytes as the hub does for a document from SENDER (overridable)."""

    def run(
        data: bytes,
        *,
        organ: str = SENDER,
        store: TrustStore | None = None,
        at: dt.datetime | None = None,
    ) -> ValidationReport:
        return validate(parse_document(data), expected_organ_id=organ, trust=store or trust, at=at)

    return run


def craft_signature(
    data: bytes,
    key: PrivateKey,
    certs: Sequence[x509.Certificate],
    *,
    signature_method: str = RSA_SHA256,
    digest_method: str = SHA256,
    hash_name: str = "sha256",
    uri: str = "",
    transforms: Sequence[str] = (ENVELOPED_SIGNATURE, EXC_C14N),
    extra_transform_xml: str = "",
    digest_target: Callable[[etree._Element], bytes] | None = None,
    before_signing: Callable[[etree._Element], None] | None = None,
    prefix: str = "ds",
    pretty: bool = False,
) -> bytes:
    """Sign with raw cryptography and any algorithm or shape, valid or not, for attack tests."""
    import hashlib

    root = parse_document(data)
    if before_signing is not None:
        before_signing(root)
    header = find_header(root)
    assert header is not None
    if digest_target is None:
        canonical = etree.tostring(root.getroottree(), method="c14n", exclusive=True)
    else:
        canonical = digest_target(root)
    digest = base64.b64encode(hashlib.new(hash_name, canonical).digest()).decode()
    # `prefix` "" writes XML-DSig as the default namespace; `pretty` indents SignedInfo the way
    # template-based signers (xmlsec) do. Both take the verifier's structural path.
    p = f"{prefix}:" if prefix else ""
    xmlns = f'xmlns:{prefix}="{DS_NS}"' if prefix else f'xmlns="{DS_NS}"'
    nl = "\n      " if pretty else ""
    transform_xml = "".join(f'{nl}<{p}Transform Algorithm="{t}"/>' for t in transforms)
    key_info = "".join(
        f"<{p}X509Certificate>"
        + base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode()
        + f"</{p}X509Certificate>"
        for c in certs
    )
    signature = etree.fromstring(
        f"<{p}Signature {xmlns}><{p}SignedInfo>{nl}"
        f'<{p}CanonicalizationMethod Algorithm="{EXC_C14N}"/>{nl}'
        f'<{p}SignatureMethod Algorithm="{signature_method}"/>{nl}'
        f'<{p}Reference URI="{uri}"><{p}Transforms>{transform_xml}{extra_transform_xml}'
        f"{nl}</{p}Transforms>{nl}"
        f'<{p}DigestMethod Algorithm="{digest_method}"/>{nl}<{p}DigestValue>{digest}</{p}DigestValue>'
        f"{nl}</{p}Reference>{nl}</{p}SignedInfo><{p}SignatureValue/>"
        f"<{p}KeyInfo><{p}X509Data>{key_info}</{p}X509Data></{p}KeyInfo></{p}Signature>"
    )
    header.append(signature)
    signed_info = signature[0]
    value = raw_signature(key, signature_method, c14n_signed_info(signed_info))
    signature[1].text = base64.b64encode(value).decode()
    return etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8")


@pytest.fixture(scope="session")
def xmlsec1() -> str:
    """Path of the xmlsec1 CLI; skipped when absent, but a failure under CI."""
    path = shutil.which("xmlsec1")
    if path is None:
        message = "xmlsec1 is not installed (Debian/Ubuntu package `xmlsec1`)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def pem_files(demo_pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("pem")
    files = {"root": demo_pki.root, "ca": demo_pki.ca}
    assert demo_pki.foreign_root is not None
    files["foreign_root"] = demo_pki.foreign_root
    out = {}
    for name, cert in files.items():
        path = folder / f"{name}.pem"
        path.write_bytes(pki.cert_to_pem(cert))
        out[name] = path
    return out
