"""Peak memory of the hub while a 50 MB attachment passes through (SPEC section 12: < 4x).

Starts a real hub process on a fresh SQLite data dir (or, with `--postgres`, a fresh
PostgreSQL database, where the edXML is streamed into the database blob store in chunks), submits one edXML document carrying a
50 MiB attachment over HTTP (streamed from a file), fetches the signed edXML and the
attachment back, and reads the hub process's peak resident memory (VmHWM) before and after.

    .venv/bin/python bench/memory.py [--mib 50] [--pdf] [--postgres]

With --pdf the attachment is a PDF of that size and the document is submitted with
`sign_pdf=true`: the hub checks the PDF's signatures and signs it (PAdES, stamp) before
sealing the package (SPEC 5.3).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def vm(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(field)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=50)
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="PostgreSQL (LIENTHONG_TEST_POSTGRES_URL): the edXML goes to the database blob store",
    )
    parser.add_argument("--pdf", action="store_true", help="a PDF, submitted with sign_pdf=true")
    args = parser.parse_args()
    size = args.mib * 1024 * 1024

    from app.edxml import EdxmlDocument, build_document

    work = Path(tempfile.mkdtemp(prefix="lienthong-mem-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIENTHONG_")}
    env |= {
        "LIENTHONG_DATA_DIR": str(work / "var"),
        "LIENTHONG_EMBEDDED_MOCK": "false",
        "LIENTHONG_LOG_LEVEL": "WARNING",
    }
    lienthong = str(Path(sys.executable).with_name("lienthong"))
    if args.postgres:
        from bench.throughput import setup_database

        env |= {
            "LIENTHONG_DATABASE_URL": setup_database("lienthong_bench_memory"),
            "LIENTHONG_KEY_PASSPHRASE": "bench-passphrase",
            "LIENTHONG_READYZ_REQUIRES_WORKER": "false",
        }
        subprocess.run([lienthong, "demo"], env=env, cwd=work, check=True, capture_output=True)
    port = free_port()
    hub = subprocess.Popen(
        [
            lienthong,
            "serve",
            "--port",
            str(port),
            "--no-worker",
        ],
        env=env,
        cwd=work,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        from bench.throughput import wait_until_up

        wait_until_up(base, attempts=600)
        keys = json.loads((work / "var" / "demo-keys.json").read_text())
        auth = {"Authorization": f"Bearer {keys['system:so-noi-vu']}"}
        if args.pdf:
            from tests.signing.pdfgen import make_pdf

            pdf_file = work / "big.pdf"
            with pdf_file.open("wb") as out:
                make_pdf(["Ho so lon"], pad_to=size, out=out)
            payload = pdf_file.read_bytes()
            size = len(payload)
        else:
            payload = os.urandom(size)
        body = {
            "from": {"organ_id": "000.00.02.H39"},
            "to": [{"organ_id": "000.00.03.H39"}],
            "code": {"code_number": "50", "code_notation": "SNV-MEM"},
            "promulgation_info": {"promulgation_date": "2026-11-26"},
            "subject": "Hồ sơ kèm tệp lớn (benchmark)",
            "attachments": [
                {
                    "content_id": "cid:1",
                    "name": "ho-so.pdf" if args.pdf else "ho-so.zip",
                    "content_type": "application/pdf" if args.pdf else "application/zip",
                    "data": payload,
                }
            ],
        }
        doc_file = work / "doc.edxml"
        doc_file.write_bytes(build_document(EdxmlDocument.model_validate(body)))
        del payload, body
        # Warm up with a small document so that imports and caches are not counted.
        small = dict(
            {
                "from": {"organ_id": "000.00.02.H39"},
                "to": [{"organ_id": "000.00.03.H39"}],
                "code": {"code_number": "1", "code_notation": "W"},
                "promulgation_info": {"promulgation_date": "2026-11-26"},
                "subject": "warm-up",
            }
        )
        r = httpx.post(f"{base}/api/v1/documents", json=small, headers=auth, timeout=60)
        r.raise_for_status()
        httpx.get(f"{base}/api/v1/documents/{r.json()['id']}/edxml", headers=auth, timeout=60)
        baseline_rss, baseline_hwm = vm(hub.pid, "VmRSS"), vm(hub.pid, "VmHWM")

        t0 = time.perf_counter()
        with doc_file.open("rb") as fh:
            r = httpx.post(
                f"{base}/api/v1/documents",
                params={"sign_pdf": "true"} if args.pdf else None,
                content=fh,
                headers=auth | {"Content-Type": "application/xml"},
                timeout=600,
            )
        r.raise_for_status()
        t_submit = time.perf_counter() - t0
        submit_hwm = vm(hub.pid, "VmHWM")
        doc_id = r.json()["id"]
        t0 = time.perf_counter()
        with httpx.stream(
            "GET", f"{base}/api/v1/documents/{doc_id}/edxml", headers=auth, timeout=600
        ) as resp:
            edxml_bytes = sum(len(c) for c in resp.iter_bytes())
        with httpx.stream(
            "GET", f"{base}/api/v1/documents/{doc_id}/attachments/cid:1", headers=auth, timeout=600
        ) as resp:
            att_bytes = sum(len(c) for c in resp.iter_bytes())
        t_fetch = time.perf_counter() - t0
        final_hwm = vm(hub.pid, "VmHWM")
    finally:
        hub.terminate()
        hub.wait(timeout=30)
    assert att_bytes == size or (args.pdf and att_bytes > size), (att_bytes, size)
    mb = 1024 * 1024
    print(
        f"attachment: {size / mb:.0f} MiB; edXML file: {doc_file.stat().st_size / mb:.1f} MiB; signed edXML served: {edxml_bytes / mb:.1f} MiB"
    )
    print(
        f"hub RSS after warm-up: {baseline_rss / mb:.0f} MiB (peak so far {baseline_hwm / mb:.0f} MiB)"
    )
    print(
        f"submit: {t_submit:.2f} s, peak RSS {submit_hwm / mb:.0f} MiB (+{(submit_hwm - baseline_rss) / mb:.0f} MiB)"
    )
    print(f"fetch edXML + attachment: {t_fetch:.2f} s, peak RSS {final_hwm / mb:.0f} MiB")
    growth = (final_hwm - baseline_rss) / size
    print(f"peak growth over the warm hub: {growth:.2f}x the attachment (target < 4x)")


if __name__ == "__main__":
    main()
