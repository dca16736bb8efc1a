"""An outside PKI for tests (SPEC 5.1): a root (standing in for the national CA), a subordinate
CA and organization certificates whose CRL distribution points and AIA (OCSP, caIssuers) point
at a small HTTP server on loopback that this module also provides.

Reusable by any test that needs certificates the hub did not issue:

    server = RevocationServer.start()           # loopback, stdlib http.server in a thread
    pki = OutsidePki(server.url)                 # keys made once; EC CAs, RSA-2048 leaves
    pki.serve(server)                            # /root.crl /sub.crl /ocsp /sub.cer /root.cer
    signer = pki.signer(organ_id)                # an xmldsig Signer (leaf + subordinate)
    pki.revoke(cert)                             # then the CRL and the OCSP responder say so

`server.routes[path] = handler` replaces what a path answers (a handler takes the request body
and returns a `Served`), `server.hits[path]` counts requests and `server.sent[path]` the body
bytes written. `Served(stall=True)` never answers, `Served(trickle=0.1)` sends one byte every
0.1 s; both end when the client goes away or the server stops.
"""

from __future__ import annotations

import datetime as dt
import http.server
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import (
    AuthorityInformationAccessOID,
    ExtendedKeyUsageOID,
    NameOID,
)

from app.signing.xmldsig import Signer

DER = serialization.Encoding.DER
PEM = serialization.Encoding.PEM


# -- the HTTP server ------------------------------------------------------------------------


@dataclass
class Served:
    """What one request gets."""

    body: bytes | Iterable[bytes] = b""
    status: int = 200
    content_type: str = "application/octet-stream"
    headers: dict[str, str] = field(default_factory=dict)
    stall: bool = False
    """Accept the request and never answer."""
    trickle: float | None = None
    """Send the body's bytes one at a time, this many seconds apart (headers first)."""


Handler = Callable[[bytes], Served]


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._answer(b"")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self._answer(self.rfile.read(length))

    def _answer(self, body: bytes) -> None:
        owner = self.server.owner
        path = self.path.split("?", 1)[0]
        with owner.lock:
            owner.hits[path] += 1
            handler = owner.routes.get(path)
        try:
            served = handler(body) if handler else Served(b"not found", status=404)
        except Exception as exc:  # a broken test handler must not pass for a refusal
            with owner.lock:
                owner.errors.append(f"{path}: {type(exc).__name__}: {exc}")
            served = Served(b"handler failed", status=500)
        if served.stall:
            owner.closing.wait(60)
            self.close_connection = True
            return
        self.send_response(served.status)
        self.send_header("Content-Type", served.content_type)
        for k, v in served.headers.items():
            self.send_header(k, v)
        chunks: Iterable[bytes]
        if isinstance(served.body, bytes):
            if "Location" not in served.headers or served.body:
                self.send_header("Content-Length", str(len(served.body)))
            else:
                self.send_header("Content-Length", "0")
            chunks = [served.body] if served.trickle is None else _bytewise(served.body)
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
            chunks = served.body
        self.end_headers()
        try:
            for chunk in chunks:
                if owner.closing.is_set():
                    break
                self.wfile.write(chunk)
                self.wfile.flush()
                with owner.lock:
                    owner.sent[path] += len(chunk)
                if served.trickle is not None:
                    owner.closing.wait(served.trickle)
        except OSError:
            self.close_connection = True  # the client went away: what a cap or deadline does


def _bytewise(data: bytes) -> Iterator[bytes]:
    for i in range(len(data)):
        yield data[i : i + 1]


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    owner: RevocationServer


class RevocationServer:
    """A CA's web server on loopback: CRLs, an OCSP responder, caIssuers."""

    def __init__(self) -> None:
        self.routes: dict[str, Handler] = {}
        self.hits: Counter[str] = Counter()
        self.sent: Counter[str] = Counter()
        self.errors: list[str] = []
        """Exceptions of route handlers (a test fixture asserts there are none)."""
        self.lock = threading.Lock()
        self.closing = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="revocation-server", daemon=True
        )

    @classmethod
    def start(cls) -> RevocationServer:
        server = cls()
        server._thread.start()
        return server

    def stop(self) -> None:
        self.closing.set()
        self._server.shutdown()
        self._server.server_close()

    def reset_counts(self) -> None:
        with self.lock:
            self.hits.clear()
            self.sent.clear()
            self.errors.clear()

    def fetches(self) -> int:
        with self.lock:
            return sum(self.hits.values())


def unused_port() -> int:
    """A loopback port nothing listens on (for 'responder down')."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the PKI ---------------------------------------------------------------------------------


def _name(cn: str, organ_id: str | None = None) -> x509.Name:
    attrs = [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Outside CA Test"),
        x509.NameAttribute(NameOID.COMMON_NAME, cn),
    ]
    if organ_id:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, organ_id))
    return x509.Name(attrs)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


@dataclass
class Ca:
    key: Any
    cert: x509.Certificate
    revoked: dict[int, dt.datetime] = field(default_factory=dict)


class OutsidePki:
    """Root → subordinate CA → organization certificates, URLs under `base_url`.

    The subordinate CA names the root's CRL (`/root.crl`) and its certificate (`/root.cer`);
    organization certificates name `/ocsp` and `/sub.crl` unless told otherwise, and
    `/sub.cer` as caIssuers. The OCSP responder's certificate is issued by the subordinate CA
    with id-kp-OCSPSigning (and id-pkix-ocsp-nocheck).
    """

    def __init__(self, base_url: str, *, lifetime: dt.timedelta = dt.timedelta(days=365)) -> None:
        self.url = base_url
        now = _now()
        self.not_before = now - dt.timedelta(days=1)
        self.not_after = now + lifetime
        root_key = ec.generate_private_key(ec.SECP256R1())
        root_cert = self._ca_cert(_name("Outside Test Root CA"), root_key, root_key, None)
        self.root = Ca(root_key, root_cert)
        sub_key = ec.generate_private_key(ec.SECP256R1())
        self.sub = Ca(
            sub_key,
            self._ca_cert(
                _name("Outside Test Subordinate CA"),
                sub_key,
                root_key,
                root_cert,
                crl=f"{base_url}/root.crl",
                ca_issuers=f"{base_url}/root.cer",
            ),
        )
        self.responder_key = ec.generate_private_key(ec.SECP256R1())
        self.responder = self._responder_cert()
        self.rogue_key = ec.generate_private_key(ec.SECP256R1())
        self.rogue = self._rogue_cert()
        """A key nobody certified, in a certificate that names the subordinate CA as issuer and
        id-kp-OCSPSigning but is signed by itself: answers signed with it must not count."""
        self.leaf_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._serial = 1000
        self._issued: dict[int, x509.Certificate] = {}

    # -- certificates ---------------------------------------------------------------------

    def _next_serial(self) -> int:
        self._serial += 1
        return self._serial

    def _ca_cert(
        self,
        subject: x509.Name,
        key: Any,
        issuer_key: Any,
        issuer: x509.Certificate | None,
        *,
        crl: str | None = None,
        ca_issuers: str | None = None,
    ) -> x509.Certificate:
        b = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer.subject if issuer else subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(self.not_before)
            .not_valid_after(self.not_after + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        )
        if crl:
            b = b.add_extension(_cdp(crl), critical=False)
        if ca_issuers:
            b = b.add_extension(_aia(None, ca_issuers), critical=False)
        return b.sign(issuer_key, hashes.SHA256())

    def _responder_cert(self) -> x509.Certificate:
        return (
            x509.CertificateBuilder()
            .subject_name(_name("Outside Test OCSP Responder"))
            .issuer_name(self.sub.cert.subject)
            .public_key(self.responder_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(self.not_before)
            .not_valid_after(self.not_after)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), True)
            .add_extension(x509.OCSPNoCheck(), critical=False)
            .sign(self.sub.key, hashes.SHA256())
        )

    def _rogue_cert(self) -> x509.Certificate:
        return (
            x509.CertificateBuilder()
            .subject_name(_name("Outside Test OCSP Responder"))
            .issuer_name(self.sub.cert.subject)
            .public_key(self.rogue_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(self.not_before)
            .not_valid_after(self.not_after)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), True)
            .add_extension(x509.OCSPNoCheck(), critical=False)
            .sign(self.rogue_key, hashes.SHA256())
        )

    def leaf(
        self,
        organ_id: str,
        *,
        ocsp_url: str | None = "/ocsp",
        crl_url: str | None = "/sub.crl",
        ca_issuers: str | None = "/sub.cer",
        not_after: dt.datetime | None = None,
    ) -> x509.Certificate:
        """An organization certificate (organizationIdentifier = `organ_id`) from the
        subordinate CA; URLs starting with / are under the server, others taken as they are."""

        def full(u: str | None) -> str | None:
            return None if u is None else (self.url + u if u.startswith("/") else u)

        b = (
            x509.CertificateBuilder()
            .subject_name(_name(f"Organization {organ_id}", organ_id))
            .issuer_name(self.sub.cert.subject)
            .public_key(self.leaf_key.public_key())
            .serial_number(self._next_serial())
            .not_valid_before(self.not_before)
            .not_valid_after(not_after or self.not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(True, True, False, False, False, False, False, False, False),
                critical=True,
            )
        )
        if full(crl_url):
            b = b.add_extension(_cdp(str(full(crl_url))), critical=False)
        if full(ocsp_url) or full(ca_issuers):
            b = b.add_extension(_aia(full(ocsp_url), full(ca_issuers)), critical=False)
        cert = b.sign(self.sub.key, hashes.SHA256())
        self.remember(cert)
        return cert

    def signer(self, cert: x509.Certificate, *, with_intermediate: bool = True) -> Signer:
        return Signer(self.leaf_key, cert, [self.sub.cert] if with_intermediate else [])

    def revoke(self, cert: x509.Certificate, when: dt.datetime | None = None) -> None:
        ca = self.root if cert.issuer == self.root.cert.subject else self.sub
        ca.revoked[cert.serial_number] = when or _now() - dt.timedelta(hours=1)

    def root_pem(self) -> bytes:
        return self.root.cert.public_bytes(PEM)

    def write_root(self, path: Path) -> Path:
        path.write_bytes(self.root_pem())
        return path

    # -- answers --------------------------------------------------------------------------

    def crl(
        self,
        ca: Ca | None = None,
        *,
        signed_by: Any = None,
        this_update: dt.datetime | None = None,
        next_update: dt.datetime | None = None,
        extensions: Iterable[x509.ExtensionType] = (),
    ) -> bytes:
        ca = ca or self.sub
        now = _now()
        b = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(ca.cert.subject)
            .last_update(this_update or now - dt.timedelta(minutes=5))
            .next_update(next_update or now + dt.timedelta(hours=6))
            .add_extension(x509.CRLNumber(int(time.time())), critical=False)
        )
        for extension in extensions:
            b = b.add_extension(extension, critical=True)
        for serial, when in ca.revoked.items():
            b = b.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when).build()
            )
        return b.sign(signed_by or ca.key, hashes.SHA256()).public_bytes(DER)

    def ocsp_answer(
        self,
        request_der: bytes,
        *,
        status: str | None = None,
        signer: str = "responder",
        this_update: dt.datetime | None = None,
        next_update: dt.datetime | None = None,
        nonce: bytes | None = None,
        echo_nonce: bool = False,
    ) -> bytes:
        """The responder's answer to a request: good/revoked from the subordinate CA's list
        (or `status`), signed by the delegated responder, the CA itself or the rogue key; with
        the request's nonce (`echo_nonce`) or another one (`nonce`)."""
        request = ocsp.load_der_ocsp_request(request_der)
        serial = request.serial_number
        cert = self._issued.get(serial)
        now = _now()
        revoked_at = self.sub.revoked.get(serial)
        chosen = status or ("revoked" if revoked_at else "good")
        if cert is None and status is None:
            chosen = "unknown"
        cert_status = {
            "good": ocsp.OCSPCertStatus.GOOD,
            "revoked": ocsp.OCSPCertStatus.REVOKED,
            "unknown": ocsp.OCSPCertStatus.UNKNOWN,
        }[chosen]
        subject = cert or self._placeholder(serial)
        key, responder, extra = {
            "responder": (self.responder_key, self.responder, [self.responder]),
            "issuer": (self.sub.key, self.sub.cert, []),
            "rogue": (self.rogue_key, self.rogue, [self.rogue]),
        }[signer]
        builder = (
            ocsp.OCSPResponseBuilder()
            .add_response(
                cert=subject,
                issuer=self.sub.cert,
                algorithm=hashes.SHA1(),
                cert_status=cert_status,
                this_update=this_update or now - dt.timedelta(minutes=1),
                next_update=next_update or now + dt.timedelta(hours=4),
                revocation_time=(revoked_at or now) if chosen == "revoked" else None,
                revocation_reason=None,
            )
            .responder_id(ocsp.OCSPResponderEncoding.HASH, responder)
        )
        if extra:
            builder = builder.certificates(extra)
        if echo_nonce:
            nonce = request.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
        if nonce is not None:
            builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
        return builder.sign(key, hashes.SHA256()).public_bytes(DER)

    def remember(self, *certs: x509.Certificate) -> None:
        """Let the responder know these certificates (it answers `unknown` otherwise)."""
        for c in certs:
            self._issued[c.serial_number] = c

    def _placeholder(self, serial: int) -> x509.Certificate:
        return (
            x509.CertificateBuilder()
            .subject_name(_name("unknown"))
            .issuer_name(self.sub.cert.subject)
            .public_key(self.leaf_key.public_key())
            .serial_number(serial)
            .not_valid_before(self.not_before)
            .not_valid_after(self.not_after)
            .sign(self.sub.key, hashes.SHA256())
        )

    # -- serving --------------------------------------------------------------------------

    def default_routes(self) -> dict[str, Handler]:
        return {
            "/root.crl": lambda _: Served(self.crl(self.root), content_type="application/pkix-crl"),
            "/sub.crl": lambda _: Served(self.crl(self.sub), content_type="application/pkix-crl"),
            "/ocsp": lambda body: Served(
                self.ocsp_answer(body), content_type="application/ocsp-response"
            ),
            "/sub.cer": lambda _: Served(
                self.sub.cert.public_bytes(DER), content_type="application/pkix-cert"
            ),
            "/root.cer": lambda _: Served(
                self.root.cert.public_bytes(DER), content_type="application/pkix-cert"
            ),
        }

    def serve(self, server: RevocationServer) -> None:
        """(Re)install the default routes: a healthy CA."""
        with server.lock:
            server.routes.clear()
            server.routes.update(self.default_routes())


def _cdp(url: str) -> x509.CRLDistributionPoints:
    return x509.CRLDistributionPoints(
        [x509.DistributionPoint([x509.UniformResourceIdentifier(url)], None, None, None)]
    )


def _aia(ocsp_url: str | None, ca_issuers: str | None) -> x509.AuthorityInformationAccess:
    entries = []
    if ocsp_url:
        entries.append(
            x509.AccessDescription(
                AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(ocsp_url)
            )
        )
    if ca_issuers:
        entries.append(
            x509.AccessDescription(
                AuthorityInformationAccessOID.CA_ISSUERS,
                x509.UniformResourceIdentifier(ca_issuers),
            )
        )
    return x509.AuthorityInformationAccess(entries)
