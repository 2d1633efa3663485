"""``kill -9`` in the middle of ``oflocal backup``: the backups already there stay whole,
and nothing the killed one left looks like a backup, on SQLite and PostgreSQL.

The database gets about 6 MB of stored answers (idempotency records, random text that
compresses badly) so that writing the archive takes long enough to be caught: the
test watches the target folder and kills the process group (``SIGKILL``, as a power
cut or the OOM killer would) as soon as the hidden ``.partial`` file has its first
bytes. Then the next backup cleans up and succeeds. Only the killed backup runs in a
process of its own; the others run in the test's.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import insert

from oflocal import clock
from oflocal.backup import archive, rotation
from oflocal.backup.create import WORK_DIR, create_backup
from oflocal.db.engine import Database
from oflocal.demo import build_event
from oflocal.errors import Refusal
from oflocal.idempotency.models import IdempotencyRecord
from oflocal.settings import Settings
from oflocal.vouchers.codes import CodeSigner

FILLER_ROWS, FILLER_BYTES = 1000, 3000  # 1,000 × 6,000 hex characters: 6 MB


def _fill(db: Database, signer: CodeSigner) -> None:
    with db.write() as session:
        build_event(session, signer, workshops=2, booklets=4)
        now = clock.now()
        session.execute(insert(IdempotencyRecord), [
            {"scope": "workshop:1", "key": f"filler-{i}", "request_hash": "0" * 64,
             "status_code": 201, "body": os.urandom(FILLER_BYTES).hex(), "created_at": now}
            for i in range(FILLER_ROWS)])


def _backup(env: dict[str, str], target: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "oflocal", "backup", "--to", str(target)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _looks_complete(target: Path) -> list[Path]:
    return [p for p in target.iterdir() if rotation.parse(p) is not None]


def test_kill_9_during_a_backup_leaves_the_others_whole_and_nothing_complete(
        db: Database, signer: CodeSigner, secret: bytes, tmp_path: Path) -> None:
    _fill(db, signer)
    data_dir, target = tmp_path / "var", tmp_path / "usb"
    data_dir.mkdir()
    target.mkdir()
    env = {**os.environ, "OFLOCAL_DATA_DIR": str(data_dir), "OFLOCAL_DATABASE_URL": db.url}
    settings = Settings(data_dir=data_dir, database_url=db.url, secret_key=secret)

    previous = create_backup(settings, target=target).path
    assert _looks_complete(target) == [previous]
    before = _sha256(previous)

    killed = _backup(env, target)
    partial: Path | None = None
    deadline = time.monotonic() + 120
    while partial is None and killed.poll() is None and time.monotonic() < deadline:
        for candidate in target.glob(".oflocal-*.partial"):
            if candidate.stat().st_size > 0:  # the archive is being written
                os.killpg(killed.pid, signal.SIGKILL)
                partial = candidate
                break
        else:
            time.sleep(0.001)
    output = killed.communicate(timeout=30)[0].decode()
    assert partial is not None, f"the backup ended before it could be killed: {output}"
    assert killed.returncode == -signal.SIGKILL

    # The backup made before is untouched and whole.
    assert _looks_complete(target) == [previous]
    assert _sha256(previous) == before
    archive.verify_checksum(previous)
    # What the killed one left is hidden, named as unfinished, and fails the checks.
    assert partial.exists() and partial.name.startswith(".")
    try:
        archive.verify_checksum(partial)
        raise AssertionError("a half-written backup passed its checksum")
    except Refusal as refusal:
        assert refusal.code in ("backup.checksum_mismatch", "backup.not_a_backup")
    assert (data_dir / WORK_DIR).exists()  # its snapshot too

    # The next backup removes the leftovers and succeeds; the rotation keeps both.
    create_backup(settings, target=target)
    assert not partial.exists() and not (data_dir / WORK_DIR).exists()
    names = sorted(p.name for p in target.iterdir())
    assert len(names) == 2 and previous.name in names, names
    for backup in _looks_complete(target):
        archive.verify_checksum(backup)
