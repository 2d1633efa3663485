"""The settle commands and the issue-13 dates: the Zengin file plans the transfer,
``settle paid`` without a date pays on it (payouts booked on that day), and the first
PDF of a statement is its issue, the next one a reprint (再発行)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from oflocal import clock
from oflocal.db.engine import Database
from oflocal.ledger.models import JournalEntry
from oflocal.settlement.bank_days import next_bank_day
from oflocal.settlement.settings import RequesterData, set_requester
from oflocal.vouchers.codes import CodeSigner
from test_settlement import make_world
from test_settlement_documents import pdf_pages


def test_settle_commands_plan_pay_and_reprint(db: Database, signer: CodeSigner, tmp_path: Path,
                                              run_cli) -> None:  # type: ignore[no-untyped-def]
    w = make_world(db, signer)
    w.redeem(0, 2, minutes=0)
    w.redeem(1, 1, minutes=1)
    period = int(w.close(5)["period_id"])
    set_requester(db, event_id=w.sc.event_id, data=RequesterData(
        "1234567890", "ｼﾞﾂｺｳｲｲﾝｶｲ", "0001", "001", 1, "7654321"))

    no_date = run_cli("settle", "paid", "--period", str(period))
    assert no_date.exit_code == 2 and "settlement.transfer_date_missing" in no_date.stderr
    day = next_bank_day(clock.tokyo_date(clock.now()) + timedelta(days=2))
    made = run_cli("settle", "zengin", "--period", str(period), "--transfer-date",
                   day.isoformat(), "-o", str(tmp_path / "z.txt"))
    assert made.exit_code == 0, made.stderr
    listed = run_cli("settle", "list")
    assert f"planned {day.isoformat()}" in listed.stdout

    label = f"振込予定日：{day.year}年{day.month}月{day.day}日"
    for n in (1, 2):
        out = tmp_path / f"st{n}.pdf"
        printed = run_cli("settle", "statements", "--period", str(period), "--workshop", "W01",
                          "-o", str(out))
        assert printed.exit_code == 0, printed.stderr
        page = pdf_pages(out.read_bytes())[0]
        assert label in page
        assert ("再発行" in page) is (n == 2)

    paid = run_cli("settle", "paid", "--period", str(period))
    assert paid.exit_code == 0, paid.stderr
    assert f"paid {day.isoformat()}" in paid.stdout and "2 payout entries" in paid.stdout
    with db.read() as s:
        booked = s.execute(select(JournalEntry.business_date)
                           .where(JournalEntry.kind == "payout")).scalars().all()
    assert booked == [day, day]
    w.assert_verified()


def test_a_treasurer_voucher_is_booked_on_its_business_date(db: Database,
                                                            signer: CodeSigner) -> None:
    """The treasurer's own entries (treasury) carry their voucher's business date into the
    journal, and so does the reversing entry: the journal's 取引日 agrees with the
    vouchers."""
    from oflocal.treasury.entries import EntryRequest, record_entry, reverse_voucher

    w = make_world(db, signer)
    today = clock.tokyo_date(clock.now())
    day = today - timedelta(days=3)
    shown = record_entry(db, EntryRequest(event_id=w.sc.event_id, kind="cash_deposit",
                                          amount=10_000, business_date=day,
                                          description="受付の現金を入金"), actor="t")
    back = reverse_voucher(db, int(shown["id"]), reason="二重入力", actor="t",
                           business_date=today - timedelta(days=1))
    with db.read() as s:
        booked = dict(s.execute(select(JournalEntry.id, JournalEntry.business_date)
                                .where(JournalEntry.id.in_([shown["entry_id"],
                                                            back["entry_id"]]))).all())
    assert booked == {shown["entry_id"]: day, back["entry_id"]: today - timedelta(days=1)}
    w.assert_verified()
