"""PAdES signatures on PDF attachments (SPEC 5.3): validation verdicts, ZIP limits, the hub's
own signatures checked by poppler's pdfsig (with the demo CA trusted in a temporary NSS
database) and its visible stamp found on page 1, top right, by rendering it with pdftoppm."""

from __future__ import annotations

import datetime as dt
import io
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils.reader import PdfFileReader

from app.signing import TrustStore
from app.signing.pdf_containers import MAX_ZIP_ENTRIES
from app.signing.pdf_signing import StampFontMissing, sign_pdf, stamp_text
from app.signing.pdf_validation import AttachmentInput, validate_attachments, validate_pdf
from app.signing.report import AttachmentVerdict
from tests.signing.conftest import NOW, OTHER, SENDER, Pki
from tests.signing.pdfgen import (
    change_page,
    covering_less,
    in_process_tsa,
    make_pdf,
    make_zip,
    sign_bytes_pdf,
)

AT = NOW + dt.timedelta(minutes=1)
MIB = 1024 * 1024


def _check(data: bytes, trust: TrustStore, organ: str = SENDER) -> AttachmentVerdict:
    return validate_pdf(data, name="cv.pdf", expected_organ_id=organ, trust=trust, at=AT)


@pytest.fixture(scope="module")
def plain() -> bytes:
    return make_pdf(["Cong van so 1234/UBND-VX", "Trang 2"])


@pytest.fixture(scope="module")
def signed(demo_pki: Pki, trust: TrustStore, plain: bytes) -> bytes:
    return sign_bytes_pdf(plain, demo_pki.parties["rsa"].signer, trust, organ_id=SENDER)


def test_a_pdf_signed_by_the_sender_passes(signed: bytes, trust: TrustStore) -> None:
    verdict = _check(signed, trust)
    assert verdict.indication == "TOTAL_PASSED", verdict
    (sig,) = verdict.signatures
    assert sig.coverage == "entire_file" and not sig.modified_after_signing
    assert sig.signed_by is not None and sig.signed_by.organ_id == SENDER
    assert sig.signing_time is not None and sig.timestamp_time is None
    assert verdict.to_dict()["signatures"][0]["field"].startswith("Lienthong_")


def test_a_pdf_signed_by_another_organization_fails(
    demo_pki: Pki, trust: TrustStore, plain: bytes
) -> None:
    other = sign_bytes_pdf(plain, demo_pki.parties["other"].signer, trust, organ_id=OTHER)
    verdict = _check(other, trust)
    assert (verdict.indication, verdict.sub_indication) == (
        "TOTAL_FAILED",
        "SIG_CONSTRAINTS_FAILURE",
    )
    assert verdict.signatures[0].signed_by is not None
    assert verdict.signatures[0].signed_by.organ_id == OTHER
    assert _check(other, trust, organ=OTHER).indication == "TOTAL_PASSED"


def test_a_certificate_from_an_unknown_ca_has_no_chain(
    demo_pki: Pki, trust: TrustStore, plain: bytes
) -> None:
    foreign = sign_bytes_pdf(
        plain, demo_pki.parties["foreign"].signer, trust, organ_id=SENDER, embed_revocation=False
    )
    verdict = _check(foreign, trust)
    assert (verdict.indication, verdict.sub_indication) == (
        "INDETERMINATE",
        "NO_CERTIFICATE_CHAIN_FOUND",
    )


def test_a_revoked_signer_fails(demo_pki: Pki, trust: TrustStore, plain: bytes) -> None:
    revoked = sign_bytes_pdf(
        plain, demo_pki.parties["revoked"].signer, trust, organ_id=SENDER, embed_revocation=False
    )
    verdict = _check(revoked, trust)
    assert (verdict.indication, verdict.sub_indication) == ("TOTAL_FAILED", "REVOKED")
    # the same PDF with a CRL that does not list it passes
    clean = demo_pki.trust(crls=[demo_pki.root_crl(), demo_pki.crl()])
    assert _check(revoked, clean).indication == "TOTAL_PASSED"


def test_content_changed_after_signing_fails(signed: bytes, trust: TrustStore) -> None:
    altered = change_page(signed)
    verdict = _check(altered, trust)
    assert verdict.indication == "TOTAL_FAILED", verdict
    (sig,) = verdict.signatures
    assert sig.coverage == "entire_revision" and sig.modified_after_signing
    assert "pdf.modified_after_signing" in {e.code for e in sig.errors}


def test_a_signature_covering_only_part_of_the_file_fails(
    demo_pki: Pki, signed: bytes, trust: TrustStore
) -> None:
    # A cryptographically valid signature whose ByteRange stops before the end of its own
    # revision (the trailer it leaves out could say anything).
    partial = covering_less(signed, demo_pki.parties["rsa"].signer)
    verdict = _check(partial, trust)
    (sig,) = verdict.signatures
    assert sig.coverage == "partial" and sig.modified_after_signing
    assert "pdf.partial_coverage" in {e.code for e in sig.errors}
    assert verdict.indication == "TOTAL_FAILED" and verdict.sub_indication == "FORMAT_FAILURE"


def test_an_unsigned_pdf_has_no_signature(plain: bytes, trust: TrustStore) -> None:
    verdict = _check(plain, trust)
    assert (verdict.indication, verdict.signatures) == ("NO_SIGNATURE_FOUND", ())


def test_two_signatures_one_valid_one_not(demo_pki: Pki, trust: TrustStore, plain: bytes) -> None:
    first = sign_bytes_pdf(plain, demo_pki.parties["other"].signer, trust, organ_id=OTHER)
    both = sign_bytes_pdf(first, demo_pki.parties["rsa"].signer, trust, organ_id=SENDER)
    assert both.startswith(first)  # an incremental update: the original bytes stay
    verdict = _check(both, trust)
    assert [s.indication for s in verdict.signatures] == ["TOTAL_FAILED", "TOTAL_PASSED"]
    earlier, later = verdict.signatures
    assert earlier.coverage == "entire_revision" and earlier.modified_after_signing
    assert earlier.sub_indication == "SIG_CONSTRAINTS_FAILURE"  # not From's, but not altered
    assert later.coverage == "entire_file"
    assert verdict.indication == "TOTAL_FAILED"
    # the sender's second signature on its own first one: both pass
    twice = sign_bytes_pdf(
        sign_bytes_pdf(plain, demo_pki.parties["rsa"].signer, trust, organ_id=SENDER),
        demo_pki.parties["ec"].signer,
        trust,
        organ_id=SENDER,
    )
    assert [s.indication for s in _check(twice, trust).signatures] == ["TOTAL_PASSED"] * 2


def test_a_pdf_inside_a_zip_is_validated(signed: bytes, plain: bytes, trust: TrustStore) -> None:
    archive = make_zip({"vanban/cv.pdf": signed, "phuluc.pdf": plain, "readme.txt": b"x" * 5000})
    verdicts = validate_attachments(
        [AttachmentInput("cid:1", "hoso.zip", "application/zip", archive)],
        expected_organ_id=SENDER,
        trust=trust,
        at=AT,
    )
    assert [(v.path_in_zip, v.indication) for v in verdicts] == [
        ("vanban/cv.pdf", "TOTAL_PASSED"),
        ("phuluc.pdf", "NO_SIGNATURE_FOUND"),
    ]
    assert {v.content_id for v in verdicts} == {"cid:1"}


def _zip_verdict(archive: bytes, trust: TrustStore, max_bytes: int = 50 * MIB) -> AttachmentVerdict:
    (verdict,) = validate_attachments(
        [AttachmentInput("cid:z", "bomb.zip", "application/zip", archive)],
        expected_organ_id=SENDER,
        trust=trust,
        at=AT,
        max_bytes=max_bytes,
    )
    assert (verdict.indication, verdict.sub_indication) == ("INDETERMINATE", "FORMAT_FAILURE")
    assert verdict.path_in_zip is None
    return verdict


def test_a_zip_bomb_is_refused_within_the_limits(trust: TrustStore) -> None:
    # 200 MiB of zeros deflate to ~200 KiB: a ratio of ~1000, and 4x MAX_DOCUMENT_BYTES.
    zeros = io.BytesIO()
    with (
        zipfile.ZipFile(zeros, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("bomb.pdf", "w", force_zip64=True) as entry,
    ):
        for _ in range(200):
            entry.write(b"\0" * MIB)
    verdict = _zip_verdict(zeros.getvalue(), trust)
    assert verdict.errors[0].code in {"zip.ratio", "zip.too_large"}
    # A ZIP whose header lies about the size is stopped while decompressing.
    small = make_zip({"a.pdf": b"%PDF-1.7\n" + b"\0" * (3 * MIB)})
    assert _zip_verdict(small, trust, max_bytes=MIB).errors[0].code in {
        "zip.ratio",
        "zip.too_large",
    }


def test_a_zip_with_ten_thousand_entries_is_refused(trust: TrustStore) -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        for i in range(10_000):
            archive.writestr(f"{i}.pdf", b"%PDF-")
    verdict = _zip_verdict(out.getvalue(), trust)
    assert verdict.errors[0].code == "zip.too_many_entries"
    assert str(MAX_ZIP_ENTRIES) in verdict.errors[0].message


@pytest.mark.parametrize(
    "data",
    [
        b"%PDF-1.7\nnot really a pdf",
        b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF",
        b"",
    ],
)
def test_a_malformed_pdf_gets_a_verdict(data: bytes, trust: TrustStore) -> None:
    verdict = _check(data, trust)
    assert (verdict.indication, verdict.sub_indication) == ("INDETERMINATE", "FORMAT_FAILURE")


def test_a_damaged_signature_gets_a_verdict(signed: bytes, trust: TrustStore) -> None:
    start = signed.index(b"/Contents <") + len(b"/Contents <")
    damaged = signed[:start] + b"3082" + b"00" * 40 + signed[start + 84 :]
    verdict = _check(damaged, trust)
    assert verdict.indication in {"INDETERMINATE", "TOTAL_FAILED"}


def test_non_pdf_attachments_give_no_verdict(trust: TrustStore) -> None:
    assert (
        validate_attachments(
            [
                AttachmentInput("cid:1", "a.docx", "application/zip", b"plain text"),
                AttachmentInput("cid:2", "b.zip", "application/zip", make_zip({"x.txt": b"x"})),
            ],
            expected_organ_id=SENDER,
            trust=trust,
        )
        == ()
    )


def test_b_lt_with_a_timestamp_embeds_revocation_data(
    demo_pki: Pki, trust: TrustStore, plain: bytes
) -> None:
    tsa = in_process_tsa(demo_pki.ca_key, demo_pki.ca)
    out = sign_bytes_pdf(
        plain, demo_pki.parties["rsa"].signer, trust, organ_id=SENDER, timestamper=tsa
    )
    reader = PdfFileReader(io.BytesIO(out))
    dss = reader.root["/DSS"]
    assert len(dss["/CRLs"]) >= 1 and len(dss["/Certs"]) >= 1
    verdict = _check(out, trust)
    assert verdict.indication == "TOTAL_PASSED", verdict
    (sig,) = verdict.signatures
    assert sig.timestamp_time is not None
    assert abs(sig.timestamp_time - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=5)
    assert sig.coverage == "entire_file"


def test_the_stamp_text_is_vietnamese_with_local_time() -> None:
    text = stamp_text(
        "Ủy ban nhân dân tỉnh Long An", SENDER, dt.datetime(2026, 11, 26, 2, 5, 9, tzinfo=dt.UTC)
    )
    assert text.splitlines() == [
        "Ủy ban nhân dân tỉnh Long An",
        f"Mã định danh: {SENDER}",
        "Thời gian ký: 26/11/2026 09:05:09",
    ]


def test_a_missing_font_fails_with_a_clear_message(
    demo_pki: Pki, trust: TrustStore, plain: bytes, tmp_path: Path
) -> None:
    with pytest.raises(StampFontMissing, match="fonts-dejavu-core"):
        sign_pdf(
            io.BytesIO(plain),
            io.BytesIO(),
            signer=demo_pki.parties["rsa"].signer,
            organ_id=SENDER,
            organ_name="x",
            trust=trust,
            font=tmp_path / "absent.ttf",
        )


# -- independent tools: poppler's pdfsig and pdftoppm -----------------------------------------


def _tool(name: str, package: str) -> str:
    found = shutil.which(name)
    if found is None:
        if os.environ.get("LIENTHONG_REQUIRE_TOOLS") == "1":
            pytest.fail(f"{name} is required (Debian package {package})")
        pytest.skip(f"{name} not installed (Debian package {package})")
    return found


@pytest.mark.parametrize("level", ["B-B", "B-LT"])
def test_pdfsig_reports_the_hubs_signature_valid_and_trusted(
    demo_pki: Pki, trust: TrustStore, plain: bytes, tmp_path: Path, level: str
) -> None:
    pdfsig = _tool("pdfsig", "poppler-utils")
    certutil = _tool("certutil", "libnss3-tools")
    tsa = in_process_tsa(demo_pki.ca_key, demo_pki.ca) if level == "B-LT" else None
    signed = sign_bytes_pdf(
        plain, demo_pki.parties["rsa"].signer, trust, organ_id=SENDER, timestamper=tsa
    )
    nss = tmp_path / "nss"
    nss.mkdir()
    subprocess.run([certutil, "-N", "-d", f"sql:{nss}", "--empty-password"], check=True)
    for nick, cert in (("root", demo_pki.root), ("issuing", demo_pki.ca)):
        pem = tmp_path / f"{nick}.pem"
        pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        trust_flags = "CT,C,C" if nick == "root" else ",,"
        subprocess.run(
            [certutil, "-A", "-d", f"sql:{nss}", "-n", nick, "-t", trust_flags, "-i", str(pem)],
            check=True,
        )
    path = tmp_path / "signed.pdf"
    path.write_bytes(signed)
    run = subprocess.run(
        [pdfsig, "-nssdir", f"sql:{nss}", str(path)], capture_output=True, text=True, check=False
    )
    lines = run.stdout
    assert "Signature Validation: Signature is Valid." in lines, lines
    assert "Total document signed" in lines, lines
    assert "Certificate Validation: Certificate is Trusted." in lines, lines
    assert "ETSI.CAdES.detached" in lines
    # and a change after signing is seen by pdfsig too
    path.write_bytes(change_page(signed))
    changed = subprocess.run([pdfsig, str(path)], capture_output=True, text=True, check=False)
    assert "Not total document signed" in changed.stdout


def _render(pdf: bytes, tmp_path: Path, name: str) -> tuple[int, int, bytes]:
    pdftoppm = _tool("pdftoppm", "poppler-utils")
    src = tmp_path / f"{name}.pdf"
    src.write_bytes(pdf)
    subprocess.run(
        [pdftoppm, "-gray", "-r", "40", "-f", "1", "-l", "1", str(src), str(tmp_path / name)],
        check=True,
    )
    (image,) = tmp_path.glob(f"{name}*.pgm")
    data = image.read_bytes()
    # binary PGM: "P5\n<w> <h>\n<max>\n" then one byte per pixel
    magic, width, height, _, pixels = data.split(maxsplit=4)
    assert magic == b"P5"
    return int(width), int(height), pixels


def test_the_stamp_is_on_page_one_top_right(plain: bytes, signed: bytes, tmp_path: Path) -> None:
    width, height, before = _render(plain, tmp_path, "plain")
    width2, height2, after = _render(signed, tmp_path, "signed")
    assert (width, height) == (width2, height2)
    changed = [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b]
    assert len(changed) > 200  # a border and three lines of text
    xs = [i % width for i in changed]
    ys = [i // width for i in changed]
    assert min(xs) > width // 2, "the stamp starts in the right half"
    assert max(ys) < height // 5, "the stamp lies in the top fifth of the page"
    assert max(xs) > width * 0.9, "and reaches the right edge's margin"


def test_a_damaged_zip_gets_a_verdict(signed: bytes, trust: TrustStore) -> None:
    archive = bytearray(make_zip({"cv.pdf": signed + b"x" * 10_000}))
    # damage the deflated data of the one entry (after its 30-byte local header and name)
    for i in range(40, 400):
        archive[i] ^= 0x5A
    verdict = _zip_verdict(bytes(archive), trust)
    assert verdict.errors[0].code == "zip.malformed"
    assert _zip_verdict(b"PK\x03\x04 truncated", trust).errors[0].code == "zip.malformed"
