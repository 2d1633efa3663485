"""booklet pickup: a crowdfunding return's voucher booklets, handed over at the desk

Revision ID: 0017
Revises: 0016

A voucher booklet given as a return is issued when it is collected at the venue, not
when the pledge is paid (DOMAIN-JAPAN.md, Payment Services Act). The desk hands over
printed booklets as a sale paid by the pledge (``sale.payment_method = 'pledge'``);
``booklet_pickup`` records it per pledge and programme, once (unique key), with when,
where and by whom.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_METHODS = "payment_method IN ('cash', 'card', 'qr', 'bank', 'free')"
NEW_METHODS = "payment_method IN ('cash', 'card', 'qr', 'bank', 'free', 'pledge')"


def upgrade() -> None:
    with op.batch_alter_table("sale") as batch:
        batch.drop_constraint(op.f("ck_sale_method"), type_="check")
        batch.create_check_constraint(op.f("ck_sale_method"), NEW_METHODS)
    op.create_table(
        "booklet_pickup",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pledge_id", sa.Integer(), nullable=False),
        sa.Column("programme_id", sa.Integer(), nullable=False),
        sa.Column("sale_id", sa.Integer(), nullable=False),
        sa.Column("booklet_count", sa.Integer(), nullable=False),
        sa.Column("place", sa.String(length=100), nullable=False),
        sa.Column("collected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("collected_by", sa.String(length=60), nullable=False),
        sa.CheckConstraint("booklet_count >= 1", name=op.f("ck_booklet_pickup_count")),
        sa.ForeignKeyConstraint(["pledge_id"], ["pledge.id"],
                                name=op.f("fk_booklet_pickup_pledge_id_pledge")),
        sa.ForeignKeyConstraint(["programme_id"], ["programme.id"],
                                name=op.f("fk_booklet_pickup_programme_id_programme")),
        sa.ForeignKeyConstraint(["sale_id"], ["sale.id"],
                                name=op.f("fk_booklet_pickup_sale_id_sale")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_booklet_pickup")),
        sa.UniqueConstraint("pledge_id", "programme_id",
                            name=op.f("uq_booklet_pickup_pledge_id_programme_id")),
        sa.UniqueConstraint("sale_id", name=op.f("uq_booklet_pickup_sale_id")),
    )


def downgrade() -> None:
    """Refused while a pickup is recorded (its sale would break the old rule)."""
    found = op.get_bind().execute(sa.text("SELECT count(*) FROM booklet_pickup")).scalar_one()
    if found:
        raise RuntimeError(f"{found} booklet pickups are recorded: cannot go below 0017")
    op.drop_table("booklet_pickup")
    with op.batch_alter_table("sale") as batch:
        batch.drop_constraint(op.f("ck_sale_method"), type_="check")
        batch.create_check_constraint(op.f("ck_sale_method"), OLD_METHODS)
