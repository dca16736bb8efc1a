"""Every line a serving process writes to stderr is one JSON object; /readyz logs no alembic
lines (issue 14, item 16). A real `lienthong serve` in a subprocess, at LOG_LEVEL=INFO."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import REPO


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, "serve exited early"
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("serve did not come up")


def test_serve_logs_json_only_and_readyz_is_quiet(tmp_path: Path) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "LIENTHONG_DATA_DIR": str(tmp_path / "var"),
        "LIENTHONG_LOG_LEVEL": "INFO",
        "LIENTHONG_EMBEDDED_MOCK": "false",
    }
    env.pop("LIENTHONG_DATABASE_URL", None)
    stderr = tmp_path / "stderr.log"
    with stderr.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_ready(url, proc)
            before = stderr.read_text().count("\n")
            for _ in range(3):
                httpx.get(f"{url}/readyz", timeout=10)
            httpx.get(f"{url}/nothing-here", timeout=10)
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    lines = [line for line in stderr.read_text().splitlines() if line.strip()]
    # The demo's progress lines go to stderr as plain words by design (CLI output, not logs):
    logs = [line for line in lines if not line.startswith("  issued a signing certificate")]
    records = [json.loads(line) for line in logs]  # raises on any plain line
    loggers = {r["logger"] for r in records}
    assert "uvicorn.error" in loggers, loggers  # uvicorn's start/stop lines, as JSON
    after = [json.loads(line) for line in lines[before:] if line.startswith("{")]
    assert not [r for r in after if r["logger"].startswith("alembic")], after
    requests = [r for r in after if r.get("msg") == "request"]
    assert [r["path"] for r in requests].count("/readyz") == 3
