"""`oflocal pledges import-bank FILE`: a bank's Zengin 振込入金通知 matched to pledges by
the reference typed before the sender's name and the amount; shown first, recorded
with --apply, never twice (both databases, click's runner in process)."""

from __future__ import annotations

from pathlib import Path

import zengin_statement_writer as zw
from sqlalchemy import select

from cf_staff_world import build
from oflocal.crowdfunding.models import Payment, Pledge
from oflocal.db.engine import Database


def test_a_zengin_deposit_notice_pays_the_pledges_it_names(
        run_cli, db: Database, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    w = build(db, slug="imp")
    first = w.pledge()
    second = w.pledge(email="b@example.jp")
    notice = zw.deposit_notice([(zw.Group(), [
        zw.Deposit(amount=first["total"], sender=f"{first['reference']} ｻﾄｳ ﾊﾅｺ", number=1),
        zw.Deposit(amount=second["total"] - 1, sender=f"{second['reference']} ｽｽﾞｷ", number=2),
        zw.Deposit(amount=3000, sender="ﾀﾅｶ ｲﾁﾛｳ", number=3),
    ])])
    statement = tmp_path / "nyukin.txt"
    statement.write_bytes(notice)

    shown = run_cli("pledges", "import-bank", str(statement), "--campaign", "hitsuji",
                "--event", "imp")
    assert shown.exit_code == 0, shown.output
    assert "3 transfer(s): 1 matched, 2 not" in shown.output
    assert "amount_mismatch" in shown.output and "unknown_reference" in shown.output
    assert "nothing recorded" in shown.output
    assert _paid(db) == []

    applied = run_cli("pledges", "import-bank", str(statement), "--campaign", "hitsuji",
                  "--event", "imp", "--apply")
    assert applied.exit_code == 0, applied.output
    assert "recorded 1 payment(s)" in applied.output
    assert _paid(db) == [(first["pledge_id"], first["total"], "bank")]

    again = run_cli("pledges", "import-bank", str(statement), "--campaign", "hitsuji",
                "--event", "imp", "--apply")
    assert "already_paid" in again.output and "recorded 0 payment(s)" in again.output
    assert _paid(db) == [(first["pledge_id"], first["total"], "bank")]
    with db.read() as session:
        states = dict(session.execute(select(Pledge.id, Pledge.state)).all())
    assert states[first["pledge_id"]] == "paid" and states[second["pledge_id"]] == "reserved"


def _paid(db: Database) -> list[tuple[int, int, str]]:
    with db.read() as session:
        return [tuple(r) for r in session.execute(  # type: ignore[misc]
            select(Payment.pledge_id, Payment.amount, Payment.source).order_by(Payment.id))]
