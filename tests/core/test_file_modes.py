"""DATA_DIR 0700; the SQLite database, its -wal and -shm, and blobs 0600 (SPEC 11)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import text

from app.cli import main
from app.core.blobs import DirectoryBlobStore
from app.core.config import Settings
from app.core.db import make_engine
from app.core.files import secure_storage
from app.core.migrate import upgrade


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _settings(data: Path) -> Settings:
    return Settings(_env_file=None, data_dir=data, key_passphrase="x")


def test_new_data_dir_database_wal_shm_and_blobs_are_private(tmp_path: Path) -> None:
    old = os.umask(0o022)  # what a default shell gives
    try:
        settings = _settings(tmp_path / "var")
        secure_storage(settings)
        upgrade(settings.database_url)
        db = tmp_path / "var" / "lienthong.db"
        engine = make_engine(settings.database_url)
        with engine.connect() as conn:  # WAL mode: -wal and -shm exist while connected
            conn.execute(text("CREATE TABLE IF NOT EXISTS probe (x INTEGER)"))
            conn.commit()
            assert _mode(tmp_path / "var") == 0o700
            assert _mode(db) == 0o600
            assert _mode(Path(f"{db}-wal")) == 0o600
            assert _mode(Path(f"{db}-shm")) == 0o600
        engine.dispose()
        blobs = DirectoryBlobStore(tmp_path / "var" / "blobs")
        digest = blobs.put(None, b"edXML")
        assert _mode(tmp_path / "var" / "blobs") == 0o700
        assert _mode(blobs.path(digest)) == 0o600
    finally:
        os.umask(old)


def test_existing_lax_modes_are_tightened(tmp_path: Path) -> None:
    data = tmp_path / "var"
    data.mkdir(mode=0o755)
    os.chmod(data, 0o755)
    db = data / "lienthong.db"
    for path in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        path.write_bytes(b"")
        os.chmod(path, 0o644)
    secure_storage(_settings(data))
    assert _mode(data) == 0o700
    assert [_mode(p) for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm"))] == [0o600] * 3


def test_cli_db_upgrade_creates_private_files(tmp_path: Path) -> None:
    data = tmp_path / "fresh"
    out = CliRunner().invoke(
        main, ["db", "upgrade"], env={"LIENTHONG_DATA_DIR": str(data), "LIENTHONG_DATABASE_URL": ""}
    )
    assert out.exit_code == 0, out.output
    assert _mode(data) == 0o700
    assert _mode(data / "lienthong.db") == 0o600
