"""Workers: threads that claim jobs of the registered kinds and run their tasks.

The same :class:`Worker` runs inside the web process (the embedded default: ``make
run`` prints booklets with one command) and in ``oflocal worker`` processes on any
machine. Each thread claims one job at a time; one heartbeat thread per worker extends
the leases of the jobs it holds and tells a task when its job was taken over. Stopping
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
    without calling ``finish`` marks the job done."""

    kind: str
    run: Callable[[JobContext], None]
    give_up: GiveUp | None = None
    max_attempts: int = 3


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
        self._held: dict[str, JobContext] = {}
        self._lock = threading.Lock()
        self._runners: list[threading.Thread] = []
        self._beat: threading.Thread | None = None

    # -- life cycle ----------------------------------------------------------------------

    def start(self) -> None:
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

    def _loop(self, owner: str) -> None:
        poll = self.settings.jobs.poll_seconds
        while not self._stopping.is_set():
            try:
                claimed = self.claim(owner)
            except Exception:
                log.exception("worker %s could not claim a job", owner)
                claimed = None
            if claimed is None:
                self._wake.wait(poll)
                self._wake.clear()
                continue
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
            for context in held:
                if context.lost.is_set() or context.finished:
                    continue
                try:
                    if (not queue.heartbeat(self.db, context.claim, lease_seconds=lease)
                            and not context.finished):  # (not just now, by the task)
                        context.lost.set()
                        log.warning("job %s: heartbeat refused, the lease was lost",
                                    context.claim.job_id)
                except Exception:
                    log.exception("job %s: heartbeat failed", context.claim.job_id)
