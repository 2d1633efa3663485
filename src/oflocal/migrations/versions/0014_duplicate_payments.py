"""duplicate payments: a second provider payment of a pledge is recorded, then refunded

Revision ID: 0014
Revises: 0013

A pledge is paid by one payment. A second PaymentIntent that succeeds for a pledge
already paid (a start retried after Stripe forgot its idempotency key, a payment made
from the dashboard) is money the committee holds and must give back: it is recorded as
a ``duplicate`` payment (once per provider payment) with its own refund. So the
uniqueness of ``pledge_payment.pledge_id`` holds among non-duplicate payments only, and
that of ``pledge_refund.pledge_id`` among refunds other than duplicates'; a refund stays
unique per payment.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOT_DUPLICATE: dict[str, Any] = {"sqlite_where": sa.text("duplicate = 0"),
                 "postgresql_where": sa.text("NOT duplicate")}
DUPLICATE: dict[str, Any] = {"sqlite_where": sa.text("duplicate = 1"), "postgresql_where": sa.text("duplicate")}
NOT_DUPLICATE_REFUND: dict[str, Any] = {"sqlite_where": sa.text("reason <> 'duplicate_payment'"),
                        "postgresql_where": sa.text("reason <> 'duplicate_payment'")}


def upgrade() -> None:
    with op.batch_alter_table("pledge_payment") as batch:
        batch.add_column(sa.Column("duplicate", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
        batch.drop_constraint("uq_pledge_payment_pledge_id", type_="unique")
        batch.create_check_constraint(
            op.f("ck_pledge_payment_duplicate"),
            "NOT duplicate OR (source = 'provider' AND provider_ref IS NOT NULL)")
    op.create_index(op.f("ix_pledge_payment_pledge_id"), "pledge_payment", ["pledge_id"])
    op.create_index("uq_pledge_payment_pledge", "pledge_payment", ["pledge_id"], unique=True,
                    **NOT_DUPLICATE)
    op.create_index("uq_pledge_payment_duplicate", "pledge_payment", ["provider_ref"],
                    unique=True, **DUPLICATE)
    with op.batch_alter_table("pledge_refund") as batch:
        batch.drop_constraint("uq_pledge_refund_pledge_id", type_="unique")
    op.create_index(op.f("ix_pledge_refund_pledge_id"), "pledge_refund", ["pledge_id"])
    op.create_index("uq_pledge_refund_pledge", "pledge_refund", ["pledge_id"], unique=True,
                    **NOT_DUPLICATE_REFUND)


def downgrade() -> None:
    """Refused while a duplicate payment exists (its refund would break the old rule)."""
    found = op.get_bind().execute(sa.text(
        "SELECT count(*) FROM pledge_payment WHERE duplicate")).scalar_one()
    if found:
        raise RuntimeError(f"{found} duplicate payments are recorded: cannot go below 0014")
    op.drop_index("uq_pledge_refund_pledge", table_name="pledge_refund")
    op.drop_index(op.f("ix_pledge_refund_pledge_id"), table_name="pledge_refund")
    with op.batch_alter_table("pledge_refund") as batch:
        batch.create_unique_constraint(op.f("uq_pledge_refund_pledge_id"), ["pledge_id"])
    op.drop_index("uq_pledge_payment_duplicate", table_name="pledge_payment")
    op.drop_index("uq_pledge_payment_pledge", table_name="pledge_payment")
    op.drop_index(op.f("ix_pledge_payment_pledge_id"), table_name="pledge_payment")
    with op.batch_alter_table("pledge_payment") as batch:
        batch.drop_constraint(op.f("ck_pledge_payment_duplicate"), type_="check")
        batch.drop_column("duplicate")
        batch.create_unique_constraint(op.f("uq_pledge_payment_pledge_id"), ["pledge_id"])
