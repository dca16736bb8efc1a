"""Enveloped XML-DSig for edXML, written directly on lxml + cryptography.

Why not signxml: its generic machinery (tree copies, XSD checks, chain policy) costs about three
times the bare cryptographic work, and the hub signs and verifies every document. The profile
here is narrow (SPEC section 5), so the code can be too: one `ds:Signature` as the last child of
`edXMLHeader`, one `Reference URI=""` with the enveloped-signature and exclusive-C14N transforms,
RSA-SHA256 (default) or ECDSA-SHA256, and `KeyInfo/X509Data` with the signer's certificate and
its intermediates.

The document digest is computed by streaming lxml's exclusive C14N into a hash object; the
enveloped transform is applied by detaching the Signature element for the duration of the digest
and putting it back, instead of copying the tree (documents may carry 50 MB attachments).

About 670 lines, over the project's ~600-line guide: signing, the digest and the parsing of one
signature's shape share the profile's constants and the detach-and-restore of the enveloped
transform; apart, each half would import the other's internals.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from lxml import etree

from app.edxml.payloads import DetachedPayloads, checked, detach_payloads, has_large_payloads
from app.signing.pki import PrivateKey

DS_NS = "http://www.w3.org/2000/09/xmldsig#"
EDXML_NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"

EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
ENVELOPED_SIGNATURE = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"

RSA_SHA1 = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
RSA_SHA384 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384"
RSA_SHA512 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512"
ECDSA_SHA1 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha1"
ECDSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
ECDSA_SHA384 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384"
ECDSA_SHA512 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512"

SHA1 = "http://www.w3.org/2000/09/xmldsig#sha1"
SHA224 = "http://www.w3.org/2001/04/xmldsig-more#sha224"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
SHA384 = "http://www.w3.org/2001/04/xmldsig-more#sha384"
SHA512 = "http://www.w3.org/2001/04/xmlenc#sha512"

DIGEST_METHODS: dict[str, str] = {
    SHA1: "sha1",
    SHA224: "sha224",
    SHA256: "sha256",
    SHA384: "sha384",
    SHA512: "sha512",
}
"""Digest URIs the verifier can compute (hashlib names); which are *allowed* is policy."""

SIGNATURE_METHODS: dict[str, tuple[str, str]] = {
    RSA_SHA1: ("rsa", "sha1"),
    RSA_SHA256: ("rsa", "sha256"),
    RSA_SHA384: ("rsa", "sha384"),
    RSA_SHA512: ("rsa", "sha512"),
    ECDSA_SHA1: ("ec", "sha1"),
    ECDSA_SHA256: ("ec", "sha256"),
    ECDSA_SHA384: ("ec", "sha384"),
    ECDSA_SHA512: ("ec", "sha512"),
}
"""Signature URIs the verifier can check, as (key type, hash); SHA-1 ones exist only to be
reported as CRYPTO_CONSTRAINTS_FAILURE rather than as an unknown format."""

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}

_Q_DS = "{%s}%%s" % DS_NS  # noqa: UP031 - a template, filled per element name
_SIGNATURE_TAG = _Q_DS % "Signature"


def ds(name: str) -> str:
    """Clark-notation name of an XML-DSig element."""
    return _Q_DS % name


class SigningError(ValueError):
    """The document cannot be signed as given (not edXML, already signed, DOCTYPE, ...)."""


def safe_parser() -> etree.XMLParser:
    """A parser that never loads DTDs, resolves entities or touches the network.

    `huge_tree` lifts libxml2's 10 MB text-node cap, which a base64 50 MB attachment exceeds;
    it is safe here because entity expansion is off and DOCTYPEs are refused after parsing.
    Comments are dropped: the signature does not cover them (URI="" excludes comments), and a
    comment inside a text node would otherwise cut what `.text` returns to the business code.
    lxml parsers must not be shared between threads, hence a new one per call (~2 us).
    """
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=True,
        remove_comments=True,
        remove_pis=False,
    )


def parse_document(data: bytes) -> etree._Element:
    """Parse edXML bytes safely and return the root element; a DOCTYPE is refused."""
    try:
        root = etree.fromstring(data, safe_parser())
    except etree.XMLSyntaxError as exc:
        raise SigningError(f"not well-formed XML: {exc}") from exc
    docinfo: Any = root.getroottree().docinfo  # lxml-stubs lack doctype/internalDTD
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise SigningError("a DOCTYPE is not allowed in edXML")
    return root


_EDXML_TAG = f"{{{EDXML_NS}}}edXML"
_ENVELOPE_TAG = f"{{{EDXML_NS}}}edXMLEnvelope"
_HEADER_TAG = f"{{{EDXML_NS}}}edXMLHeader"


def find_header(root: etree._Element) -> etree._Element | None:
    """`edXML/edXMLEnvelope/edXMLHeader`, or None when the document does not have that shape."""
    if root.tag != _EDXML_TAG:
        return None
    # Plain loops over the few children beat iterchildren(tag=...), whose tag matcher costs
    # more to set up than it saves here (this runs twice per signed-and-checked document).
    for envelope in root:
        if envelope.tag == _ENVELOPE_TAG:
            for header in envelope:
                if header.tag == _HEADER_TAG:
                    return header
            return None
    return None


class _HashWriter:
    """File-like sink so that lxml's C14N output is hashed as it is produced, never kept."""

    __slots__ = ("_h",)

    def __init__(self, h: hashlib._Hash) -> None:
        self._h = h

    def write(self, data: bytes) -> int:
        self._h.update(data)
        return len(data)


def c14n_digest(
    root: etree._Element, hash_name: str, payloads: DetachedPayloads | None = None
) -> bytes:
    """Digest of the exclusive C14N (no comments) of the whole document that holds `root`.

    Attachments can be 70 MB of base64 text, and lxml's C14N holds about three copies of a
    text node while it writes it. So large attachment texts are taken out of the tree (the
    caller's `payloads`, or here for the duration of the digest), the (now small) C14N is
    hashed around their markers, and the texts are hashed in slices. Base64 has nothing C14N
    escapes, so the digest is exactly that of the whole document; other text takes the plain
    path. (Swapping the element itself would be cheaper, but lxml re-prefixes moved elements.)
    """
    h = hashlib.new(hash_name)
    tree: Any = root.getroottree()  # lxml-stubs do not know exclusive= or file-like sinks
    held = checked(payloads, root)
    if held is not None:
        small = etree.tostring(tree, method="c14n", exclusive=True, with_comments=False)
        held.write_around(small, h.update)
        return h.digest()
    if not has_large_payloads(root):
        tree.write_c14n(_HashWriter(h), exclusive=True, with_comments=False)
        return h.digest()
    with detach_payloads(root) as taken:
        small = etree.tostring(tree, method="c14n", exclusive=True, with_comments=False)
        taken.write_around(small, h.update)
    return h.digest()


@contextmanager
def detached(element: etree._Element) -> Iterator[None]:
    """Temporarily remove `element` (but not the text that follows it) from its tree.

    This is the enveloped-signature transform without a deep copy. lxml keeps an element's
    `tail` with the element, so the tail is handed to the previous sibling (or the parent's
    text) while the element is out, and everything is put back exactly afterwards.
    Not safe against other threads reading the same tree meanwhile.
    """
    parent = element.getparent()
    if parent is None:
        yield
        return
    index = parent.index(element)
    tail = element.tail
    prev = element.getprevious()
    saved = prev.tail if prev is not None else parent.text
    if tail:
        if prev is not None:
            prev.tail = (saved or "") + tail
        else:
            parent.text = (saved or "") + tail
    parent.remove(element)
    try:
        yield
    finally:
        parent.insert(index, element)
        element.tail = tail
        if prev is not None:
            prev.tail = saved
        else:
            parent.text = saved


def enveloped_digest(
    signature: etree._Element, hash_name: str, payloads: DetachedPayloads | None = None
) -> bytes:
    """Reference digest for `URI=""` + enveloped-signature + exc-C14N, as a verifier sees it."""
    root = signature.getroottree().getroot()  # taken before the Signature leaves the tree
    with detached(signature):
        return c14n_digest(root, hash_name, payloads)


def c14n_signed_info(signed_info: etree._Element) -> bytes:
    """Exclusive C14N of SignedInfo: the bytes the signature value is computed over."""
    return etree.tostring(signed_info, method="c14n", exclusive=True, with_comments=False)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _coord_size(key: ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey) -> int:
    return (key.curve.key_size + 7) // 8


def raw_signature(key: PrivateKey, method: str, data: bytes) -> bytes:
    """XML-DSig SignatureValue bytes: PKCS#1 v1.5 for RSA, r||s (not DER) for ECDSA."""
    key_type, hash_name = SIGNATURE_METHODS[method]
    algo = _HASHES[hash_name]()
    if isinstance(key, rsa.RSAPrivateKey) and key_type == "rsa":
        return key.sign(data, padding.PKCS1v15(), algo)
    if isinstance(key, ec.EllipticCurvePrivateKey) and key_type == "ec":
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(algo)))
        n = _coord_size(key)
        return r.to_bytes(n, "big") + s.to_bytes(n, "big")
    raise SigningError(f"{type(key).__name__} cannot sign with {method}")


def verify_raw_signature(
    public_key: object, method: str, data: bytes, signature_value: bytes
) -> bool:
    """True when `signature_value` is a valid `method` signature of `data` by `public_key`."""
    entry = SIGNATURE_METHODS.get(method)
    if entry is None:
        return False
    key_type, hash_name = entry
    algo = _HASHES[hash_name]()
    try:
        if isinstance(public_key, rsa.RSAPublicKey) and key_type == "rsa":
            public_key.verify(signature_value, data, padding.PKCS1v15(), algo)
            return True
        if isinstance(public_key, ec.EllipticCurvePublicKey) and key_type == "ec":
            n = _coord_size(public_key)
            if len(signature_value) != 2 * n:
                return False
            r = int.from_bytes(signature_value[:n], "big")
            s = int.from_bytes(signature_value[n:], "big")
            public_key.verify(encode_dss_signature(r, s), data, ec.ECDSA(algo))
            return True
    except InvalidSignature:
        return False
    return False


def _public_der(key: object) -> bytes:
    if isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        return key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    raise SigningError(f"unsupported public key type {type(key).__name__}")


def _signed_info_text(method: str, *, canonical: bool) -> tuple[str, str]:
    """SignedInfo as text before and after the DigestValue content.

    `canonical=True` gives its exclusive C14N (namespace on the apex, no empty-element tags).
    """

    def empty(name: str, algorithm: str) -> str:
        if canonical:
            return f'<ds:{name} Algorithm="{algorithm}"></ds:{name}>'
        return f'<ds:{name} Algorithm="{algorithm}"/>'

    ns = f' xmlns:ds="{DS_NS}"' if canonical else ""
    head = (
        f"<ds:SignedInfo{ns}>"
        + empty("CanonicalizationMethod", EXC_C14N)
        + empty("SignatureMethod", method)
        + '<ds:Reference URI=""><ds:Transforms>'
        + empty("Transform", ENVELOPED_SIGNATURE)
        + empty("Transform", EXC_C14N)
        + "</ds:Transforms>"
        + empty("DigestMethod", SHA256)
        + "<ds:DigestValue>"
    )
    return head, "</ds:DigestValue></ds:Reference></ds:SignedInfo>"


class Signer:
    """An organization's loaded signing key and certificate chain, built once and reused.

    Holds a key *object*: loading an RSA key from PEM costs ~46 ms, so never per signature.
    Immutable and safe to share between threads.
    """

    __slots__ = (
        "_certificate",
        "_intermediates",
        "_key",
        "_method",
        "_si_c14n",
        "_x509_b64",
        "_xml",
    )

    def __init__(
        self,
        key: PrivateKey,
        certificate: x509.Certificate,
        intermediates: Sequence[x509.Certificate] = (),
        *,
        signature_method: str | None = None,
    ) -> None:
        if _public_der(key.public_key()) != _public_der(certificate.public_key()):
            raise SigningError("the private key does not belong to the certificate")
        if signature_method is None:
            signature_method = RSA_SHA256 if isinstance(key, rsa.RSAPrivateKey) else ECDSA_SHA256
        entry = SIGNATURE_METHODS.get(signature_method)
        wanted = "rsa" if isinstance(key, rsa.RSAPrivateKey) else "ec"
        if entry is None or entry[0] != wanted or entry[1] == "sha1":
            raise SigningError(f"cannot sign with {signature_method} and a {wanted} key")
        # The trust anchor stays out of KeyInfo: a verifier must find it in its own store.
        chain = [c for c in intermediates if c.subject != c.issuer]
        self._key = key
        self._certificate = certificate
        self._intermediates = tuple(chain)
        self._method = signature_method
        self._x509_b64 = tuple(
            _b64(c.public_bytes(serialization.Encoding.DER)) for c in (certificate, *chain)
        )
        # The Signature is produced from fixed text around two values. SignedInfo's canonical
        # form is therefore known without building and canonicalizing elements (all values are
        # URIs and base64, which C14N never escapes); tests check it against lxml's C14N.
        si_doc = _signed_info_text(signature_method, canonical=False)
        si_c14n = _signed_info_text(signature_method, canonical=True)
        self._si_c14n = tuple(part.encode("ascii") for part in si_c14n)
        key_info = "".join(f"<ds:X509Certificate>{b}</ds:X509Certificate>" for b in self._x509_b64)
        self._xml = (
            f'<ds:Signature xmlns:ds="{DS_NS}">{si_doc[0]}',
            f"{si_doc[1]}<ds:SignatureValue>",
            f"</ds:SignatureValue><ds:KeyInfo><ds:X509Data>{key_info}</ds:X509Data></ds:KeyInfo>"
            "</ds:Signature>",
        )

    @classmethod
    def from_pem(
        cls,
        key_pem: bytes,
        passphrase: str | bytes,
        certificate_pem: bytes,
        *,
        signature_method: str | None = None,
    ) -> Signer:
        """Build from the encrypted key and a PEM bundle (signer first, then intermediates)."""
        from app.signing.pki import decrypt_private_key

        certs = x509.load_pem_x509_certificates(certificate_pem)
        if not certs:
            raise SigningError("no certificate in the PEM bundle")
        key = decrypt_private_key(key_pem, passphrase)
        return cls(key, certs[0], certs[1:], signature_method=signature_method)

    @property
    def key(self) -> PrivateKey:
        return self._key

    @property
    def certificate(self) -> x509.Certificate:
        return self._certificate

    @property
    def intermediates(self) -> tuple[x509.Certificate, ...]:
        return self._intermediates

    @property
    def signature_method(self) -> str:
        return self._method

    @property
    def key_info_certificates(self) -> tuple[str, ...]:
        """Base64 DER of the certificates written to KeyInfo/X509Data (signer first)."""
        return self._x509_b64

    def sign(self, data: bytes) -> bytes:
        """Raw SignatureValue bytes over canonical SignedInfo."""
        return raw_signature(self._key, self._method, data)

    def signature_element(self, digest: bytes) -> etree._Element:
        """A complete ds:Signature for a document whose reference digest (SHA-256) is `digest`."""
        digest_b64 = _b64(digest)
        head, tail = self._si_c14n
        value_b64 = _b64(self.sign(head + digest_b64.encode("ascii") + tail))
        start, middle, end = self._xml
        return etree.fromstring(f"{start}{digest_b64}{middle}{value_b64}{end}")


def sign_tree(
    root: etree._Element, signer: Signer, payloads: DetachedPayloads | None = None
) -> None:
    """Sign an edXML document in place: appends `ds:Signature` as the last child of edXMLHeader.

    The digest covers the whole document (attachments included, `payloads` too if some were
    detached from this tree), so `root` must be the document element of its tree. Any element named Signature already present (in any namespace) is an
    error: the hub never signs over an existing or placeholder signature.
    """
    if root.getparent() is not None:
        raise SigningError("sign the document element, not a part of the document")
    header = find_header(root)
    if header is None:
        raise SigningError("not an edXML document (edXML/edXMLEnvelope/edXMLHeader missing)")
    if find_signatures(root):
        raise SigningError("the document already carries a Signature element")

    # The Signature is appended with no surrounding text, so the document minus the Signature
    # (the enveloped transform) is exactly the document as it is now.
    header.append(signer.signature_element(c14n_digest(root, "sha256", payloads)))


def sign_bytes(data: bytes, signer: Signer) -> bytes:
    """Parse, sign and serialize an edXML document (UTF-8, with an XML declaration)."""
    root = parse_document(data)
    sign_tree(root, signer)
    return etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8")


@dataclass(frozen=True, slots=True)
class ParsedSignature:
    """The pieces of a ds:Signature that passed the shape check (see `parse_signature`)."""

    element: etree._Element
    signed_info: etree._Element
    signed_info_c14n: bytes
    """Exclusive C14N of SignedInfo: the bytes the SignatureValue must verify over."""
    signature_method: str
    digest_method: str
    digest_value: bytes
    signature_value: bytes
    certificate_texts: tuple[str, ...]
    """Base64 text of every KeyInfo/X509Data/X509Certificate, in document order. Kept as text
    so that verifiers can cache decoded certificates by it; they are candidates, not trust."""

    @property
    def certificates(self) -> tuple[bytes, ...]:
        """DER of the KeyInfo certificates (raises SignatureFormatError on bad base64)."""
        return tuple(decode_base64(t, "X509Certificate") for t in self.certificate_texts)


class SignatureFormatError(ValueError):
    """The signature does not have the one shape the profile allows (FORMAT_FAILURE)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _children(el: etree._Element) -> list[etree._Element]:
    return [c for c in el if isinstance(c.tag, str)]


def _name(tag: object) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else "a comment or PI"


def _expect(children: list[etree._Element], want: tuple[str, ...], where: str) -> None:
    if tuple(c.tag for c in children) != want:
        shown = ", ".join(_name(c.tag) for c in children) or "nothing"
        names = ", ".join(_name(t) for t in want)
        raise SignatureFormatError(
            "format.shape", f"{where} must contain exactly {names}; found {shown}"
        )


def _no_children(el: etree._Element, where: str) -> None:
    if _children(el):
        raise SignatureFormatError("format.shape", f"{where} must have no content but text")


def decode_base64(text: str | None, where: str) -> bytes:
    """Strict base64 (whitespace allowed, as XML-DSig writers wrap lines)."""
    try:
        return base64.b64decode("".join((text or "").split()), validate=True)
    except ValueError as exc:
        raise SignatureFormatError("format.base64", f"{where} is not valid base64") from exc


_SIGNATURE_SHAPES = (
    (ds("SignedInfo"), ds("SignatureValue"), ds("KeyInfo")),
    (ds("SignedInfo"), ds("SignatureValue")),
)
_SIGNED_INFO_SHAPE = (ds("CanonicalizationMethod"), ds("SignatureMethod"), ds("Reference"))
_REFERENCE_SHAPE = (ds("Transforms"), ds("DigestMethod"), ds("DigestValue"))
_TRANSFORM_SHAPE = (ds("Transform"), ds("Transform"))
_REFERENCE_TAG = ds("Reference")
_X509DATA_TAG = ds("X509Data")
_X509CERT_TAG = ds("X509Certificate")
MAX_KEYINFO_CERTIFICATES = 8
"""A signer and its intermediates; more is an attempt to make the verifier work (each
candidate may cost a signature verification and a path-building step)."""
_KEYINFO_IGNORED = {ds("KeyName"), ds("KeyValue")}
_X509DATA_IGNORED = {ds("X509SubjectName"), ds("X509IssuerSerial"), ds("X509SKI")}


_CANONICAL_SIGNED_INFO = re.compile(
    re.escape(f'<ds:SignedInfo xmlns:ds="{DS_NS}">').encode()
    + re.escape(
        f'<ds:CanonicalizationMethod Algorithm="{EXC_C14N}"></ds:CanonicalizationMethod>'
    ).encode()
    + rb'<ds:SignatureMethod Algorithm="([^"]*)"></ds:SignatureMethod>'
    + rb'<ds:Reference URI=""><ds:Transforms>'
    + re.escape(f'<ds:Transform Algorithm="{ENVELOPED_SIGNATURE}"></ds:Transform>').encode()
    + re.escape(f'<ds:Transform Algorithm="{EXC_C14N}"></ds:Transform>').encode()
    + rb'</ds:Transforms><ds:DigestMethod Algorithm="([^"]*)"></ds:DigestMethod>'
    + rb"<ds:DigestValue>([^<]*)</ds:DigestValue></ds:Reference></ds:SignedInfo>"
)
"""The profile's SignedInfo as its canonical form. C14N is a faithful serialization (attribute
values escape quotes, every element and namespace shows), so a full match proves the exact
shape; anything else (other prefixes, whitespace between elements) takes the structural path."""


def _check_signed_info(signed_info: etree._Element) -> tuple[str, str, str | None]:
    """Structural check of SignedInfo; returns (signature method, digest method, digest text)."""
    si = _children(signed_info)
    if len(si) > 3 and all(c.tag == _REFERENCE_TAG for c in si[2:]):
        raise SignatureFormatError(
            "format.reference_count", f"exactly one Reference is allowed; found {len(si) - 2}"
        )
    _expect(si, _SIGNED_INFO_SHAPE, "SignedInfo")
    c14n_method, sig_method_el, reference = si
    if c14n_method.get("Algorithm") != EXC_C14N:
        raise SignatureFormatError("format.c14n", f"CanonicalizationMethod must be {EXC_C14N}")
    _no_children(c14n_method, "CanonicalizationMethod")
    _no_children(sig_method_el, "SignatureMethod")
    uri = reference.get("URI")
    if uri != "":
        raise SignatureFormatError(
            "format.reference_uri",
            f'the Reference must be URI="" (the whole document); found URI={uri!r}',
        )
    ref_parts = _children(reference)
    _expect(ref_parts, _REFERENCE_SHAPE, "Reference")
    transforms_el, digest_method_el, digest_value_el = ref_parts
    transforms = _children(transforms_el)
    algorithms = [t.get("Algorithm") for t in transforms]
    if tuple(t.tag for t in transforms) != _TRANSFORM_SHAPE or algorithms != [
        ENVELOPED_SIGNATURE,
        EXC_C14N,
    ]:
        raise SignatureFormatError(
            "format.transforms",
            "Transforms must be exactly enveloped-signature then exclusive C14N; "
            f"found {algorithms}",
        )
    for t in transforms:
        _no_children(t, "Transform")
    _no_children(digest_method_el, "DigestMethod")
    _no_children(digest_value_el, "DigestValue")
    return (
        sig_method_el.get("Algorithm") or "",
        digest_method_el.get("Algorithm") or "",
        digest_value_el.text,
    )


def parse_signature(signature: etree._Element) -> ParsedSignature:
    """Check the exact profile shape of one ds:Signature and extract its values.

    Anything beyond the profile is refused, because every extra degree of freedom (an Id
    reference, XPath/XSLT transforms, ds:Object, RetrievalMethod) is what signature-wrapping
    and resource attacks are built on. Comments and PIs are ignored: C14N drops comments, so
    they are not part of what is signed, and PIs are never part of the profile's shape.
    """
    parts = _children(signature)
    names = tuple(c.tag for c in parts)
    if names not in _SIGNATURE_SHAPES:
        shown = ", ".join(_name(t) for t in names) or "nothing"
        raise SignatureFormatError(
            "format.shape",
            f"Signature must contain SignedInfo, SignatureValue and KeyInfo only; found {shown}",
        )
    signed_info, value_el = parts[0], parts[1]
    signed_info_c14n = c14n_signed_info(signed_info)
    match = _CANONICAL_SIGNED_INFO.fullmatch(signed_info_c14n)
    if match is not None:
        sig_method = match.group(1).decode("ascii", "replace")
        digest_method = match.group(2).decode("ascii", "replace")
        digest_text: str | None = match.group(3).decode("ascii", "replace")
    else:
        sig_method, digest_method, digest_text = _check_signed_info(signed_info)
    if sig_method not in SIGNATURE_METHODS:
        raise SignatureFormatError(
            "format.signature_method", f"unsupported SignatureMethod {sig_method!r}"
        )
    if digest_method not in DIGEST_METHODS:
        raise SignatureFormatError(
            "format.digest_method", f"unsupported DigestMethod {digest_method!r}"
        )
    digest_value = decode_base64(digest_text, "DigestValue")
    signature_value = decode_base64(value_el.text, "SignatureValue")

    certificates: list[str] = []
    if len(parts) == 3:
        for item in _children(parts[2]):
            if item.tag in _KEYINFO_IGNORED:
                continue
            if item.tag != _X509DATA_TAG:
                raise SignatureFormatError(
                    "format.key_info", f"KeyInfo may hold X509Data only; found {_name(item.tag)}"
                )
            for entry in _children(item):
                if entry.tag == _X509CERT_TAG:
                    if len(certificates) == MAX_KEYINFO_CERTIFICATES:
                        raise SignatureFormatError(
                            "format.key_info",
                            f"more than {MAX_KEYINFO_CERTIFICATES} certificates in KeyInfo",
                        )
                    certificates.append(entry.text or "")
                elif entry.tag not in _X509DATA_IGNORED:
                    raise SignatureFormatError(
                        "format.key_info", f"unexpected {_name(entry.tag)} in X509Data"
                    )
    return ParsedSignature(
        element=signature,
        signed_info=signed_info,
        signed_info_c14n=signed_info_c14n,
        signature_method=sig_method,
        digest_method=digest_method,
        digest_value=digest_value,
        signature_value=signature_value,
        certificate_texts=tuple(certificates),
    )


def find_signatures(root: etree._Element) -> list[etree._Element]:
    """All elements named Signature in the document, in any namespace or none."""
    return list(root.getroottree().iter("{*}Signature"))


def signature_value_of(root: etree._Element) -> bytes | None:
    """The decoded SignatureValue of the document's one XML-DSig signature (what an RFC 3161
    timestamp covers, SPEC 5.2); None when there is no such single signature."""
    signatures = [s for s in find_signatures(root) if s.tag == ds("Signature")]
    if len(signatures) != 1:
        return None
    value = signatures[0].find(ds("SignatureValue"))
    if value is None:
        return None
    try:
        return decode_base64(value.text, "SignatureValue")
    except SignatureFormatError:
        return None


_CACHED_CERTIFICATE_TEXT = 16 * 1024
"""Longer KeyInfo texts (no real certificate is this large) are decoded each time, not kept."""


def _certificate_der(text: str) -> bytes:
    """A KeyInfo certificate's DER, cached by its base64 text: the same few signer certificates
    arrive on every document (a pure function; text that does not decode raises each time)."""
    if len(text) > _CACHED_CERTIFICATE_TEXT:
        return decode_base64(text, "X509Certificate")
    return _cached_certificate_der(text)


@functools.lru_cache(maxsize=256)
def _cached_certificate_der(text: str) -> bytes:
    return decode_base64(text, "X509Certificate")


def keyinfo_certificates(root: etree._Element) -> list[bytes]:
    """The DER certificates in the KeyInfo of the document's one XML-DSig Signature, without
    judging the signature (for gathering revocation data before validation); none when the
    document has no such signature, at most MAX_KEYINFO_CERTIFICATES, undecodable ones left out."""
    signatures = find_signatures(root)
    if len(signatures) != 1 or signatures[0].tag != ds("Signature"):
        return []
    found: list[bytes] = []
    for data in signatures[0].iterchildren(ds("KeyInfo")):
        for cert in data.iterdescendants(_X509CERT_TAG):
            try:
                found.append(_certificate_der(cert.text or ""))
            except SignatureFormatError:
                continue
            if len(found) == MAX_KEYINFO_CERTIFICATES:
                return found
    return found
