"""No command of the CLI answers a user mistake with a traceback (issue 14, items 11 and 12).

Each mistake ends as one `error: …` line (and a `hint: …` line where there is something to
set), with an exit code saying which kind: 1 refused, 2 usage or configuration, 3 database,
4 a file or a port.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result
from fastapi.testclient import TestClient
from pydantic import SecretStr

from app.cli import main as cli
from app.core.config import Settings
from app.main import create_app
from tests.conftest import REPO, World
from tests.factories import document_json

UNREACHABLE_PG = "postgresql://lienthong@127.0.0.1:1/nowhere"


def _run(args: list[str], env: dict[str, str] | None = None) -> Result:
    result = CliRunner().invoke(cli, args, env=env)
    # Only SystemExit may end a command: anything else would have printed a traceback.
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        args,
        result.exception,
    )
    assert "Traceback" not in result.output, result.output
    return result


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty directory as the current one, no data directory or database configured."""
    for name in ("LIENTHONG_DATA_DIR", "LIENTHONG_DATABASE_URL", "LIENTHONG_KEY_PASSPHRASE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        yield sock.getsockname()[1]


READING_COMMANDS = [
    ["clients", "create", "--name", "x", "--role", "admin"],
    ["clients", "revoke", "some-id"],
    ["pki", "init"],
    ["pki", "issue", "000.00.02.H39"],
    ["pki", "crl"],
    ["audit", "verify"],
    ["stats", "export", "--year", "2025"],
    ["stats", "check"],
    ["stats", "rebuild"],
]


@pytest.mark.parametrize("args", READING_COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_run_from_another_directory_hints_at_the_data_dir(elsewhere: Path, args: list[str]) -> None:
    out = _run(args)
    assert out.exit_code == 3
    assert "no database at var/lienthong.db" in out.output
    assert "LIENTHONG_DATA_DIR" in out.output and str(elsewhere) in out.output
    assert not (elsewhere / "var").exists(), "a reading command creates no empty database"


@pytest.mark.parametrize("args", READING_COMMANDS[:1] + READING_COMMANDS[5:7])
def test_database_unreachable_or_without_tables(
    elsewhere: Path, args: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {"LIENTHONG_DATABASE_URL": UNREACHABLE_PG, "LIENTHONG_KEY_PASSPHRASE": "a-real-one"}
    out = _run(args, env)
    assert out.exit_code == 3 and "cannot use the database" in out.output
    assert "LIENTHONG_DATABASE_URL" in out.output
    (elsewhere / "empty.db").touch()
    out = _run(args, {"LIENTHONG_DATABASE_URL": f"sqlite:///{elsewhere / 'empty.db'}"})
    assert out.exit_code == 3 and "lienthong db upgrade" in out.output


def test_stats_export_into_a_missing_directory(elsewhere: Path) -> None:
    assert _run(["db", "upgrade"]).exit_code == 0
    target = elsewhere / "missing" / "report.csv"
    out = _run(["stats", "export", "--format", "csv", "-o", str(target)])
    assert out.exit_code == 4
    assert out.output.strip() == f"error: No such file or directory: {target}"


def test_wrong_passphrase_one_line_and_the_api_answers_503(
    world: World, settings: Settings, sessions: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "LIENTHONG_DATABASE_URL", sessions.kw["bind"].url.render_as_string(hide_password=False)
    )
    monkeypatch.setenv("LIENTHONG_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("LIENTHONG_KEY_PASSPHRASE", "not-the-passphrase")
    for args in (["pki", "issue", world.OWN], ["pki", "init"]):
        out = _run(args)
        assert out.exit_code == 1, out.output
        assert out.output.count("\n") == 1 and "LIENTHONG_KEY_PASSPHRASE" in out.output

    wrong = settings.model_copy(update={"key_passphrase": SecretStr("not-the-passphrase")})
    with TestClient(create_app(wrong), raise_server_exceptions=False) as c:
        r = c.post(
            "/api/v1/documents",
            json=document_json(world.OWN, [world.OWN2]),
            headers=world.auth("system"),
        )
        assert r.status_code == 503, r.text
        assert r.json()["code"] == "signing.unavailable"
        assert "LIENTHONG_KEY_PASSPHRASE" in r.json()["detail"]
        ready = c.get("/readyz").json()
        assert not ready["checks"]["signing_keys"]["ok"]


def test_serve_checks_ports_and_passphrase_before_listening(
    elsewhere: Path, taken_port: int
) -> None:
    out = _run(["serve", "--port", str(taken_port)])
    assert out.exit_code == 4 and f"127.0.0.1:{taken_port}" in out.output
    assert "--port" in out.output and "listening" not in out.output

    # The embedded demo is seeded, then the mock axis finds its port taken.
    out = _run(["serve", "--port", "0"], {"LIENTHONG_MOCK_PORT": str(taken_port)})
    assert out.exit_code == 4, out.output
    assert f"mock axis cannot listen on 127.0.0.1:{taken_port}" in out.output
    assert "LIENTHONG_MOCK_PORT" in out.output and "listening" not in out.output

    out = _run(["serve", "--port", "0"], {"LIENTHONG_KEY_PASSPHRASE": "not-the-passphrase"})
    assert out.exit_code == 1 and "LIENTHONG_KEY_PASSPHRASE" in out.output
    assert "listening" not in out.output and "Mock national axis" not in out.output
    out = _run(["worker"], {"LIENTHONG_KEY_PASSPHRASE": "not-the-passphrase"})
    assert out.exit_code == 1 and "LIENTHONG_KEY_PASSPHRASE" in out.output
    assert "started" not in out.output


def test_mock_axis_port_taken(elsewhere: Path, taken_port: int) -> None:
    systems = REPO / "deploy" / "vpcp-systems.json"
    out = _run(["mock-vpcp", "--systems", str(systems), "--port", str(taken_port)])
    assert out.exit_code == 4 and str(taken_port) in out.output and "--port" in out.output


def test_bad_client_organization_is_one_line(elsewhere: Path) -> None:
    assert _run(["db", "upgrade"]).exit_code == 0
    out = _run(["clients", "create", "--name", "x", "--role", "system", "--org", "not-an-id"])
    assert out.exit_code in (1, 2) and out.output.startswith("error")
    assert len(out.output.strip().splitlines()) == 1


def test_send_names_its_variables_and_refuses_a_terminal(elsewhere: Path) -> None:
    help_text = _run(["send", "--help"]).output
    assert "LIENTHONG_API_URL" in help_text and "LIENTHONG_API_KEY" in help_text
    out = _run(
        ["send", "--url", "http://127.0.0.1:1", "--key", "k", str(_file(elsewhere))],
    )
    assert out.exit_code == 2 and "cannot reach http://127.0.0.1:1" in out.output
    # stdin a terminal and no FILE: refused at once instead of waiting silently.
    primary, secondary = os.openpty()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "app.cli", "send", "--key", "k"],
            stdin=secondary,
            capture_output=True,
            text=True,
            timeout=60,
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
    finally:
        os.close(primary)
        os.close(secondary)
    assert proc.returncode == 2 and "give a FILE" in proc.stderr
    assert "Traceback" not in proc.stderr


def _file(where: Path) -> Path:
    path = where / "doc.xml"
    path.write_text("<edXML/>")
    return path


def test_version() -> None:
    out = _run(["--version"])
    assert out.exit_code == 0 and out.output.startswith("lienthong, version ")


def _commands(group: click.Group, prefix: list[str]) -> Iterator[list[str]]:
    for name, command in group.commands.items():
        yield [*prefix, name]
        if isinstance(command, click.Group):
            yield from _commands(command, [*prefix, name])


def test_every_help_is_plain_and_cites_no_spec_file() -> None:
    seen = 0
    for path in _commands(cli, []):
        out = _run([*path, "--help"])
        assert out.exit_code == 0, path
        assert "SPEC" not in out.output, (path, out.output)
        seen += 1
    assert seen >= 20


def test_unreadable_files_named(elsewhere: Path) -> None:
    assert _run(["db", "upgrade"]).exit_code == 0
    junk = elsewhere / "anchors.pem"
    junk.write_text("not a certificate")
    for path, reason in (
        (junk, "no readable PEM certificate"),
        (elsewhere / "nope.pem", "No such"),
    ):
        out = _run(["pki", "init"], {"LIENTHONG_TRUST_ANCHORS": str(path)})
        assert out.exit_code == 2, out.output
        assert out.output.startswith(f"error: LIENTHONG_TRUST_ANCHORS ({path}): {reason}")
    out = _run(["mock-vpcp", "--systems", str(junk), "--port", "0"])
    assert out.exit_code == 2 and f"--systems: {junk}: Invalid JSON" in out.output
