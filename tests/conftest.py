"""Shared fixtures: every database test runs on SQLite and on PostgreSQL.

PostgreSQL: `LIENTHONG_TEST_POSTGRES_URL` set means required (CI); unset means try the local
default and skip when no server answers. Each xdist worker gets its own database, migrated
once; each test starts from empty tables. SQLite: one migrated template per session, copied
for every test.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from app.core.config import Settings
from app.core.db import make_engine, make_sessionmaker, unit_of_work
from app.core.migrate import upgrade
from app.hooks import install_session_hooks
from app.main import create_app
from app.models import Base

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
PG_REQUIRED = bool(os.environ.get("LIENTHONG_TEST_POSTGRES_URL"))
PG_URL = (
    os.environ.get("LIENTHONG_TEST_POSTGRES_URL") or "postgresql://postgres@127.0.0.1:5432/test"
)


# Nothing the suite runs may write into the checkout's `var/`: a Settings() left at its defaults
# (collection-time apps, CLI runs, subprocesses) gets a data directory of this process's own.
_DATA_DIR = tempfile.mkdtemp(prefix="lienthong-test-data-")
atexit.register(shutil.rmtree, _DATA_DIR, ignore_errors=True)
os.environ["LIENTHONG_DATA_DIR"] = _DATA_DIR

# Caches that tools keep in the checkout by design; anything else a test run leaves is a bug.
_CACHES = (".venv", "__pycache__", ".pytest_cache", ".hypothesis", ".mypy_cache", ".ruff_cache")


def _left_in_checkout() -> set[str] | None:
    try:
        out = subprocess.run(
            ["git", "ls-files", "--others", "--directory", "--no-empty-directory"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None  # not a git checkout: nothing to compare
    names = {line.rstrip("/") for line in out.splitlines()}
    return {
        n
        for n in names
        if not any(part in _CACHES or part.endswith(".egg-info") for part in Path(n).parts)
    }


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):
        config.stash[_BEFORE] = _left_in_checkout()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if hasattr(session.config, "workerinput"):
        return
    before = session.config.stash.get(_BEFORE, None)
    after = _left_in_checkout()
    if before is None or after is None:
        return
    if created := sorted(after - before):
        session.config.get_terminal_writer().line(
            f"the test suite created files in the checkout: {created}", red=True
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


_BEFORE = pytest.StashKey[set[str] | None]()


def _psycopg_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    engine = create_engine(url)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    # Unique per run and worker: concurrent runs on one server must not drop each other's data.
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID", uuid.uuid4().hex)[:10]
    worker_id = f"{run}_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
    admin_url = _psycopg_url(PG_URL)
    try:
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        if PG_REQUIRED:
            pytest.fail(f"PostgreSQL required (LIENTHONG_TEST_POSTGRES_URL) but unreachable: {exc}")
        pytest.skip(
            f"PostgreSQL not reachable at {PG_URL} ({type(exc).__name__}); set LIENTHONG_TEST_POSTGRES_URL"
        )
    name = f"lienthong_test_{worker_id}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


_TABLES = ", ".join(t.name for t in Base.metadata.sorted_tables)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        target = tmp_path / "lienthong.db"
        shutil.copyfile(template, target)
        return f"sqlite:///{target}"
    url: str = request.getfixturevalue("postgres_url")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {_TABLES} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return url


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None,
        database_url=database_url,
        data_dir=tmp_path / "data",
        key_passphrase="test-passphrase",
        worker_enabled=False,
        readyz_requires_worker=False,
        log_level="WARNING",
    )


@pytest.fixture
def sessions(settings: Settings) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(settings.database_url)
    yield install_session_hooks(make_sessionmaker(engine))
    engine.dispose()


@pytest.fixture
def app(settings: Settings):
    return create_app(settings)


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@dataclass
class World:
    """A small directory with one client per role; `system` serves OWN, not FOREIGN."""

    keys: dict[str, str]
    client_ids: dict[str, str]
    ctx: dict[str, Any] = field(default_factory=dict)

    OWN = "000.00.02.H41"
    OWN2 = "000.00.03.H41"
    FOREIGN = "000.00.04.H41"
    PROVINCE = "000.00.00.H41"
    EXTERNAL = "000.00.00.G22"
    OTHER_PROVINCE = "000.00.00.H42"

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"}


LOCAL_ORGS = {
    World.PROVINCE: "UBND tỉnh",
    World.OWN: "Sở Nội vụ",
    World.OWN2: "Sở Tài chính",
    World.FOREIGN: "Sở KH&ĐT",
}


EXTERNAL_ORGS = {World.EXTERNAL: "Văn phòng Chính phủ", World.OTHER_PROVINCE: "UBND tỉnh Hà Tĩnh"}


@dataclass
class PkiMaterial:
    root: tuple[Any, Any]
    issuing: tuple[Any, Any]
    leaves: dict[str, tuple[Any, Any]]


@pytest.fixture(scope="session")
def pki_material() -> PkiMaterial:
    """One test PKI per worker: key generation is the slow part, so it is made once."""
    from app.signing import pki

    root = pki.create_root_ca("Test National Root CA", key_size=2048)
    issuing = pki.create_issuing_ca(root[0], root[1], "Test Issuing CA")
    leaves = {
        organ: pki.issue_org_certificate(issuing[0], issuing[1], organ, name)
        for organ, name in (LOCAL_ORGS | EXTERNAL_ORGS).items()
    }
    return PkiMaterial(root, issuing, leaves)


@pytest.fixture
def world(sessions: sessionmaker[Session], app: Any, pki_material: PkiMaterial) -> World:
    from app.clients.schemas import ClientCreate
    from app.clients.service import create_client
    from app.directory.schemas import OrganizationCreate
    from app.directory.service import create_organization

    keys: dict[str, str] = {}
    ids: dict[str, str] = {}
    with unit_of_work(sessions) as s:
        create_organization(
            s, OrganizationCreate(organ_id=World.PROVINCE, name="UBND tỉnh"), actor="test"
        )
        for code, name in (
            (World.OWN, "Sở Nội vụ"),
            (World.OWN2, "Sở Tài chính"),
            (World.FOREIGN, "Sở KH&ĐT"),
        ):
            create_organization(
                s,
                OrganizationCreate(organ_id=code, name=name, parent_id=World.PROVINCE),
                actor="test",
            )
        for code, name in EXTERNAL_ORGS.items():
            create_organization(
                s, OrganizationCreate(organ_id=code, name=name, route="vpcp"), actor="test"
            )
        for role in ("admin", "auditor", "reporter"):
            c, keys[role] = create_client(s, ClientCreate(name=role, role=role), actor="test")
            ids[role] = c.id
        c, keys["system"] = create_client(
            s,
            ClientCreate(name="qlvb", role="system", organ_ids=[World.OWN, World.OWN2]),
            actor="test",
        )
        ids["system"] = c.id
        c, keys["system_foreign"] = create_client(
            s,
            ClientCreate(name="qlvb-other", role="system", organ_ids=[World.FOREIGN]),
            actor="test",
        )
        ids["system_foreign"] = c.id
        custody = app.state.hub.custody
        custody.install_ca(s, pki_material.root, pki_material.issuing, actor="test")
        for organ, (key, cert) in pki_material.leaves.items():
            if organ in LOCAL_ORGS:
                custody.install_key(s, organ, key, cert, actor="test")
    return World(keys, ids)
