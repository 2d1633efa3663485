"""repayment invoices, opening balances, append-only plans and statement issues

Revision ID: 0021
Revises: 0020

- ``settlement_transfer_plan`` and ``settlement_statement_issue`` (0020) are written once
  and never changed: every Zengin file made is a new plan row (settlement.plans), and a
  statement's first issue is one INSERT … ON CONFLICT DO NOTHING (settlement.statements),
  which fires no update trigger. No code path updates or deletes them, so the triggers
  refuse every UPDATE and DELETE (and TRUNCATE on PostgreSQL), as for the postings: a
  statement's 発行日 and a period's planned transfer date cannot be rewritten.
- Repayment invoices (請求書, settlement.repayment_invoice): the invoice, the corrections
  it bills (each once) and its first print (a later one is 再発行); all three are
  append-only in the same way.
- The treasurer's opening balances (開始残高): ``treasury_entry.kind`` may be
  ``opening_balance``. SQLite cannot change a CHECK constraint in place: the table is
  rebuilt (batch) and its append-only triggers, which go with the old table, are made
  again. Existing events get the ``opening_equity`` account new events are made with.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY = ("settlement_transfer_plan", "settlement_statement_issue",
               "repayment_invoice", "repayment_invoice_item",
               "repayment_invoice_print")
OLD_KINDS = ("cash_deposit", "account_transfer", "subsidy", "sponsorship", "other_receipt",
             "expense", "overpayment_refund", "reversal")
NEW_KINDS = (*OLD_KINDS[:-1], "opening_balance", "reversal")
OPENING = ("opening_equity", "前期繰越正味財産 Net assets brought forward", "equity")


def _in(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def _guard(table: str) -> None:
    if _sqlite():
        op.execute(f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
                   f"BEGIN SELECT RAISE(ABORT, 'oflocal: {table} rows are append-only'); END")
        op.execute(f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
                   f"BEGIN SELECT RAISE(ABORT, 'oflocal: {table} rows are never deleted'); END")
    else:  # oflocal_refuse() is migration 0001's
        op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                   "FOR EACH ROW EXECUTE FUNCTION oflocal_refuse()")
        op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                   "FOR EACH STATEMENT EXECUTE FUNCTION oflocal_refuse()")


def _unguard(table: str) -> None:
    if _sqlite():
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
    else:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [f"{target}.id"],
                                   name=op.f(f"fk_{table}_{column}_{target}"))


def _treasury_kinds(kinds: Sequence[str]) -> None:
    """Set the CHECK on treasury_entry.kind (SQLite: rebuild the table, then its guards,
    which went with the old one; 0019 made them)."""
    name = op.f("ck_treasury_entry_kind")
    if _sqlite():
        _unguard("treasury_entry")
        with op.batch_alter_table("treasury_entry", recreate="always") as batch:
            batch.drop_constraint(name, type_="check")
            batch.create_check_constraint(name, _in("kind", kinds))
        _guard("treasury_entry")
    else:
        op.drop_constraint(name, "treasury_entry", type_="check")
        op.create_check_constraint(name, "treasury_entry", _in("kind", kinds))


def upgrade() -> None:
    invoice = "repayment_invoice"  # short: its constraints' names stay within 63 bytes
    op.create_table(
        invoice,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("workshop_id", sa.Integer(), nullable=False),
        sa.Column("serial", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=30), nullable=False),
        sa.Column("issued_on", sa.Date(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("issued_by", sa.String(length=60), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("items_total", sa.BigInteger(), nullable=False),
        sa.Column("received_before", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("bank_code", sa.String(length=4), nullable=False),
        sa.Column("branch_code", sa.String(length=3), nullable=False),
        sa.Column("account_type", sa.Integer(), nullable=False),
        sa.Column("account_number", sa.String(length=7), nullable=False),
        sa.Column("account_holder_kana", sa.String(length=200), nullable=False),
        sa.CheckConstraint("serial >= 1", name=op.f(f"ck_{invoice}_serial")),
        sa.CheckConstraint("received_before >= 0 AND amount > 0",
                           name=op.f(f"ck_{invoice}_amounts")),
        sa.CheckConstraint("amount = items_total - received_before",
                           name=op.f(f"ck_{invoice}_amount_sum")),
        sa.CheckConstraint("due_date >= issued_on", name=op.f(f"ck_{invoice}_due_after_issue")),
        _fk(invoice, "event_id", "event"),
        _fk(invoice, "workshop_id", "workshop"),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{invoice}")),
        sa.UniqueConstraint("event_id", "serial", name=op.f(f"uq_{invoice}_event_id_serial")),
        sa.UniqueConstraint("event_id", "number", name=op.f(f"uq_{invoice}_event_id_number")),
    )
    op.create_index(op.f(f"ix_{invoice}_event_id"), invoice, ["event_id"])
    op.create_index(op.f(f"ix_{invoice}_workshop_id"), invoice, ["workshop_id"])
    item = f"{invoice}_item"
    op.create_table(
        item,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("correction_id", sa.Integer(), nullable=False),
        _fk(item, "invoice_id", invoice),
        _fk(item, "correction_id", "settlement_correction"),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{item}")),
        sa.UniqueConstraint("correction_id", name=op.f(f"uq_{item}_correction_id")),
    )
    op.create_index(op.f(f"ix_{item}_invoice_id"), item, ["invoice_id"])
    printed = f"{invoice}_print"
    op.create_table(
        printed,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("printed_on", sa.Date(), nullable=False),
        sa.Column("printed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("printed_by", sa.String(length=60), nullable=False),
        _fk(printed, "invoice_id", invoice),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{printed}")),
        sa.UniqueConstraint("invoice_id", name=op.f(f"uq_{printed}_invoice_id")),
    )
    for table in APPEND_ONLY:
        _guard(table)
    _treasury_kinds(NEW_KINDS)
    # Events made before this release get the account new events are made with.
    bind = op.get_bind()
    account = sa.table("account", sa.column("event_id", sa.Integer()),
                       sa.column("code", sa.String()), sa.column("name", sa.String()),
                       sa.column("kind", sa.String()))
    event = sa.table("event", sa.column("id", sa.Integer()))
    code, name, kind = OPENING
    has = sa.select(account.c.event_id).where(account.c.code == code)
    missing = bind.execute(
        sa.select(event.c.id).where(event.c.id.not_in(has)).order_by(event.c.id)
    ).scalars().all()
    if missing:
        op.bulk_insert(account, [{"event_id": e, "code": code, "name": name, "kind": kind}
                                 for e in missing])


def downgrade() -> None:
    """Refused while a repayment invoice or an opening balance is recorded (its journal
    entry and its number would lose what explains them)."""
    bind = op.get_bind()
    invoices = bind.execute(sa.text(
        "SELECT count(*) FROM repayment_invoice")).scalar_one()
    openings = bind.execute(sa.text(
        "SELECT count(*) FROM treasury_entry WHERE kind = 'opening_balance'")).scalar_one()
    if invoices or openings:
        raise RuntimeError(f"{invoices} repayment invoices and {openings} opening balances "
                           "are recorded: cannot go below 0021")
    _treasury_kinds(OLD_KINDS)
    for table in APPEND_ONLY:
        _unguard(table)
    for table in ("repayment_invoice_print", "repayment_invoice_item",
                  "repayment_invoice"):
        op.drop_table(table)
    account = sa.table("account", sa.column("id", sa.Integer()), sa.column("code", sa.String()))
    posting = sa.table("posting", sa.column("account_id", sa.Integer()))
    op.execute(sa.delete(account).where(account.c.code == OPENING[0],
                                        account.c.id.not_in(sa.select(posting.c.account_id))))
