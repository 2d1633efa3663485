"""event: venue, representative, e-mail and invoice registration number

Revision ID: 0008
Revises: 0007

What the committee says about itself on statements, booklet covers and (later) the
crowdfunding legal page (特定商取引法に基づく表記): set and edited on the admin console's
event page (events/changes.py). Existing events get empty values.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("event", sa.Column("venue", sa.String(300), nullable=False, server_default=""))
    op.add_column("event", sa.Column("representative", sa.String(120), nullable=False,
                                     server_default=""))
    op.add_column("event", sa.Column("committee_email", sa.String(254), nullable=False,
                                     server_default=""))
    op.add_column("event", sa.Column("invoice_number", sa.String(14), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMN on both dialects (SQLite >= 3.35): a batch copy would drop and
    # rebuild the table, which its foreign keys' rows refuse.
    op.execute("ALTER TABLE event DROP COLUMN invoice_number")
    op.execute("ALTER TABLE event DROP COLUMN committee_email")
    op.execute("ALTER TABLE event DROP COLUMN representative")
    op.execute("ALTER TABLE event DROP COLUMN venue")
