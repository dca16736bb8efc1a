"""A 50 MiB attachment: parses, round-trips, and stays within the memory budget."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.edxml import Attachment, build_document, parse_message
from tests.edxml.factory import make_document

SIZE = 50 * 1024 * 1024
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def big() -> tuple[bytes, bytes]:
    """(payload, edXML carrying it)."""
    payload = os.urandom(SIZE)
    att = Attachment(  # type: ignore[call-arg]  # `data` is taken by a wrap validator the pydantic plugin cannot see
        content_id="cid:big", name="ho-so.zip", content_type="application/zip", data=payload
    )
    return payload, build_document(make_document(attachments=[att]))


@pytest.mark.slow
def test_50mb_attachment_roundtrip(big: tuple[bytes, bytes]) -> None:
    payload, data = big
    assert len(data) > SIZE * 4 // 3  # base64 of the payload is in there
    parsed = parse_message(data, max_bytes=len(data))
    att = parsed.attachment("cid:big")
    assert att.size == SIZE
    assert att.data == payload  # (the streamed path, iter_chunks, is checked below)
    assert parsed.document is not None
    assert build_document(parsed.document) == data


@pytest.mark.slow
def test_50mb_parse_file_memory(big: tuple[bytes, bytes], tmp_path: Path) -> None:
    """parse_file + streaming the attachment out stays under 4x the attachment size
    (SPEC §12); measured in a fresh process so other tests' memory does not count."""
    _, data = big
    path = tmp_path / "big.edxml"
    path.write_bytes(data)
    script = (
        "import hashlib, resource, sys\n"
        "from app.edxml import parse_file\n"
        "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "parsed = parse_file(sys.argv[1], max_bytes=100 * 1024 * 1024)\n"
        "h = hashlib.sha256()\n"
        "for chunk in parsed.attachment('cid:big').iter_chunks():\n"
        "    assert len(chunk) <= 786432  # never the whole payload at once\n"
        "    h.update(chunk)\n"
        "peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print(peak - base, h.hexdigest())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    growth_kib, digest = result.stdout.split()
    assert digest == hashlib.sha256(big[0]).hexdigest()
    assert int(growth_kib) * 1024 < 4 * SIZE
