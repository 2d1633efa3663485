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
from typing import Any

from sqlalchemy import Row, bindparam, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from oflocal import clock
from oflocal.db.engine import Database
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
_table = IdempotencyRecord.__table__
_STORED = select(_table.c.request_hash, _table.c.status_code, _table.c.body).where(
    _table.c.scope == bindparam("scope"), _table.c.key == bindparam("key")
)
_INSERT = insert(_table)


def _stored(session: Session, idem: IdempotencyKey) -> Row[Any] | None:
    return session.connection().execute(_STORED, {"scope": idem.scope, "key": idem.key}).first()


def _replay(record: Row[Any], idem: IdempotencyKey) -> Outcome:
    if record.request_hash != idem.request_hash:
        raise Refusal("idempotency.key_reused")
    body = json.loads(record.body)
    if record.status_code >= 400:
        raise Refusal(body["code"], **body.get("detail", {}))
    return Outcome(record.status_code, body, replayed=True)


def _record(
    session: Session, idem: IdempotencyKey, status: int, body: dict[str, Any], at: datetime
) -> None:
    session.connection().execute(
        _INSERT,
        {
            "scope": idem.scope,
            "key": idem.key,
            "request_hash": idem.request_hash,
            "status_code": status,
            "body": json.dumps(body, ensure_ascii=False),
            "created_at": at,
        },
    )


def run_once(
    db: Database,
    idem: IdempotencyKey | None,
    work: Callable[[Session], dict[str, Any]],
    *,
    status: int = 201,
) -> Outcome:
    """Open a write transaction, do ``work`` in it, and remember the outcome under ``idem``."""
    if idem is None:
        with db.write() as session:
            return Outcome(status, work(session))
    try:
        with db.write() as session:
            existing = _stored(session, idem)
            if existing is not None:
                return _replay(existing, idem)
            body = work(session)
            session.flush()  # whatever the work left in the unit of work goes first
            _record(session, idem, status, body, clock.now())
        return Outcome(status, body)
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


def _remember_refusal(db: Database, idem: IdempotencyKey, refusal: Refusal) -> Outcome:
    try:
        with db.write() as session:
            existing = _stored(session, idem)
            if existing is None:
                _record(session, idem, refusal.status, refusal.to_body("en"), clock.now())
        if existing is None:
            raise refusal  # stored (committed) as the first outcome of this key
    except IntegrityError:
        pass  # a concurrent request with this key stored its outcome first
    with db.read() as session:
        stored = _stored(session, idem)
    assert stored is not None
    return _replay(stored, idem)
