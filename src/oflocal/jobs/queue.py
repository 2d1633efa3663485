"""The job table's statements: queue, claim, heartbeat, and the fenced end of an attempt.
Read this file to know how a job is held by exactly one worker.

A job is queued in the transaction of the change that asks for it (a print batch and its
job commit together, or neither does). A worker claims one with a conditional UPDATE in
a write transaction: on PostgreSQL the candidate row is taken ``FOR UPDATE SKIP
LOCKED`` (workers never wait on each other), on SQLite ``BEGIN IMMEDIATE`` serialises
the claim. The claim raises ``attempts`` by one and leases the job to its owner until
``lease_until``; heartbeats extend the lease. A job whose lease ran out (its worker was
killed, or paused too long) can be claimed again: that attempt is recorded as expired at
the moment its lease ended, and the next one starts after it.

**Fencing.** The owner and the attempt number are the claim's token. Every write a
holder makes about its job starts with ``UPDATE job … WHERE id = :id AND lease_owner =
:owner AND attempts = :attempt AND status = 'running'``: when that touches no row, the
job was taken over (or ended) and :class:`LeaseLost` rolls the transaction back, so a
worker that wakes up after losing its lease can neither finish nor overwrite anything.
When it touches the row, the row stays locked (PostgreSQL) or the database stays
reserved (SQLite) until the commit, so no claim can slip in between the check and the
holder's writes.

**Batches.** ``claim_batch`` claims, in the same transaction, more queued jobs of the
kind it claimed first (each exactly as if claimed alone); ``fence_many``,
``finish_fenced``, ``fail_fenced`` and ``release_fenced`` are the fenced writes for
many claims at once, and ``heartbeat_many`` renews every lease a worker holds in one
transaction.

Times come from the database's clock on PostgreSQL (workers on several machines need
not agree on the time) and from this machine's clock on SQLite (one machine).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Interval,
    and_,
    func,
    insert,
    literal,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from oflocal import clock
from oflocal.db.engine import Database
from oflocal.db.rows import affected
from oflocal.jobs.models import Job, JobAttempt

log = logging.getLogger("oflocal.jobs")

ERROR_LENGTH = 1000
RETRY_BASE_SECONDS = 5.0
RETRY_MAX_SECONDS = 300.0

# Called in the transaction that gives a job up for good (its last attempt failed or
# expired), with the job's payload and the reason: the task records the failure where
# people see it (a print job's row), atomically with the job's end.
GiveUp = Callable[[Session, Mapping[str, Any], str], None]


class LeaseLost(Exception):
    """This worker no longer holds the job: its lease ran out and another worker claimed
    it, or the job ended. Nothing was written."""


@dataclass(frozen=True)
class Claim:
    """A job held by ``owner`` as its ``attempt``-th claim: the fencing token."""

    job_id: int
    kind: str
    payload: Mapping[str, Any]
    owner: str
    attempt: int
    max_attempts: int


def db_now(session: Session) -> datetime:
    """Now, by the clock every worker shares: the database server's on PostgreSQL. On
    SQLite, read once the transaction holds its lock (a write may wait for it), so a
    lease is never granted from a time already past."""
    if session.get_bind().dialect.name == "sqlite":
        session.connection()  # BEGIN (IMMEDIATE for a write) now, not at the first statement
        return clock.now()
    value = session.execute(select(func.clock_timestamp())).scalar_one()
    assert isinstance(value, datetime)
    return value


def _insert(session: Session) -> Any:
    return sqlite_insert if session.get_bind().dialect.name == "sqlite" else postgresql_insert


def enqueue(
    session: Session, kind: str, payload: Mapping[str, Any], *, dedupe_key: str | None = None,
    max_attempts: int = 3, delay_seconds: float = 0.0,
) -> int:
    """Queue a job in the caller's transaction; answers its id. With ``dedupe_key``, a
    job already queued (or run) under that key is answered instead of a second one."""
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    now: Any
    if session.get_bind().dialect.name == "sqlite":
        now = db_now(session)
        run_after = now + timedelta(seconds=delay_seconds)
    else:
        # The database's clock in the INSERT itself, rather than a round trip to read it
        # first: a pledge queues its notice while it holds its return's row.
        now = func.statement_timestamp(type_=DateTime(timezone=True))
        run_after = now + literal(timedelta(seconds=delay_seconds), Interval())
    values = {
        "kind": kind, "payload": dict(payload), "status": "queued", "attempts": 0,
        "max_attempts": max_attempts, "run_after": run_after,
        "dedupe_key": dedupe_key, "created_at": now,
    }
    if dedupe_key is None:
        return int(session.execute(insert(Job).values(values).returning(Job.id)).scalar_one())
    statement = (_insert(session)(Job).values(values)
                 .on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(Job.id))
    job_id = session.execute(statement).scalar_one_or_none()
    if job_id is None:
        job_id = session.execute(select(Job.id).where(Job.dedupe_key == dedupe_key)).scalar_one()
    return int(job_id)


def enqueue_many(
    session: Session, kind: str, jobs: Sequence[tuple[Mapping[str, Any], str]], *,
    max_attempts: int = 3,
) -> None:
    """:func:`enqueue` for many jobs of one kind, each ``(payload, dedupe_key)``, in one
    statement: a key already queued (or run) is skipped."""
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    if not jobs:
        return
    now = db_now(session)
    session.execute(  # one compiled statement, executemany
        _insert(session)(Job.__table__).on_conflict_do_nothing(index_elements=["dedupe_key"]),
        [{"kind": kind, "payload": dict(payload), "status": "queued", "attempts": 0,
          "max_attempts": max_attempts, "run_after": now, "dedupe_key": key,
          "created_at": now} for payload, key in jobs])


def _claimable(now: datetime) -> ColumnElement[bool]:
    return and_(
        # the partial index ix_job_open's condition, spelled out so that SQLite uses it
        # (done jobs stay in the table: without it every claim scans all of them)
        Job.status.in_(("queued", "running")),
        or_(and_(Job.status == "queued", Job.run_after <= now),
            and_(Job.status == "running", Job.lease_until < now)),
    )


def has_work(db: Database, kinds: Collection[str]) -> bool:
    """Whether a job of these kinds could be claimed now: a read, so that idle workers
    polling do not take SQLite's write lock."""
    with db.read() as session:
        now = db_now(session)
        return session.execute(
            select(Job.id).where(Job.kind.in_(list(kinds)), _claimable(now)).limit(1)
        ).first() is not None


def claim(
    db: Database, owner: str, kinds: Collection[str], *, lease_seconds: float,
    give_up: Mapping[str, GiveUp] | None = None, job_id: int | None = None,
) -> Claim | None:
    """Take the oldest claimable job of ``kinds`` (or job ``job_id``) for ``owner``.

    A job whose lease ran out after its last allowed attempt is given up on the way
    (``failed``, and its kind's ``give_up`` called in the same transaction)."""
    claims = claim_batch(db, owner, kinds, lease_seconds=lease_seconds, give_up=give_up,
                         job_id=job_id)
    return claims[0] if claims else None


def claim_batch(
    db: Database, owner: str, kinds: Collection[str], *, lease_seconds: float,
    give_up: Mapping[str, GiveUp] | None = None, job_id: int | None = None,
    batch: Mapping[str, int] | None = None,
) -> list[Claim]:
    """:func:`claim`, and with it, in the same transaction, up to ``batch[kind] - 1``
    more queued jobs of the kind claimed first (a mailing's messages: one claim
    transaction for many jobs). Each job of the batch is claimed exactly as one claimed
    alone (its own attempt, lease and attempt row), all by ``owner``; empty when there
    is nothing to claim."""
    with db.write() as session:
        now = db_now(session)
        while True:
            query = (
                select(Job.id, Job.kind, Job.payload, Job.status, Job.attempts, Job.max_attempts,
                       Job.lease_until)
                .where(Job.kind.in_(list(kinds)), _claimable(now))
                .order_by(Job.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            if job_id is not None:
                query = query.where(Job.id == job_id)
            row = session.execute(query).first()
            if row is None:
                return []
            if row.status == "running":  # its holder's lease ran out: that attempt ended then
                session.execute(
                    update(JobAttempt)
                    .where(JobAttempt.job_id == row.id, JobAttempt.attempt == row.attempts,
                           JobAttempt.ended_at.is_(None))
                    .values(ended_at=row.lease_until, outcome="expired",
                            error="lease ran out without a heartbeat")
                )
            same = and_(Job.id == row.id, Job.status == row.status,
                        Job.attempts == row.attempts)
            if row.attempts >= row.max_attempts:
                reason = (f"gave up after {row.attempts} attempts: the last one stopped "
                          "without a heartbeat")
                taken = session.execute(
                    update(Job).where(same)
                    .values(status="failed", last_error=reason, lease_until=None,
                            finished_at=now)
                )
                if affected(taken) != 1:  # cannot happen under the row lock; never guess
                    return []
                if give_up and row.kind in give_up:
                    give_up[row.kind](session, row.payload, reason)
                log.warning("job %s (%s) failed: %s", row.id, row.kind, reason)
                continue
            taken = session.execute(
                update(Job).where(same).values(
                    status="running", attempts=row.attempts + 1, lease_owner=owner,
                    lease_until=now + timedelta(seconds=lease_seconds), heartbeat_at=now,
                )
            )
            if affected(taken) != 1:  # cannot happen under the row lock; never guess
                return []
            session.add(JobAttempt(job_id=row.id, attempt=row.attempts + 1, owner=owner,
                                   claimed_at=now))
            first = Claim(job_id=row.id, kind=row.kind, payload=row.payload, owner=owner,
                          attempt=row.attempts + 1, max_attempts=row.max_attempts)
            more = (batch or {}).get(row.kind, 1) - 1
            if job_id is not None or more < 1:
                return [first]
            return [first, *_claim_more(session, owner, row.kind, row.id, more, now,
                                        lease_seconds)]


def _claim_more(session: Session, owner: str, kind: str, after: int, limit: int,
                now: datetime, lease_seconds: float) -> list[Claim]:
    """Queued jobs of ``kind`` after ``after``, claimed by ``owner`` in the caller's
    claim transaction (only queued ones: a job whose lease ran out is claimed alone,
    by :func:`claim_batch`'s first step, which records that attempt's end)."""
    ids = session.execute(
        select(Job.id)
        .where(Job.kind == kind, Job.status == "queued", Job.run_after <= now, Job.id > after)
        .order_by(Job.id).limit(limit).with_for_update(skip_locked=True)
    ).scalars().all()
    if not ids:
        return []
    rows = session.execute(
        update(Job).where(Job.id.in_(ids), Job.status == "queued")
        .values(status="running", attempts=Job.attempts + 1, lease_owner=owner,
                lease_until=now + timedelta(seconds=lease_seconds), heartbeat_at=now)
        .returning(Job.id, Job.payload, Job.attempts, Job.max_attempts)
        .execution_options(synchronize_session=False)
    ).all()
    if not rows:
        return []
    session.execute(insert(JobAttempt), [
        {"job_id": r.id, "attempt": r.attempts, "owner": owner, "claimed_at": now}
        for r in rows])
    return sorted((Claim(job_id=r.id, kind=kind, payload=r.payload, owner=owner,
                         attempt=r.attempts, max_attempts=r.max_attempts) for r in rows),
                  key=lambda c: c.job_id)


def _held(c: Claim) -> ColumnElement[bool]:
    return and_(Job.id == c.job_id, Job.lease_owner == c.owner, Job.attempts == c.attempt,
                Job.status == "running")


def fence(session: Session, c: Claim, *, lease_seconds: float) -> datetime:
    """The first statement of every write the holder makes about its job: renews the lease
    and locks the job row for this transaction, or raises :class:`LeaseLost`. Answers
    the database's time."""
    now = db_now(session)
    renewed = session.execute(
        update(Job).where(_held(c))
        .values(lease_until=now + timedelta(seconds=lease_seconds), heartbeat_at=now)
    )
    if affected(renewed) != 1:
        raise LeaseLost(f"job {c.job_id} attempt {c.attempt} is no longer held by {c.owner}")
    return now


@contextmanager
def fenced(db: Database, c: Claim, *, lease_seconds: float) -> Iterator[Session]:
    """A write transaction that commits only while ``c`` still holds its job."""
    with db.write() as session:
        fence(session, c, lease_seconds=lease_seconds)
        yield session


def _held_all(claims: Collection[Claim]) -> ColumnElement[bool]:
    # ``id IN`` first: SQLite does not search an index for a row-value IN, it would scan
    return and_(Job.id.in_([c.job_id for c in claims]),
                tuple_(Job.id, Job.lease_owner, Job.attempts).in_(
                    [(c.job_id, c.owner, c.attempt) for c in claims]),
                Job.status == "running")


def fence_many(session: Session, claims: Collection[Claim], *,
               lease_seconds: float) -> tuple[datetime, list[Claim]]:
    """:func:`fence` for many claims in one statement: answers the database's time and
    the claims still held (their rows stay locked until the commit); the others were
    lost, and nothing may be written about them. Rows are locked in id order, so two
    transactions fencing overlapping batches (a heartbeat and the task) never deadlock."""
    now = db_now(session)
    if not claims:
        return now, []
    ids = sorted(c.job_id for c in claims)
    if session.get_bind().dialect.name != "sqlite":
        session.execute(select(Job.id).where(Job.id.in_(ids)).order_by(Job.id).with_for_update())
    renewed = set(session.execute(
        update(Job).where(_held_all(claims))
        .values(lease_until=now + timedelta(seconds=lease_seconds), heartbeat_at=now)
        .returning(Job.id).execution_options(synchronize_session=False)
    ).scalars())
    return now, sorted((c for c in claims if c.job_id in renewed), key=lambda c: c.job_id)


def heartbeat_many(db: Database, claims: Collection[Claim], *,
                   lease_seconds: float) -> list[Claim]:
    """Extend the leases of many claims in one transaction; answers those lost."""
    with db.write() as session:
        _, held = fence_many(session, claims, lease_seconds=lease_seconds)
    kept = {c.job_id for c in held}
    return [c for c in claims if c.job_id not in kept]


def finish_fenced(session: Session, claims: Collection[Claim], now: datetime) -> None:
    """Mark jobs done in a transaction that fenced them already (:func:`fence_many`)."""
    if not claims:
        return
    session.execute(update(Job).where(_held_all(claims))
                    .values(status="done", lease_until=None, finished_at=now)
                    .execution_options(synchronize_session=False))
    session.execute(
        update(JobAttempt)
        .where(JobAttempt.job_id.in_([c.job_id for c in claims]),
               tuple_(JobAttempt.job_id, JobAttempt.attempt).in_(
                   [(c.job_id, c.attempt) for c in claims]))
        .values(ended_at=now, outcome="done", error=None)
        .execution_options(synchronize_session=False))


def heartbeat(db: Database, c: Claim, *, lease_seconds: float) -> bool:
    """Extend the lease; False when the job is no longer held (stop working on it)."""
    try:
        with fenced(db, c, lease_seconds=lease_seconds):
            return True
    except LeaseLost:
        return False


def _end_attempt(session: Session, c: Claim, now: datetime, outcome: str,
                 error: str | None = None) -> None:
    session.execute(
        update(JobAttempt)
        .where(JobAttempt.job_id == c.job_id, JobAttempt.attempt == c.attempt)
        .values(ended_at=now, outcome=outcome, error=error)
    )


def finish(session: Session, c: Claim, *, lease_seconds: float) -> None:
    """Mark the job done inside the holder's transaction (with the task's last writes)."""
    now = fence(session, c, lease_seconds=lease_seconds)
    session.execute(update(Job).where(_held(c)).values(status="done", lease_until=None,
                                                       finished_at=now))
    _end_attempt(session, c, now, "done")


def retry_delay(attempt: int, base: float = RETRY_BASE_SECONDS) -> float:
    return min(RETRY_MAX_SECONDS, base * 2.0 ** (attempt - 1))


def fail(db: Database, c: Claim, error: str, *, lease_seconds: float,
         give_up: GiveUp | None = None, final: bool = False,
         retry_base: float = RETRY_BASE_SECONDS) -> bool:
    """The attempt failed: queue the job again after a pause, or, on its last attempt
    (or ``final``), fail it for good and call ``give_up``. Answers whether it was given
    up; raises :class:`LeaseLost` when the job is no longer held (nothing changes)."""
    with db.write() as session:
        now = fence(session, c, lease_seconds=lease_seconds)
        return fail_fenced(session, c, now, error, give_up=give_up, final=final,
                           retry_base=retry_base)


def fail_fenced(session: Session, c: Claim, now: datetime, error: str, *,
                give_up: GiveUp | None = None, final: bool = False,
                retry_base: float = RETRY_BASE_SECONDS) -> bool:
    """:func:`fail` in a transaction that fenced ``c`` already."""
    error = error[:ERROR_LENGTH]
    if final or c.attempt >= c.max_attempts:
        session.execute(update(Job).where(_held(c)).values(
            status="failed", last_error=error, lease_until=None, finished_at=now))
        _end_attempt(session, c, now, "failed", error)
        if give_up is not None:
            give_up(session, c.payload, error)
        return True
    session.execute(update(Job).where(_held(c)).values(
        status="queued", last_error=error, lease_owner=None, lease_until=None,
        run_after=now + timedelta(seconds=retry_delay(c.attempt, retry_base))))
    _end_attempt(session, c, now, "retry", error)
    return False


def release(db: Database, c: Claim, *, lease_seconds: float) -> None:
    """Give the job back untouched (a worker stopping): queued again at once, and the
    attempt does not count against ``max_attempts``. Raises :class:`LeaseLost` when the
    job is no longer held."""
    with db.write() as session:
        now = fence(session, c, lease_seconds=lease_seconds)
        release_fenced(session, c, now)


def release_fenced(session: Session, c: Claim, now: datetime) -> None:
    """:func:`release` in a transaction that fenced ``c`` already."""
    session.execute(update(Job).where(_held(c)).values(
        status="queued", lease_owner=None, lease_until=None, run_after=now,
        max_attempts=Job.max_attempts + 1))
    _end_attempt(session, c, now, "released")
