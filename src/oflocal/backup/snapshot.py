"""A consistent copy of the live database, taken while the server sells and redeems.

* **SQLite**: the online backup API, in one step: a read transaction copies every page
  as of its start (WAL: the writers go on meanwhile; whatever they commit later is not
  in the copy, whatever was committed before is). Never a copy of the file, which can
  catch a page half-written or miss what is still in the ``-wal`` file. The copy is
  switched to a single file (rollback journal), checked with ``PRAGMA quick_check``,
  and counted for the manifest.
* **PostgreSQL**: ``pg_dump --format=custom`` through the installed client. A
  repeatable-read transaction exports its snapshot; ``pg_dump --snapshot`` copies
  exactly that snapshot and the manifest is counted inside it, so the counts describe
  the dump. ``pg_dump`` older than the server cannot dump it: that is refused first,
  with both versions named. PgBouncer in transaction mode cannot carry the exported
  snapshot: set ``OFLOCAL_BACKUP_DATABASE_URL`` to a direct connection.

Either way the copy is written to a work folder, never into the backup target: the
archive (``archive.py``) is made from it.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from oflocal import clock
from oflocal.backup.manifest import DATABASE, sample_codes, summarise
from oflocal.db.engine import through_pgbouncer
from oflocal.errors import Refusal
from oflocal.settings import Settings, normalise_database_url

Check = Callable[[], None]


@dataclass
class Snapshot:
    kind: str  # "sqlite" or "postgresql"
    path: Path
    started_at: datetime  # before the snapshot began: every earlier commit is in it
    summary: dict[str, Any]
    codes: list[str]
    tools: dict[str, str] = field(default_factory=dict)


def _no_check() -> None:
    return None


def take(settings: Settings, workdir: Path, check: Check | None = None) -> Snapshot:
    if settings.is_sqlite:
        return _sqlite(settings.database_url, workdir, check or _no_check)
    return _postgres(settings, workdir, check or _no_check)


# --- SQLite --------------------------------------------------------------------------------


def sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise Refusal("backup.failed", reason="an in-memory database cannot be backed up")
    return Path(database)


def _sqlite(url: str, workdir: Path, check: Check) -> Snapshot:
    source_path = sqlite_path(url)
    if not source_path.is_file():
        raise Refusal("backup.failed", reason=f"no database file at {source_path}")
    target = workdir / DATABASE["sqlite"]
    started = clock.now()
    source = sqlite3.connect(source_path, timeout=30, isolation_level=None)
    try:
        source.execute("PRAGMA busy_timeout=30000")
        copy = sqlite3.connect(target, isolation_level=None)
        try:
            # One step (pages=-1): one read transaction, so one moment. In steps, a
            # write between two of them would start the copy over.
            source.backup(copy, pages=-1)
            check()
            copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            verdict = copy.execute("PRAGMA quick_check").fetchall()
            if verdict != [("ok",)]:
                raise Refusal("backup.database_damaged",
                              reason="; ".join(str(row[0]) for row in verdict[:3]))
        finally:
            copy.close()
    finally:
        source.close()
    check()
    engine = create_engine(f"sqlite:///{target}", poolclass=NullPool)
    try:
        with engine.connect() as conn:
            summary, codes = summarise(conn), sample_codes(conn)
    finally:
        engine.dispose()
    return Snapshot("sqlite", target, started, summary, codes,
                    {"sqlite": sqlite3.sqlite_version})


# --- PostgreSQL ----------------------------------------------------------------------------


def libpq(url: str) -> tuple[str, dict[str, str]]:
    """A URL for libpq's tools (no SQLAlchemy driver name, no password on the command
    line: it goes in ``PGPASSWORD``) and the environment to run them with."""
    parsed = make_url(normalise_database_url(url))
    env = {**os.environ}
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    plain = parsed.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def tool(folder: str, name: str) -> str:
    return str(Path(folder) / name) if folder else name


def major_version(text_: str) -> tuple[int, str]:
    """15 and "15.20" from ``pg_dump (PostgreSQL) 15.20 (Debian …)``."""
    match = re.search(r"(\d+)(?:\.(\d+))?", text_)
    if match is None:
        raise ValueError(f"no version in {text_!r}")
    return int(match.group(1)), match.group(0)


def client_version(program: str) -> tuple[int, str]:
    try:
        answer = subprocess.run([program, "--version"], capture_output=True, text=True,
                                timeout=30, check=True)
    except FileNotFoundError as error:
        raise Refusal("backup.pg_tool_missing", tool=program) from error
    except (subprocess.SubprocessError, OSError) as error:
        raise Refusal("backup.failed", reason=f"{program} --version: {error}") from error
    return major_version(answer.stdout)


def run_tool(args: list[str], env: dict[str, str], check: Check) -> None:
    """Run pg_dump or pg_restore; a stop request (``check``) ends it."""
    with subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE) as proc:
        try:
            while True:
                try:
                    proc.wait(timeout=0.5)
                    break
                except subprocess.TimeoutExpired:
                    check()
        except BaseException:
            proc.kill()
            raise
        errors = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.returncode != 0:
        last = " ".join(errors.strip().splitlines()[-3:])
        raise Refusal("backup.tool_failed", tool=Path(args[0]).name, reason=last[:500])


def direct_url(settings: Settings) -> str:
    url = settings.backup.database_url or settings.database_url
    plain, pgbouncer = through_pgbouncer(normalise_database_url(url))
    if pgbouncer:
        raise Refusal("backup.needs_direct_connection")
    return plain


def _postgres(settings: Settings, workdir: Path, check: Check) -> Snapshot:
    url = direct_url(settings)
    pg_dump = tool(settings.backup.pg_bin_dir, "pg_dump")
    client_major, client = client_version(pg_dump)
    target = workdir / DATABASE["postgresql"]
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as base:
            conn: Connection = base.execution_options(isolation_level="REPEATABLE READ",
                                                      postgresql_readonly=True)
            with conn.begin():
                started = clock.now()
                snapshot_id = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
                server_num = int(conn.execute(text("SHOW server_version_num")).scalar_one())
                server = str(conn.execute(text("SHOW server_version")).scalar_one()).split()[0]
                if client_major < server_num // 10000:
                    raise Refusal("backup.pg_dump_too_old", client=client, server=server,
                                  tool=pg_dump)
                dsn, env = libpq(url)
                began = time.monotonic()
                run_tool([pg_dump, "--format=custom", f"--snapshot={snapshot_id}",
                          f"--file={target}", f"--dbname={dsn}"], env, check)
                summary, codes = summarise(conn), sample_codes(conn)
                dumped = time.monotonic() - began
    finally:
        engine.dispose()
    return Snapshot("postgresql", target, started, summary, codes,
                    {"pg_dump": client, "server": server, "pg_dump_seconds": f"{dumped:.2f}"})
