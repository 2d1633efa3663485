"""Migration 0011: the crowdfunding tables as the models declare them, and the fees
account for events made before it; down and up again."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select

from oflocal.db import migrate
from oflocal.db.base import Base
from oflocal.db.engine import Database
from oflocal.demo import build_event
from oflocal.ledger.models import Account
from oflocal.vouchers.codes import CodeSigner
from test_migration_0004 import fresh_db

__all__ = ["fresh_db"]
TABLES = {"campaign", "reward", "pledge", "pledge_payment", "pledge_refund", "provider_event",
          "campaign_image"}


def test_0011_matches_the_models(fresh_db: Database) -> None:
    with fresh_db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}),
                                Base.metadata)
    ours = [d for d in diff if any(t in repr(d) for t in TABLES)]
    assert ours == []


def test_0011_gives_older_events_the_fees_account(fresh_db: Database) -> None:
    db = fresh_db
    migrate.downgrade(db.engine, "0010")
    with db.write() as session:
        event_id = build_event(session, CodeSigner(b"k" * 32), workshops=1, booklets=0).event_id
        session.flush()
        session.query(Account).filter(Account.code == "payment_fees").delete()  # as before 0011
    migrate.upgrade(db.engine)
    with db.read() as session:
        codes = session.execute(select(Account.code).where(Account.event_id == event_id)
                                ).scalars().all()
    assert codes.count("payment_fees") == 1
    migrate.downgrade(db.engine, "0010")
    migrate.upgrade(db.engine)
