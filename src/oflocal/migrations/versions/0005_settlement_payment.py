"""settlement_payment and settlement_payer: the bank accounts a paid period's transfers
went to and came from; corrections only of live redemptions

Revision ID: 0005
Revises: 0004

Statements and the Zengin file of a paid period used to show the workshop's and the
committee's accounts as they are today; now marking a period paid copies them
(settlement/payments.py). Periods already paid are given the accounts as they are at
this upgrade, the best that is known. Append-only, like the lines.

A correction that takes a redemption back from its workshop is refused if the
redemption was undone: the undo already gave that money back.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "settlement_payment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("period_id", sa.Integer(), nullable=False),
        sa.Column("workshop_id", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("bank_code", sa.String(length=4), nullable=True),
        sa.Column("branch_code", sa.String(length=3), nullable=True),
        sa.Column("account_type", sa.Integer(), nullable=True),
        sa.Column("account_number", sa.String(length=7), nullable=True),
        sa.Column("account_holder_kana", sa.String(length=200), nullable=True),
        sa.CheckConstraint("amount > 0", name=op.f("ck_settlement_payment_amount")),
        sa.ForeignKeyConstraint(["period_id"], ["settlement_period.id"],
                                name=op.f("fk_settlement_payment_period_id_settlement_period")),
        sa.ForeignKeyConstraint(["workshop_id"], ["workshop.id"],
                                name=op.f("fk_settlement_payment_workshop_id_workshop")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_settlement_payment")),
        sa.UniqueConstraint("period_id", "workshop_id",
                            name=op.f("uq_settlement_payment_period_id_workshop_id")),
    )
    op.create_index(op.f("ix_settlement_payment_period_id"), "settlement_payment", ["period_id"])
    op.create_table(
        "settlement_payer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("period_id", sa.Integer(), nullable=False),
        sa.Column("requester_code", sa.String(length=10), nullable=True),
        sa.Column("requester_kana", sa.String(length=200), nullable=True),
        sa.Column("bank_code", sa.String(length=4), nullable=True),
        sa.Column("branch_code", sa.String(length=3), nullable=True),
        sa.Column("account_type", sa.Integer(), nullable=True),
        sa.Column("account_number", sa.String(length=7), nullable=True),
        sa.ForeignKeyConstraint(["period_id"], ["settlement_period.id"],
                                name=op.f("fk_settlement_payer_period_id_settlement_period")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_settlement_payer")),
        sa.UniqueConstraint("period_id", name=op.f("uq_settlement_payer_period_id")),
    )
    op.execute(
        "INSERT INTO settlement_payer (period_id, requester_code, requester_kana, bank_code,"
        " branch_code, account_type, account_number)"
        " SELECT p.id, e.zengin_requester_code, e.zengin_requester_kana, e.payer_bank_code,"
        " e.payer_branch_code, e.payer_account_type, e.payer_account_number"
        " FROM settlement_period p JOIN event e ON e.id = p.event_id WHERE p.status = 'paid'"
    )
    # Periods already paid: the accounts as they are now, normalised as the service does.
    bind = op.get_bind()
    rows = bind.execute(sa.text(
        "SELECT l.period_id, l.workshop_id, l.net, w.bank_code, w.branch_code, w.account_type,"
        " w.account_number, w.account_holder_kana, w.name_kana"
        " FROM settlement_line l JOIN settlement_period p ON p.id = l.period_id"
        " JOIN workshop w ON w.id = l.workshop_id WHERE p.status = 'paid' AND l.net > 0"
    )).all()
    if rows:
        bind.execute(sa.text(
            "INSERT INTO settlement_payment (period_id, workshop_id, amount, bank_code,"
            " branch_code, account_type, account_number, account_holder_kana)"
            " VALUES (:p, :w, :a, :bank, :branch, :type, :number, :holder)"
        ), [
            {"p": r[0], "w": r[1], "a": r[2], "bank": r[3] or None, "branch": r[4] or None,
             "type": r[5] or None, "number": r[6] or None,
             "holder": (r[7] or r[8] or "").strip() or None}
            for r in rows
        ])
    for statement in SQLITE_GUARDS if bind.dialect.name == "sqlite" else POSTGRES_GUARDS:
        op.execute(statement)


def downgrade() -> None:
    for statement in SQLITE_DROP if op.get_bind().dialect.name == "sqlite" else POSTGRES_DROP:
        op.execute(statement)
    op.drop_table("settlement_payer")  # their triggers go with them
    op.drop_table("settlement_payment")


_UNDONE = "a correction cannot give back an undone redemption (the undo already did)"
_UNDONE_WHEN = (
    "NEW.redemption_id IS NOT NULL AND "
    "(SELECT undone_at FROM redemption WHERE id = NEW.redemption_id) IS NOT NULL"
)
_COPIES = ("settlement_payment", "settlement_payer")
SQLITE_GUARDS = [
    *(
        f"CREATE TRIGGER {t}_no_update BEFORE UPDATE ON {t} "
        f"BEGIN SELECT RAISE(ABORT, 'oflocal: {t} rows are append-only'); END"
        for t in _COPIES
    ),
    *(
        f"CREATE TRIGGER {t}_no_delete BEFORE DELETE ON {t} "
        f"BEGIN SELECT RAISE(ABORT, 'oflocal: {t} rows are never deleted'); END"
        for t in _COPIES
    ),
    f"CREATE TRIGGER settlement_correction_live_redemption BEFORE INSERT ON "
    f"settlement_correction WHEN {_UNDONE_WHEN} BEGIN SELECT RAISE(ABORT, 'oflocal: {_UNDONE}'); END",
]
SQLITE_DROP = ["DROP TRIGGER settlement_correction_live_redemption"]

POSTGRES_GUARDS = [  # oflocal_refuse() comes from 0001
    *(
        f"CREATE TRIGGER {t}_append_only BEFORE UPDATE OR DELETE ON {t} "
        "FOR EACH ROW EXECUTE FUNCTION oflocal_refuse()"
        for t in _COPIES
    ),
    *(
        f"CREATE TRIGGER {t}_no_truncate BEFORE TRUNCATE ON {t} "
        "FOR EACH STATEMENT EXECUTE FUNCTION oflocal_refuse()"
        for t in _COPIES
    ),
    "CREATE FUNCTION oflocal_correction_live_redemption() RETURNS trigger AS $$ BEGIN "
    f"IF {_UNDONE_WHEN} THEN RAISE EXCEPTION 'oflocal: {_UNDONE}'; END IF; "
    "RETURN NEW; END $$ LANGUAGE plpgsql",
    "CREATE TRIGGER settlement_correction_live_redemption BEFORE INSERT ON "
    "settlement_correction FOR EACH ROW EXECUTE FUNCTION oflocal_correction_live_redemption()",
]
POSTGRES_DROP = [
    "DROP TRIGGER settlement_correction_live_redemption ON settlement_correction",
    "DROP FUNCTION oflocal_correction_live_redemption()",
]
