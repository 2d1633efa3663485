"""Print batches as background jobs: issue the booklets, render the PDF, record progress.

Issuing a batch writes its booklets, a ``print_job`` row (what people see: progress,
the file, an error) and a ``print.batch`` job (``oflocal.jobs``) in one transaction.
Any worker, in a web process or an ``oflocal worker`` on another machine, claims the
job and renders the PDF to a file of its own attempt (``name.pdf.attempt-N.part``);
only while the claim still holds is that file renamed into place and the job marked
done, in one fenced transaction. A worker killed mid-render leaves its job to be
claimed again once the lease runs out; the next attempt renders the same bytes (the
codes are stored, the PDF has no timestamps). Progress writes are fenced too, and only
ever move forward.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import case, select, update
from sqlalchemy.orm import Session

from oflocal import clock
from oflocal.db.engine import Database
from oflocal.errors import Refusal
from oflocal.idempotency.store import IdempotencyKey, Outcome, run_once
from oflocal.jobs.queue import enqueue
from oflocal.jobs.worker import JobContext, Task
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


def _queue(session: Session, programme_id: int, batch_id: int, number: int, count: int,
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
    enqueue(session, PRINT_BATCH.kind, {"print_job_id": job.id},
            dedupe_key=f"print_job:{job.id}", max_attempts=PRINT_BATCH.max_attempts)
    return int(job.id)


def render_print_job(context: JobContext) -> None:
    """The ``print.batch`` task: render a print job's PDF, keeping its progress current."""
    print_job_id = int(context.payload["print_job_id"])
    with context.write() as session:
        started = session.execute(
            update(PrintJob)
            .where(PrintJob.id == print_job_id, PrintJob.status.in_(("queued", "running")))
            .values(status="running")
            .returning(PrintJob.batch_id, PrintJob.programme_id, PrintJob.file_name)
        ).first()
    if started is None:
        return  # already done or failed: nothing left to do
    batch_id, programme_id, file_name = started
    target = prints_dir(context.settings.data_dir) / str(file_name)
    attempt = context.claim.attempt
    _remove_earlier_attempts(target, attempt)
    part = target.with_name(f"{target.name}.attempt-{attempt}.part")
    last = [0.0]

    def progress(done: int, total: int) -> None:
        context.check()  # taken over, or the worker is stopping: stop drawing
        now = time.monotonic()
        if now - last[0] < PROGRESS_EVERY_SECONDS and done < total:
            return
        last[0] = now
        with context.write() as s:
            s.execute(update(PrintJob).where(PrintJob.id == print_job_id)
                      .values(done_booklets=_forward(done)))

    try:
        with context.db.read() as session:
            face, workshops, layout = programme_face(session, programme_id)
            count = session.execute(
                select(PrintBatch.booklet_count).where(PrintBatch.id == batch_id)
            ).scalar_one()
            workers = context.settings.print_processes
            with part.open("wb") as out:
                stats = render_booklets(
                    face,
                    booklet_faces(session, workshops, batch_id=batch_id),
                    out,
                    layout,
                    # starting worker processes costs more than a small batch takes to draw
                    workers=workers if count >= SMALL_BATCH else 1,
                    progress=progress,
                    total=count,
                )
                out.flush()
                os.fsync(out.fileno())
        with context.finish() as session:  # fenced: only the holder's file lands
            session.execute(
                update(PrintJob)
                .where(PrintJob.id == print_job_id)
                .values(status="done", done_booklets=count, file_bytes=stats.bytes,
                        error=None, finished_at=clock.now())
            )
            os.replace(part, target)
            _sync_folder(target.parent)
    finally:
        part.unlink(missing_ok=True)


def _forward(done: int) -> Any:
    """Progress only moves forward: an attempt that starts again after a lost worker
    shows the bar where it was until it has caught up."""
    return case((PrintJob.done_booklets < done, done), else_=PrintJob.done_booklets)


def _remove_earlier_attempts(target: Path, attempt: int) -> None:
    """Files of attempts cut short (killed workers): this attempt holds the job, so no
    earlier one can still rename its file into place."""
    for stale in target.parent.glob(f"{target.name}.attempt-*.part"):
        number = stale.name.removeprefix(f"{target.name}.attempt-").removesuffix(".part")
        if number.isdigit() and int(number) < attempt:
            stale.unlink(missing_ok=True)


def _sync_folder(folder: Path) -> None:
    """Make the rename durable before the job is recorded as done."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def record_failure(session: Session, payload: Mapping[str, Any], error: str) -> None:
    """The job was given up: the print job says so, with the reason, for the page."""
    session.execute(
        update(PrintJob)
        .where(PrintJob.id == int(payload["print_job_id"]),
               PrintJob.status.in_(("queued", "running")))
        .values(status="failed", error=error[:500], finished_at=clock.now())
    )


PRINT_BATCH = Task(kind="print.batch", run=render_print_job, give_up=record_failure,
                   max_attempts=3)
