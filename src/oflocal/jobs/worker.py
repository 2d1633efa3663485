"""Workers: threads that claim jobs of the registered kinds and run their tasks.

The same :class:`Worker` runs inside the web process (the embedded default: ``make
run`` prints booklets with one command) and in ``oflocal worker`` processes on any
machine. Each thread claims one job at a time (or a batch of small jobs of one kind, see
:class:`Task`); one heartbeat thread per worker extends the leases of the jobs it holds,
all in one transaction, and tells a task when its job was taken over. Stopping
(SIGTERM, or the web server shutting down) claims nothing more and asks running tasks to
stop: a task that checks (:meth:`JobContext.check`) gives its job back at once, the
others finish. A worker killed outright leaves its jobs to run out their leases and be
claimed again elsewhere.

A task is a plain function of a :class:`JobContext`. Every write it makes about its job
goes through :meth:`JobContext.write` or :meth:`JobContext.finish`, which are fenced
(see ``queue.py``): once its lease is lost, nothing it does can land.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from oflocal.db.engine import Database
from oflocal.jobs import queue
from oflocal.jobs.queue import Claim, GiveUp, LeaseLost
from oflocal.settings import Settings

log = logging.getLogger("oflocal.jobs")


class StopRequested(Exception):
    """The worker is stopping: the task gives its job back (raised by ``check``)."""


@dataclass(frozen=True)
class Task:
    """A kind of background job: what runs it, and what records its failure for good.

    ``run`` MUST make every write about its job through the context's ``write`` or
    ``finish`` (fenced), and MUST be safe to run again from the start after an attempt
    was cut short (by a crash, a lost lease or a stop): an attempt's effects land only
    with its fenced commit. It MAY call ``check`` between steps to stop early. Returning
    without calling ``finish`` marks the job done.

    Kinds with many small jobs (one e-mail each) may set ``run_batch`` and ``batch``: a
    thread then claims up to ``batch`` queued jobs of the kind in one transaction and
    hands them to ``run_batch`` together (:class:`BatchContext`, the same rules per
    job); ``run`` is then not used, a job claimed alone is a batch of one. ``idle``, when
    set, is called in a worker thread that found nothing to claim and when it ends (a
    task closes what it kept open between jobs, such as an SMTP connection).

    A periodic kind (the automatic backups) sets ``schedule``: every worker calls it
    as it starts, to queue the kind's next run (deduplicated, so many workers queue it
    once); each run then queues the next as it ends."""

    kind: str
    run: Callable[[JobContext], None]
    give_up: GiveUp | None = None
    max_attempts: int = 3
    batch: int = 1
    run_batch: Callable[[BatchContext], None] | None = None
    idle: Callable[[], None] | None = None
    schedule: Callable[[Database, Settings], None] | None = None

    def __post_init__(self) -> None:
        if self.batch < 1 or (self.batch > 1 and self.run_batch is None):
            raise ValueError("a batch of jobs needs run_batch, and at least one job")


class JobContext:
    """What a task gets: its job's payload, services, and fenced writes."""

    def __init__(self, db: Database, settings: Settings, claim: Claim,
                 stopping: threading.Event) -> None:
        self.db, self.settings, self.claim = db, settings, claim
        self.lost = threading.Event()  # set by the heartbeat thread
        self.finished = False
        self._stopping = stopping

    @property
    def payload(self) -> Mapping[str, Any]:
        return self.claim.payload

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def check(self) -> None:
        """Raise :class:`LeaseLost` when the job was taken over, :class:`StopRequested`
        when the worker is stopping; otherwise nothing."""
        if self.lost.is_set():
            raise LeaseLost(f"job {self.claim.job_id} was taken over")
        if self._stopping.is_set():
            raise StopRequested()

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A write transaction that commits only while this attempt holds the job (it
        also renews the lease)."""
        try:
            with queue.fenced(self.db, self.claim,
                              lease_seconds=self.settings.jobs.lease_seconds) as session:
                yield session
        except LeaseLost:
            self.lost.set()
            raise

    @contextmanager
    def finish(self) -> Iterator[Session]:
        """The task's last writes and the job's end, in one fenced transaction."""
        try:
            with self.db.write() as session:
                queue.finish(session, self.claim,
                             lease_seconds=self.settings.jobs.lease_seconds)
                yield session
        except LeaseLost:
            self.lost.set()
            raise
        self.finished = True

    def open_claims(self) -> list[Claim]:
        """The claim, while the task may still write about it (for the heartbeats)."""
        return [] if self.lost.is_set() or self.finished else [self.claim]

    def mark_lost(self, claims: Sequence[Claim]) -> None:
        if claims and not self.finished:  # (not just now, by the task)
            self.lost.set()
            log.warning("job %s: heartbeat refused, the lease was lost", self.claim.job_id)


class BatchContext:
    """What a batch task gets: the jobs it holds (``claims``, in job id order), and
    fenced writes about them. Every write fences each open claim first; a claim found
    lost is dropped (nothing more is written about it) and the others go on. Inside a
    write, ``done``, ``failed`` and ``release`` end a job; the ends count once the write
    commits. Jobs still open when ``run_batch`` returns are marked done; when it
    raises, they fail (and are retried) as a job alone would; on
    :class:`StopRequested` they are given back."""

    def __init__(self, db: Database, settings: Settings, claims: Sequence[Claim],
                 stopping: threading.Event, give_up: GiveUp | None) -> None:
        self.db, self.settings = db, settings
        self._open = {c.job_id: c for c in sorted(claims, key=lambda c: c.job_id)}
        self._ending: list[int] = []
        self._now: Any = None
        self._give_up = give_up
        self._stopping = stopping
        self._mutex = threading.Lock()

    @property
    def claims(self) -> list[Claim]:
        with self._mutex:
            return list(self._open.values())

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def check(self) -> None:
        """Raise :class:`StopRequested` when the worker is stopping."""
        if self._stopping.is_set():
            raise StopRequested()

    @contextmanager
    def write(self) -> Iterator[tuple[Session, list[Claim]]]:
        """One write transaction fencing every open claim: yields the session and the
        claims still held (possibly none); commits only if the block ends normally."""
        try:
            with self.db.write() as session:
                now, held = queue.fence_many(session, self.claims,
                                             lease_seconds=self.settings.jobs.lease_seconds)
                kept = {c.job_id for c in held}
                self._lose([c for c in self.claims if c.job_id not in kept])
                self._now = now
                yield session, held
        except BaseException:
            with self._mutex:
                self._ending = []  # rolled back: those jobs did not end
            raise
        with self._mutex:
            for job_id in self._ending:
                self._open.pop(job_id, None)
            self._ending = []

    def _lose(self, claims: Sequence[Claim]) -> None:
        with self._mutex:
            for c in claims:
                if c.job_id in self._ending:
                    continue  # ended by the write committing now: not lost
                if self._open.pop(c.job_id, None) is not None:
                    log.warning("job %s: the lease was lost (another worker has it); "
                                "nothing more of this attempt is kept", c.job_id)

    def done(self, session: Session, claims: Sequence[Claim]) -> None:
        queue.finish_fenced(session, claims, self._now)
        self._ended(claims)

    def _ended(self, claims: Sequence[Claim]) -> None:
        with self._mutex:
            self._ending.extend(c.job_id for c in claims)

    def failed(self, session: Session, claim: Claim, error: str, *,
               final: bool = False) -> bool:
        """This job's attempt failed: retried later, or given up (answers which)."""
        gave_up = queue.fail_fenced(session, claim, self._now, error, give_up=self._give_up,
                                    final=final,
                                    retry_base=self.settings.jobs.retry_base_seconds)
        self._ended([claim])
        return gave_up

    def release(self, session: Session, claims: Sequence[Claim]) -> None:
        """Give jobs back untouched (the worker is stopping)."""
        for c in claims:
            queue.release_fenced(session, c, self._now)
        self._ended(claims)

    def open_claims(self) -> list[Claim]:
        return self.claims

    def mark_lost(self, claims: Sequence[Claim]) -> None:
        self._lose(claims)


class Worker:
    """Claims and runs jobs of ``tasks`` on ``threads`` threads (see the module doc)."""

    def __init__(self, db: Database, settings: Settings, tasks: Sequence[Task], *,
                 threads: int | None = None, name: str = "worker") -> None:
        self.db, self.settings = db, settings
        self.tasks = {task.kind: task for task in tasks}
        self.threads = threads if threads is not None else settings.jobs.threads
        if self.threads < 1:
            raise ValueError("a worker needs at least one thread")
        self.name = f"{socket.gethostname()}:{os.getpid()}:{name}:{secrets.token_hex(3)}"
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._beats_done = threading.Event()
        self._held: dict[str, JobContext | BatchContext] = {}
        self._lock = threading.Lock()
        self._runners: list[threading.Thread] = []
        self._beat: threading.Thread | None = None

    # -- life cycle ----------------------------------------------------------------------

    def start(self) -> None:
        for task in self.tasks.values():
            if task.schedule is not None:
                try:
                    task.schedule(self.db, self.settings)
                except Exception:  # the kind's own status tells people; the rest runs
                    log.exception("%s: queuing its next run failed", task.kind)
        self._start_heartbeats()
        for index in range(self.threads):
            thread = threading.Thread(target=self._loop, args=(f"{self.name}:{index}",),
                                      name=f"oflocal-job-{index}", daemon=True)
            thread.start()
            self._runners.append(thread)
        log.info("worker %s started: %d thread(s), kinds %s, lease %g s, heartbeat %g s",
                 self.name, self.threads, ", ".join(sorted(self.tasks)),
                 self.settings.jobs.lease_seconds, self.settings.jobs.heartbeat_seconds)

    def nudge(self) -> None:
        """A job was just queued: look now rather than at the next poll."""
        self._wake.set()

    def request_stop(self) -> None:
        """Claim nothing more; running tasks are asked to stop (see ``check``)."""
        if not self._stopping.is_set():
            log.info("worker %s stopping", self.name)
        self._stopping.set()
        self._wake.set()

    def stop(self, timeout: float | None = None) -> bool:
        """Request a stop and wait for the running tasks (up to ``timeout`` seconds).
        Answers whether every thread ended."""
        self.request_stop()
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._runners:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        ended = not any(thread.is_alive() for thread in self._runners)
        if ended:
            self._beats_done.set()
            log.info("worker %s stopped", self.name)
        return ended

    def join(self) -> None:
        for thread in self._runners:
            while thread.is_alive():
                thread.join(0.5)

    # -- claiming and running --------------------------------------------------------------

    def _give_up_hooks(self) -> dict[str, GiveUp]:
        return {kind: task.give_up for kind, task in self.tasks.items() if task.give_up}

    def claim(self, owner: str, job_id: int | None = None) -> Claim | None:
        if job_id is None and not queue.has_work(self.db, self.tasks):
            return None
        return queue.claim(self.db, owner, self.tasks,
                           lease_seconds=self.settings.jobs.lease_seconds,
                           give_up=self._give_up_hooks(), job_id=job_id)

    def _claim_next(self, owner: str, *, look_first: bool) -> list[Claim]:
        # An idle thread looks (a read) before it claims (a write); a thread that just
        # ran a job claims the next at once: under load there is work, and the read
        # would only cost time.
        if look_first and not queue.has_work(self.db, self.tasks):
            return []
        return queue.claim_batch(self.db, owner, self.tasks,
                                 lease_seconds=self.settings.jobs.lease_seconds,
                                 give_up=self._give_up_hooks(),
                                 batch={k: t.batch for k, t in self.tasks.items()})

    def _idle(self) -> None:
        for task in self.tasks.values():
            if task.idle is not None:
                try:
                    task.idle()
                except Exception:
                    log.exception("%s: cleaning up while idle failed", task.kind)

    def _loop(self, owner: str) -> None:
        poll = self.settings.jobs.poll_seconds
        busy = False
        try:
            while not self._stopping.is_set():
                try:
                    claims = self._claim_next(owner, look_first=not busy)
                except Exception:
                    log.exception("worker %s could not claim a job", owner)
                    claims = []
                busy = bool(claims)
                if not claims:
                    self._idle()
                    self._wake.wait(poll)
                    self._wake.clear()
                    continue
                self.run_claims(claims)
        finally:
            self._idle()

    def run_claims(self, claims: Sequence[Claim]) -> None:
        """Run what one claim transaction took: a batch, or one job."""
        task = self.tasks[claims[0].kind]
        if task.run_batch is not None:
            self._run_batch(task, claims)
        else:
            for claimed in claims:
                self.run(claimed)

    def run_job(self, job_id: int) -> bool:
        """Claim job ``job_id`` and run it in this thread (``oflocal print`` does, to show
        its progress). False when it could not be claimed (another worker has it)."""
        self._start_heartbeats()
        claimed = self.claim(f"{self.name}:cli", job_id)
        if claimed is None:
            return False
        self.run(claimed)
        return True

    def run(self, claimed: Claim) -> None:
        """Run one claimed job to its end: done, retried, failed, released or lost."""
        task = self.tasks[claimed.kind]
        if task.run_batch is not None:
            self._run_batch(task, [claimed])
            return
        context = JobContext(self.db, self.settings, claimed, self._stopping)
        with self._lock:
            self._held[claimed.owner] = context
        what = f"job {claimed.job_id} ({claimed.kind}) attempt {claimed.attempt}"
        log.info("%s claimed by %s", what, claimed.owner)
        started = time.monotonic()
        lease = self.settings.jobs.lease_seconds
        try:
            task.run(context)
            if not context.finished:
                with context.finish():
                    pass
            log.info("%s done in %.1f s", what, time.monotonic() - started)
        except LeaseLost:
            log.warning("%s: the lease was lost (another worker has the job); "
                        "nothing of this attempt was kept", what)
        except StopRequested:
            try:
                queue.release(self.db, claimed, lease_seconds=lease)
                log.info("%s given back: the worker is stopping", what)
            except LeaseLost:
                log.warning("%s: the lease was lost while stopping", what)
        except Exception as error:
            reason = f"{type(error).__name__}: {error}"
            try:
                final = queue.fail(self.db, claimed, reason, lease_seconds=lease,
                                   give_up=task.give_up,
                                   retry_base=self.settings.jobs.retry_base_seconds)
                log.exception("%s failed%s", what, "" if final else "; it will be retried")
            except LeaseLost:
                log.warning("%s failed after its lease was lost: %s", what, reason)
            except Exception:
                log.exception("%s failed (%s) and the failure could not be recorded; its "
                              "lease will run out", what, reason)
        finally:
            with self._lock:
                self._held.pop(claimed.owner, None)

    def _run_batch(self, task: Task, claims: Sequence[Claim]) -> None:
        assert task.run_batch is not None
        context = BatchContext(self.db, self.settings, claims, self._stopping, task.give_up)
        owner = claims[0].owner
        with self._lock:
            self._held[owner] = context
        what = (f"{len(claims)} {task.kind} job(s) {claims[0].job_id}…{claims[-1].job_id}")
        started = time.monotonic()
        try:
            task.run_batch(context)
            if context.claims:
                with context.write() as (session, held):
                    context.done(session, held)
            log.info("%s done in %.2f s", what, time.monotonic() - started)
        except StopRequested:
            try:
                with context.write() as (session, held):
                    context.release(session, held)
                log.info("%s given back: the worker is stopping", what)
            except Exception:
                log.exception("%s could not be given back; the leases will run out", what)
        except Exception as error:
            reason = f"{type(error).__name__}: {error}"
            log.exception("%s failed; the jobs still open will be retried", what)
            try:
                with context.write() as (session, held):
                    for c in held:
                        context.failed(session, c, reason)
            except Exception:
                log.exception("%s failed (%s) and the failure could not be recorded; the "
                              "leases will run out", what, reason)
        finally:
            with self._lock:
                self._held.pop(owner, None)

    # -- heartbeats ------------------------------------------------------------------------

    def _start_heartbeats(self) -> None:
        with self._lock:
            if self._beat is None:
                self._beat = threading.Thread(target=self._heartbeats, daemon=True,
                                              name="oflocal-job-heartbeat")
                self._beat.start()

    def _heartbeats(self) -> None:
        interval = self.settings.jobs.heartbeat_seconds
        lease = self.settings.jobs.lease_seconds
        while not self._beats_done.wait(interval):
            with self._lock:
                held = list(self._held.values())
            claims = {id(context): context.open_claims() for context in held}
            if not any(claims.values()):
                continue
            try:  # every job this worker holds, in one transaction
                lost = {c.job_id for c in queue.heartbeat_many(
                    self.db, [c for cs in claims.values() for c in cs], lease_seconds=lease)}
            except Exception:
                log.exception("worker %s: heartbeat failed", self.name)
                continue
            for context in held:
                context.mark_lost([c for c in claims[id(context)] if c.job_id in lost])
