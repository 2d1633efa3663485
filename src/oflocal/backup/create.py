"""Making one backup: the story in order.

1. The target folder must already exist and take files: a USB stick that is not
   plugged in leaves its mount point empty, and a backup made there would be on this
   very disk. It is refused, never created.
2. One backup at a time per installation (a lock in the data folder); what a killed
   backup left behind (its work folder, its ``.partial`` file) is removed first.
3. A consistent snapshot of the live database (``snapshot.py``), counted for the
   manifest; the signing secret is checked against printed codes in the snapshot (a
   command run with other settings than the server's would keep the wrong secret).
4. The archive (``archive.py``) is written to a hidden ``.partial`` name in the target
   folder, fsynced, read back and checked, then renamed to its final name and the
   folder fsynced: a file with a backup's name is always a whole backup.
5. Old backups are rotated (``rotation.py``), and the outcome recorded for the staff
   pages (``status.py``) when the target is the automatic backups' folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import secrets
import shutil
import socket
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from oflocal import clock
from oflocal.backup import archive, rotation, snapshot, status
from oflocal.backup.installation import (
    count_authentic,
    installation_id,
    oflocal_version,
    settings_to_keep,
)
from oflocal.backup.manifest import DATABASE, MANIFEST, SECRET, SETTINGS, Manifest
from oflocal.errors import Refusal
from oflocal.settings import Settings

LOCK_FILE = "backup.lock"
WORK_DIR = "backup-work"


@dataclass(frozen=True)
class BackupResult:
    path: Path
    size: int
    seconds: float
    encrypted: bool
    manifest: Manifest
    deleted: list[Path] = field(default_factory=list)
    same_disk: bool = False


def read_passphrase_file(path: Path) -> str:
    try:
        value = path.read_text(encoding="utf-8").strip()
    except OSError as error:
        raise Refusal("backup.passphrase_file", file=str(path),
                      reason=error.strerror or "") from error
    archive.check_passphrase(value)
    return value


def check_target(target: Path) -> None:
    if not target.is_dir():
        raise Refusal("backup.target_missing", dir=str(target))
    if not os.access(target, os.W_OK | os.X_OK):
        raise Refusal("backup.target_unwritable", dir=str(target), reason="permission denied")


def same_disk(a: Path, b: Path) -> bool:
    try:
        return a.stat().st_dev == b.stat().st_dev
    except OSError:
        return False


@contextlib.contextmanager
def _locked(data_dir: Path) -> Iterator[None]:
    data_dir.mkdir(parents=True, exist_ok=True)
    with (data_dir / LOCK_FILE).open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # FAT on a USB stick may not sync a folder; a lost rename leaves no name
    finally:
        os.close(fd)


def _clean_leftovers(target: Path, workdir: Path, installation: str) -> None:
    """What a killed backup left: only ever ours (under the lock, none is running)."""
    shutil.rmtree(workdir, ignore_errors=True)
    for path in target.glob(rotation.partial_prefix(installation) + "*.partial"):
        path.unlink(missing_ok=True)


def _final_name(target: Path, at_name: Callable[[int], str]) -> Path:
    for counter in range(100):
        path = target / at_name(counter)
        if not path.exists():
            return path
    raise Refusal("backup.failed", reason="too many backups in the same second")


def create_backup(settings: Settings, *, target: Path, passphrase: str | None = None,
                  rotate: bool = True, record: bool | None = None,
                  check: Callable[[], None] | None = None,
                  environ: Mapping[str, str] | None = None) -> BackupResult:
    """Make one backup into ``target`` (see the module's story). ``record``: write the
    outcome for the staff pages (by default when ``target`` is the automatic folder).
    A refusal says what was wrong; nothing that looks like a backup is left by one."""
    target = target.resolve()
    if record is None:
        record = settings.backup.dir is not None and target == settings.backup.dir.resolve()
    try:
        try:
            result = _create(settings, target, passphrase, rotate, check,
                             os.environ if environ is None else environ)
        except (OSError, sqlite3.Error, SQLAlchemyError) as error:
            reason = (f"{error.strerror or error} ({error.filename or target})"
                      if isinstance(error, OSError) else str(error).splitlines()[0][:300])
            raise Refusal("backup.failed", reason=reason) from error
    except Refusal as refusal:
        if record:
            status.record_failure(settings.data_dir, target=target, code=refusal.code,
                                  facts=refusal.facts)
        raise
    if record:
        status.record_success(settings.data_dir, target=target, file=result.path,
                              size=result.size, seconds=result.seconds,
                              encrypted=result.encrypted, same_disk=result.same_disk)
    return result


def _create(settings: Settings, target: Path, passphrase: str | None, rotate: bool,
            check: Callable[[], None] | None, environ: Mapping[str, str]) -> BackupResult:
    check_target(target)
    if passphrase is not None:
        archive.check_passphrase(passphrase)
    began = time.monotonic()
    installation = installation_id(settings.secret_key)
    workdir = settings.data_dir / WORK_DIR
    partial = target / f"{rotation.partial_prefix(installation)}{secrets.token_hex(6)}.partial"
    with _locked(settings.data_dir):
        _clean_leftovers(target, workdir, installation)
        workdir.mkdir(parents=True)
        try:
            snap = snapshot.take(settings, workdir, check)
            codes = {"checked": len(snap.codes),
                     "authentic": count_authentic(settings.secret_key, snap.codes)}
            if codes["checked"] and not codes["authentic"]:
                raise Refusal("backup.secret_mismatch", checked=codes["checked"])
            kept = settings_to_keep(environ, settings.database_url)
            members = [
                archive.Member(DATABASE[snap.kind], path=snap.path),
                archive.Member(SECRET, data=settings.secret_key),
                archive.Member(SETTINGS, data=_json(kept.to_json())),
            ]
            manifest = Manifest(
                created_at=snap.started_at.isoformat(), finished_at=clock.now().isoformat(),
                installation=installation, oflocal_version=oflocal_version(),
                host=socket.gethostname(),
                database={"kind": snap.kind, "member": DATABASE[snap.kind],
                          **snap.tools},
                summary=snap.summary,
                files={m.name: {"sha256": _sha256(m), "size": m.size()} for m in members},
                codes=codes)
            header = archive.Header(
                created_at=manifest.created_at, installation=installation,
                database=snap.kind, oflocal_version=manifest.oflocal_version,
                encryption=archive.new_encryption() if passphrase else None)
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                archive.write_archive(out, header,
                                      [archive.Member(MANIFEST, data=manifest.to_bytes()),
                                       *members], passphrase, check=check)
                out.flush()
                os.fsync(out.fileno())
            archive.verify_checksum(partial)  # as written, read back
            final = _final_name(target, lambda n: rotation.file_name(snap.started_at,
                                                                     installation, n))
            os.replace(partial, final)
            _fsync_dir(target)
        finally:
            partial.unlink(missing_ok=True)
            shutil.rmtree(workdir, ignore_errors=True)
        deleted = []
        if rotate:
            for old in rotation.to_delete(rotation.backups(target, installation), clock.now(),
                                          keep_hours=settings.backup.keep_hours,
                                          keep_days=settings.backup.keep_days):
                old.path.unlink(missing_ok=True)
                deleted.append(old.path)
    return BackupResult(path=final, size=final.stat().st_size,
                        seconds=time.monotonic() - began, encrypted=passphrase is not None,
                        manifest=manifest, deleted=deleted,
                        same_disk=same_disk(target, settings.data_dir))


def _json(data: object) -> bytes:
    return json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True).encode()


def _sha256(member: archive.Member) -> str:
    digest = hashlib.sha256()
    with member.open() as handle:
        while block := handle.read(archive.COPY):
            digest.update(block)
    return digest.hexdigest()
