"""Migration 0021, on SQLite and PostgreSQL: a statement's first issue, a period's
planned transfers and repayment invoices are append-only (no code path changes them, so
every UPDATE and DELETE is refused); the treasurer's vouchers, rebuilt on SQLite to allow
opening balances, keep their rows and their own guards; events made before get the
opening-equity account; and it goes down and up again."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from oflocal import clock
from oflocal.db import migrate
from oflocal.db.base import Base
from oflocal.db.engine import Database
from oflocal.ledger.models import Account
from oflocal.settlement.models import SettlementPeriod
from oflocal.settlement.plans import record_transfer_plan
from oflocal.settlement.statements import record_issues
from oflocal.treasury.entries import EntryRequest, fiscal_year_start, record_entry
from oflocal.vouchers.codes import CodeSigner
from test_migration_0004 import fresh_db
from test_settlement import bank_day, make_world

__all__ = ["fresh_db"]
# Tables with rows here (a row trigger has nothing to refuse in an empty table); the
# repayment invoices' guards are tried in test_repayment_invoice.py.
GUARDED = ("settlement_transfer_plan", "settlement_statement_issue", "treasury_entry")


def _model_differences(db: Database) -> list[object]:
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}),
                                Base.metadata)
    return [d for d in diff if any(t in repr(d) for t in (
        "repayment_invoice", "treasury_entry", "settlement_transfer_plan",
        "settlement_statement_issue"))]


def _refused(db: Database, sql: str) -> bool:
    try:
        with db.write() as session:
            session.execute(text(sql))
    except DBAPIError as error:
        return "append-only" in str(error) or "never deleted" in str(error)
    return False


def test_0021_guards_plans_issues_and_keeps_vouchers_down_and_up(fresh_db: Database) -> None:
    """One test (a fresh database each costs a migration from scratch): the schema is
    the models', the guards refuse, and 0021 goes down and up keeping the rows."""
    db = fresh_db
    assert _model_differences(db) == []
    w = make_world(db, CodeSigner(b"k" * 32))
    w.redeem(0, 2, minutes=0)
    period_id = w.close(5)["period_id"]
    with db.write() as session:
        period = session.get(SettlementPeriod, period_id)
        assert period is not None
        record_transfer_plan(session, period, bank_day(w.at(5)), actor="t", at=clock.now())
    assert record_issues(db, period_id, None, actor="t")
    voucher = record_entry(db, EntryRequest(
        event_id=w.sc.event_id, kind="cash_deposit", amount=1000,
        business_date=clock.tokyo_date(clock.now()), description="預け入れ"), actor="t")
    for table in GUARDED:
        assert _refused(db, f"UPDATE {table} SET id = id"), table
        assert _refused(db, f"DELETE FROM {table}"), table

    migrate.downgrade(db.engine, "0020")
    with db.read() as session:
        assert session.execute(select(Account.id).where(
            Account.code == "opening_equity")).first() is None
        assert session.execute(text("SELECT count(*) FROM treasury_entry")).scalar_one() == 1
    migrate.upgrade(db.engine)

    with db.read() as session:  # the event made before 0021 gets the account
        kinds = session.execute(select(Account.kind).where(
            Account.event_id == w.sc.event_id, Account.code == "opening_equity")).scalars().all()
        kept = session.execute(text(
            "SELECT id, voucher_no, kind, amount FROM treasury_entry")).all()
    assert kinds == ["equity"] and _model_differences(db) == []
    assert [tuple(r) for r in kept] == [(voucher["id"], "0001", "cash_deposit", 1000)]
    for table in GUARDED:  # the rebuilt treasury_entry has its guards again
        assert _refused(db, f"UPDATE {table} SET id = id"), table
        assert _refused(db, f"DELETE FROM {table}"), table
    record_entry(db, EntryRequest(
        event_id=w.sc.event_id, kind="opening_balance", amount=5000,
        business_date=fiscal_year_start(clock.tokyo_date(clock.now())),
        description="前年度より繰越", debit="bank"), actor="t")
    with pytest.raises(RuntimeError, match="opening balances"):
        migrate.downgrade(db.engine, "0020")
