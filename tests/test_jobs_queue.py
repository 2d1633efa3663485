"""The job queue on SQLite and PostgreSQL: claims raced by real threads (exactly one
wins), leases that run out and are claimed again, fencing (a holder that lost its lease
can neither finish, fail, release nor write), retries, giving up, and a worker's
threads running tasks and giving them back when stopped."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from oflocal.db.engine import Database
from oflocal.jobs import queue
from oflocal.jobs.models import Job, JobAttempt
from oflocal.jobs.queue import Claim, LeaseLost, claim, enqueue
from oflocal.jobs.worker import JobContext, Task, Worker
from oflocal.settings import Jobs, Settings

KIND = "test.job"
LONG = 60.0


def queue_one(db: Database, payload: Mapping[str, Any] | None = None, **options: Any) -> int:
    with db.write() as session:
        return enqueue(session, KIND, payload or {"n": 1}, **options)


def job_row(db: Database, job_id: int) -> Job:
    with db.read() as session:
        job = session.get(Job, job_id)
    assert job is not None
    return job


def attempts_of(db: Database, job_id: int) -> list[JobAttempt]:
    with db.read() as session:
        return list(session.execute(
            select(JobAttempt).where(JobAttempt.job_id == job_id).order_by(JobAttempt.attempt)
        ).scalars())


def race(db: Database, threads: int, **options: Any) -> list[Claim]:
    """``threads`` threads call ``claim`` at the same moment; answers the claims won."""
    barrier = threading.Barrier(threads)
    won: list[Claim] = []
    errors: list[BaseException] = []

    def contender(n: int) -> None:
        try:
            barrier.wait()
            got = claim(db, f"racer-{n}", [KIND], lease_seconds=LONG, **options)
            if got is not None:
                won.append(got)
        except BaseException as error:
            errors.append(error)

    pool = [threading.Thread(target=contender, args=(n,)) for n in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    assert not errors, errors
    return won


def test_threads_racing_for_one_job_exactly_one_wins(db: Database) -> None:
    for _round in range(3):
        job_id = queue_one(db)
        won = race(db, 8)
        assert [c.job_id for c in won] == [job_id]
        assert won[0].attempt == 1
        job = job_row(db, job_id)
        assert (job.status, job.attempts, job.lease_owner) == ("running", 1, won[0].owner)
        with db.write() as session:
            queue.finish(session, won[0], lease_seconds=LONG)
    # Three jobs, eight threads: each job is claimed once, by one thread.
    ids = {queue_one(db, {"n": n}) for n in range(3)}
    won = race(db, 8)
    assert sorted(c.job_id for c in won) == sorted(ids)
    assert len({c.owner for c in won}) == 3


def test_an_expired_lease_is_claimed_again_and_its_first_holder_is_fenced_out(
    db: Database,
) -> None:
    job_id = queue_one(db)
    first = claim(db, "first", [KIND], lease_seconds=0.3)
    assert first is not None
    assert claim(db, "second", [KIND], lease_seconds=LONG) is None  # still leased
    time.sleep(0.4)  # the first holder is paused (or dead): no heartbeat
    second = claim(db, "second", [KIND], lease_seconds=LONG)
    assert second is not None and (second.job_id, second.attempt) == (job_id, 2)

    # The first holder wakes up: every write it tries is refused, and changes nothing.
    assert not queue.heartbeat(db, first, lease_seconds=LONG)
    with pytest.raises(LeaseLost), db.write() as session:
        queue.finish(session, first, lease_seconds=LONG)
    with pytest.raises(LeaseLost):
        queue.fail(db, first, "late", lease_seconds=LONG)
    with pytest.raises(LeaseLost):
        queue.release(db, first, lease_seconds=LONG)
    context = JobContext(db, Settings(data_dir=Path("."), database_url=db.url,
                                      secret_key=b"k"), first, threading.Event())
    with pytest.raises(LeaseLost), context.write() as session:
        session.execute(update(Job).where(Job.id == job_id).values(last_error="overwritten"))
    assert context.lost.is_set()
    job = job_row(db, job_id)
    assert (job.status, job.lease_owner, job.attempts, job.last_error) == (
        "running", "second", 2, None)

    with db.write() as session:
        queue.finish(session, second, lease_seconds=LONG)
    assert job_row(db, job_id).status == "done"
    history = attempts_of(db, job_id)
    assert [(a.attempt, a.owner, a.outcome) for a in history] == [
        (1, "first", "expired"), (2, "second", "done")]
    # Never two holders at once: the first attempt ended when its lease ran out, before
    # the second was claimed.
    assert history[0].ended_at is not None and history[0].ended_at <= history[1].claimed_at


def test_heartbeats_keep_the_job_from_other_workers(db: Database) -> None:
    job_id = queue_one(db)
    held = claim(db, "holder", [KIND], lease_seconds=0.5)
    assert held is not None
    for _ in range(5):
        time.sleep(0.2)
        assert queue.heartbeat(db, held, lease_seconds=0.5)
        assert claim(db, "other", [KIND], lease_seconds=LONG) is None
    with db.write() as session:
        queue.finish(session, held, lease_seconds=LONG)
    assert [a.outcome for a in attempts_of(db, job_id)] == ["done"]
    assert claim(db, "other", [KIND], lease_seconds=LONG) is None  # done: never again


def test_a_failed_attempt_is_retried_then_given_up(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    given_up: list[tuple[dict[str, Any], str]] = []

    def give_up(session: Session, payload: Mapping[str, Any], error: str) -> None:
        given_up.append((dict(payload), error))

    job_id = queue_one(db, {"what": "x"}, max_attempts=2)
    first = claim(db, "w", [KIND], lease_seconds=LONG)
    assert first is not None
    assert not queue.fail(db, first, "boom 1", lease_seconds=LONG, give_up=give_up)
    job = job_row(db, job_id)
    assert (job.status, job.last_error, job.lease_owner) == ("queued", "boom 1", None)
    assert claim(db, "w", [KIND], lease_seconds=LONG) is None  # waits before its retry
    with db.write() as session:  # the pause is over
        session.execute(update(Job).where(Job.id == job_id).values(run_after=job.created_at))
    second = claim(db, "w", [KIND], lease_seconds=LONG)
    assert second is not None and second.attempt == 2
    assert queue.fail(db, second, "boom 2", lease_seconds=LONG, give_up=give_up)
    job = job_row(db, job_id)
    assert (job.status, job.attempts, job.last_error) == ("failed", 2, "boom 2")
    assert given_up == [({"what": "x"}, "boom 2")]
    assert [a.outcome for a in attempts_of(db, job_id)] == ["retry", "failed"]


def test_a_last_attempt_whose_lease_ran_out_is_given_up(db: Database) -> None:
    given_up: list[str] = []
    job_id = queue_one(db, max_attempts=1)
    assert claim(db, "dies", [KIND], lease_seconds=0.2) is not None
    time.sleep(0.3)
    hooks = {KIND: lambda session, payload, error: given_up.append(error)}
    assert claim(db, "next", [KIND], lease_seconds=LONG, give_up=hooks) is None
    job = job_row(db, job_id)
    assert job.status == "failed" and "without a heartbeat" in (job.last_error or "")
    assert len(given_up) == 1
    assert [a.outcome for a in attempts_of(db, job_id)] == ["expired"]


def test_a_released_job_is_claimed_again_at_once_without_counting(db: Database) -> None:
    job_id = queue_one(db, max_attempts=1)
    first = claim(db, "stopping", [KIND], lease_seconds=LONG)
    assert first is not None
    queue.release(db, first, lease_seconds=LONG)
    second = claim(db, "next", [KIND], lease_seconds=LONG)
    assert second is not None and second.attempt == 2 and second.max_attempts == 2
    assert [a.outcome for a in attempts_of(db, job_id)] == ["released", None]


def test_a_dedupe_key_queues_one_job(db: Database) -> None:
    first = queue_one(db, dedupe_key="once")
    assert queue_one(db, dedupe_key="once") == first
    assert queue_one(db, dedupe_key="other") != first
    assert claim(db, "w", ["another.kind"], lease_seconds=LONG) is None  # kinds it knows


def _settings(db: Database, tmp_path: Path, **jobs: Any) -> Settings:
    return Settings(data_dir=tmp_path, database_url=db.url, secret_key=b"k",
                    jobs=Jobs(**{"lease_seconds": 10.0, "heartbeat_seconds": 0.2,
                                 "poll_seconds": 0.1, **jobs}))


def _wait_for(condition: Any, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_worker_threads_run_each_job_once_and_give_work_back_when_stopped(
    db: Database, tmp_path: Path
) -> None:
    ran: list[int] = []
    blocking = threading.Event()

    def run(context: JobContext) -> None:
        if context.payload.get("block"):
            blocking.set()
            while True:  # long work that checks between steps
                context.check()
                time.sleep(0.02)
        with context.write() as session:
            session.execute(update(Job).where(Job.id == context.claim.job_id)
                            .values(last_error="written by the task"))
        ran.append(int(context.payload["n"]))

    worker = Worker(db, _settings(db, tmp_path, threads=3), [Task(KIND, run)])
    worker.start()
    try:
        ids = [queue_one(db, {"n": n}) for n in range(6)]
        worker.nudge()
        _wait_for(lambda: all(job_row(db, i).status == "done" for i in ids))
        assert sorted(ran) == list(range(6))
        assert {job_row(db, i).last_error for i in ids} == {"written by the task"}
        blocked = queue_one(db, {"n": 9, "block": True})
        worker.nudge()
        assert blocking.wait(10)
    finally:
        assert worker.stop(timeout=10)
    job = job_row(db, blocked)
    assert (job.status, job.lease_owner) == ("queued", None)  # given back, claimable now
    assert [a.outcome for a in attempts_of(db, blocked)] == ["released"]
