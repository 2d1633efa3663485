"""pledge provider payment: which provider payment (PaymentIntent) a pledge is paid by

Revision ID: 0013
Revises: 0012

A card or konbini pledge gets its provider payment once (crowdfunding/provider_payments.py)
and keeps it: the result page shown again, or a konbini start retried on another day,
resumes the same PaymentIntent instead of asking Stripe for another (its idempotency
keys last 24 hours only). ``(provider, provider_payment_id)`` is unique: one payment
never pays two pledges. A refund sent through the provider keeps the provider's refund
id, so a ``refund.*`` event (or the reconcile run) acts on the attempt it names only.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("pledge", sa.Column("provider", sa.String(length=20), nullable=True))
    op.add_column("pledge", sa.Column("provider_payment_id", sa.String(length=120),
                                      nullable=True))
    op.create_index("uq_pledge_provider_payment", "pledge", ["provider", "provider_payment_id"],
                    unique=True)
    op.add_column("pledge_refund", sa.Column("provider_refund_id", sa.String(length=120),
                                             nullable=True))


def downgrade() -> None:
    op.drop_index("uq_pledge_provider_payment", table_name="pledge")
    with op.batch_alter_table("pledge_refund") as batch:
        batch.drop_column("provider_refund_id")
    with op.batch_alter_table("pledge") as batch:
        batch.drop_column("provider_payment_id")
        batch.drop_column("provider")
