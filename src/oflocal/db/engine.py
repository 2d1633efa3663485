"""Engines and transactions for SQLite (embedded default) and PostgreSQL (production).

SQLite is made crash-safe for money: WAL, ``synchronous=FULL`` and ``BEGIN IMMEDIATE``
for every write transaction, so two writers queue instead of failing half-way and an
acknowledged redemption is on disk.  Writes go through :meth:`Database.write`, which
first waits for its turn in a first-come, first-served queue (db/writers.py) rather
than spinning on SQLite's lock.

PostgreSQL through PgBouncer in transaction mode: add ``pgbouncer=1`` to the URL's query
(``postgresql://…:6432/oflocal?pgbouncer=1``). psycopg then never prepares statements
on the server (it does after ``prepare_threshold`` runs of one statement, and the
next transaction may be given another server connection, where that prepared statement
does not exist). Nothing else the app does outlives a transaction: see
docs/deployment.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from oflocal.db.writers import WriterQueue, queue_for
from oflocal.settings import normalise_database_url

_WRITE = "oflocal_write"


class _NoQueue:
    """PostgreSQL's writers wait on the rows they touch, not for a turn."""

    @contextmanager
    def turn(self) -> Iterator[None]:
        yield


_NO_QUEUE = _NoQueue()


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves, see below
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        write = conn.get_execution_options().get(_WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


PGBOUNCER = "pgbouncer"  # the URL query flag: a pooler in transaction mode is in between


def through_pgbouncer(url: str) -> tuple[str, bool]:
    """The URL without oflocal's ``pgbouncer`` flag, and whether the flag was on."""
    parsed = make_url(url)
    flag = parsed.query.get(PGBOUNCER)
    if flag is None:
        return url, False
    value = flag[-1] if isinstance(flag, tuple) else flag
    plain = parsed.difference_update_query([PGBOUNCER])
    return plain.render_as_string(hide_password=False), value.strip().lower() in {
        "1", "true", "yes", "on"}


def create_db_engine(url: str, **kwargs: Any) -> Engine:
    url = normalise_database_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=kwargs.pop("pool_size", 8),
            max_overflow=kwargs.pop("max_overflow", 8),
            **kwargs,
        )
        _configure_sqlite(engine)
        return engine
    # No pre-ping: it would cost a round trip on every checkout, twice per redemption.
    # A connection the server dropped fails its first statement instead; SQLAlchemy then
    # discards the pool's older connections, the transaction is rolled back and the client
    # retries with its Idempotency-Key (nothing is acknowledged before commit).
    url, pgbouncer = through_pgbouncer(url)
    if pgbouncer:
        connect_args = kwargs.setdefault("connect_args", {})
        connect_args.setdefault("prepare_threshold", None)  # see the module's docstring
    return create_engine(
        url,
        pool_size=kwargs.pop("pool_size", 10),
        max_overflow=kwargs.pop("max_overflow", 20),
        pool_pre_ping=kwargs.pop("pool_pre_ping", False),
        pool_recycle=kwargs.pop("pool_recycle", 3600),
        **kwargs,
    )


class Database:
    """One engine, two kinds of transaction: read, and write (serialised on SQLite).

    A write (or read) opened while this thread already holds one of this database's
    writes joins it: one transaction, committed or rolled back by the outer one. That is how a route
    runs a service inside :func:`oflocal.idempotency.store.run_once`, so the service's
    change and the request's Idempotency-Key commit together or not at all.
    """

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = normalise_database_url(url)
        self.engine = create_db_engine(self.url, **engine_kwargs)
        self._write_engine = self.engine.execution_options(**{_WRITE: True})
        # Statements that are a whole transaction by themselves, on the hot paths (who
        # holds a bearer token; a one-ticket redemption on PostgreSQL): autocommit, one
        # round trip instead of BEGIN, the statement and COMMIT. SQLite's calls are local;
        # its BEGIN is ours (see _configure_sqlite), so it keeps it there.
        self.single_statement_engine = (
            self.engine if self.is_sqlite
            else self.engine.execution_options(isolation_level="AUTOCOMMIT"))
        self._writers: WriterQueue | _NoQueue = (
            queue_for(self.engine.url.database) if self.is_sqlite
            else _NO_QUEUE)
        self._read = sessionmaker(self.engine, expire_on_commit=False)
        self._write = sessionmaker(self._write_engine, expire_on_commit=False)
        # Facts that never change once written (e.g. account ids), remembered per database
        # by the hot paths that need them. Only ever add what cannot become stale.
        self.memo: dict[str, Any] = {}
        self._open_write: ContextVar[Session | None] = ContextVar(f"write:{id(self)}",
                                                                  default=None)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @property
    def writing(self) -> bool:
        """Whether this thread holds an open write of this database (a new write joins it)."""
        return self._open_write.get() is not None

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A write transaction: committed on success, rolled back on any exception."""
        joined = self._open_write.get()
        if joined is not None:
            yield joined
            return
        with self._writers.turn(), self._write() as session, session.begin():
            token = self._open_write.set(session)
            try:
                yield session
            finally:
                self._open_write.reset(token)

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read transaction; inside this thread's open write, that write (it sees its
        own changes)."""
        joined = self._open_write.get()
        if joined is not None:
            yield joined
            return
        with self._read() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
