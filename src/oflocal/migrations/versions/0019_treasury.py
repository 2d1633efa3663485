"""treasury: the treasurer's own vouchers, their receipts, and the bank reconciliation

Revision ID: 0019
Revises: 0018

The treasurer's entries (oflocal/treasury): a cash deposit, a subsidy or sponsorship
received, an expense paid, a transfer between accounts, a refund of an over-payment.
Each voucher (``treasury_entry``) has a voucher number unique in its event, a business
date, and the one journal entry it posted; like the journal it is never updated or
deleted (triggers below), and is put right by one reversing voucher. Receipts
(``treasury_attachment``) are kept in the database, also append-only. ``bank_tick``
marks bank postings seen in the passbook; ``bank_reconciliation`` keeps each comparison
with the passbook. Existing events get the new standard accounts (ledger/accounts.py).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEW_ACCOUNTS = (
    ("subsidy_income", "補助金収入 Subsidy income", "income"),
    ("sponsorship_income", "協賛金収入 Sponsorship income", "income"),
    ("other_income", "雑収入 Other income", "income"),
    ("deposits_received", "預り金 Money held (over-payments)", "liability"),
    ("bank_fees", "振込手数料 Bank charges", "expense"),
    ("other_expenses", "雑費 Other expenses", "expense"),
)
KINDS = ("cash_deposit", "account_transfer", "subsidy", "sponsorship", "other_receipt",
         "expense", "overpayment_refund", "reversal")
RECEIPT_TYPES = ("application/pdf", "image/jpeg", "image/png")
APPEND_ONLY = ("treasury_entry", "treasury_attachment", "bank_reconciliation")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _ck(sql: str, name: str) -> sa.CheckConstraint:
    return sa.CheckConstraint(sql, name=op.f(name))


def _when(name: str) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def _big_id(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                     nullable=nullable)


def _event(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["event_id"], ["event.id"],
                                   name=op.f(f"fk_{table}_event_id_event"))


def upgrade() -> None:
    op.create_table(
        "treasury_attachment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("content_type", sa.String(length=30), nullable=False),
        sa.Column("byte_size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        _when("uploaded_at"),
        sa.Column("uploaded_by", sa.String(length=60), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        _ck(_in("content_type", RECEIPT_TYPES), "ck_treasury_attachment_content_type"),
        _ck("byte_size >= 1", "ck_treasury_attachment_size"),
        _event("treasury_attachment"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_treasury_attachment")),
    )
    op.create_index(op.f("ix_treasury_attachment_event_id"), "treasury_attachment",
                    ["event_id"])
    op.create_table(
        "treasury_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("voucher_no", sa.String(length=20), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("debit_account_id", sa.Integer(), nullable=False),
        sa.Column("credit_account_id", sa.Integer(), nullable=False),
        sa.Column("description", sa.String(length=300), nullable=False),
        sa.Column("counterparty", sa.String(length=120), nullable=False),
        _big_id("entry_id"),
        sa.Column("attachment_id", sa.Integer(), nullable=True),
        sa.Column("reverses_id", sa.Integer(), nullable=True),
        _when("recorded_at"),
        sa.Column("recorded_by", sa.String(length=60), nullable=False),
        _ck(_in("kind", KINDS), "ck_treasury_entry_kind"),
        _ck("amount > 0", "ck_treasury_entry_amount"),
        _ck("debit_account_id <> credit_account_id", "ck_treasury_entry_two_accounts"),
        _ck("(kind = 'reversal') = (reverses_id IS NOT NULL)", "ck_treasury_entry_reversal"),
        _ck("description <> ''", "ck_treasury_entry_description"),
        _event("treasury_entry"),
        sa.ForeignKeyConstraint(["debit_account_id"], ["account.id"],
                                name=op.f("fk_treasury_entry_debit_account_id_account")),
        sa.ForeignKeyConstraint(["credit_account_id"], ["account.id"],
                                name=op.f("fk_treasury_entry_credit_account_id_account")),
        sa.ForeignKeyConstraint(["entry_id"], ["journal_entry.id"],
                                name=op.f("fk_treasury_entry_entry_id_journal_entry")),
        sa.ForeignKeyConstraint(
            ["attachment_id"], ["treasury_attachment.id"],
            name=op.f("fk_treasury_entry_attachment_id_treasury_attachment")),
        sa.ForeignKeyConstraint(["reverses_id"], ["treasury_entry.id"],
                                name=op.f("fk_treasury_entry_reverses_id_treasury_entry")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_treasury_entry")),
        sa.UniqueConstraint("event_id", "voucher_no",
                            name=op.f("uq_treasury_entry_event_id_voucher_no")),
        sa.UniqueConstraint("entry_id", name=op.f("uq_treasury_entry_entry_id")),
        sa.UniqueConstraint("attachment_id", name=op.f("uq_treasury_entry_attachment_id")),
        sa.UniqueConstraint("reverses_id", name=op.f("uq_treasury_entry_reverses_id")),
    )
    op.create_index(op.f("ix_treasury_entry_event_id"), "treasury_entry", ["event_id"])
    op.create_table(
        "bank_tick",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        _big_id("posting_id"),
        _when("ticked_at"),
        sa.Column("ticked_by", sa.String(length=60), nullable=False),
        _event("bank_tick"),
        sa.ForeignKeyConstraint(["posting_id"], ["posting.id"],
                                name=op.f("fk_bank_tick_posting_id_posting")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bank_tick")),
        sa.UniqueConstraint("posting_id", name=op.f("uq_bank_tick_posting_id")),
    )
    op.create_index(op.f("ix_bank_tick_event_id"), "bank_tick", ["event_id"])
    op.create_table(
        "bank_reconciliation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("passbook_balance", sa.BigInteger(), nullable=False),
        sa.Column("ledger_balance", sa.BigInteger(), nullable=False),
        sa.Column("unmatched_total", sa.BigInteger(), nullable=False),
        sa.Column("unmatched_count", sa.Integer(), nullable=False),
        sa.Column("difference", sa.BigInteger(), nullable=False),
        sa.Column("unexplained", sa.BigInteger(), nullable=False),
        sa.Column("note", sa.String(length=300), nullable=False),
        _when("recorded_at"),
        sa.Column("recorded_by", sa.String(length=60), nullable=False),
        _ck("difference = ledger_balance - passbook_balance",
            "ck_bank_reconciliation_difference"),
        _ck("unexplained = difference - unmatched_total", "ck_bank_reconciliation_unexplained"),
        _ck("unmatched_count >= 0", "ck_bank_reconciliation_count"),
        _event("bank_reconciliation"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bank_reconciliation")),
    )
    op.create_index(op.f("ix_bank_reconciliation_event_id"), "bank_reconciliation",
                    ["event_id"])
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for t in APPEND_ONLY:
            op.execute(f"CREATE TRIGGER {t}_no_update BEFORE UPDATE ON {t} "
                       f"BEGIN SELECT RAISE(ABORT, 'oflocal: {t} rows are append-only'); END")
            op.execute(f"CREATE TRIGGER {t}_no_delete BEFORE DELETE ON {t} "
                       f"BEGIN SELECT RAISE(ABORT, 'oflocal: {t} rows are never deleted'); END")
    else:  # oflocal_refuse() is migration 0001's
        for t in APPEND_ONLY:
            op.execute(f"CREATE TRIGGER {t}_append_only BEFORE UPDATE OR DELETE ON {t} "
                       "FOR EACH ROW EXECUTE FUNCTION oflocal_refuse()")
            op.execute(f"CREATE TRIGGER {t}_no_truncate BEFORE TRUNCATE ON {t} "
                       "FOR EACH STATEMENT EXECUTE FUNCTION oflocal_refuse()")
    # Events made before this release get the accounts new events are made with.
    account = sa.table("account", sa.column("event_id", sa.Integer()),
                       sa.column("code", sa.String()), sa.column("name", sa.String()),
                       sa.column("kind", sa.String()))
    event = sa.table("event", sa.column("id", sa.Integer()))
    for code, name, kind in NEW_ACCOUNTS:
        has = sa.select(account.c.event_id).where(account.c.code == code)
        missing = bind.execute(
            sa.select(event.c.id).where(event.c.id.not_in(has)).order_by(event.c.id)
        ).scalars().all()
        if missing:
            op.bulk_insert(account, [{"event_id": e, "code": code, "name": name, "kind": kind}
                                     for e in missing])


def downgrade() -> None:
    """Refused while a voucher is recorded (its journal entry stays, and would lose the
    voucher that explains it)."""
    bind = op.get_bind()
    found = bind.execute(sa.text("SELECT count(*) FROM treasury_entry")).scalar_one()
    if found:
        raise RuntimeError(f"{found} treasurer's vouchers are recorded: cannot go below 0019")
    for t in ("bank_reconciliation", "bank_tick", "treasury_entry", "treasury_attachment"):
        op.drop_table(t)  # their triggers go with them
    account = sa.table("account", sa.column("id", sa.Integer()), sa.column("code", sa.String()))
    posting = sa.table("posting", sa.column("account_id", sa.Integer()))
    op.execute(sa.delete(account).where(
        account.c.code.in_([c for c, _, _ in NEW_ACCOUNTS]),
        account.c.id.not_in(sa.select(posting.c.account_id))))
