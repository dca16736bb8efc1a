"""The hub's files readable by its own user only (SPEC 11): DATA_DIR 0700, SQLite files 0600.

The database holds API key hashes, webhook secrets and encrypted private keys; the blobs hold
every document. Earlier versions left the data directory 0755 and the database 0644, so
existing ones are tightened at start (only when this user owns them).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from sqlalchemy.engine import make_url

from app.core.config import Settings

DIR_MODE = 0o700
FILE_MODE = 0o600


def _tighten(path: Path, mode: int) -> None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return
    if st.st_uid == os.getuid() and stat.S_IMODE(st.st_mode) & 0o077:
        os.chmod(path, mode)


def private_dir(path: Path) -> Path:
    """Create `path` 0700 (or tighten it to 0700)."""
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    _tighten(path, DIR_MODE)
    return path


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL (None for PostgreSQL or an in-memory database)."""
    if not url.startswith("sqlite"):
        return None
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def secure_storage(settings: Settings) -> None:
    """DATA_DIR 0700; on SQLite the database file 0600 before the first connection.

    SQLite creates the -wal and -shm files with the database file's mode, so a database
    created 0600 here keeps them 0600 too; existing ones are tightened as well.
    """
    private_dir(Path(settings.data_dir))
    db = sqlite_file(settings.database_url)
    if db is None:
        return
    db.parent.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    if not db.exists():
        # An empty file is an empty SQLite database; creating it here fixes its mode.
        os.close(os.open(db, os.O_CREAT | os.O_WRONLY, FILE_MODE))
    for path in (db, Path(f"{db}-wal"), Path(f"{db}-shm"), Path(f"{db}-journal")):
        _tighten(path, FILE_MODE)
