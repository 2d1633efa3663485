"""statement dates: business date of journal entries, planned transfers, first issue

Revision ID: 0020
Revises: 0019

- ``journal_entry.business_date`` (DATE NULL): the day the money moved in the books
  (for a payout, the bank's transfer date) beside ``occurred_at``, the time it was
  recorded. NULL means the Tokyo day of ``occurred_at``: the rows already written keep
  NULL (journal entries are append-only, their triggers refuse an UPDATE), and readers
  use ``ledger.journal.business_day``.
- ``settlement_transfer_plan``: every Zengin file made for a period not yet paid, with
  the transfer date it was made for (the latest is the planned date).
- ``settlement_statement_issue``: when each workshop's statement of a period was first
  issued, so a reprint keeps its 発行日 and says 再発行.

Invoice registration numbers stored before the check digit was enforced are left as
they are (the pages flag them); nothing here rewrites them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN: a batch copy of journal_entry would drop its guard triggers.
    op.add_column("journal_entry", sa.Column("business_date", sa.Date(), nullable=True))
    op.create_table(
        "settlement_transfer_plan",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("period_id", sa.Integer(), nullable=False),
        sa.Column("transfer_date", sa.Date(), nullable=False),
        sa.Column("made_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("made_by", sa.String(length=60), nullable=False),
        sa.ForeignKeyConstraint(["period_id"], ["settlement_period.id"],
                                name=op.f("fk_settlement_transfer_plan_period_id_settlement_period")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_settlement_transfer_plan")),
    )
    op.create_index(op.f("ix_settlement_transfer_plan_period_id"), "settlement_transfer_plan",
                    ["period_id"])
    op.create_table(
        "settlement_statement_issue",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("period_id", sa.Integer(), nullable=False),
        sa.Column("workshop_id", sa.Integer(), nullable=False),
        sa.Column("issued_on", sa.Date(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("issued_by", sa.String(length=60), nullable=False),
        sa.ForeignKeyConstraint(["period_id"], ["settlement_period.id"],
                                name=op.f("fk_settlement_statement_issue_period_id_settlement_period")),
        sa.ForeignKeyConstraint(["workshop_id"], ["workshop.id"],
                                name=op.f("fk_settlement_statement_issue_workshop_id_workshop")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_settlement_statement_issue")),
        sa.UniqueConstraint("period_id", "workshop_id",
                            name=op.f("uq_settlement_statement_issue_period_id_workshop_id")),
    )


def downgrade() -> None:
    op.drop_table("settlement_statement_issue")
    op.drop_index(op.f("ix_settlement_transfer_plan_period_id"),
                  table_name="settlement_transfer_plan")
    op.drop_table("settlement_transfer_plan")
    op.execute("ALTER TABLE journal_entry DROP COLUMN business_date")
