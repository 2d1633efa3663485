"""Print batches as background jobs: issue the booklets, render the PDF, record progress.

A job is a row (so any web worker can show its progress) and a file in the data
folder, written as ``.part`` and renamed when complete. The web process runs jobs on
one background thread; the render itself fans out to worker processes (``spawn``).
A job left ``running`` by a stopped server is marked failed at the next start.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from oflocal import clock
from oflocal.db.engine import Database
from oflocal.errors import Refusal
from oflocal.idempotency.store import IdempotencyKey, Outcome, run_once
from oflocal.printing.models import PrintJob
from oflocal.printing.source import booklet_faces, programme_face
from oflocal.printing.writer import render_booklets
from oflocal.vouchers.codes import CodeSigner
from oflocal.vouchers.issue import add_booklets, void_booklets
from oflocal.vouchers.models import Booklet, PrintBatch

PROGRESS_EVERY_SECONDS = 0.5
SMALL_BATCH = 100


def prints_dir(data_dir: Path) -> Path:
    path = data_dir / "prints"
    path.mkdir(parents=True, exist_ok=True)
    return path


def job_file(data_dir: Path, job: PrintJob) -> Path:
    return prints_dir(data_dir) / (job.file_name or f"job-{job.id}.pdf")


def issue_batch_job(
    db: Database, signer: CodeSigner, *, programme_id: int, count: int, actor: str,
    reason: str = "", idem: IdempotencyKey | None = None,
) -> Outcome:
    """Issue ``count`` new booklets (not yet valid) and queue their PDF, once per key.

    The outcome's body names the job; a replayed outcome means the job already exists."""

    def work(session: Session) -> dict[str, Any]:
        batch = add_booklets(session, signer, programme_id, count, now=clock.now(), actor=actor,
                             reason=reason)
        return {"job_id": _queue(session, programme_id, batch.batch_id, batch.number, count,
                                 actor)}

    return run_once(db, idem, work, status=202)


def reprint_job(
    db: Database, signer: CodeSigner, *, codes: list[str], reason: str, actor: str
) -> int:
    """Void damaged unsold booklets and queue replacements with new codes, one transaction.

    The old codes can never be sold or redeemed; each new booklet points back to the
    one it replaces, and the batch records the reason (unsold stock is not money, so
    nothing is posted to the journal)."""
    from oflocal.vouchers.lookup import authentic_codes

    canonical = authentic_codes(signer, codes, "B", limit=500)
    with db.write() as session:
        booklets = session.execute(
            select(Booklet).where(Booklet.code.in_(canonical)).order_by(Booklet.serial)
        ).scalars().all()
        found = {b.code for b in booklets}
        for code in canonical:
            if code not in found:
                raise Refusal("booklet.unknown", code=code)
        programmes = {b.programme_id for b in booklets}
        if len(programmes) != 1:
            raise Refusal("booklet.other_programme", code=", ".join(canonical))
        (programme_id,) = programmes
        ids = [b.id for b in booklets]
        void_booklets(session, ids, reason=f"reprint: {reason}", now=clock.now())
        batch = add_booklets(session, signer, programme_id, len(ids), now=clock.now(),
                             actor=actor, reason=f"reprint: {reason}", replaces=ids)
        return _queue(session, programme_id, batch.batch_id, batch.number, len(ids), actor)


def _queue(session: Any, programme_id: int, batch_id: int, number: int, count: int,
           actor: str) -> int:
    job = PrintJob(
        programme_id=programme_id,
        batch_id=batch_id,
        kind="batch",
        status="queued",
        total_booklets=count,
        done_booklets=0,
        file_name=f"programme-{programme_id}-batch-{number:03d}.pdf",
        created_by=actor,
        created_at=clock.now(),
    )
    session.add(job)
    session.flush()
    return int(job.id)


def run_job(db: Database, data_dir: Path, job_id: int, *, workers: int = 2) -> None:
    """Render a queued job's PDF, keeping its progress row current. Never raises."""
    with db.write() as session:
        claimed = session.execute(
            update(PrintJob)
            .where(PrintJob.id == job_id, PrintJob.status == "queued")
            .values(status="running")
            .returning(PrintJob.batch_id, PrintJob.programme_id, PrintJob.file_name)
        ).first()
    if claimed is None:
        return  # another worker took it, or it is not queued
    batch_id, programme_id, file_name = claimed
    target = prints_dir(data_dir) / str(file_name)
    last = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] < PROGRESS_EVERY_SECONDS and done < total:
            return
        last[0] = now
        with db.write() as s:
            s.execute(update(PrintJob).where(PrintJob.id == job_id).values(done_booklets=done))

    try:
        with db.read() as session:
            face, workshops, layout = programme_face(session, programme_id)
            count = session.execute(
                select(PrintBatch.booklet_count).where(PrintBatch.id == batch_id)
            ).scalar_one()
            stats = render_booklets(
                face,
                booklet_faces(session, workshops, batch_id=batch_id),
                str(target),
                layout,
                # starting worker processes costs more than a small batch takes to draw
                workers=workers if count >= SMALL_BATCH else 1,
                progress=progress,
                total=count,
            )
        with db.write() as session:
            session.execute(
                update(PrintJob)
                .where(PrintJob.id == job_id)
                .values(status="done", done_booklets=count, file_bytes=stats.bytes,
                        finished_at=clock.now())
            )
    except Exception as error:  # recorded for the page; the server keeps running
        with db.write() as session:
            session.execute(
                update(PrintJob)
                .where(PrintJob.id == job_id)
                .values(status="failed", error=str(error)[:500], finished_at=clock.now())
            )


def fail_interrupted(db: Database) -> int:
    """At start-up: jobs a stopped server left running can never finish."""
    with db.write() as session:
        return len(
            session.execute(
                update(PrintJob)
                .where(PrintJob.status.in_(("running", "queued")))
                .values(status="failed", error="interrupted by a server restart",
                        finished_at=clock.now())
                .returning(PrintJob.id)
            ).all()
        )


class JobRunner:
    """One background thread per web process: print jobs run one after another."""

    def __init__(self, db: Database, data_dir: Path, workers: int = 2) -> None:
        self._db, self._data_dir, self._workers = db, data_dir, workers
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="oflocal-print")
        self._lock = threading.Lock()

    def submit(self, job_id: int) -> None:
        with self._lock:
            self._pool.submit(run_job, self._db, self._data_dir, job_id, workers=self._workers)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
