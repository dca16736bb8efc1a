"""A small PDF writer for tests and benchmarks: pages of text, an exact cross-reference table,
and optional padding (an incompressible stream) to reach a given size. No binary fixtures: every
PDF the tests use is made here."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import zipfile
from collections.abc import Sequence
from typing import Any, BinaryIO

from asn1crypto import keys as asn1_keys
from asn1crypto import tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign.timestamps import DummyTimeStamper
from pyhanko_certvalidator.registry import SimpleCertificateStore

from app.signing import TrustStore, pki
from app.signing.pdf_signing import Timestamper, pyhanko_signer, sign_pdf
from app.signing.pki import PrivateKey
from app.signing.trust import _run_coroutine
from app.signing.xmldsig import Signer


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def make_pdf(
    pages: Sequence[str] = ("Công văn số 1234/UBND-VX",),
    *,
    pad_to: int = 0,
    out: BinaryIO | None = None,
) -> bytes:
    """A PDF of A4 pages with one line of (ASCII-folded) text each.

    `pad_to` adds an unreferenced-by-pages but catalogued stream of pseudo-random bytes so that
    the file is at least that many bytes (a 50 MB PDF for the memory benchmark). With `out`,
    the PDF is written there (and b"" returned) so a large one never sits in memory twice.
    """
    sink: BinaryIO = out if out is not None else io.BytesIO()
    offsets: list[int] = []
    written = 0

    def emit(data: bytes) -> None:
        nonlocal written
        sink.write(data)
        written += len(data)

    def obj(number: int, body: bytes) -> None:
        offsets.append(written)
        emit(b"%d 0 obj\n" % number + body + b"\nendobj\n")

    n_pages = len(pages)
    # 1 catalog, 2 pages, 3 font, then per page: page + content; last: padding (optional)
    first_page = 4
    pad_number = first_page + 2 * n_pages
    emit(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    kids = b" ".join(b"%d 0 R" % (first_page + 2 * i) for i in range(n_pages))
    extra = b" /PieceInfo << /Lienthong << /Data %d 0 R >> >>" % pad_number if pad_to else b""
    obj(1, b"<< /Type /Catalog /Pages 2 0 R" + extra + b" >>")
    obj(2, b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % n_pages)
    obj(3, b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    for i, text in enumerate(pages):
        page, content = first_page + 2 * i, first_page + 2 * i + 1
        obj(
            page,
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
            b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % content,
        )
        folded = _escape(text).encode("latin-1", "replace")
        stream = b"BT /F1 14 Tf 60 760 Td (" + folded + b") Tj ET"
        obj(content, b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    count = pad_number
    if pad_to:
        count += 1
        size = max(0, pad_to - written - 200 - 20 * (count + 1))
        offsets.append(written)
        emit(b"%d 0 obj\n<< /Length %d >>\nstream\n" % (pad_number, size))
        left = size
        while left > 0:
            chunk = os.urandom(min(left, 1 << 20))
            emit(chunk)
            left -= len(chunk)
        emit(b"\nendstream\nendobj\n")
    xref = written
    emit(b"xref\n0 %d\n0000000000 65535 f \n" % count)
    for offset in offsets:
        emit(b"%010d 00000 n \n" % offset)
    emit(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (count, xref))
    if out is not None:
        return b""
    assert isinstance(sink, io.BytesIO)
    return sink.getvalue()


def sign_bytes_pdf(
    data: bytes,
    signer: Signer,
    trust: TrustStore,
    *,
    organ_id: str,
    organ_name: str = "Ủy ban nhân dân tỉnh Long An",
    timestamper: Timestamper | None = None,
    embed_revocation: bool = True,
) -> bytes:
    """`data` signed by `signer` as the hub signs (PAdES, visible stamp), in memory;
    `embed_revocation=False` for signers the trust store refuses (pyHanko would not sign)."""
    out = io.BytesIO()
    sign_pdf(
        io.BytesIO(data),
        out,
        signer=signer,
        organ_id=organ_id,
        organ_name=organ_name,
        trust=trust,
        timestamper=timestamper,
        embed_revocation=embed_revocation,
    )
    return out.getvalue()


def change_page(signed: bytes, text: str = "Altered after signing") -> bytes:
    """An incremental update after the signatures that replaces page 1's content."""
    writer = IncrementalPdfFileWriter(io.BytesIO(signed), strict=False)
    page_ref, _ = writer.find_page_for_modification(0)
    page: Any = page_ref.get_object()
    stream = generic.StreamObject(stream_data=f"BT /F1 14 Tf 60 700 Td ({text}) Tj ET".encode())
    page["/Contents"] = writer.add_object(stream)
    writer.update_container(page)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def make_zip(entries: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=compression) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return out.getvalue()


def in_process_tsa(ca_key: PrivateKey, ca_cert: x509.Certificate) -> Timestamper:
    """An RFC 3161 TSA in this process (pyHanko's DummyTimeStamper) whose certificate the
    given CA issues with the critical extended key usage id-kp-timeStamping."""
    key = pki.generate_key("rsa")
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Demo TSA")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=2))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        .add_extension(
            x509.KeyUsage(True, True, False, False, False, False, False, False, False),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    der = serialization.Encoding.DER
    dummy = DummyTimeStamper(
        tsa_cert=asn1_x509.Certificate.load(cert.public_bytes(der)),
        tsa_key=asn1_keys.PrivateKeyInfo.load(
            key.private_bytes(der, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        ),
        certs_to_embed=SimpleCertificateStore.from_certs(
            [asn1_x509.Certificate.load(ca_cert.public_bytes(der))]
        ),
    )

    def call(request: bytes) -> bytes:
        # The dummy awaits nothing: drive its coroutine to the end right here (the caller may
        # already be inside an event loop, as pyHanko's signer is).
        coroutine = dummy.async_request_tsa_response(tsp.TimeStampReq.load(request))
        try:
            coroutine.send(None)
        except StopIteration as done:
            response: tsp.TimeStampResp = done.value
            return bytes(response.dump())
        raise RuntimeError("the in-process TSA awaited something")

    return call


def covering_less(signed: bytes, signer: Signer, cut: int = 12) -> bytes:
    """`signed` with its (last) signature made again over a ByteRange that stops `cut` bytes
    before the end of the file: a valid signature that covers only part of it."""
    at = signed.rindex(b"/ByteRange [")
    end = signed.index(b"]", at) + 1
    old = signed[at:end]
    a, b, c, d = (int(v) for v in old[len(b"/ByteRange [") : -1].split())
    new = b"/ByteRange [%d %d %d %d]" % (a, b, c, d - cut)
    data = signed[:at] + new.ljust(len(old)) + signed[end:]
    digest = hashlib.sha256(data[a : a + b] + data[c : c + d - cut]).digest()
    cms = _run_coroutine(pyhanko_signer(signer).async_sign(digest, "sha256", use_pades=True))
    hex_der = bytes(cms.dump()).hex().encode()
    room = c - b - 2
    assert len(hex_der) <= room
    return data[: b + 1] + hex_der.ljust(room, b"0") + data[c - 1 :]
