"""Run a retryable write at most once per (who, Idempotency-Key).

The first outcome, success or refusal, is stored with a hash of the request in the
same transaction as the write (a success) or right after its rollback (a refusal), and
returned again for the same key. Two requests racing with one key: the database's
primary key lets exactly one record its outcome; the other returns that outcome.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Insert, Row, Table, bindparam, insert, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from oflocal import clock
from oflocal.db.engine import Database
from oflocal.db.rows import affected
from oflocal.errors import Refusal
from oflocal.idempotency.models import IdempotencyRecord


@dataclass(frozen=True)
class IdempotencyKey:
    scope: str  # who is asking: "workshop:12", "staff:3", "token:5"
    key: str
    request_hash: str


@dataclass(frozen=True)
class Outcome:
    status: int
    body: dict[str, Any]
    replayed: bool = False


def request_hash(*parts: Any) -> str:
    canonical = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def check_key(key: str | None) -> str:
    if key is None or key == "":
        raise Refusal("idempotency.key_missing")
    if len(key) > 200 or not all(33 <= ord(ch) <= 126 for ch in key):
        raise Refusal("idempotency.key_invalid")
    return key


# Core statements on the session's connection, compiled once: this runs twice per
# redemption, so it skips the ORM's identity map and unit of work.
_table = cast(Table, IdempotencyRecord.__table__)
_STORED = select(_table.c.request_hash, _table.c.status_code, _table.c.body).where(
    _table.c.scope == bindparam("scope"), _table.c.key == bindparam("key")
)
_INSERT = insert(_table)
# preserve_rowcount: without it SQLAlchemy may not keep an INSERT's rowcount (psycopg: -1).
_INSERT_NEW_SQLITE = sqlite_insert(_table).on_conflict_do_nothing().execution_options(
    preserve_rowcount=True)
_INSERT_NEW_POSTGRES = postgresql_insert(_table).on_conflict_do_nothing().execution_options(
    preserve_rowcount=True)


StoredRow = Row[Any, Any, Any]  # request_hash, status_code, body


def _stored(session: Session, idem: IdempotencyKey) -> StoredRow | None:
    return session.connection().execute(_STORED, {"scope": idem.scope, "key": idem.key}).first()


def _replay(record: StoredRow, idem: IdempotencyKey) -> Outcome:
    if record.request_hash != idem.request_hash:
        raise Refusal("idempotency.key_reused")
    body = json.loads(record.body)
    if record.status_code >= 400:
        raise Refusal(body["code"], **body.get("detail", {}))
    return Outcome(record.status_code, body, replayed=True)


def _values(
    idem: IdempotencyKey, status: int, body: dict[str, Any], at: datetime
) -> dict[str, Any]:
    return {
        "scope": idem.scope,
        "key": idem.key,
        "request_hash": idem.request_hash,
        "status_code": status,
        "body": json.dumps(body, ensure_ascii=False),
        "created_at": at,
    }


def _record(
    session: Session, idem: IdempotencyKey, status: int, body: dict[str, Any], at: datetime
) -> None:
    session.connection().execute(_INSERT, _values(idem, status, body, at))


def _insert_new(db: Database) -> Insert:
    """INSERT ... ON CONFLICT DO NOTHING for this database's dialect."""
    return _INSERT_NEW_SQLITE if db.is_sqlite else _INSERT_NEW_POSTGRES


class RefusedBeforeWriting(Exception):
    """Raised by a work function for a refusal it decided before writing anything.

    :func:`run_once` then stores the refusal in the same transaction and commits,
    instead of rolling back and opening a second transaction for it. Only raise it when
    the transaction provably holds no change (e.g. the only statement so far was a
    conditional UPDATE that matched no row); otherwise raise the plain refusal.
    """

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.code)
        self.refusal = refusal


def run_once(
    db: Database,
    idem: IdempotencyKey | None,
    work: Callable[[Session], dict[str, Any]],
    *,
    status: int = 201,
    look_first: bool = True,
) -> Outcome:
    """Open a write transaction, do ``work`` in it, and remember the outcome under ``idem``.

    ``look_first=False`` skips looking the key up before the work, for work that cannot
    succeed twice by itself (a conditional UPDATE of a state). A retry then either is
    refused by the work, and the refusal path finds the stored outcome before recording
    anything, or its work succeeds again (the state was undone in between) and the key's
    primary key makes the INSERT fail, which rolls the whole transaction back and
    returns the stored outcome. Either way the first outcome is the answer and nothing
    happens twice; the happy path saves a round trip.
    """
    if idem is None:
        try:
            with db.write() as session:
                return Outcome(status, work(session))
        except RefusedBeforeWriting as early:
            raise early.refusal from None
    refused: Refusal | None = None
    try:
        with db.write() as session:
            existing = _stored(session, idem) if look_first else None
            if existing is None:
                try:
                    body = work(session)
                except RefusedBeforeWriting as early:
                    refused = early.refusal
                    existing = _keep_refusal(db, session, idem, refused)
                else:
                    session.flush()  # whatever the work left in the unit of work goes first
                    _record(session, idem, status, body, clock.now())
    except Refusal as refusal:
        if refusal.code.startswith("idempotency."):
            raise
        return _remember_refusal(db, idem, refusal)
    except IntegrityError:
        # Another request with the same key committed first: its outcome is the answer.
        with db.read() as session:
            existing = _stored(session, idem)
        if existing is None:
            raise
        return _replay(existing, idem)
    if existing is not None:
        return _replay(existing, idem)
    if refused is not None:
        raise refused  # committed as the first outcome of this key
    return Outcome(status, body)


def _keep_refusal(
    db: Database, session: Session, idem: IdempotencyKey, refusal: Refusal
) -> StoredRow | None:
    """Store a refusal as the key's first outcome, unless another outcome got there
    first: one INSERT that does nothing on a conflict. Returns that other outcome."""
    values = _values(idem, refusal.status, refusal.to_body("en"), clock.now())
    if affected(session.connection().execute(_insert_new(db), values)) == 1:
        return None
    existing = _stored(session, idem)
    assert existing is not None
    return existing


def _remember_refusal(db: Database, idem: IdempotencyKey, refusal: Refusal) -> Outcome:
    """After the work's transaction was rolled back: store the refusal in a new one.
    On PostgreSQL, outside any open write, that is the INSERT alone in autocommit (one
    round trip instead of BEGIN, INSERT and COMMIT): a refusal is the everyday answer
    of a spike (a sold-out return)."""
    if db.is_sqlite or db.writing:
        with db.write() as session:
            existing = _keep_refusal(db, session, idem, refusal)
    else:
        values = _values(idem, refusal.status, refusal.to_body("en"), clock.now())
        with db.single_statement_engine.connect() as conn:
            existing = None
            if affected(conn.execute(_INSERT_NEW_POSTGRES, values)) != 1:
                existing = conn.execute(_STORED, {"scope": idem.scope, "key": idem.key}).first()
                assert existing is not None  # the conflicting row is committed: never deleted
    if existing is not None:
        return _replay(existing, idem)
    raise refusal  # committed as the first outcome of this key


def remember_refusal(db: Database, idem: IdempotencyKey | None, refusal: Refusal) -> Outcome:
    """A refusal decided before any write transaction (e.g. from a read): stored as the
    key's first outcome and raised; or, if the key already has an outcome, that one."""
    if idem is None:
        raise refusal
    return _remember_refusal(db, idem, refusal)


def replay(record: StoredRow, idem: IdempotencyKey) -> Outcome:
    """The outcome stored under a key (a row with request_hash, status_code and body):
    answered again, or raised again if it was a refusal; ``idempotency.key_reused`` if
    it was stored for another request."""
    return _replay(record, idem)
