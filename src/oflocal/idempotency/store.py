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

from sqlalchemy import select
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


def _stored(session: Session, idem: IdempotencyKey) -> IdempotencyRecord | None:
    return session.execute(
        select(IdempotencyRecord).where(
            IdempotencyRecord.scope == idem.scope, IdempotencyRecord.key == idem.key
        )
    ).scalar_one_or_none()


def _replay(record: IdempotencyRecord, idem: IdempotencyKey) -> Outcome:
    if record.request_hash != idem.request_hash:
        raise Refusal("idempotency.key_reused")
    body = json.loads(record.body)
    if record.status_code >= 400:
        raise Refusal(body["code"], **body.get("detail", {}))
    return Outcome(record.status_code, body, replayed=True)


def _record(
    idem: IdempotencyKey, status: int, body: dict[str, Any], at: datetime
) -> IdempotencyRecord:
    return IdempotencyRecord(
        scope=idem.scope,
        key=idem.key,
        request_hash=idem.request_hash,
        status_code=status,
        body=json.dumps(body, ensure_ascii=False),
        created_at=at,
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
            session.add(_record(idem, status, body, clock.now()))
            session.flush()
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
                session.add(_record(idem, refusal.status, refusal.to_body("en"), clock.now()))
        if existing is None:
            raise refusal  # stored (committed) as the first outcome of this key
    except IntegrityError:
        pass  # a concurrent request with this key stored its outcome first
    with db.read() as session:
        stored = _stored(session, idem)
    assert stored is not None
    return _replay(stored, idem)
