"""Operations endpoints and settings validation."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from pydantic import ValidationError

from app.cli import main as cli
from app.core.config import Settings, format_settings_error
from app.main import create_app

pytestmark = pytest.mark.rolled_back


@pytest.mark.rolled_back(False)  # /readyz opens a connection of its own (the app's engine)
def test_healthz_readyz_metrics(client, world) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    r = client.get("/readyz")
    assert r.status_code == 200, r.text
    assert r.json()["ready"] is True and r.json()["checks"]["schema"]["ok"] is True
    client.get("/api/v1/organizations")  # 401, counted under its route template
    r = client.get("/api/v1/organizations/000.00.00.G22")
    assert r.headers["x-request-id"]
    text = client.get("/metrics").text
    assert (
        'lienthong_http_requests_total{method="GET",route="/api/v1/organizations",status="401"} 1.0'
        in text
    )
    assert 'route="/api/v1/organizations/{organ_id}"' in text
    assert "000.00.00.G22" not in text  # templates, not raw paths
    assert "lienthong_http_request_duration_seconds_bucket" in text


def test_readyz_names_an_unmigrated_schema(tmp_path: Path) -> None:
    settings = Settings(
        _env_file=None,
        database_url=f"sqlite:///{tmp_path}/empty.db",
        data_dir=tmp_path,
        worker_enabled=False,
    )
    with TestClient(create_app(settings)) as c:
        r = c.get("/readyz")
    assert r.status_code == 503
    assert "schema" in r.json()["failing"]
    assert "lienthong db upgrade" in r.json()["checks"]["schema"]["reason"]


def test_readyz_names_an_unreachable_database() -> None:
    settings = Settings(
        _env_file=None,
        database_url="postgresql://nobody@127.0.0.1:1/none",
        key_passphrase="x",
        worker_enabled=False,
    )
    with TestClient(create_app(settings)) as c:
        r = c.get("/readyz")
    assert r.status_code == 503 and "database" in r.json()["failing"]


def test_request_id_is_propagated(client) -> None:
    r = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"LIENTHONG_MAX_ATTEMPTS": "zero"}, "LIENTHONG_MAX_ATTEMPTS"),
        ({"LIENTHONG_DATABASE_URL": "mysql://x"}, "LIENTHONG_DATABASE_URL"),
        ({"LIENTHONG_LOG_LEVEL": "LOUD"}, "LIENTHONG_LOG_LEVEL"),
        ({"LIENTHONG_VPCP_POLL_SECONDS": "-1"}, "LIENTHONG_VPCP_POLL_SECONDS"),
    ],
)
def test_wrong_settings_fail_with_the_variable_named(
    monkeypatch, env: dict[str, str], needle: str
) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(ValidationError) as err:
        Settings(_env_file=None)
    assert needle in format_settings_error(err.value)
    for command in (["db", "upgrade"], ["stats", "check"]):  # stats loads settings itself
        result = CliRunner().invoke(cli, command)
        assert result.exit_code == 2 and needle in result.output, command


def test_settings_defaults_and_postgres_driver(monkeypatch) -> None:
    monkeypatch.setenv("LIENTHONG_DATA_DIR", "/tmp/x")
    s = Settings(_env_file=None)
    assert (
        s.database_url == "sqlite:////tmp/x/lienthong.db"
        and s.max_document_bytes == 50 * 1024 * 1024
    )
    monkeypatch.setenv("LIENTHONG_DATABASE_URL", "postgresql://u@h/db")
    assert Settings(_env_file=None).database_url == "postgresql+psycopg://u@h/db"


def test_openapi_describes_problem_answers(client) -> None:
    spec = client.get("/openapi.json").json()
    op = spec["paths"]["/api/v1/organizations/{organ_id}"]["get"]
    assert "application/problem+json" in op["responses"]["404"]["content"]
    assert "application/problem+json" in op["responses"]["401"]["content"]


def test_cli_clients_create_json_bootstraps_an_admin(tmp_path: Path, monkeypatch) -> None:
    import json

    monkeypatch.setenv("LIENTHONG_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    assert runner.invoke(cli, ["db", "upgrade"]).exit_code == 0
    result = runner.invoke(cli, ["clients", "create", "--name", "ops", "--role", "admin", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert set(out) == {"id", "api_key", "role", "organ_ids"} and out["role"] == "admin"
    settings = Settings(_env_file=None, data_dir=tmp_path, worker_enabled=False)
    with TestClient(create_app(settings)) as c:
        r = c.get("/api/v1/clients", headers={"Authorization": f"Bearer {out['api_key']}"})
        assert r.status_code == 200 and r.json()["items"][0]["id"] == out["id"]
    bad = runner.invoke(
        cli, ["clients", "create", "--name", "x", "--role", "system", "--org", "000.00.99.H39"]
    )
    assert bad.exit_code == 1 and "organization.unknown" in bad.output
    assert runner.invoke(cli, ["clients", "revoke", out["id"]]).exit_code == 0
    with TestClient(create_app(settings)) as c:
        r = c.get("/api/v1/clients", headers={"Authorization": f"Bearer {out['api_key']}"})
        assert r.status_code == 401
