"""Known default and empty secrets stop the hub outside the embedded SQLite demo (SPEC 11)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from app.cli import main
from app.core.config import Settings
from tests.conftest import REPO

PG = "postgresql://lienthong@127.0.0.1:1/never-contacted"


def _settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


@pytest.mark.parametrize("field", ["key_passphrase", "vpcp_secret"])
@pytest.mark.parametrize(
    "value",
    [
        "change-me",
        "CHANGEME",
        "secret",
        "password",
        "test",
        "compose-hub-secret-change-me",
        "demo-hub-secret-change-me",
        "",
        "  ",
    ],
)
def test_default_or_empty_secret_refused_on_postgresql(field: str, value: str) -> None:
    with pytest.raises(ValidationError) as info:
        _settings(database_url=PG, **{"key_passphrase": "a-real-passphrase", field: value})
    errors = info.value.errors()
    assert [e["loc"] for e in errors] == [(field,)]
    assert "default" in errors[0]["msg"] or "empty" in errors[0]["msg"]


def test_real_secrets_and_the_sqlite_demo_accepted(tmp_path: Path) -> None:
    ok = _settings(database_url=PG, key_passphrase="test-passphrase", vpcp_secret="x7-Qa!lt")
    assert ok.key_passphrase is not None
    # "test" inside a longer value is fine: the list is of exact values
    assert _settings(database_url=PG, key_passphrase="my test passphrase").key_passphrase
    demo = _settings(data_dir=tmp_path, key_passphrase="change-me", vpcp_secret="secret")
    assert demo.is_sqlite and demo.key_passphrase is not None


def test_cli_names_the_variable(tmp_path: Path) -> None:
    out = CliRunner().invoke(
        main,
        ["db", "upgrade"],
        env={
            "LIENTHONG_DATABASE_URL": PG,
            "LIENTHONG_DATA_DIR": str(tmp_path),
            "LIENTHONG_KEY_PASSPHRASE": "change-me",
        },
    )
    assert out.exit_code == 2
    assert "LIENTHONG_KEY_PASSPHRASE" in out.output and "known default" in out.output


def test_compose_makes_the_operator_set_the_secrets(tmp_path: Path) -> None:
    text = (REPO / "docker-compose.yml").read_text()
    assert "${LIENTHONG_KEY_PASSPHRASE:?" in text and "${LIENTHONG_VPCP_SECRET:?" in text
    assert "change-me}" not in text  # no `:-change-me` style fallback
    tool = shutil.which("docker-compose")
    if tool is None:
        if os.environ.get("LIENTHONG_REQUIRE_TOOLS") == "1":
            pytest.fail("LIENTHONG_REQUIRE_TOOLS=1 but docker-compose is missing")
        pytest.skip("docker-compose is not installed (Debian/Ubuntu package `docker-compose`)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIENTHONG_")}
    env["HOME"] = str(tmp_path)
    compose = [tool, "-f", str(REPO / "docker-compose.yml"), "config", "-q"]
    unset = subprocess.run(compose, env=env, capture_output=True, text=True, cwd=tmp_path)
    assert unset.returncode != 0 and "LIENTHONG_KEY_PASSPHRASE" in unset.stderr
    env |= {"LIENTHONG_KEY_PASSPHRASE": "op-chosen-1", "LIENTHONG_VPCP_SECRET": "op-chosen-2"}
    ok = subprocess.run(compose, env=env, capture_output=True, text=True, cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
