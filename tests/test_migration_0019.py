"""Migration 0019: the treasurer's tables as the models declare them, the new standard
accounts for events made before it, append-only vouchers; down (refused while a voucher
exists) and up again."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select

from oflocal import clock
from oflocal.db import migrate
from oflocal.db.base import Base
from oflocal.db.engine import Database
from oflocal.demo import build_event
from oflocal.ledger.models import Account
from oflocal.treasury.entries import EntryRequest, record_entry
from oflocal.vouchers.codes import CodeSigner
from test_migration_0004 import fresh_db

__all__ = ["fresh_db"]
TABLES = {"treasury_entry", "treasury_attachment", "bank_tick", "bank_reconciliation"}
NEW = {"subsidy_income", "sponsorship_income", "other_income", "deposits_received",
       "bank_fees", "other_expenses"}


def test_0019_matches_the_models(fresh_db: Database) -> None:
    with fresh_db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}),
                                Base.metadata)
    ours = [d for d in diff if any(t in repr(d) for t in TABLES)]
    assert ours == []


def test_0019_gives_older_events_the_new_accounts(fresh_db: Database) -> None:
    db = fresh_db
    head = migrate.current_revision(db.engine)  # later migrations may follow 0019
    migrate.downgrade(db.engine, "0018")
    with db.write() as session:
        event_id = build_event(session, CodeSigner(b"k" * 32), workshops=1, booklets=0).event_id
        session.flush()
        session.query(Account).filter(Account.code.in_(NEW)).delete()  # as before 0019
    migrate.upgrade(db.engine)
    with db.read() as session:
        codes = session.execute(select(Account.code).where(Account.event_id == event_id)
                                ).scalars().all()
    assert sorted(c for c in codes if c in NEW) == sorted(NEW)
    record_entry(db, EntryRequest(event_id=event_id, kind="expense", amount=440,
                                  business_date=clock.tokyo_date(clock.now()),
                                  description="振込手数料", debit="bank_fees"), actor="t")
    with pytest.raises(RuntimeError, match="cannot go below 0019"):
        migrate.downgrade(db.engine, "0018")
    assert migrate.current_revision(db.engine) == head
