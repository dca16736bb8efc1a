"""The README's run command, from a clean copy of the repository, serves /readyz 200."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO


def _readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    first = text.split("\n## ", 2)[1]
    return re.findall(r"```(?:sh|bash)?\n(.+?)\n```", first, re.S)


def test_readme_gives_exactly_two_setup_commands() -> None:
    commands = _readme_commands()
    assert commands == ["./scripts/run", "./scripts/test"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_run_command_serves_readyz_from_a_clean_copy(tmp_path: Path) -> None:
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    copy = tmp_path / "lienthong"
    for name in files:
        src = REPO / name
        if src.is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, copy / name)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIENTHONG_", "VIRTUAL_ENV"))}
    env["PORT"] = str(port)
    log = (tmp_path / "run.log").open("w")
    proc = subprocess.Popen(
        ["bash", "-c", _readme_commands()[0]],
        cwd=copy,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 300
        status = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code
                if status == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        output = (tmp_path / "run.log").read_text()
        assert status == 200, output[-3000:]
        assert (copy / "var" / "lienthong.db").exists()
        assert "Seeded the demo province" in output
        keys = __import__("json").loads((copy / "var" / "demo-keys.json").read_text())
        r = httpx.get(
            f"http://127.0.0.1:{port}/api/v1/organizations",
            params={"limit": 500},
            headers={"Authorization": f"Bearer {keys['admin']}"},
        )
        assert r.status_code == 200 and len(r.json()["items"]) >= 1 + 12 + 6 + 5
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
