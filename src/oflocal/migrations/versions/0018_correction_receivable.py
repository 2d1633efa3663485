"""correction settle_by: an amount taken back from a workshop already paid

Revision ID: 0018
Revises: 0017

A correction that takes back more than a workshop has pending is what the workshop owes
the committee (receivable:W, made when first needed): ``settle_by`` says whether the
next period offsets it against the workshop's payout ('offset') or the workshop pays it
back ('repayment'); 'payout' (every earlier row) is on payable:W as before. Added with
ALTER TABLE so that SQLite keeps the table's triggers; 'settle_by' is not among the
columns the settled-once trigger freezes, so an offset not yet taken by a period may
become a repayment.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "settlement_correction",
        sa.Column("settle_by", sa.String(length=10), nullable=False, server_default="payout"),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.create_check_constraint(
            op.f("ck_settlement_correction_settle_by"), "settlement_correction",
            "settle_by IN ('payout', 'offset', 'repayment')",
        )


def downgrade() -> None:
    found = op.get_bind().execute(sa.text(
        "SELECT count(*) FROM settlement_correction WHERE settle_by <> 'payout'")).scalar_one()
    if found:
        raise RuntimeError(f"{found} corrections are owed back by workshops: "
                           "cannot go below 0018")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(op.f("ck_settlement_correction_settle_by"), "settlement_correction",
                           type_="check")
    op.drop_column("settlement_correction", "settle_by")
