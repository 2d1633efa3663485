"""staff_user.must_change_password: a generated password is changed at first login

Revision ID: 0007
Revises: 0006

`oflocal init` and an admin's password reset hand out a generated password; it works
once, to log in and choose a new one (auth/accounts.py). Existing users keep theirs.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("staff_user", sa.Column("must_change_password", sa.Boolean(), nullable=False,
                                          server_default=sa.false()))


def downgrade() -> None:
    # Plain DROP COLUMN on both dialects (SQLite >= 3.35): a batch copy would drop and
    # rebuild the table, which its foreign keys' rows refuse.
    op.execute("ALTER TABLE staff_user DROP COLUMN must_change_password")
