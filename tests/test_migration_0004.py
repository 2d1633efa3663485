"""Migration 0004 (a redemption's period from its open period, not a stored period id)
keeps every redemption exactly where it was, both ways, on SQLite and PostgreSQL; 0005
gives paid periods their copy of the accounts paid to.

A history with two closed periods, a late arrival (redeemed before the first cut-off,
written after it), an undo and unsettled redemptions is taken down to 0003, where
0002's ``settlement_period_id`` must say the same thing, and up again.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from oflocal.db import migrate
from oflocal.db.engine import Database
from oflocal.settings import normalise_database_url
from oflocal.settlement.pay import mark_period_paid
from oflocal.vouchers.codes import CodeSigner
from oflocal.vouchers.redeem import undo_redemption
from test_settlement import bank_day, make_world, period_numbers

PG_URL = os.environ.get("OFLOCAL_TEST_POSTGRES_URL")


def _admin_url(url: str, database: str) -> str:
    base, _, _ = normalise_database_url(url).rpartition("/")
    return f"{base}/{database}"


@pytest.fixture(params=["sqlite", "postgres"])
def fresh_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A database of its own: this test moves the schema, others must not see that."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'migrate.db'}"
        name = None
    else:
        if PG_URL is None:
            pytest.skip("PostgreSQL tests need OFLOCAL_TEST_POSTGRES_URL (.ci/run sets it)")
        name = f"oflocal_mig_{uuid.uuid4().hex[:10]}"
        admin = create_engine(_admin_url(PG_URL, "postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = _admin_url(PG_URL, name)
    database = Database(url)
    migrate.upgrade(database.engine)
    yield database
    database.dispose()
    if name is not None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_0004_keeps_every_redemption_in_its_period_down_and_up(
    fresh_db: Database, signer: CodeSigner
) -> None:
    w = make_world(fresh_db, signer, workshops=3, booklets=6, sold=6)
    w.redeem(0, 2, minutes=0)
    w.redeem(1, 1, minutes=3)
    w.close(5)
    w.redeem(2, 1, minutes=4)  # before the first cut-off, written after it: period 2
    undone = w.redeem(0, 1, minutes=6)
    undo_redemption(fresh_db, workshop_id=w.sc.workshop_ids[0],
                    redemption_id=undone["redemption_id"], now=w.at(7))
    w.redeem(1, 2, minutes=8)
    second = w.close(10)
    mark_period_paid(fresh_db, period_id=second["period_id"], transfer_date=bank_day(w.at(10)),
                     actor="test")  # 0005 copies its accounts again on the way up
    w.redeem(2, 3, minutes=12)  # not settled yet
    before = period_numbers(fresh_db)
    assert sorted(before.values(), key=lambda n: (n is None, n or 0)) == [
        1, 1, 1, 2, 2, 2, None, None, None, None]
    w.assert_verified()

    migrate.downgrade(fresh_db.engine, "0003")
    with fresh_db.read() as s:
        stored = dict(s.execute(text(
            "SELECT r.id, sp.number FROM redemption r "
            "LEFT JOIN settlement_period sp ON sp.id = r.settlement_period_id")).all())
        columns = s.execute(text("SELECT * FROM redemption")).keys()
    assert stored == before
    assert "open_period" not in columns

    migrate.upgrade(fresh_db.engine)
    assert period_numbers(fresh_db) == before
    with fresh_db.read() as s:
        copied = s.execute(text(
            "SELECT c.workshop_id, c.amount, c.account_number, c.account_holder_kana,"
            " w.account_number, w.account_holder_kana, l.net FROM settlement_payment c"
            " JOIN workshop w ON w.id = c.workshop_id JOIN settlement_line l"
            " ON l.period_id = c.period_id AND l.workshop_id = c.workshop_id")).all()
        payer = s.execute(text(
            "SELECT p.number FROM settlement_payer c JOIN settlement_period p"
            " ON p.id = c.period_id")).scalars().all()
    # the two workshops paid in period 2, with their accounts as they are now
    assert sorted(r.workshop_id for r in copied) == sorted(w.sc.workshop_ids[1:3])
    assert all((r[1], r[2], r[3]) == (r[6], r[4], r[5]) for r in copied), copied
    assert payer == [2]
    with fresh_db.read() as s:
        assert s.execute(text("SELECT open_period FROM event")).scalar_one() == 3
    w.assert_verified()
    third = w.close(20)
    assert (third["number"], third["ticket_count"]) == (3, 3)
    w.assert_verified()
