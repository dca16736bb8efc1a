"""The generated key passphrase: one per data directory, however many processes start at once."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from app.core.config import Settings
from app.hub import ConfigurationError, resolve_key_passphrase

# Each process waits for the same start file, resolves the passphrase, encrypts a key of its own
# with it, waits until every process has written one, then decrypts all of them.
_RACER = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from app.core.config import Settings
    from app.hub import resolve_key_passphrase
    from app.signing import pki

    data, index, count = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    start = data.parent / "go"
    while not start.exists():
        time.sleep(0.001)
    settings = Settings(_env_file=None, data_dir=data, database_url="", worker_enabled=False)
    passphrase = resolve_key_passphrase(settings)
    keys = data.parent / "keys"
    (keys / f"{index}.tmp").write_bytes(pki.encrypt_private_key(pki.generate_key("ec"), passphrase))
    os.replace(keys / f"{index}.tmp", keys / f"{index}.pem")
    while len(list(keys.glob("*.pem"))) < count:
        time.sleep(0.001)
    for pem in sorted(keys.glob("*.pem")):
        pki.decrypt_private_key(pem.read_bytes(), passphrase)
    print(passphrase)
    """
)


@pytest.mark.slow
def test_processes_racing_on_a_fresh_data_dir_share_one_passphrase(tmp_path: Path) -> None:
    count = 8
    data = tmp_path / "data"  # does not exist yet: the racers create it
    (tmp_path / "keys").mkdir()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _RACER, str(data), str(i), str(count)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parents[2],
        )
        for i in range(count)
    ]
    (tmp_path / "go").touch()
    outputs = [p.communicate(timeout=120) for p in procs]
    failures = [err for p, (_, err) in zip(procs, outputs, strict=True) if p.returncode != 0]
    assert failures == []
    passphrases = {out.strip() for out, _ in outputs}
    assert len(passphrases) == 1
    (passphrase,) = passphrases
    assert len(passphrase) >= 32
    assert (data / "key-passphrase").read_text().strip() == passphrase
    assert (data / "key-passphrase").stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in data.iterdir()) == ["key-passphrase"]  # no temporary left


def test_an_existing_passphrase_is_kept_and_an_empty_one_refused(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path, worker_enabled=False)
    (tmp_path / "key-passphrase").write_text("kept-as-it-is\n")
    assert resolve_key_passphrase(settings) == "kept-as-it-is"
    (tmp_path / "key-passphrase").write_text("")
    with pytest.raises(ConfigurationError, match="empty"):
        resolve_key_passphrase(settings)
