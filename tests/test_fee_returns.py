"""The invoice system on the statements of corrections after payment (issue 13), on
SQLite and PostgreSQL: the statement through which a moved ticket's fee is given back is
the committee's qualified return invoice for it (適格返還請求書: its number, the date of
the original sale, the date of the return, the amount for the 10 % rate and the tax on
it), and the statement of the workshop the ticket went to invoices the fee it is now
charged. Figures are worked out here: 5 % of ¥500 is ¥25; the tax in ¥x is the largest
t with 11 t ≤ x."""

from __future__ import annotations

import csv
import io
import re

from oflocal import clock
from oflocal.db.engine import Database
from oflocal.events.setup import update_event
from oflocal.format import ja_date
from oflocal.settlement.corrections import correct_redemption
from oflocal.settlement.models import SettlementPeriod
from oflocal.settlement.pay import mark_period_paid
from oflocal.settlement.queries import iter_statements
from oflocal.settlement.rules import FeeRule
from oflocal.settlement.settings import set_fee_rule
from oflocal.settlement.statements import statements_csv, statements_pdf
from oflocal.vouchers.codes import CodeSigner, grouped
from test_repayment_invoice import pdf_text
from test_settlement import bank_day, lines_of, make_world


def _tax(amount: int) -> int:
    return max(t for t in range(amount + 1) if 11 * t <= amount)


def test_the_statement_that_gives_a_fee_back_is_its_return_invoice(
        db: Database, signer: CodeSigner) -> None:
    w = make_world(db, signer)
    set_fee_rule(db, event_id=w.sc.event_id, rule=FeeRule("rate", 500, 0, "floor"))
    moved = [t["code"] for t in w.redeem(0, 3, minutes=0)["tickets"]]
    first = w.close(5)
    mark_period_paid(db, period_id=first["period_id"], transfer_date=bank_day(w.at(5)),
                     actor="t")
    # After payment: one ticket was W3's, one was not honoured. W1 has nothing pending,
    # so both are offset against its next payout.
    correct_redemption(db, ticket_code=moved[0], reason="別の工房の券", actor="t",
                       to_workshop_id=w.sc.workshop_ids[2], now=w.at(9))
    correct_redemption(db, ticket_code=moved[1], reason="利用されていない", actor="t",
                       now=w.at(10))
    w.redeem(0, 4, minutes=12)
    second = w.close(15)
    pid = second["period_id"]
    w1, w3 = w.sc.workshop_ids[0], w.sc.workshop_ids[2]
    lines = lines_of(db, pid)
    assert (lines[w1].face_total, lines[w1].adjustment, lines[w1].fee, lines[w1].net) == (
        2000, -950, 100, 950)
    assert (lines[w3].face_total, lines[w3].adjustment, lines[w3].net) == (0, 475, 475)
    with db.read() as s:
        found = s.get(SettlementPeriod, first["period_id"])
        assert found is not None
        sold_on = clock.tokyo_date(found.cutoff_at)  # the fee's sale: the first cut-off
        rows = list(csv.DictReader(io.StringIO(
            b"".join(statements_csv(iter_statements(s, pid))).decode("utf-8-sig"))))
        page, target = (pdf_text(b"".join(statements_pdf(iter_statements(s, pid, wid))))
                        for wid in (w1, w3))
    returned_on = [clock.tokyo_date(w.at(9)), clock.tokyo_date(w.at(10))]

    assert "適格返還請求書（換金手数料の返還）" in page
    assert "適格請求書・適格返還請求書を兼ねます" in page
    for code, day in zip(moved[:2], returned_on, strict=True):
        assert re.search(rf"{grouped(code)}（¥500）\s*{ja_date(sold_on)}\s*{ja_date(day)}\s*¥25",
                         page), page
    assert re.search(rf"10%対象 ¥50 ¥{_tax(50)}\r?\n", page), page
    assert re.search(rf"10%対象 ¥100 ¥{_tax(100)}\r?\n", page), page  # this period's fee
    w1_rows = [r for r in rows if r["工房コード"] == w.sc.workshop_codes[0]]
    returns = [r for r in w1_rows if r["区分"] == "手数料の返還"]
    assert [(int(r["金額"]), grouped(code) in r["内訳"]) for r, code in
            zip(returns, moved, strict=False)] == [(25, True), (25, True)]
    assert all(f"元の取引日 {sold_on.isoformat()}" in r["内訳"] for r in returns)
    assert [int(r["金額"]) for r in w1_rows if r["区分"] == "返還手数料の消費税"] == [_tax(50)]

    # W3 is paid face − fee for the ticket it got: charged the ¥25 fee, invoiced here.
    assert "適格請求書（換金手数料）" in target and "適格返還請求書（" not in target
    assert "うち訂正で移された券の手数料 ¥25" in target
    assert re.search(rf"10%対象 ¥25 ¥{_tax(25)}\r?\n", target), target
    taxed = [r for r in rows if r["工房コード"] == w.sc.workshop_codes[2]
             and r["区分"] == "手数料の消費税"]
    assert [int(r["金額"]) for r in taxed] == [_tax(25)]
    assert "うち訂正で移された券の手数料25円" in taxed[0]["内訳"]

    # Not registered: neither part, no tax or return rows.
    with db.write() as s:
        update_event(s, w.sc.event_id, {"invoice_number": None})
    with db.read() as s:
        plain = pdf_text(b"".join(statements_pdf(iter_statements(s, pid))))
        kinds = {r["区分"] for r in csv.DictReader(io.StringIO(b"".join(statements_csv(
            iter_statements(s, pid))).decode("utf-8-sig")))}
    assert "適格" not in plain and "10%対象" not in plain
    assert not kinds & {"手数料の返還", "返還手数料の消費税", "手数料の消費税"}
