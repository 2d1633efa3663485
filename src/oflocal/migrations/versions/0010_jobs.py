"""background jobs: claimed with leases, fenced, with their attempts

Revision ID: 0010
Revises: 0009

Print batches (and, later, the e-mail outbox and other background work) run as rows of
``job``, claimed by any worker process for a lease it renews (oflocal/jobs/queue.py);
``job_attempt`` records who held each job when. Print jobs that a stopped server left
queued or running are queued here, so the first worker renders them (rendering a batch
again gives the same bytes) instead of leaving them failed.
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = "status IN ('queued', 'running')"


def upgrade() -> None:
    job = op.create_table(
        "job",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("run_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_owner", sa.String(length=120), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=1000), nullable=True),
        sa.Column("dedupe_key", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('queued', 'running', 'done', 'failed')",
                           name=op.f("ck_job_status")),
        sa.CheckConstraint("attempts >= 0 AND attempts <= max_attempts",
                           name=op.f("ck_job_attempts")),
        sa.CheckConstraint(
            "status <> 'running' OR (lease_owner IS NOT NULL AND lease_until IS NOT NULL)",
            name=op.f("ck_job_running_is_leased"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_job_dedupe_key")),
    )
    op.create_index("ix_job_open", "job", ["kind", "id"], postgresql_where=sa.text(OPEN),
                    sqlite_where=sa.text(OPEN))
    op.create_table(
        "job_attempt",
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(length=120), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=10), nullable=True),
        sa.Column("error", sa.String(length=1000), nullable=True),
        sa.CheckConstraint(
            "outcome IS NULL OR outcome IN ('done', 'retry', 'failed', 'released', 'expired')",
            name=op.f("ck_job_attempt_outcome"),
        ),
        sa.CheckConstraint("(ended_at IS NULL) = (outcome IS NULL)",
                           name=op.f("ck_job_attempt_ended")),
        sa.ForeignKeyConstraint(["job_id"], ["job.id"], name=op.f("fk_job_attempt_job_id_job")),
        sa.PrimaryKeyConstraint("job_id", "attempt", name=op.f("pk_job_attempt")),
    )
    # Print jobs a stopped server left behind: queued again, as the new code queues them.
    print_job = sa.table("print_job", sa.column("id", sa.Integer()),
                         sa.column("status", sa.String()))
    waiting = op.get_bind().execute(
        sa.select(print_job.c.id).where(print_job.c.status.in_(("queued", "running")))
        .order_by(print_job.c.id)
    ).scalars().all()
    if waiting:
        now = datetime.now(UTC)
        if op.get_bind().dialect.name == "sqlite":
            now = now.replace(tzinfo=None)  # as the app stores it (db/base.py UTCDateTime)
        op.bulk_insert(job, [
            {"kind": "print.batch", "payload": {"print_job_id": id_},
             "status": "queued", "attempts": 0, "max_attempts": 3, "run_after": now,
             "dedupe_key": f"print_job:{id_}", "created_at": now}
            for id_ in waiting
        ])


def downgrade() -> None:
    # Unfinished print jobs cannot run without the job table: the old code's rule (a
    # server start fails them) is what they get.
    op.drop_table("job_attempt")
    op.drop_index("ix_job_open", table_name="job")
    op.drop_table("job")
