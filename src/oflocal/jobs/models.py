"""Background jobs: one row per piece of work, and one row per attempt at it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from oflocal.db.base import Base, UTCDateTime

JOB_STATES = ("queued", "running", "done", "failed")
ATTEMPT_OUTCOMES = ("done", "retry", "failed", "released", "expired")


class Job(Base):
    """A piece of background work of one registered ``kind``.

    ``queued`` (waiting for ``run_after``) → ``running`` (claimed: ``lease_owner`` holds
    it until ``lease_until``, extended by heartbeats) → ``done`` or ``failed``; a failed
    attempt with attempts left, a released one and an expired lease go back to be
    claimed. ``attempts`` counts claims and, with the owner, fences every write of the
    holder: a worker whose lease was taken over can change nothing."""

    __tablename__ = "job"
    __table_args__ = (
        CheckConstraint("status IN ('queued', 'running', 'done', 'failed')", name="status"),
        CheckConstraint("attempts >= 0 AND attempts <= max_attempts", name="attempts"),
        CheckConstraint(
            "status <> 'running' OR (lease_owner IS NOT NULL AND lease_until IS NOT NULL)",
            name="running_is_leased",
        ),
        Index("ix_job_open", "kind", "id",
              postgresql_where=text("status IN ('queued', 'running')"),
              sqlite_where=text("status IN ('queued', 'running')")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(10), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    run_after: Mapped[datetime] = mapped_column(UTCDateTime())
    lease_owner: Mapped[str | None] = mapped_column(String(120))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(String(1000))
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class JobAttempt(Base):
    """Who held a job, from when to when, and how it ended: the history that shows a job
    was never held by two workers at once (an expired attempt ends when its lease ran
    out, before the next claim)."""

    __tablename__ = "job_attempt"
    __table_args__ = (
        CheckConstraint(
            "outcome IS NULL OR outcome IN ('done', 'retry', 'failed', 'released', 'expired')",
            name="outcome",
        ),
        CheckConstraint("(ended_at IS NULL) = (outcome IS NULL)", name="ended"),
    )

    job_id: Mapped[int] = mapped_column(ForeignKey("job.id"), primary_key=True)
    attempt: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner: Mapped[str] = mapped_column(String(120))
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    outcome: Mapped[str | None] = mapped_column(String(10))
    error: Mapped[str | None] = mapped_column(String(1000))
