"""Restores beyond the everyday one (SQLite; tests/test_backup.py has both databases):
a backup from an older oflocal is migrated after it is compared; one from a newer
oflocal is refused; ``--force`` moves the installation that was there aside, and is
refused while a process has that database open.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from oflocal.backup import archive
from oflocal.backup.create import create_backup
from oflocal.backup.manifest import MANIFEST, Manifest
from oflocal.backup.restore import restore, unpack
from oflocal.cli import main
from oflocal.db import migrate
from oflocal.db.engine import Database
from oflocal.demo import build_event
from oflocal.errors import Refusal
from oflocal.settings import Settings
from oflocal.vouchers.codes import CodeSigner


def _backup_of(url: str, secret: bytes, tmp_path: Path) -> Path:
    target = tmp_path / "usb"
    target.mkdir(exist_ok=True)
    (tmp_path / "var").mkdir(exist_ok=True)
    settings = Settings(data_dir=tmp_path / "var", database_url=url, secret_key=secret)
    return create_backup(settings, target=target).path


def test_an_older_backup_is_compared_then_migrated(secret: bytes, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    db = Database(url)
    migrate.upgrade(db.engine, "0019")
    db.dispose()
    backup = _backup_of(url, secret, tmp_path)
    report = restore(backup, tmp_path / "restored")
    assert report.manifest.revision == "0019" and report.migrated_from == "0019"
    assert report.ok and report.differences == []
    restored = Database(report.database_url)
    assert migrate.current_revision(restored.engine) == migrate.head_revision()
    restored.dispose()


# The manifest's check, the same for both databases: run on SQLite only.
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_backup_from_a_newer_oflocal_is_refused(db: Database, signer: CodeSigner,
                                                  secret: bytes, tmp_path: Path) -> None:
    with db.write() as session:
        build_event(session, signer, workshops=1, booklets=1)
    backup = _backup_of(db.url, secret, tmp_path)
    unpacked = tmp_path / "unpacked"
    unpacked.mkdir()
    manifest, files = unpack(backup, None, unpacked)
    newer = json.loads(manifest.to_bytes())
    newer["summary"]["revision"] = "0099"
    newer["oflocal_version"] = "9.0"
    header = archive.read_header(backup)[0]
    forged = tmp_path / "newer.ofbak"
    with forged.open("wb") as out:
        archive.write_archive(out, header, [
            archive.Member(MANIFEST, data=Manifest.from_bytes(
                json.dumps(newer).encode()).to_bytes()),
            *(archive.Member(name, path=path) for name, path in files.items()
              if name != MANIFEST)], None)
    with pytest.raises(Refusal) as refused:
        restore(forged, tmp_path / "restored")
    assert refused.value.code == "restore.newer_schema"
    assert "9.0" in refused.value.message("en")
    assert not (tmp_path / "restored" / "oflocal.db").exists()


# A SQLite installation's files (PostgreSQL's --force: tests/test_backup.py).
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_force_moves_the_old_installation_aside_unless_it_is_open(
        db: Database, signer: CodeSigner, secret: bytes, tmp_path: Path) -> None:
    with db.write() as session:
        build_event(session, signer, workshops=1, booklets=1)
    backup = _backup_of(db.url, secret, tmp_path)
    into = tmp_path / "laptop"
    first = CliRunner().invoke(main, ["restore", str(backup), "--into", str(into)])
    assert first.exit_code == 0, first.output
    again = CliRunner().invoke(main, ["restore", str(backup), "--into", str(into)])
    assert again.exit_code == 2 and "restore.target_not_empty" in again.output

    # A server with the database open (another process): refused even with --force.
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sqlite3, sys, time\n"
         f"c = sqlite3.connect({str(into / 'oflocal.db')!r})\n"
         "c.execute('PRAGMA journal_mode=WAL'); c.execute('SELECT 1 FROM event').fetchall()\n"
         "print('open', flush=True); sys.stdin.read(); c.close()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        with pytest.raises(Refusal) as in_use:
            restore(backup, into, force=True)
        assert in_use.value.code == "restore.target_in_use"
    finally:
        holder.communicate("")
    report = restore(backup, into, force=True)
    assert report.ok and report.moved_aside is not None
    assert sorted(p.name for p in report.moved_aside.iterdir()) == [
        "oflocal.db", "oflocal.env", "secret_key"]
    assert (into / "secret_key").read_bytes() == secret
