"""The hash-chained audit log: verification, positive and tampered (SPEC section 8)."""

from __future__ import annotations

import itertools

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from app.cli import main as cli
from tests.conftest import World

pytestmark = pytest.mark.rolled_back


def _tamper(sessions, sql: str, **params) -> None:
    """Edit the log behind the application's back, as someone with database access could."""
    with sessions() as s:
        if s.bind.dialect.name == "postgresql":
            s.execute(text("SET session_replication_role = replica"))
        else:
            s.execute(text("DROP TRIGGER IF EXISTS audit_log_no_update"))
            s.execute(text("DROP TRIGGER IF EXISTS audit_log_no_delete"))
        s.execute(text(sql), params)
        s.commit()


def test_chain_verifies_and_links(client, world: World) -> None:
    r = client.get("/api/v1/audit/log/verify", headers=world.auth("auditor"))
    assert r.status_code == 200
    verdict = r.json()
    assert verdict["ok"] is True
    items = client.get(
        "/api/v1/audit/log", params={"limit": 500}, headers=world.auth("auditor")
    ).json()["items"]
    assert items[0]["prev_hash"] == "0" * 64
    assert all(b["prev_hash"] == a["hash"] for a, b in itertools.pairwise(items))
    assert verdict["head"] == items[-1]["hash"] and verdict["entries"] == len(items) >= 10


@pytest.mark.rolled_back(False)  # the CLI opens a connection of its own
@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        (
            'UPDATE audit_log SET details = \'{"name":"forged"}\' WHERE seq = :seq',
            "content does not match its hash",
        ),
        (
            "UPDATE audit_log SET actor = 'client:someone-else' WHERE seq = :seq",
            "content does not match its hash",
        ),
        ("DELETE FROM audit_log WHERE seq = :seq", "entry missing"),
    ],
)
def test_tampering_names_the_entry(
    client, world: World, sessions, sql: str, reason: str, monkeypatch
) -> None:
    _tamper(sessions, sql, seq=5)
    verdict = client.get("/api/v1/audit/log/verify", headers=world.auth("admin")).json()
    assert verdict["ok"] is False
    assert verdict["first_broken"] == {"seq": 5, "reason": reason}

    monkeypatch.setenv(
        "LIENTHONG_DATABASE_URL", str(sessions.kw["bind"].url.render_as_string(hide_password=False))
    )
    result = CliRunner().invoke(cli, ["audit", "verify"])
    assert result.exit_code == 1 and '"seq": 5' in result.output


def test_truncating_the_tail_is_detected(client, world: World, sessions) -> None:
    last = client.get("/api/v1/audit/log/verify", headers=world.auth("admin")).json()["entries"]
    _tamper(sessions, "DELETE FROM audit_log WHERE seq = :seq", seq=last)
    verdict = client.get("/api/v1/audit/log/verify", headers=world.auth("admin")).json()
    assert verdict["ok"] is False and verdict["first_broken"]["seq"] == last


def test_log_is_append_only_for_the_application(world: World, sessions) -> None:
    with sessions() as s, pytest.raises(Exception, match="append-only"):
        s.execute(text("UPDATE audit_log SET actor = 'x' WHERE seq = 1"))
        s.commit()


@pytest.mark.rolled_back(False)  # the CLI opens a connection of its own
def test_cli_verify_ok(world: World, sessions, monkeypatch) -> None:
    monkeypatch.setenv(
        "LIENTHONG_DATABASE_URL", str(sessions.kw["bind"].url.render_as_string(hide_password=False))
    )
    result = CliRunner().invoke(cli, ["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert '"ok": true' in result.output
