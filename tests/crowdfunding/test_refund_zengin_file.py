"""Bank refunds go out in a Zengin 総合振込 file (both databases): the refunds whose
supporters gave an account, read back by the independent reader of the published
layout (tests/settlement/zengin_reader.py); nothing to send is a clear refusal, a
refund already sent is never in a file again, and making the file changes nothing."""

from __future__ import annotations

import sys
from datetime import date, timedelta
from pathlib import Path

from cf_world import T0, build_world, pledge

from oflocal.crowdfunding.models import Refund
from oflocal.crowdfunding.payments import mark_paid
from oflocal.crowdfunding.refund_account import give_refund_account
from oflocal.crowdfunding.refund_transfers import refund_zengin_file
from oflocal.crowdfunding.refunds import mark_refund_sent
from oflocal.db.engine import Database
from oflocal.errors import Refusal

sys.path.insert(0, str(Path(__file__).parents[1] / "settlement"))
import zengin_reader

DAY = date.today() + timedelta(days=3)


def _late_refunds(db: Database) -> tuple[int, list[int]]:
    """Three bank-transfer pledges paid after their stock went to others: refunds due."""
    w = build_world(db, limit=3, per_supporter=None)
    first = [pledge(w, w.limited, email=f"s{i}@example.jp").body["pledge_id"] for i in range(3)]
    late = T0 + timedelta(days=8)
    for i in range(3):
        pledge(w, w.limited, email=f"t{i}@example.jp", now=late)
    for pledge_id in first:
        assert not mark_paid(db, pledge_id, source="bank", amount=5000, actor="staff:1",
                             now=late).body["accepted"]
    with db.read() as session:
        tokens = [r.account_token for r in session.query(Refund).order_by(Refund.id)]
        ids = [r.id for r in session.query(Refund).order_by(Refund.id)]
    for token, number in zip(tokens[:2], ("1234567", "7654321"), strict=True):
        assert token
        give_refund_account(db, token, bank_code="0005", branch_code="001", account_type=1,
                            account_number=number, holder_kana="ヤマダ タロウ")
    return w.campaign_id, ids


def test_the_file_carries_the_refunds_with_an_account(db: Database) -> None:
    campaign_id, ids = _late_refunds(db)
    with db.read() as session:
        data, in_file, total = refund_zengin_file(session, campaign_id, DAY)
    assert in_file == ids[:2] and total == 10_000  # the third gave no account yet
    read = zengin_reader.read(data)
    assert (read.count, read.total) == (2, 10_000)
    assert [(d.bank_code, d.account_number, d.amount, d.payee_name) for d in read.data] == [
        ("0005", "1234567", 5000, "ﾔﾏﾀﾞ ﾀﾛｳ"), ("0005", "7654321", 5000, "ﾔﾏﾀﾞ ﾀﾛｳ")]
    with db.read() as session:
        assert {r.state for r in session.query(Refund)} == {"requested"}  # nothing changed

    mark_refund_sent(db, ids[0], actor="staff:1")
    with db.read() as session:
        _, again, _ = refund_zengin_file(session, campaign_id, DAY)
    assert again == [ids[1]]  # sent once, never in a file again


def test_nothing_to_send_is_said(db: Database) -> None:
    w = build_world(db)
    with db.read() as session:
        try:
            refund_zengin_file(session, w.campaign_id, DAY)
        except Refusal as refusal:
            assert refusal.code == "refund.nothing_to_transfer"
        else:
            raise AssertionError("a file with no refund was made")


def test_the_command_writes_the_file(db: Database, tmp_path: Path,
                                     run_cli) -> None:  # type: ignore[no-untyped-def]
    campaign_id, _ = _late_refunds(db)
    out = tmp_path / "refunds.txt"
    ran = run_cli("refunds", "zengin", str(campaign_id), "--event", "demo",
                  "--date", DAY.isoformat(), "--output", str(out))
    assert ran.exit_code == 0, ran.output
    assert "2 refund(s), ¥10,000" in ran.output
    assert zengin_reader.read(out.read_bytes()).count == 2
