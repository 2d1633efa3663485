"""the e-mail outbox: mail_message

Revision ID: 0012
Revises: 0011

One row per e-mail to a supporter (oflocal/outbox), written in the transaction of the
change it tells of and sent by ``mail.send`` jobs (the job table of 0010). The dedupe
key is unique: the same notice is never queued twice. Self-contained: it needs only the
job table, which it does not touch.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "mail_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("to_address", sa.String(length=254), nullable=False),
        sa.Column("to_name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("text_body", sa.Text(), nullable=False),
        sa.Column("html_body", sa.Text(), nullable=True),
        sa.Column("about", sa.String(length=100), nullable=False),
        sa.Column("dedupe_key", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("send_round", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=1000), nullable=True),
        sa.Column("transport", sa.String(length=10), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("state IN ('queued', 'sending', 'sent', 'failed')",
                           name=op.f("ck_mail_message_state")),
        sa.CheckConstraint("language IN ('ja', 'en')", name=op.f("ck_mail_message_language")),
        sa.CheckConstraint("attempts >= 0 AND send_round >= 1",
                           name=op.f("ck_mail_message_counts")),
        sa.CheckConstraint("(state = 'sent') = (sent_at IS NOT NULL)",
                           name=op.f("ck_mail_message_sent_at")),
        sa.CheckConstraint("(state = 'sent') = (transport IS NOT NULL)",
                           name=op.f("ck_mail_message_sent_by")),
        sa.CheckConstraint("transport IS NULL OR transport IN ('smtp', 'file')",
                           name=op.f("ck_mail_message_transport")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_message")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_mail_message_dedupe_key")),
    )
    op.create_index("ix_mail_message_about", "mail_message", ["about"])


def downgrade() -> None:
    # The messages go with the table. Their mail.send jobs stay in the job table, of a
    # kind the older code does not know: no worker claims them.
    op.drop_index("ix_mail_message_about", table_name="mail_message")
    op.drop_table("mail_message")
