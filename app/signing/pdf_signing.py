"""PAdES signing of a PDF as an organization (SPEC 5.3): an incremental update with a visible
stamp on page 1, top right (the organization's Vietnamese name, its OrganId, the local signing
time), and, when a timestamper is given, a signature timestamp and the revocation data embedded
(PAdES B-LT). Without a timestamper the signature is PAdES B-B (the revocation data the trust
store holds is still embedded in the DSS, which only helps a verifier).

File objects in, file objects out: pyHanko's incremental writer reads the original lazily and
copies it through in chunks, so a 50 MB PDF is signed without holding it in memory twice.
The trust material is the hub's `TrustStore` (no fetching: what it holds is what is embedded).
"""

from __future__ import annotations

import datetime as dt
import io
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from asn1crypto import crl as asn1_crl
from asn1crypto import keys as asn1_keys
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import tsp
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils.font.opentype import GlyphAccumulator, GlyphAccumulatorFactory
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.text import TextBoxStyle
from pyhanko.sign import fields, signers
from pyhanko.sign.signers.pdf_signer import DSSContentSettings, SigDSSPlacementPreference
from pyhanko.sign.timestamps import TimeStamper
from pyhanko.stamp import TextStampStyle
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

from app.core.timeutil import LOCAL_TZ
from app.signing.trust import TrustStore, _run_coroutine
from app.signing.xmldsig import Signer

Timestamper = Callable[[bytes], bytes]
"""An RFC 3161 client: a DER `TimeStampReq` in, the TSA's DER `TimeStampResp` out (the hub's TSA
client, or an in-process TSA in tests)."""

_FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",  # Debian/Ubuntu fonts-dejavu-core
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",  # Fedora, Alpine
    "/usr/share/fonts/TTF/DejaVuSans.ttf",  # Arch
)
STAMP_WIDTH, STAMP_HEIGHT, STAMP_MARGIN = 250.0, 72.0, 18.0
_DEFAULT_MEDIABOX = (0.0, 0.0, 595.0, 842.0)


class _Expected(logging.Filter):
    """Drops two warnings that every signature here would log: the hub embeds revocation data
    from its trust store on purpose without fetching, and DejaVu Sans carries a table (FFTM)
    that a subset does not need."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        return "fetching is not allowed" not in text and "FFTM NOT subset" not in text


logging.getLogger("pyhanko.sign.signers.pdf_signer").addFilter(_Expected())
logging.getLogger("fontTools.subset").addFilter(_Expected())


class PdfSigningError(ValueError):
    """The PDF could not be signed (not a PDF pyHanko can update, encrypted, no font, …)."""


class StampFontMissing(PdfSigningError):
    pass


def stamp_font_path(configured: Path | None = None) -> Path:
    """The stamp's font: `configured` (the PDF_STAMP_FONT setting), else DejaVu Sans (it has
    every Vietnamese letter) from the distribution's fonts-dejavu-core. Raises
    `StampFontMissing` saying how to install it."""
    candidates = (str(configured),) if configured else _FONT_CANDIDATES
    for candidate in candidates:
        if Path(candidate).is_file():
            return Path(candidate)
    raise StampFontMissing(
        f"the PDF stamp font was not found (looked in {', '.join(candidates)}): install "
        "Debian's fonts-dejavu-core (apt-get install fonts-dejavu-core) or set "
        "LIENTHONG_PDF_STAMP_FONT to a TrueType font with Vietnamese letters"
    )


def stamp_text(organ_name: str, organ_id: str, when: dt.datetime) -> str:
    """The stamp's three lines: name, OrganId, signing time (dd/MM/yyyy HH:mm:ss local)."""
    local = when.astimezone(LOCAL_TZ)
    return f"{organ_name}\nMã định danh: {organ_id}\nThời gian ký: {local:%d/%m/%Y %H:%M:%S}"


class _Em1000Accumulator(GlyphAccumulator):
    """pyHanko's glyph accumulator measuring in 1/1000 em, as PDF's /W and TJ expect.

    pyHanko 0.38 writes font units into /W, which is only right for fonts with 1000 units per
    em; DejaVu Sans has 2048, so viewers spread the stamp's letters twice too wide. Here
    HarfBuzz shapes at a scale of 1000 and glyph widths are converted to the same scale."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._font_upem = int(self.units_per_em)
        self.units_per_em = 1000
        self.hb_font.scale = (1000, 1000)

    def _get_cid_and_width(self, glyph_id: int) -> tuple[int, int]:
        cached: tuple[int, int] | None = self._glyphs.get(glyph_id)
        if cached is not None:
            return cached
        cid, width = super()._get_cid_and_width(glyph_id)
        # the accumulator writes /W from what it remembers: remember the converted width
        self._glyphs[glyph_id] = scaled = (cid, round(width * 1000 / self._font_upem))
        return scaled


@dataclass(frozen=True)
class _Em1000Factory(GlyphAccumulatorFactory):
    def create_font_engine(self, writer: Any, obj_stream: Any = None) -> GlyphAccumulator:
        if obj_stream is None and writer.stream_xrefs and self.create_objstream_if_needed:
            obj_stream = writer.prepare_object_stream()
        with open(self.font_file, "rb") as handle:
            data = io.BytesIO(handle.read())
        return _Em1000Accumulator(
            writer=writer, font_handle=data, font_size=self.font_size, obj_stream=obj_stream
        )


class _CallableTimeStamper(TimeStamper):
    """pyHanko's TimeStamper over a `Timestamper` callable (DER request → DER response)."""

    def __init__(self, call: Timestamper) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._call = call

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        return tsp.TimeStampResp.load(self._call(req.dump()))


@dataclass(frozen=True, slots=True)
class PdfSigned:
    """What `sign_pdf` made."""

    field: str
    level: str  # "PAdES-B-LT" with a timestamp, "PAdES-B-B" without
    signed_at: dt.datetime


def pyhanko_signer(signer: Signer) -> signers.SimpleSigner:
    """The hub's loaded key and chain as pyHanko's signer."""
    key_der = signer.key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    cert = asn1_x509.Certificate.load(signer.certificate.public_bytes(serialization.Encoding.DER))
    chain = [
        asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER))
        for c in signer.intermediates
    ]
    return signers.SimpleSigner(
        signing_cert=cert,
        signing_key=asn1_keys.PrivateKeyInfo.load(key_der),
        cert_registry=SimpleCertificateStore.from_certs(chain),  # type: ignore[no-untyped-call]
    )


def validation_context(
    trust: TrustStore,
    *,
    at: dt.datetime | None = None,
    certs: list[asn1_x509.Certificate] | None = None,
    crls: list[asn1_crl.CertificateList] | None = None,
    ocsps: list[asn1_ocsp.OCSPResponse] | None = None,
    revocation_mode: str = "require",
) -> ValidationContext:
    """A pyHanko validation context over the trust store (no fetching), plus what a PDF
    carries itself (its DSS: certificates as path candidates, revocation data)."""
    from pyhanko_certvalidator.policy_decl import CertRevTrustPolicy, RevocationCheckingPolicy

    der = serialization.Encoding.DER
    return ValidationContext(
        trust_roots=[asn1_x509.Certificate.load(c.public_bytes(der)) for c in trust.anchors],
        other_certs=[
            *(asn1_x509.Certificate.load(c.public_bytes(der)) for c in trust.intermediates),
            *(certs or ()),
        ],
        crls=[*(asn1_crl.CertificateList.load(c) for c in trust.crls), *(crls or ())],
        ocsps=[*(asn1_ocsp.OCSPResponse.load(o) for o in trust.ocsp_responses), *(ocsps or ())],
        moment=at,
        best_signature_time=at,
        allow_fetching=False,
        revinfo_policy=CertRevTrustPolicy(
            RevocationCheckingPolicy.from_legacy(revocation_mode), retroactive_revinfo=True
        ),
    )


def _stamp_box(writer: IncrementalPdfFileWriter) -> tuple[int, int, int, int]:
    """Page 1's top right corner, inside its MediaBox."""
    page_ref, _ = writer.find_page_for_modification(0)  # type: ignore[no-untyped-call]
    page: Any = page_ref.get_object()
    box: Any = None
    node: Any = page
    while node is not None and box is None:
        box = node.get("/MediaBox")
        parent = node.get("/Parent")
        node = parent.get_object() if parent is not None else None
    x1, y1, x2, y2 = (float(v) for v in box) if box is not None else _DEFAULT_MEDIABOX
    right, top = max(x1, x2), max(y1, y2)
    return (
        round(right - STAMP_MARGIN - STAMP_WIDTH),
        round(top - STAMP_MARGIN - STAMP_HEIGHT),
        round(right - STAMP_MARGIN),
        round(top - STAMP_MARGIN),
    )


def _field_name(writer: IncrementalPdfFileWriter, organ_id: str) -> str:
    taken = {name for name, _, _ in fields.enumerate_sig_fields(writer.prev, filled_status=None)}
    base = "Lienthong_" + organ_id.replace(".", "_")
    n = 1
    while f"{base}_{n}" in taken:
        n += 1
    return f"{base}_{n}"


def sign_pdf(
    source: IO[bytes],
    output: IO[bytes],
    *,
    signer: Signer,
    organ_id: str,
    organ_name: str,
    trust: TrustStore,
    timestamper: Timestamper | None = None,
    when: dt.datetime | None = None,
    embed_revocation: bool = True,
    font: Path | None = None,
) -> PdfSigned:
    """Sign the PDF read from `source` into `output` (an incremental update of it).

    `source` must be seekable; earlier signatures are kept (the original bytes are copied
    through unchanged). Raises `PdfSigningError` for what cannot be signed, including a signer
    whose chain the trust store cannot validate (its revocation data is embedded).
    `embed_revocation=False` leaves the DSS out (tests sign with untrusted keys that way).
    """
    font_file = stamp_font_path(font)
    when = when or dt.datetime.now(dt.UTC)
    try:
        writer = IncrementalPdfFileWriter(source, strict=False)
    except Exception as exc:
        raise PdfSigningError(f"not a PDF that can be updated: {exc}") from exc
    if writer.prev.encrypted:
        raise PdfSigningError("an encrypted PDF cannot be signed by the hub")
    try:
        name = _field_name(writer, organ_id)
        box = _stamp_box(writer)
    except Exception as exc:
        raise PdfSigningError(f"the PDF's structure cannot be read: {exc}") from exc
    style = TextStampStyle(
        stamp_text=stamp_text(organ_name, organ_id, when).replace("%", "%%"),
        text_box_style=TextBoxStyle(font=_Em1000Factory(str(font_file)), font_size=9, leading=12),
        border_width=1,
        background=None,
    )
    meta = signers.PdfSignatureMetadata(
        field_name=name,
        md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES,
        reason="Ký số văn bản điện tử",
        location=organ_id,
        name=organ_name,
        embed_validation_info=embed_revocation,
        validation_context=validation_context(trust, at=when) if embed_revocation else None,
        use_pades_lta=False,
        # The revocation data goes into the signature's own revision, so the signature covers
        # the whole file (a verifier sees no change after signing).
        dss_settings=DSSContentSettings(
            placement=SigDSSPlacementPreference.TOGETHER_WITH_SIGNATURE, include_vri=False
        ),
    )
    pdf_signer = signers.PdfSigner(
        meta,
        signer=pyhanko_signer(signer),
        timestamper=_CallableTimeStamper(timestamper) if timestamper is not None else None,
        stamp_style=style,
        new_field_spec=fields.SigFieldSpec(sig_field_name=name, on_page=0, box=box),
    )
    try:
        _run_coroutine(pdf_signer.async_sign_pdf(writer, output=output))
    except Exception as exc:
        raise PdfSigningError(f"signing the PDF failed: {type(exc).__name__}: {exc}") from exc
    return PdfSigned(
        field=name, level="PAdES-B-LT" if timestamper is not None else "PAdES-B-B", signed_at=when
    )


__all__ = [
    "PdfSigned",
    "PdfSigningError",
    "StampFontMissing",
    "Timestamper",
    "pyhanko_signer",
    "sign_pdf",
    "stamp_font_path",
    "stamp_text",
    "validation_context",
]
