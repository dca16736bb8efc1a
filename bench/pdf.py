"""PDF signatures (SPEC 12): validating a signed 1 MB PDF with warm caches (target < 20 ms) and
signing a 50 MB PDF with peak memory under 4x its size.

    PYTHONPATH=. .venv/bin/python bench/pdf.py [--runs 200] [--big-mb 50]

Validation: a 1 MB PDF signed by the hub's code (PAdES, stamp, revocation data embedded), then
`validate_pdf` as the pipeline runs it, with the trust store's path-validation cache warm; the
median and p90 of `--runs` calls. Signing: a child process warms up (imports, the font, one
small signature), records its peak RSS, signs the 50 MB file from disk to disk and reports the
growth of its peak RSS as a multiple of the file's size.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from app.signing import TrustStore, pki
from app.signing.pdf_signing import sign_pdf
from app.signing.pdf_validation import validate_pdf
from app.signing.xmldsig import Signer
from tests.signing.pdfgen import make_pdf

ORGAN = "000.00.00.H39"
NAME = "Ủy ban nhân dân tỉnh Long An"


def _pki() -> tuple[Signer, TrustStore]:
    now = dt.datetime.now(dt.UTC)
    root_key, root = pki.create_root_ca("Bench Root", key_size=2048)
    ca_key, ca = pki.create_issuing_ca(root_key, root, "Bench CA")
    key, cert = pki.issue_org_certificate(ca_key, ca, ORGAN, NAME)
    week = dt.timedelta(days=7)
    crls = [
        pki.build_crl(root_key, root, [], now - dt.timedelta(hours=1), now + week),
        pki.build_crl(ca_key, ca, [], now - dt.timedelta(hours=1), now + week),
    ]
    return Signer(key, cert, [ca]), TrustStore([root], [ca], crls)


def _rss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def bench_validation(runs: int) -> dict[str, float]:
    signer, trust = _pki()
    out = io.BytesIO()
    sign_pdf(
        io.BytesIO(make_pdf(["Bench"], pad_to=1_000_000)),
        out,
        signer=signer,
        organ_id=ORGAN,
        organ_name=NAME,
        trust=trust,
    )
    data = out.getvalue()
    first = time.perf_counter()
    verdict = validate_pdf(data, expected_organ_id=ORGAN, trust=trust)
    cold = time.perf_counter() - first
    assert verdict.indication == "TOTAL_PASSED", verdict
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        validate_pdf(data, expected_organ_id=ORGAN, trust=trust)
        times.append(time.perf_counter() - start)
    times.sort()
    return {
        "size_bytes": len(data),
        "cold_ms": round(cold * 1000, 2),
        "median_ms": round(statistics.median(times) * 1000, 2),
        "p90_ms": round(times[int(len(times) * 0.9)] * 1000, 2),
        "min_ms": round(times[0] * 1000, 2),
    }


def _child_sign(path: str) -> None:
    signer, trust = _pki()
    sign_pdf(  # warm: imports, font, pyHanko's first signature
        io.BytesIO(make_pdf(["warm"])),
        io.BytesIO(),
        signer=signer,
        organ_id=ORGAN,
        organ_name=NAME,
        trust=trust,
    )
    before = _rss_kib()
    start = time.perf_counter()
    with open(path, "rb") as source, open(path + ".signed", "wb") as output:
        sign_pdf(source, output, signer=signer, organ_id=ORGAN, organ_name=NAME, trust=trust)
    seconds = time.perf_counter() - start
    after = _rss_kib()
    print(json.dumps({"before_kib": before, "after_kib": after, "seconds": round(seconds, 2)}))


def bench_signing(big_mb: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.pdf"
        with path.open("wb") as out:
            make_pdf(["Ban lon"], pad_to=big_mb * 1024 * 1024, out=out)
        size = path.stat().st_size
        child = subprocess.run(
            [sys.executable, __file__, "--child-sign", str(path)],
            capture_output=True,
            text=True,
            check=True,
            env=os.environ,
        )
        got = json.loads(child.stdout.strip().splitlines()[-1])
        signed = (Path(str(path) + ".signed")).stat().st_size
    growth = (got["after_kib"] - got["before_kib"]) * 1024
    return {
        "size_bytes": size,
        "signed_bytes": signed,
        "seconds": got["seconds"],
        "peak_rss_growth_mib": round(growth / 2**20, 1),
        "peak_over_size": round(growth / size, 2),
        "peak_rss_total_mib": round(got["after_kib"] / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--big-mb", type=int, default=50)
    parser.add_argument("--child-sign")
    args = parser.parse_args()
    if args.child_sign:
        _child_sign(args.child_sign)
        return
    print("load average", os.getloadavg())
    print("validation of a signed 1 MB PDF, warm caches:", bench_validation(args.runs))
    print(f"signing a {args.big_mb} MB PDF:", bench_signing(args.big_mb))


if __name__ == "__main__":
    main()
