"""Shared fixtures. Every database test runs on SQLite and on PostgreSQL.

PostgreSQL runs when ``OFLOCAL_TEST_POSTGRES_URL`` is set (``.ci/run`` sets it); then an
unreachable server fails the run instead of skipping. Each test gets a fresh, migrated
database copied from a per-worker template, so tests and parallel runs never share data.

The race and concurrency tests also run through PgBouncer in transaction mode
(``backends.through_pgbouncer``: sqlite, postgres and pgbouncer) when
``OFLOCAL_TEST_PGBOUNCER_URL`` names one in front of the same server (``.ci/run``
starts it, see ``.ci/pgbouncer``); set and unreachable, it fails the run too. The
database is migrated and emptied directly on PostgreSQL (DDL and resets never go
through the pooler); the test and its servers reach it through the pooler.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.pool import NullPool

# Set before any oflocal import reads settings.
os.environ.setdefault("OFLOCAL_SECRET_KEY", "test-secret-key-0123456789abcdef")

# With PYTHONDONTWRITEBYTECODE set, every xdist worker, uvicorn worker and CLI process
# compiled oflocal from source again, and pytest rewrote the asserts of its plugins
# (schemathesis, hypothesis, faker: ~400 modules, ~6 s of CPU per worker) at every
# start. Keep the source tree clean all the same: the bytecode goes under .pytest_cache
# (the processes started from here inherit the setting).
if os.environ.get("PYTHONDONTWRITEBYTECODE") and not os.environ.get("PYTHONPYCACHEPREFIX"):
    del os.environ["PYTHONDONTWRITEBYTECODE"]
    os.environ["PYTHONPYCACHEPREFIX"] = str(
        Path(__file__).resolve().parents[1] / ".pytest_cache" / "pycache")

from backends import BACKENDS
from oflocal.db import migrate
from oflocal.db.engine import Database, create_db_engine
from oflocal.settings import normalise_database_url
from oflocal.vouchers.codes import CodeSigner

PG_URL = os.environ.get("OFLOCAL_TEST_POSTGRES_URL")
PGBOUNCER_URL = os.environ.get("OFLOCAL_TEST_PGBOUNCER_URL")


def _admin_url(url: str, database: str) -> str:
    base, _, _ = normalise_database_url(url).rpartition("/")
    return f"{base}/{database}"


def _terminate_others(engine: Any) -> None:
    """End every other connection to the test's database (a previous test's servers and
    engines, PgBouncer's server connections) and wait until they are gone. PgBouncer
    also needs a moment to notice that its idle server connections were ended: handed
    one that is already ending, a client's first command got "received 2 results from
    command 'BEGIN'" (the emptying that follows used to take 0.5 s and hid this)."""
    others = ("FROM pg_stat_activity WHERE datname = current_database() "
              "AND pid <> pg_backend_pid()")
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        ended = conn.execute(text(f"SELECT count(pg_terminate_backend(pid)) {others}"))
        if not ended.scalar_one():
            return
        deadline = time.monotonic() + 10
        while conn.execute(text(f"SELECT count(*) {others}")).scalar_one():
            if time.monotonic() > deadline:
                break
            time.sleep(0.01)
    if PGBOUNCER_URL is not None:
        time.sleep(0.1)


class _Templates:
    """Migrate once per worker, then copy for every test (file copy / CREATE ... TEMPLATE)."""

    def __init__(self, tmp: Path, worker: str) -> None:
        self.tmp = tmp
        self.worker = worker
        self.sqlite_template: Path | None = None
        self.pg_template: str | None = None
        self.pg_created: list[str] = []

    def sqlite_url(self) -> str:
        if self.sqlite_template is None:
            self.sqlite_template = self.tmp / "template.db"
            engine = create_db_engine(f"sqlite:///{self.sqlite_template}")
            migrate.upgrade(engine)
            with engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            engine.dispose()
        target = self.tmp / f"t-{uuid.uuid4().hex[:10]}.db"
        shutil.copyfile(self.sqlite_template, target)
        return f"sqlite:///{target}"

    def _pg_admin(self):  # type: ignore[no-untyped-def]
        assert PG_URL is not None
        engine = create_engine(
            _admin_url(PG_URL, "postgres"), isolation_level="AUTOCOMMIT", pool_pre_ping=True
        )
        return engine

    def postgres_url(self) -> str:
        """This worker's database, migrated once and emptied before every test.

        Emptying is much cheaper than a database per test (every DROP DATABASE forces a
        checkpoint), and DELETE is much cheaper than TRUNCATE for these small tables
        (0.05 s against 0.55 s for all of them: TRUNCATE makes new files for every table
        and index). ``session_replication_role = replica`` keeps the append-only guards
        and the foreign keys from refusing the reset (nothing else runs then); every
        sequence starts again (as with TRUNCATE … RESTART IDENTITY)."""
        if PG_URL is None:
            pytest.skip("PostgreSQL tests need OFLOCAL_TEST_POSTGRES_URL (.ci/run sets it)")
        if self.pg_template is None:
            name = f"oflocal_t_{self.worker}_{uuid.uuid4().hex[:8]}"
            admin = self._pg_admin()
            try:
                with admin.connect() as conn:
                    conn.execute(text(f'CREATE DATABASE "{name}"'))
                    # A throwaway database: commits need not wait for the WAL to reach
                    # the disk (what a crash would lose, no test looks at; locks,
                    # visibility and isolation are the same). PostgreSQL tests run
                    # about 40 % faster; the servers and PgBouncer's connections to this
                    # database get the setting too.
                    conn.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
            finally:
                admin.dispose()
            self.pg_created.append(name)
            engine = create_db_engine(_admin_url(PG_URL, name))
            migrate.upgrade(engine)
            engine.dispose()
            self.pg_template = name
            return _admin_url(PG_URL, name)
        url = _admin_url(PG_URL, self.pg_template)
        engine = create_engine(normalise_database_url(url), poolclass=NullPool)
        try:
            _terminate_others(engine)
            with engine.begin() as conn:
                tables = conn.execute(
                    text(
                        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                        "AND tablename <> 'alembic_version'"
                    )
                ).scalars().all()
                conn.execute(text("SET LOCAL session_replication_role = replica"))
                conn.exec_driver_sql("; ".join(f'DELETE FROM "{t}"' for t in tables))
                conn.execute(text(
                    "SELECT setval(s.seqrelid, s.seqstart, false) FROM pg_sequence s "
                    "JOIN pg_class c ON c.oid = s.seqrelid "
                    "WHERE c.relnamespace = 'public'::regnamespace"))
        finally:
            engine.dispose()
        return url

    def pgbouncer_url(self) -> str:
        """This worker's database (migrated and emptied directly, as for ``postgres``),
        reached through PgBouncer, with the URL flag that turns off server-side prepared
        statements (oflocal.db.engine)."""
        if PGBOUNCER_URL is None:
            pytest.skip("PgBouncer tests need OFLOCAL_TEST_PGBOUNCER_URL (.ci/run sets it)")
        direct = make_url(self.postgres_url())
        assert direct.database is not None
        return (
            make_url(normalise_database_url(PGBOUNCER_URL))
            .set(database=direct.database)
            .update_query_dict({"pgbouncer": "1"})
            .render_as_string(hide_password=False)
        )

    def drop_all(self) -> None:
        if not self.pg_created:
            return
        admin = self._pg_admin()
        with admin.connect() as conn:
            for name in reversed(self.pg_created):
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


SHM = Path("/dev/shm")


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Iterator[_Templates]:
    """SQLite files live in memory (``/dev/shm``) where there is one: the app opens
    SQLite with ``synchronous=FULL``, and an fsync per commit on a busy CI disk made the
    SQLite races wait on the disk (the same SQLite and pragmas otherwise; what a
    power cut would lose, no test looks at)."""
    in_memory = SHM.is_dir() and os.access(SHM, os.W_OK)
    folder = (Path(tempfile.mkdtemp(prefix=f"oflocal-{worker_id}-", dir=SHM)) if in_memory
              else tmp_path_factory.mktemp("db"))
    holder = _Templates(folder, worker_id)
    try:
        yield holder
    finally:
        holder.drop_all()
        if in_memory:
            shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, templates: _Templates) -> Iterator[str]:
    if request.param == "sqlite":
        url = templates.sqlite_url()
        yield url
        path = make_url(url).database
        assert path is not None
        for suffix in ("", "-wal", "-shm", "-journal"):  # the memory back for the next test
            Path(path + suffix).unlink(missing_ok=True)
    elif request.param == "pgbouncer":
        yield templates.pgbouncer_url()
    else:
        yield templates.postgres_url()


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    yield database
    database.dispose()


CHEAP_ARGON2 = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture(autouse=True)
def _cheap_argon2(request: pytest.FixtureRequest,
                  monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Passwords and PINs hashed in the test process use argon2 at its cheapest: the
    default parameters cost 0.2 s of CPU per hash and per check, and most tests make a
    login or two (the answers are the same; verifying reads the parameters from each
    hash). Mark a test ``real_argon2`` to keep the real parameters; servers in their
    own processes always have them."""
    from oflocal.auth import service

    if request.node.get_closest_marker("real_argon2") is None:
        monkeypatch.setattr(service, "_hasher", CHEAP_ARGON2)
    service._dummy_hash.cache_clear()  # made again with whichever hasher is in use
    yield
    service._dummy_hash.cache_clear()


@pytest.fixture(scope="session")
def secret() -> bytes:
    return os.environ["OFLOCAL_SECRET_KEY"].encode()


@pytest.fixture(scope="session")
def signer(secret: bytes) -> CodeSigner:
    return CodeSigner(secret)


@pytest.fixture
def run_cli(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """``oflocal`` in process (click's runner) on this test's database: call it with the
    command's arguments; answers click's Result. Settings and the database are read
    afresh for the test and forgotten after it."""
    from click.testing import CliRunner

    from oflocal import cli_base
    from oflocal.cli import main
    from oflocal.settings import get_settings

    monkeypatch.setenv("OFLOCAL_DATABASE_URL", db_url)
    monkeypatch.setenv("OFLOCAL_DATA_DIR", str(tmp_path))
    for cached in (get_settings, cli_base.settings, cli_base.database):
        cached.cache_clear()

    def invoke(*args: str) -> object:
        return CliRunner().invoke(main, list(args), catch_exceptions=False)

    yield invoke
    cli_base.database().dispose()
    for cached in (get_settings, cli_base.settings, cli_base.database):
        cached.cache_clear()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Long tests first (marked ``slow``, and the browser tests, which run as one group on
    one worker): with two xdist workers, a two-minute race collected last would run alone
    at the end while the other worker sits idle. The sort is stable."""
    def late(item: pytest.Item) -> bool:
        return not (item.get_closest_marker("slow") or "browser" in item.path.parts)
    items.sort(key=late)


def pytest_sessionstart(session: pytest.Session) -> None:
    """With OFLOCAL_TEST_POSTGRES_URL (or OFLOCAL_TEST_PGBOUNCER_URL) set, an unreachable
    server fails the run at once."""
    if PGBOUNCER_URL is not None and PG_URL is None:
        raise pytest.UsageError("OFLOCAL_TEST_PGBOUNCER_URL needs OFLOCAL_TEST_POSTGRES_URL too "
                                "(the tests migrate directly, then go through PgBouncer)")
    for name, url, what in (("OFLOCAL_TEST_POSTGRES_URL", PG_URL, "PostgreSQL"),
                            ("OFLOCAL_TEST_PGBOUNCER_URL", PGBOUNCER_URL, "PgBouncer")):
        if url is None:
            continue
        engine = create_engine(normalise_database_url(url), poolclass=NullPool,
                               connect_args={"prepare_threshold": None, "connect_timeout": 5})
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as error:
            raise pytest.UsageError(f"{name} is set but {what} is unreachable: {error}") \
                from error
        finally:
            engine.dispose()
