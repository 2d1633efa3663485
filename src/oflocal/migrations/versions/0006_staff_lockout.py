"""staff_user.failed_logins and locked_until: staff passwords lock like workshop PINs

Revision ID: 0006
Revises: 0005

A black-box attack found that staff logins had no lock-out at all, and that the PIN
lock-out counted wrong PINs only after checking them, so parallel guesses got past it.
Both now take an attempt with one conditional UPDATE before the secret is checked
(auth/service.py); the staff row needs the same two columns as the workshop row.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # One statement that both dialects accept (a named CHECK in the column definition).
    op.execute(
        "ALTER TABLE staff_user ADD COLUMN failed_logins INTEGER NOT NULL DEFAULT 0"
        " CONSTRAINT ck_staff_user_failed_logins CHECK (failed_logins >= 0)"
    )
    op.add_column("staff_user", sa.Column("locked_until", sa.DateTime(timezone=True)))


def downgrade() -> None:
    # Plain DROP COLUMN on both dialects (SQLite >= 3.35): a batch copy would drop and
    # rebuild the table, which its foreign keys' rows refuse.
    op.execute("ALTER TABLE staff_user DROP COLUMN locked_until")
    op.execute("ALTER TABLE staff_user DROP COLUMN failed_logins")
