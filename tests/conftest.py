"""Shared fixtures: every database test runs on SQLite and on PostgreSQL.

PostgreSQL: `LIENTHONG_TEST_POSTGRES_URL` set means required (CI); unset means try the local
default and skip when no server answers.

Two ways a test gets its database (CONTRIBUTING.md, "Which database fixture"):

- Fresh (the default): a database of its own that really commits. SQLite: one migrated
  template per session, copied for every test; PostgreSQL: one database per xdist worker,
  migrated once, its tables emptied before every test.
- Rolled back (`@pytest.mark.rolled_back`, or a test that takes `db_connection` or
  `db_session`): one connection to a database migrated once per worker, in an outer
  transaction that is rolled back after the test. `sessions`, `app`, `client` and `world`
  keep their names and meaning, but every session (the app's requests included) is bound to
  that connection and joins it through a SAVEPOINT (`join_transaction_mode=
  "create_savepoint"`): a commit releases the savepoint, the audit chain appends as at any
  commit, and nothing outlives the test. The world (directory, clients, keys) is committed
  once into the database of the tests that ask for it; the others start from empty tables.
  Not for tests that need a second connection or process, the statistics counters (they
  are written at the real COMMIT), or the engine's events: those stay fresh.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from app.core import sequencer
from app.core.config import Settings
from app.core.db import TX_MODE, WRITE, make_engine, make_sessionmaker, unit_of_work
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
ROLLED_BACK = "rolled_back"


def rolled_back(request: pytest.FixtureRequest) -> bool:
    """This test runs in a rolled-back transaction: marked so (the closest `rolled_back`
    marker decides: `rolled_back(False)` opts a test out of its module's), or it takes
    `db_connection` / `db_session` itself."""
    marker = request.node.get_closest_marker(ROLLED_BACK)
    if marker is not None:
        return bool(marker.args[0]) if marker.args else True
    return "db_connection" in request.fixturenames


def _fingerprint(conn: Connection) -> tuple[Any, ...]:
    """Row counts of every table and the audit chain's head: what a test that really
    committed would change."""
    counts = ", ".join(f"(SELECT count(*) FROM {t.name})" for t in Base.metadata.sorted_tables)
    with conn.begin():
        row = conn.exec_driver_sql(f"SELECT {counts}").one()
        head = conn.exec_driver_sql("SELECT seq, hash FROM audit_head").all()
    return (*row, *head)


@dataclass
class RolledBackBase:
    """A database migrated once per worker that rolled-back tests share (never committed to,
    except the world, once)."""

    url: str
    engine: Engine
    world: World | None
    fingerprint: tuple[Any, ...] = ()


class RolledBackBases:
    """Per worker: one database per kind (sqlite, postgresql) and per start (empty, world),
    made when a test first needs it."""

    def __init__(self, request: pytest.FixtureRequest, tmp: Path) -> None:
        self._request = request
        self._tmp = tmp
        self._bases: dict[tuple[str, bool], RolledBackBase] = {}
        self._dropped: list[str] = []
        self._serial = 0

    def get(self, kind: str, *, with_world: bool) -> RolledBackBase:
        key = (kind, with_world)
        if key not in self._bases:
            self._bases[key] = self._make(kind, with_world)
        return self._bases[key]

    def by_url(self, url: str) -> RolledBackBase:
        return next(b for b in self._bases.values() if b.url == url)

    def _make(self, kind: str, with_world: bool) -> RolledBackBase:
        name = f"rolled_back_{'world' if with_world else 'empty'}"
        if kind == "sqlite":
            template: Path = self._request.getfixturevalue("sqlite_template")
            self._serial += 1  # a new file each time: a discarded one may leave its -wal behind
            target = self._tmp / f"{name}-{self._serial}.db"
            shutil.copyfile(template, target)
            url = f"sqlite:///{target}"
        else:
            worker_url: str = self._request.getfixturevalue("postgres_url")
            db = f"{make_url(worker_url).database}_{name}"
            admin = create_engine(_psycopg_url(PG_URL), isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
                conn.execute(text(f'CREATE DATABASE "{db}"'))
            admin.dispose()
            url = make_url(worker_url).set(database=db).render_as_string(hide_password=False)
            upgrade(url)
            self._dropped.append(db)
        engine = make_engine(url)
        world = None
        if with_world:
            from app.hub import Hub

            pki_material: PkiMaterial = self._request.getfixturevalue("pki_material")
            hub = Hub.from_settings(_settings(url, self._tmp / f"{name}-data"))
            world = build_world(
                install_session_hooks(make_sessionmaker(engine)), hub.custody, pki_material
            )
            sequencer.stop(engine)  # the world's chain linked before the fingerprint is taken
        base = RolledBackBase(url, engine, world)
        with engine.connect() as conn:
            base.fingerprint = _fingerprint(conn)
        return base

    def discard(self, base: RolledBackBase) -> None:
        """Forget a base something committed to: the next test that needs it gets a new one."""
        self._bases = {k: b for k, b in self._bases.items() if b is not base}
        base.engine.dispose()
        if base.url.startswith("postgresql"):
            self._drop([make_url(base.url).database or ""])

    def close(self) -> None:
        for base in self._bases.values():
            base.engine.dispose()
        self._drop(self._dropped)

    def _drop(self, databases: list[str]) -> None:
        if not databases:
            return
        admin = create_engine(_psycopg_url(PG_URL), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            for db in databases:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def rolled_back_bases(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RolledBackBases]:
    bases = RolledBackBases(request, tmp_path_factory.mktemp("rolled-back"))
    yield bases
    bases.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if rolled_back(request):
        bases: RolledBackBases = request.getfixturevalue("rolled_back_bases")
        return bases.get(request.param, with_world="world" in request.fixturenames).url
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        target = tmp_path / "lienthong.db"
        shutil.copyfile(template, target)
        return f"sqlite:///{target}"
    url: str = request.getfixturevalue("postgres_url")
    # No settler of an earlier test's engine may still be writing (or be deadlocked by the
    # TRUNCATE's locks) in this database.
    sequencer.stop_all()
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {_TABLES} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return url


@pytest.fixture
def db_connection(database_url: str, rolled_back_bases: RolledBackBases) -> Iterator[Connection]:
    """The one connection of a rolled-back test, inside its outer transaction."""
    base = rolled_back_bases.by_url(database_url)
    conn = base.engine.connect()
    conn.begin()  # SQLite: BEGIN IMMEDIATE, as a writing unit of work would
    try:
        yield conn
    finally:
        conn.rollback()
        after = _fingerprint(conn)
        conn.close()
    if after != base.fingerprint:
        rolled_back_bases.discard(base)
        pytest.fail(
            "a rolled-back test committed through another connection or process: "
            "give it a fresh database (@pytest.mark.rolled_back(False))"
        )


def _settings(database_url: str, data_dir: Path) -> Settings:
    return Settings(
        _env_file=None,
        database_url=database_url,
        data_dir=data_dir,
        key_passphrase="test-passphrase",
        worker_enabled=False,
        readyz_requires_worker=False,
        log_level="WARNING",
    )


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return _settings(database_url, tmp_path / "data")


@pytest.fixture
def sessions(request: pytest.FixtureRequest, settings: Settings) -> Iterator[sessionmaker[Session]]:
    if rolled_back(request):
        conn: Connection = request.getfixturevalue("db_connection")
        yield install_session_hooks(
            sessionmaker(
                conn,
                join_transaction_mode="create_savepoint",
                expire_on_commit=False,
                autoflush=True,
                # Execution options stay on the shared connection: each session starts writing
                # (as one on its own connection would) whatever the previous one left.
                execution_options={TX_MODE: WRITE},
            )
        )
        return
    engine = make_engine(settings.database_url)
    yield install_session_hooks(make_sessionmaker(engine))
    sequencer.stop(engine)
    engine.dispose()


@contextmanager
def settled(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """A session that reads the audit chain and the counters as committed so far: on
    PostgreSQL they are linked and folded in the background (`app.core.sequencer`), so a test
    reading `audit_log` or `stats_*` itself settles first, as the services that read them do."""
    with sessions() as session:
        sequencer.settle_for(session)
        yield session


@pytest.fixture
def db_session(db_connection: Connection, sessions: sessionmaker[Session]) -> Iterator[Session]:
    """One session on the rolled-back connection (what repository and service tests need)."""
    with sessions() as session:
        yield session


@pytest.fixture
def app(request: pytest.FixtureRequest, settings: Settings):
    application = create_app(settings)
    if rolled_back(request):
        application.state.sessionmaker = request.getfixturevalue("sessions")
    return application


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

    OWN = "000.00.02.H39"
    OWN2 = "000.00.03.H39"
    FOREIGN = "000.00.04.H39"
    PROVINCE = "000.00.00.H39"
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


EXTERNAL_ORGS = {World.EXTERNAL: "Văn phòng Chính phủ", World.OTHER_PROVINCE: "UBND tỉnh Ninh Bình"}


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
def world(
    request: pytest.FixtureRequest,
    database_url: str,
    sessions: sessionmaker[Session],
    app: Any,
    pki_material: PkiMaterial,
) -> World:
    if rolled_back(request):
        bases: RolledBackBases = request.getfixturevalue("rolled_back_bases")
        base = bases.by_url(database_url).world
        assert base is not None
        return World(dict(base.keys), dict(base.client_ids))
    return build_world(sessions, app.state.hub.custody, pki_material)


def build_world(sessions: sessionmaker[Session], custody: Any, pki_material: PkiMaterial) -> World:
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
        custody.install_ca(s, pki_material.root, pki_material.issuing, actor="test")
        for organ, (key, cert) in pki_material.leaves.items():
            if organ in LOCAL_ORGS:
                custody.install_key(s, organ, key, cert, actor="test")
    with settled(sessions):  # the world's audit entries linked, as a test expects them
        pass
    return World(keys, ids)
