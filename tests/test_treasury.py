"""The treasurer's own entries and the bank reconciliation, on both databases: each
kind posts one balanced entry the auditor accepts; a voucher number is unique in its
event; a refused entry (bad receipt, bad account, future date) changes nothing; a
reversal is one mirror entry, once; the reconciliation's difference is the sum of the
unmatched items."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from oflocal import clock
from oflocal.audit import verify
from oflocal.db.engine import Database
from oflocal.errors import Refusal
from oflocal.idempotency.store import IdempotencyKey, run_once
from oflocal.ledger.models import JournalEntry, Posting
from oflocal.ledger.verify import trial_balance
from oflocal.reports.annual import annual_report, fiscal_year
from oflocal.reports.exports import journal_rows
from oflocal.treasury.bank import (
    bank_lines,
    list_reconciliations,
    reconciliation,
    record_reconciliation,
    set_ticks,
)
from oflocal.treasury.entries import (
    EntryRequest,
    list_entries,
    receipt_of,
    record_entry,
    reverse_voucher,
)
from oflocal.treasury.models import TreasuryAttachment, TreasuryEntry
from oflocal.treasury.receipts import MAX_BYTES, Receipt
from oflocal.vouchers.codes import CodeSigner
from treasury_world import PDF, TreasuryWorld, balance, make_treasury_world, png_bytes


@pytest.fixture
def world(db: Database, signer: CodeSigner) -> TreasuryWorld:
    return make_treasury_world(db, signer)


def today() -> date:
    return clock.tokyo_date(clock.now())


def req(w: TreasuryWorld, kind: str, amount: int, **kw: object) -> EntryRequest:
    return EntryRequest(event_id=w.event_id, kind=kind, amount=amount,
                        business_date=kw.pop("business_date", today()),  # type: ignore[arg-type]
                        description=str(kw.pop("description", "テスト")), **kw)  # type: ignore[arg-type]


def counts(db: Database) -> tuple[int, int, int, int]:
    with db.read() as session:
        return tuple(session.execute(select(func.count()).select_from(t)).scalar_one()
                     for t in (JournalEntry, Posting, TreasuryEntry, TreasuryAttachment))  # type: ignore[return-value]


CASES = [
    ("cash_deposit", {}, {"bank": +1, "cash": -1}),
    ("subsidy", {"credit": "premium_fund"}, {"bank": +1, "premium_fund": -1}),
    ("subsidy", {"credit": "subsidy_income", "debit": "cash"},
     {"cash": +1, "subsidy_income": -1}),
    ("sponsorship", {"credit": "sponsorship_income"}, {"bank": +1, "sponsorship_income": -1}),
    ("sponsorship", {"credit": "premium_fund"}, {"bank": +1, "premium_fund": -1}),
    ("expense", {"debit": "bank_fees"}, {"bank_fees": +1, "bank": -1}),
    ("expense", {"debit": "other_expenses", "credit": "cash"},
     {"other_expenses": +1, "cash": -1}),
    ("account_transfer", {"debit": "cash", "credit": "bank"}, {"cash": +1, "bank": -1}),
    ("other_receipt", {"credit": "deposits_received"}, {"bank": +1, "deposits_received": -1}),
    ("overpayment_refund", {}, {"deposits_received": +1, "bank": -1}),
]


@pytest.mark.parametrize(("kind", "accounts", "moves"), CASES)
def test_each_kind_posts_one_balanced_entry(world: TreasuryWorld, kind: str,
                                            accounts: dict[str, str],
                                            moves: dict[str, int]) -> None:
    before = {code: balance(world.db, world.event_id, code) for code in moves}
    shown = record_entry(world.db, req(world, kind, 12_345, counterparty="高岡市",
                                       **accounts), actor="staff:1")
    after = {code: balance(world.db, world.event_id, code) for code in moves}
    assert {c: after[c] - before[c] for c in moves} == {c: s * 12_345 for c, s in moves.items()}
    with world.db.read() as session:
        entry = session.get(JournalEntry, shown["entry_id"])
        assert entry is not None and entry.kind == kind
        assert entry.memo.startswith(f"伝票{shown['voucher_no']} ")
        amounts = sorted(session.execute(select(Posting.amount).where(
            Posting.entry_id == entry.id)).scalars())
        assert amounts == [-12_345, 12_345]
        report = verify(session)
    assert report.ok, report.failures
    assert shown["business_date"] == today().isoformat() and shown["voucher_no"] == "0001"


def test_voucher_numbers_are_given_or_assigned_and_unique(world: TreasuryWorld) -> None:
    first = record_entry(world.db, req(world, "cash_deposit", 100), actor="t")
    given = record_entry(world.db, req(world, "cash_deposit", 100, voucher_no="R-7"), actor="t")
    numbered = record_entry(world.db, req(world, "cash_deposit", 100, voucher_no="0005"),
                            actor="t")
    after = record_entry(world.db, req(world, "cash_deposit", 100), actor="t")
    assert [first["voucher_no"], given["voucher_no"], numbered["voucher_no"],
            after["voucher_no"]] == ["0001", "R-7", "0005", "0006"]
    before = counts(world.db)
    with pytest.raises(Refusal) as taken:
        record_entry(world.db, req(world, "cash_deposit", 100, voucher_no="R-7"), actor="t")
    assert taken.value.code == "treasury.voucher_no_taken"
    with pytest.raises(Refusal) as bad:
        record_entry(world.db, req(world, "cash_deposit", 100, voucher_no="伝票1"), actor="t")
    assert bad.value.code == "treasury.voucher_no_invalid"
    assert counts(world.db) == before


@pytest.mark.parametrize(("change", "code"), [
    ({"kind": "subsidy", "credit": "fee_income"}, "treasury.account_not_allowed"),
    ({"kind": "subsidy"}, "treasury.account_not_allowed"),  # the committee must choose
    ({"kind": "account_transfer", "debit": "bank", "credit": "bank"},
     "treasury.account_not_allowed"),
    ({"kind": "gift"}, "treasury.kind_unknown"),
    ({"amount": 0}, "treasury.amount_invalid"),
    ({"amount": -5}, "treasury.amount_invalid"),
    ({"description": "　 "}, "treasury.description_missing"),
    ({"business_date": date.today() + timedelta(days=2)}, "treasury.date_invalid"),
])
def test_refused_entries_change_nothing(world: TreasuryWorld, change: dict[str, object],
                                        code: str) -> None:
    before = counts(world.db)
    fields: dict[str, object] = {"kind": "cash_deposit", "amount": 500, **change}
    kind, amount = fields.pop("kind"), fields.pop("amount")
    with pytest.raises(Refusal) as refused:
        record_entry(world.db, req(world, str(kind), amount, **fields),  # type: ignore[arg-type]
                     actor="t")
    assert refused.value.code == code
    assert counts(world.db) == before


def test_a_receipt_is_kept_as_uploaded(world: TreasuryWorld) -> None:
    png = png_bytes()
    shown = record_entry(world.db, req(world, "expense", 440, debit="bank_fees"), actor="t",
                         receipt=Receipt("C:\\scans\\振込手数料.PNG", png))
    assert shown["attachment"]["content_type"] == "image/png"
    assert shown["attachment"]["filename"] == "振込手数料.png"
    pdf = record_entry(world.db, req(world, "expense", 1_000, debit="other_expenses"),
                       actor="t", receipt=Receipt("receipt.pdf", PDF))
    with world.db.read() as session:
        assert receipt_of(session, shown["id"]).data == png
        assert receipt_of(session, pdf["id"]).data == PDF
        assert receipt_of(session, pdf["id"]).content_type == "application/pdf"


@pytest.mark.parametrize(("raw", "code"), [
    (b"GIF89a" + b"\x00" * 40, "receipt.wrong_type"),
    (b"<html><script>alert(1)</script></html>", "receipt.wrong_type"),
    (b"%PDF-1.4\n1 0 obj", "receipt.unreadable"),  # cut off: no %%EOF
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "receipt.unreadable"),
    (b"%PDF-1.4\n" + b"0" * MAX_BYTES + b"%%EOF", "receipt.too_large"),
])
def test_a_bad_receipt_is_refused_and_changes_nothing(world: TreasuryWorld, raw: bytes,
                                                      code: str) -> None:
    before = counts(world.db)
    bank = balance(world.db, world.event_id, "bank")
    with pytest.raises(Refusal) as refused:
        record_entry(world.db, req(world, "cash_deposit", 1_000), actor="t",
                     receipt=Receipt("receipt.pdf", raw))
    assert refused.value.code == code
    assert counts(world.db) == before
    assert balance(world.db, world.event_id, "bank") == bank


def test_a_retry_with_the_same_key_posts_once(world: TreasuryWorld) -> None:
    request = req(world, "subsidy", 300_000, credit="premium_fund", counterparty="高岡市")
    idem = IdempotencyKey("staff:1", "k-1", "h")

    def work(_session: object) -> dict[str, object]:
        return record_entry(world.db, request, actor="staff:1")

    first = run_once(world.db, idem, work)  # type: ignore[arg-type]
    again = run_once(world.db, idem, work)  # type: ignore[arg-type]
    assert again.replayed and again.body == first.body
    with world.db.read() as session:
        assert len(list_entries(session, world.event_id)) == 1


def test_a_reversal_is_one_mirror_entry_and_only_once(world: TreasuryWorld) -> None:
    cash, bank = (balance(world.db, world.event_id, c) for c in ("cash", "bank"))
    original = record_entry(world.db, req(world, "cash_deposit", 7_000), actor="t")
    reversal = reverse_voucher(world.db, original["id"], reason="二重に入力", actor="t")
    assert reversal["kind"] == "reversal" and reversal["reverses_id"] == original["id"]
    assert (reversal["debit_account"], reversal["credit_account"]) == ("cash", "bank")
    assert (balance(world.db, world.event_id, "cash"),
            balance(world.db, world.event_id, "bank")) == (cash, bank)
    with world.db.read() as session:
        entry = session.get(JournalEntry, reversal["entry_id"])
        assert entry is not None and entry.reverses_entry_id == original["entry_id"]
        shown = {v["id"]: v for v in list_entries(session, world.event_id)}
        assert shown[original["id"]]["reversed_by_voucher_no"] == reversal["voucher_no"]
        assert verify(session).ok
    # the journal's 摘要 and the memo as recorded are Japanese only
    assert reversal["description"] == f"{original['voucher_no']}の取消: 二重に入力"
    header, *rows = journal_rows(world.db, world.event_id)
    said = {row[header.index(col)] for row in rows if row[0] == reversal["entry_id"]
            for col in ("摘要", "記録時の摘要")}
    assert said == {f"伝票{reversal['voucher_no']} 取消（反対仕訳）: "
                    f"{original['voucher_no']}の取消: 二重に入力"}
    before = counts(world.db)
    with pytest.raises(Refusal) as twice:
        reverse_voucher(world.db, original["id"], reason="もう一度", actor="t")
    assert twice.value.code == "treasury.already_reversed"
    with pytest.raises(Refusal) as of_reversal:
        reverse_voucher(world.db, reversal["id"], reason="取消の取消", actor="t")
    assert of_reversal.value.code == "treasury.reversal_final"
    with pytest.raises(Refusal) as no_reason:
        reverse_voucher(world.db, original["id"], reason=" ", actor="t")
    assert no_reason.value.code == "treasury.reason_missing"
    assert counts(world.db) == before


def test_a_reversal_is_not_dated_before_its_voucher(world: TreasuryWorld) -> None:
    day = today() - timedelta(days=3)
    original = record_entry(world.db, req(world, "cash_deposit", 900, business_date=day),
                            actor="t")
    before = counts(world.db)
    with pytest.raises(Refusal) as early:
        reverse_voucher(world.db, original["id"], reason="誤り", actor="t",
                        business_date=day - timedelta(days=1))
    assert early.value.code == "treasury.reversal_before_original"
    assert day.isoformat() in early.value.message("en") or str(day.day) in \
        early.value.message("ja")
    assert counts(world.db) == before
    same_day = reverse_voucher(world.db, original["id"], reason="誤り", actor="t",
                               business_date=day)
    assert same_day["business_date"] == day.isoformat()


def test_vouchers_are_never_edited_or_deleted(world: TreasuryWorld) -> None:
    shown = record_entry(world.db, req(world, "cash_deposit", 100), actor="t",
                         receipt=Receipt("r.png", png_bytes()))
    for sql in (f"UPDATE treasury_entry SET amount = 1 WHERE id = {shown['id']}",
                f"DELETE FROM treasury_entry WHERE id = {shown['id']}",
                "UPDATE treasury_attachment SET filename = 'x.png'",
                "DELETE FROM treasury_attachment",
                f"UPDATE posting SET amount = 1 WHERE entry_id = {shown['entry_id']}"):
        with pytest.raises((IntegrityError, DBAPIError)), world.db.write() as session:
            session.execute(text(sql))


def test_reconciliation_difference_is_the_sum_of_unmatched_items(
        world: TreasuryWorld) -> None:
    day = today()
    record_entry(world.db, req(world, "cash_deposit", 20_000,
                               business_date=day - timedelta(days=3)), actor="t")
    record_entry(world.db, req(world, "sponsorship", 50_000, credit="sponsorship_income",
                               business_date=day - timedelta(days=2)), actor="t")
    fee = record_entry(world.db, req(world, "expense", 660, debit="bank_fees",
                                     business_date=day - timedelta(days=1)), actor="t")
    late = record_entry(world.db, req(world, "subsidy", 100_000, credit="premium_fund"),
                        actor="t")
    with world.db.read() as session:
        lines = bank_lines(session, world.event_id)
    ledger = balance(world.db, world.event_id, "bank")
    assert sum(line.amount for line in lines) == ledger
    # The passbook shows everything but the fee and today's subsidy.
    fee_line = next(ln for ln in lines if ln.voucher_no == fee["voucher_no"])
    late_line = next(ln for ln in lines if ln.voucher_no == late["voucher_no"])
    seen = [ln.posting_id for ln in lines if ln not in (fee_line, late_line)]
    set_ticks(world.db, world.event_id, seen, seen=True, actor="t")
    set_ticks(world.db, world.event_id, seen[:1], seen=True, actor="t")  # twice is once
    passbook = sum(ln.amount for ln in lines if ln.posting_id in seen)
    with world.db.read() as session:
        shown = reconciliation(session, world.event_id, day, passbook)
        # As of yesterday: the deposit and the sponsorship were seen, the fee was not;
        # the booklet sold by transfer and the subsidy are today's.
        yesterday = reconciliation(session, world.event_id, day - timedelta(days=1), 70_000)
    assert shown["ledger_balance"] == ledger
    assert shown["difference"] == ledger - passbook == shown["unmatched_total"]
    assert shown["unmatched_total"] == fee_line.amount + late_line.amount == 100_000 - 660
    assert shown["unexplained"] == 0
    # 摘要 in Japanese, as in the journal export: the booklet sold by transfer too
    described = [ln["description"] for ln in shown["lines"]]
    assert any(d.startswith("冊子1冊の販売") for d in described), described
    assert not any("booklet(s)" in d for d in described), described
    assert {u["posting_id"] for u in shown["unmatched"]} == {fee_line.posting_id,
                                                             late_line.posting_id}
    assert yesterday["ledger_balance"] == 20_000 + 50_000 - 660
    assert yesterday["unmatched_total"] == -660 == yesterday["difference"]
    # A passbook line the books lack (interest of ¥3) is left unexplained.
    with world.db.read() as session:
        with_interest = reconciliation(session, world.event_id, day, passbook + 3)
    assert with_interest["unexplained"] == -3
    # Unticking a line the passbook did show (the ¥20,000 deposit) puts it back among
    # the unmatched, and the difference no longer adds up; the record keeps it as shown.
    set_ticks(world.db, world.event_id, seen[:1], seen=False, actor="t")
    kept = record_reconciliation(world.db, world.event_id, as_of=day,
                                 passbook_balance=passbook, actor="staff:1", note="月末")
    assert kept["unmatched_count"] == 3 and kept["unmatched_total"] == 100_000 - 660 + 20_000
    assert kept["difference"] == kept["ledger_balance"] - passbook == 100_000 - 660
    assert kept["unexplained"] == -20_000
    with world.db.read() as session:
        assert [r["id"] for r in list_reconciliations(session, world.event_id)] == [kept["id"]]
        assert verify(session).ok


def test_ticks_only_take_lines_of_the_bank_account(world: TreasuryWorld) -> None:
    with world.db.read() as session:
        cash_posting = session.execute(text(
            "SELECT p.id FROM posting p JOIN account a ON a.id = p.account_id "
            "WHERE a.code = 'cash' LIMIT 1")).scalar_one()
    with pytest.raises(Refusal) as refused:
        set_ticks(world.db, world.event_id, [cash_posting], seen=True, actor="t")
    assert refused.value.code == "bank.posting_not_found"
    with pytest.raises(Refusal) as future, world.db.read() as session:
        reconciliation(session, world.event_id, today() + timedelta(days=1), 0)
    assert future.value.code == "treasury.date_invalid"


def test_at_the_same_moment_numbers_stay_unique_and_a_reversal_happens_once(
        world: TreasuryWorld) -> None:
    """Four vouchers posted at once get four numbers; two reversals of one voucher sent
    at once: one posts, the other is refused as already reversed (not a server error)."""
    start = threading.Barrier(4)

    def post(_n: int) -> str:
        start.wait()
        return str(record_entry(world.db, req(world, "cash_deposit", 100), actor="t")[
            "voucher_no"])

    with ThreadPoolExecutor(4) as pool:
        numbers = list(pool.map(post, range(4)))
    assert sorted(numbers) == ["0001", "0002", "0003", "0004"]
    with world.db.read() as session:
        target = list_entries(session, world.event_id)[0]["id"]
    both = threading.Barrier(2)

    def reverse(n: int) -> str:
        both.wait()
        try:
            reverse_voucher(world.db, target, reason=f"誤り{n}", actor="t")
        except Refusal as refusal:
            return refusal.code
        return "reversed"

    with ThreadPoolExecutor(2) as pool:
        outcomes = sorted(pool.map(reverse, range(2)))
    assert outcomes == ["reversed", "treasury.already_reversed"]
    with world.db.read() as session:
        assert verify(session).ok


def test_the_annual_report_places_the_vouchers(world: TreasuryWorld) -> None:
    """What the treasurer records lands in the general meeting's report (収支報告書) by
    account: a subsidy as income, sponsors' money paid into the premium fund, a bank
    charge as a fee; a deposit of desk cash moves no funds and makes no line."""
    before_start, before_end = fiscal_year(today())
    with world.db.read() as session:
        before = annual_report(session, world.event_id, before_start, before_end)
    record_entry(world.db, req(world, "subsidy", 50_000, credit="subsidy_income"), actor="t")
    record_entry(world.db, req(world, "sponsorship", 30_000, credit="premium_fund"), actor="t")
    record_entry(world.db, req(world, "expense", 660, debit="bank_fees"), actor="t")
    record_entry(world.db, req(world, "cash_deposit", 10_000), actor="t")
    with world.db.read() as session:
        report = annual_report(session, world.event_id, before_start, before_end)
        trial = trial_balance(session, world.event_id, before_start, before_end)
    income = {x.key: x.amount for x in report.income}
    old_income = {x.key: x.amount for x in before.income}
    spent = {x.key: x.amount for x in report.expenditure}
    old_spent = {x.key: x.amount for x in before.expenditure}
    assert income["subsidy"] - old_income.get("subsidy", 0) == 50_000
    assert income["premium_fund_in"] - old_income.get("premium_fund_in", 0) == 30_000
    assert spent["fees"] - old_spent.get("fees", 0) == 660
    assert report.difference - before.difference == 50_000 + 30_000 - 660
    assert report.carried_forward == sum(r["closing"] for r in trial if r["kind"] == "asset")
