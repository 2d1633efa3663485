"""Migration 0020 (statement dates): journal entries get a business date column without
their rows being rewritten (they are append-only), and invoice numbers stored before
the check digit was enforced stay as they are: flagged, still editable."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from oflocal.db import migrate
from oflocal.db.base import Base
from oflocal.db.engine import Database
from oflocal.demo import build_event
from oflocal.events.invoice import invoice_number_warning
from oflocal.events.models import Event, Workshop
from oflocal.events.setup import update_event, update_workshop
from oflocal.ledger.journal import business_day
from oflocal.ledger.models import JournalEntry
from oflocal.vouchers.codes import CodeSigner
from oflocal.vouchers.desk import sell_booklets
from test_migration_0004 import fresh_db

__all__ = ["fresh_db"]


def test_0020_matches_the_models(fresh_db: Database) -> None:
    with fresh_db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}),
                                Base.metadata)
    ours = [d for d in diff if any(t in repr(d) for t in (
        "settlement_transfer_plan", "settlement_statement_issue", "business_date"))]
    assert ours == []


def test_0020_keeps_old_rows_and_flags_old_invoice_numbers(fresh_db: Database) -> None:
    db = fresh_db
    signer = CodeSigner(b"k" * 32)
    with db.write() as session:
        scenario = build_event(session, signer, workshops=2, booklets=2)
    sell_booklets(db, signer, programme_id=scenario.programme_id,
                  codes=scenario.booklet_codes[:2], payment_method="cash", actor="t")
    migrate.downgrade(db.engine, "0019")
    with db.write() as session:  # numbers as the demo used to store them: the check fails
        session.execute(text("UPDATE event SET invoice_number = 'T1000000000000'"))
        session.execute(text("UPDATE workshop SET invoice_number = 'T1000000000001' "
                             "WHERE id = :id"), {"id": scenario.workshop_ids[0]})
        before = session.execute(text(
            "SELECT id, kind, occurred_at FROM journal_entry ORDER BY id")).all()
    assert before  # the demo's sales and fund entries
    migrate.upgrade(db.engine)

    with db.read() as session:
        entries = session.execute(select(JournalEntry).order_by(JournalEntry.id)).scalars().all()
        event = session.get(Event, scenario.event_id)
        workshop = session.get(Workshop, scenario.workshop_ids[0])
        assert event is not None and workshop is not None
        assert [(e.id, e.kind) for e in entries] == [(r[0], r[1]) for r in before]
        assert all(e.business_date is None for e in entries)  # NULL: the day recorded
        assert all(business_day(e) for e in entries)
        assert (event.invoice_number, workshop.invoice_number) == (
            "T1000000000000", "T1000000000001")
    assert invoice_number_warning("T1000000000000") is not None  # flagged on the pages
    # Old rows stay editable as long as the number is not changed ...
    with db.write() as session:
        update_event(session, scenario.event_id, {"venue": "会館"})
        update_workshop(session, scenario.workshop_ids[0], {"craft": "漆"})
    # ... and the journal is still append-only.
    with pytest.raises(DBAPIError), db.write() as session:
        session.execute(text("UPDATE journal_entry SET business_date = '2026-01-01'"))
    migrate.downgrade(db.engine, "0019")
    migrate.upgrade(db.engine)
