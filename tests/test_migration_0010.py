"""Migration 0010 (the job table): print jobs a stopped server left queued or running are
queued as jobs, so the first worker renders them, instead of being failed at a start."""

from __future__ import annotations

from sqlalchemy import select

from oflocal import clock
from oflocal.db import migrate
from oflocal.db.engine import Database
from oflocal.demo import build_event
from oflocal.jobs.models import Job
from oflocal.jobs.queue import claim
from oflocal.printing.jobs import PRINT_BATCH
from oflocal.printing.models import PrintJob
from oflocal.vouchers.codes import CodeSigner
from test_migration_0004 import fresh_db

__all__ = ["fresh_db"]


def test_0010_queues_the_print_jobs_a_stopped_server_left_behind(fresh_db: Database) -> None:
    db = fresh_db
    migrate.downgrade(db.engine, "0009")
    with db.write() as session:
        programme = build_event(session, CodeSigner(b"k" * 32), workshops=1,
                                booklets=0).programme_id
        for status in ("running", "done", "queued", "failed"):
            session.add(PrintJob(programme_id=programme, kind="batch", status=status,
                                 total_booklets=1, done_booklets=0, created_by="t",
                                 created_at=clock.now()))
    migrate.upgrade(db.engine)
    with db.read() as session:
        jobs = session.execute(select(Job).order_by(Job.id)).scalars().all()
    assert [(j.kind, j.payload, j.status, j.dedupe_key) for j in jobs] == [
        ("print.batch", {"print_job_id": 1}, "queued", "print_job:1"),
        ("print.batch", {"print_job_id": 3}, "queued", "print_job:3"),
    ]
    taken = claim(db, "w", [PRINT_BATCH.kind], lease_seconds=30)
    assert taken is not None and taken.payload == {"print_job_id": 1}
