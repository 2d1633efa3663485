"""Print jobs: a batch rendered to PDF in the background, with its progress."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from oflocal.db.base import Base, UTCDateTime

JOB_STATES = ("queued", "running", "done", "failed")


class PrintJob(Base):
    __tablename__ = "print_job"
    __table_args__ = (
        CheckConstraint("status IN ('queued', 'running', 'done', 'failed')", name="status"),
        CheckConstraint("done_booklets >= 0 AND done_booklets <= total_booklets", name="progress"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programme.id"), index=True)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("print_batch.id"))
    kind: Mapped[str] = mapped_column(String(10), default="batch")  # batch / sample
    status: Mapped[str] = mapped_column(String(10), default="queued")
    total_booklets: Mapped[int] = mapped_column(Integer)
    done_booklets: Mapped[int] = mapped_column(Integer, default=0)
    file_name: Mapped[str | None] = mapped_column(String(200))
    file_bytes: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(500))
    created_by: Mapped[str] = mapped_column(String(60))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
