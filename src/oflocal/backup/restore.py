"""Building an installation from a backup, and proving it is the one that was saved.

1. The whole file's checksum first: a damaged, cut-off or altered file is refused
   before anything is taken from it. Then the passphrase (a sealed backup): a wrong one
   is refused as such.
2. The target: ``DIR`` becomes the new data folder (``DIR/oflocal.db`` for SQLite,
   ``DIR/secret_key``, ``DIR/oflocal.env``). A folder that already holds an
   installation, or a PostgreSQL database that already has tables, is refused; with
   ``force`` the old files are moved aside into ``DIR/replaced-<time>/`` (never
   deleted), and even then a database some process has open is refused.
3. The members are unpacked next to their final place and checked against the
   manifest's checksums; the schema must be one this code knows (a backup from a newer
   oflocal needs that oflocal).
4. The database is put in place (SQLite: checked with ``PRAGMA integrity_check``, then
   renamed; PostgreSQL: ``pg_restore`` in one transaction), counted again and compared
   with the manifest to the row and the yen, migrated when the backup is older than
   this code, and the auditor (``oflocal.audit``) runs on it; printed codes are checked
   against the restored signing secret. The report says all of it; the caller decides
   the exit code.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import secrets
import shutil
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from oflocal import clock
from oflocal.audit import verify
from oflocal.backup import archive, snapshot
from oflocal.backup.installation import (
    KeptSettings,
    count_authentic,
    env_file,
    installation_id,
)
from oflocal.backup.manifest import (
    DATABASE,
    MANIFEST,
    SECRET,
    SETTINGS,
    Manifest,
    differences,
    sample_codes,
    summarise,
)
from oflocal.db import migrate
from oflocal.db.engine import Database, through_pgbouncer
from oflocal.errors import Refusal
from oflocal.format import tokyo_minute
from oflocal.ledger.verify import Report
from oflocal.settings import SECRET_FILE, SQLITE_FILE, normalise_database_url

ENV_FILE = "oflocal.env"
RESTORED_FILE = "restored-from.json"
SQLITE_SIDE = ("", "-wal", "-shm", "-journal")


@dataclass
class RestoreReport:
    manifest: Manifest
    data_dir: Path
    database_url: str
    differences: list[str] = field(default_factory=list)
    migrated_from: str | None = None
    audit: Report = field(default_factory=Report)
    codes_checked: int = 0
    codes_authentic: int = 0
    moved_aside: Path | None = None

    @property
    def ok(self) -> bool:
        return (not self.differences and self.audit.ok
                and self.codes_authentic == self.codes_checked)


def open_backup(path: Path) -> archive.Header:
    """Check the file end to end; answers its header (is a passphrase needed?)."""
    return archive.verify_checksum(path)


def unpack(path: Path, passphrase: str | None, into: Path) -> tuple[Manifest, dict[str, Path]]:
    """Unpack the members into the folder ``into`` and check each against the manifest."""
    header = archive.read_header(path)[0]
    allowed = frozenset({MANIFEST, SECRET, SETTINGS, *DATABASE.values()})
    files = archive.extract(path, passphrase, into, allowed)
    if MANIFEST not in files:
        raise Refusal("backup.unreadable", reason="no manifest")
    try:
        manifest = Manifest.from_bytes(files[MANIFEST].read_bytes())
    except (ValueError, KeyError) as error:
        raise Refusal("backup.unreadable", reason=f"manifest: {error}") from error
    if manifest.installation != header.installation or set(manifest.files) | {MANIFEST} \
            != set(files):
        raise Refusal("backup.unreadable", reason="the manifest does not list these files")
    for name, facts in manifest.files.items():
        if _sha256(files[name]) != facts.get("sha256"):
            raise Refusal("backup.unreadable", reason=f"{name} does not match the manifest")
    secret = files[SECRET].read_bytes()
    if installation_id(secret) != manifest.installation:
        raise Refusal("backup.unreadable", reason="the signing secret is not this "
                      "installation's")
    return manifest, files


def check_backup(path: Path, passphrase: str | None, scratch: Path) -> Manifest:
    """``oflocal restore --check``: everything a restore checks before it installs."""
    open_backup(path)
    folder = scratch / f".oflocal-check-{secrets.token_hex(4)}"
    folder.mkdir(parents=True)
    try:
        return unpack(path, passphrase, folder)[0]
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def restore(path: Path, into: Path, *, passphrase: str | None = None, force: bool = False,
            database_url: str | None = None, pg_bin_dir: str = "") -> RestoreReport:
    header = open_backup(path)
    if header.encrypted and not passphrase:
        raise Refusal("backup.passphrase_needed")
    into = into.resolve()
    postgres = header.database == "postgresql"
    url = _target_url(header.database, into, database_url)
    present = _check_room(into, url, postgres, force)
    into.mkdir(parents=True, exist_ok=True)
    staging = into / f".restore-{secrets.token_hex(4)}"
    staging.mkdir()
    moved = None
    try:
        manifest, files = unpack(path, passphrase, staging)  # a wrong passphrase stops here
        revision = manifest.revision
        if revision is not None and revision not in migrate.known_revisions():
            raise Refusal("restore.newer_schema", revision=revision,
                          version=manifest.oflocal_version)
        moved = _move_aside(into, present)
        database_file = files[DATABASE[header.database]]
        if postgres:
            _pg_restore(pg_bin_dir, database_file, url, clean=force)
        else:
            _sqlite_into_place(database_file, into / SQLITE_FILE)
        _write_private(into / SECRET_FILE, files[SECRET].read_bytes())
        kept = KeptSettings.from_json(json.loads(files[SETTINGS].read_bytes()))
        _write_private(into / ENV_FILE, env_file(
            kept, data_dir=into, database_url=database_url if postgres else None,
            source=path.name).encode())
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    report = RestoreReport(manifest=manifest, data_dir=into, database_url=url,
                           moved_aside=moved)
    _examine(report, (into / SECRET_FILE).read_bytes(), revision)
    _write_private(into / RESTORED_FILE, json.dumps({
        "backup": path.name, "restored_at": clock.now().isoformat(),
        "created_at": manifest.created_at, "host": manifest.host,
        "differences": report.differences, "migrated_from": report.migrated_from,
        "audit": [{"check": n, "ok": ok, "detail": d} for n, ok, d in report.audit.checks],
        "codes": {"checked": report.codes_checked, "authentic": report.codes_authentic},
    }, ensure_ascii=False, indent=1).encode())
    return report


def _examine(report: RestoreReport, secret: bytes, revision: str | None) -> None:
    """Count, compare, migrate, audit and check codes on the restored database."""
    db = Database(report.database_url)
    try:
        with db.engine.connect() as conn:
            report.differences = differences(report.manifest.summary, summarise(conn))
            codes = sample_codes(conn)
        if revision != migrate.head_revision():
            migrate.upgrade(db.engine)
            report.migrated_from = revision
        with db.read() as session:
            report.audit = verify(session)
    finally:
        db.dispose()
    report.codes_checked = len(codes)
    report.codes_authentic = count_authentic(secret, codes)


# --- the target ----------------------------------------------------------------------------


def _target_url(kind: str, into: Path, database_url: str | None) -> str:
    if kind == "sqlite":
        if database_url and not database_url.startswith("sqlite"):
            raise Refusal("restore.database_kind", kind="SQLite")
        return f"sqlite:///{into / SQLITE_FILE}"
    if kind != "postgresql":
        raise Refusal("backup.unreadable", reason=f"unknown database kind {kind!r}")
    if not database_url or database_url.startswith("sqlite"):
        raise Refusal("restore.database_kind", kind="PostgreSQL")
    plain, pgbouncer = through_pgbouncer(normalise_database_url(database_url))
    if pgbouncer:
        raise Refusal("backup.needs_direct_connection")
    return plain


def sqlite_in_use(path: Path) -> bool:
    """Whether a process has this SQLite database open. Every connection to a WAL
    database holds a shared lock on one byte of its ``-shm`` file (SQLite's "dead man
    switch", offset 128) for as long as it is open; an exclusive lock on that byte is
    refused while any does. SQLite itself asks the same question this way. Only ask
    from a process that does not have the database open: POSIX locks belong to the
    process, and closing this file would drop that process's own."""
    shm = Path(str(path) + "-shm")
    try:
        fd = os.open(shm, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, 128)
    except OSError:
        return True
    else:
        fcntl.lockf(fd, fcntl.LOCK_UN, 1, 128)
        return False
    finally:
        os.close(fd)


def _check_room(into: Path, url: str, postgres: bool, force: bool) -> list[Path]:
    """Refuse a live installation unless ``force``, and one in use even then; answers
    the files to move aside."""
    present = [into / SECRET_FILE, into / ENV_FILE]
    if not postgres:
        present += [into / (SQLITE_FILE + side) for side in SQLITE_SIDE]
    present = [p for p in present if p.exists()]
    database_used = _pg_has_tables(url) if postgres else False
    if (present or database_used) and not force:
        raise Refusal("restore.target_not_empty", dir=str(into))
    if not postgres and sqlite_in_use(into / SQLITE_FILE):
        raise Refusal("restore.target_in_use", dir=str(into))
    if postgres and database_used and _pg_others_connected(url):
        raise Refusal("restore.target_in_use", dir=snapshot.libpq(url)[0])
    return present


def _move_aside(into: Path, present: list[Path]) -> Path | None:
    """The replaced installation's files go to ``replaced-<time>/``, never away."""
    if not present:
        return None
    aside = into / f"replaced-{clock.as_tokyo(clock.now()):%Y%m%d-%H%M%S}"
    aside.mkdir(exist_ok=True)
    for file in present:
        file.rename(aside / file.name)
    return aside


def _pg_has_tables(url: str) -> bool:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return bool(conn.execute(text(
                "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")).scalar_one())
    except Exception as error:
        raise Refusal("restore.database_unreachable", reason=str(error).splitlines()[0]) \
            from error
    finally:
        engine.dispose()


def _pg_others_connected(url: str) -> bool:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return bool(conn.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()")).scalar_one())
    finally:
        engine.dispose()


def _pg_restore(pg_bin_dir: str, dump: Path, url: str, *, clean: bool) -> None:
    pg_restore = snapshot.tool(pg_bin_dir, "pg_restore")
    snapshot.client_version(pg_restore)  # a clear refusal when it is missing
    dsn, env = snapshot.libpq(url)
    args = [pg_restore, "--no-owner", "--no-acl", "--exit-on-error", "--single-transaction",
            f"--dbname={dsn}"]
    if clean:
        args += ["--clean", "--if-exists"]
    snapshot.run_tool([*args, str(dump)], env, lambda: None)


def _sqlite_into_place(staged: Path, final: Path) -> None:
    connection = sqlite3.connect(staged, isolation_level=None)
    try:
        verdict = connection.execute("PRAGMA integrity_check").fetchall()
    finally:
        connection.close()
    if verdict != [("ok",)]:
        raise Refusal("backup.database_damaged",
                      reason="; ".join(str(row[0]) for row in verdict[:3]))
    with staged.open("rb") as handle:
        os.fsync(handle.fileno())
    os.replace(staged, final)


def _write_private(path: Path, data: bytes) -> None:
    part = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(part, path)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(archive.COPY):
            digest.update(block)
    return digest.hexdigest()


def describe(manifest: Manifest) -> dict[str, Any]:
    """The manifest in a few lines, for people."""
    counts = manifest.summary.get("counts", {})
    ledger = manifest.summary.get("ledger", {})
    made = datetime.fromisoformat(manifest.created_at)
    return {
        "made": f"{tokyo_minute(made)} (Asia/Tokyo)", "host": manifest.host,
        "oflocal": manifest.oflocal_version, "database": manifest.database.get("kind"),
        "schema": manifest.revision, "tickets": counts.get("ticket", 0),
        "redemptions": counts.get("redemption", 0), "sales": counts.get("sale", 0),
        "pledges": counts.get("pledge", 0), "journal entries": ledger.get("entries", 0),
        "debits": ledger.get("debits", 0), "credits": ledger.get("credits", 0),
    }
