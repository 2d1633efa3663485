"""The annual report for the committee's general meeting (収支報告書), from the ledger alone.

A small voluntary committee (任意団体) reports on a receipts-and-payments basis: the funds
(every asset account: desk cash, the bank, what the payment provider still owes) brought
forward, what came in and what went out in the fiscal period, and the funds carried
forward. Every journal entry that moves funds is split by its other postings: a sale
(cash 800, premium fund 200 / voucher liability 1,000) is 商品券販売 ¥1,000 in and
プレミアム分 ¥200 out; a payout (payable 10,000 / bank 9,750, fee income 250) is
換金払い ¥10,000 out and 換金手数料 ¥250 in. Entries between non-fund accounts only (a
redemption, an expiry, a booklet handed to a supporter) move no funds and are not lines.

Lines follow the account: its code for the accounts oflocal makes (:data:`FIXED`), a
code naming a subsidy or a sponsor, otherwise its class: an expense account is a
payment line of its own name, any other account a receipt line of its own name. So an
account added later (補助金収入, 振込手数料, …) appears where a reader expects it.

Two kinds of fund movement are neither receipts nor payments:

- the treasurer's opening balances (開始残高: last year's money in the bank or the cash
  box, against 前期繰越正味財産): they are in the trial balance's opening column, so the
  report counts them in 前期繰越金 (brought forward);
- money held for others (預り金, :data:`HELD`: an over-payment kept until it is given
  back): received and given back beside the receipts and payments (預り金の増減), and
  what is still held at the end is among the obligations, a liability. It is not the
  committee's income.

By construction 前期繰越金 + receipts − payments + the change in money held = 次期繰越金
(the funds at the end); the tests check that against the trial balance and against a
recount from the raw postings.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import IO, Any

from reportlab.lib.units import mm
from sqlalchemy import case, exists, func, not_, select
from sqlalchemy.orm import Session, aliased

from oflocal import clock
from oflocal.errors import Refusal
from oflocal.events.models import Event
from oflocal.format import ja_date, yen
from oflocal.ledger.journal import business_day_sql
from oflocal.ledger.models import Account, JournalEntry, Posting
from oflocal.ledger.verify import (
    ReversedEntry,
    TrialBalanceRow,
    is_opening_sql,
    normal_balance,
    trial_balance,
)
from oflocal.reports.pdfkit import MARGIN, PAGE_H, PAGE_W, Table, new_canvas, spooled, text

FUND_KIND = "asset"
# Liabilities whose movements are money held for someone else, not income or expense.
HELD = ("deposits_received",)
HELD_EN = "Money held for others"

# (key, section, label): the lines always shown, in this order.
INCOME_LINES = (
    ("booklet_sales", "商品券販売収入（額面） Booklet sales (face value)"),
    ("crowdfunding", "クラウドファンディング収入 Crowdfunding"),
    ("subsidy", "補助金収入 Subsidies"),
    ("sponsors", "協賛金収入 Sponsorship"),
    ("premium_fund_in", "プレミアム原資への受入 Paid into the premium fund"),
    ("fee_income", "換金手数料収入 Redemption fees"),
)
EXPENSE_LINES = (
    ("payouts", "換金払い（工房への支払・額面） Payouts to workshops (face value)"),
    ("premium", "プレミアム分（額面と販売価格の差） Premium spent"),
    ("fees", "支払手数料 Fees (payment provider, bank)"),
    ("expenses", "その他の経費 Other expenses"),
)


def line_of(code: str, kind: str, amount: int) -> tuple[str, str | None]:
    """(section ``in``/``out``, fixed line key or ``None`` for a line of the account's own
    name) of a posting to a non-fund account."""
    lowered = code.lower()
    if code.startswith("voucher_liability:"):
        return "in", "booklet_sales"
    if code in ("pledges_held", "crowdfunding_income"):
        return "in", "crowdfunding"
    if code == "premium_fund":  # paid in by subsidies and sponsors, drawn by every sale
        return ("out", "premium") if amount > 0 else ("in", "premium_fund_in")
    if code == "fee_income":
        return "in", "fee_income"
    if code.startswith("payable:"):
        return "out", "payouts"
    if "subsid" in lowered:
        return "in", "subsidy"
    if "sponsor" in lowered:
        return "in", "sponsors"
    if code == "other_expenses":  # 雑費 is what the その他の経費 line stands for
        return "out", "expenses"
    if kind == "expense":
        return "out", "fees" if "fee" in lowered else None
    return "in", None


@dataclass
class Line:
    key: str
    label: str
    amount: int  # receipts credit-positive, payments debit-positive


@dataclass
class AnnualReport:
    event_id: int
    event_name: str
    committee_name: str
    start: date
    end: date
    income: list[Line]
    expenditure: list[Line]
    brought_forward: int  # the funds at the start (資産 accounts' opening balances)
    carried_forward: int  # the funds at the end
    funds: list[Line]  # carried forward, per fund account
    obligations: list[Line]  # of the funds, what is owed: liabilities at the end
    equity: list[Line]  # 純資産 at the end (the premium fund)
    trial: list[TrialBalanceRow] = field(default_factory=list)
    # Money held for others received (+) and given back (−) in the period: not receipts
    # or payments (預り金の受入・返還).
    held: list[Line] = field(default_factory=list)

    @property
    def income_total(self) -> int:
        return sum(line.amount for line in self.income)

    @property
    def expenditure_total(self) -> int:
        return sum(line.amount for line in self.expenditure)

    @property
    def difference(self) -> int:
        """当期収支差額: receipts − payments."""
        return self.income_total - self.expenditure_total

    @property
    def held_change(self) -> int:
        """預り金の増減: money held for others, received − given back. The funds change
        by the difference and this."""
        return sum(line.amount for line in self.held)

    def as_dict(self) -> dict[str, Any]:
        def lines(items: list[Line]) -> list[dict[str, Any]]:
            return [{"key": x.key, "label": x.label, "amount": x.amount} for x in items]

        return {
            "event_id": self.event_id, "event_name": self.event_name,
            "committee_name": self.committee_name,
            "start": self.start.isoformat(), "end": self.end.isoformat(),
            "income": lines(self.income), "income_total": self.income_total,
            "expenditure": lines(self.expenditure),
            "expenditure_total": self.expenditure_total,
            "difference": self.difference, "held": lines(self.held),
            "held_change": self.held_change, "brought_forward": self.brought_forward,
            "carried_forward": self.carried_forward, "funds": lines(self.funds),
            "obligations": lines(self.obligations), "equity": lines(self.equity),
        }


def fiscal_year(day: date) -> tuple[date, date]:
    """The Japanese fiscal year (1 April – 31 March) that holds ``day``."""
    first = date(day.year if day.month >= 4 else day.year - 1, 4, 1)
    return first, date(first.year + 1, 3, 31)


def _flows(session: Session, event_id: int, start: date,
           end: date) -> list[tuple[str, str, str, int, int]]:
    """(code, name, kind, debits, credits) of the non-fund accounts, over the period's
    entries that move funds."""
    day = business_day_sql(session.get_bind().dialect.name)
    fund = aliased(Posting)
    fund_account = aliased(Account)
    moves_funds = exists().where(
        fund.entry_id == Posting.entry_id, fund_account.id == fund.account_id,
        fund_account.kind == FUND_KIND)
    debit = func.coalesce(func.sum(case((Posting.amount > 0, Posting.amount), else_=0)), 0)
    credit = func.coalesce(func.sum(case((Posting.amount < 0, -Posting.amount), else_=0)), 0)
    rows = session.execute(
        select(Account.code, Account.name, Account.kind, debit, credit)
        .join(Posting, Posting.account_id == Account.id)
        .join(JournalEntry, JournalEntry.id == Posting.entry_id)
        .outerjoin(ReversedEntry, ReversedEntry.id == JournalEntry.reverses_entry_id)
        .where(Account.event_id == event_id, Account.kind != FUND_KIND,
               JournalEntry.event_id == event_id,
               day >= start, day <= end,
               not_(is_opening_sql()),  # brought forward, not received (trial balance)
               moves_funds)
        .group_by(Account.id, Account.code, Account.name, Account.kind)
        .order_by(Account.code)
    ).all()
    return [(code, name, kind, int(d), int(c)) for code, name, kind, d, c in rows]


def annual_report(session: Session, event_id: int, start: date, end: date) -> AnnualReport:
    if end < start:
        raise Refusal("report.period_invalid", start=start.isoformat(), end=end.isoformat())
    event = session.get(Event, event_id)
    if event is None:
        raise Refusal("event.not_found")
    income = {key: Line(key, label, 0) for key, label in INCOME_LINES}
    expenditure = {key: Line(key, label, 0) for key, label in EXPENSE_LINES}
    held: list[Line] = []
    for code, name, kind, debits, credits in _flows(session, event_id, start, end):
        if code in HELD:  # held for others: beside the receipts and payments
            short = name.split(" ", 1)[0]
            held += [Line(f"{code}:in", f"{short}の受入 {HELD_EN} received", credits),
                     Line(f"{code}:out", f"{short}の返還 {HELD_EN} given back", -debits)]
            continue
        # the premium fund in both directions (paid in, drawn); any other account net
        parts = [debits, -credits] if code == "premium_fund" else [debits - credits]
        for amount in parts:
            if amount == 0:
                continue
            section, key = line_of(code, kind, amount)
            target = income if section == "in" else expenditure
            value = -amount if section == "in" else amount
            if key is None:
                key = code
                target.setdefault(key, Line(key, name, 0))
            target[key].amount += value
    trial = trial_balance(session, event_id, start, end)
    funds = [Line(r["account"], r["name"], r["closing"]) for r in trial if r["kind"] == FUND_KIND]
    return AnnualReport(
        event_id=event_id, event_name=event.name, committee_name=event.committee_name,
        start=start, end=end,
        income=list(income.values()), expenditure=list(expenditure.values()),
        brought_forward=sum(r["opening"] for r in trial if r["kind"] == FUND_KIND),
        carried_forward=sum(r["closing"] for r in trial if r["kind"] == FUND_KIND),
        funds=funds,
        obligations=_obligations(trial),
        equity=[Line(r["account"], r["name"], normal_balance(r))
                for r in trial if r["kind"] == "equity"],
        trial=trial,
        held=held,
    )


def _obligations(trial: list[TrialBalanceRow]) -> list[Line]:
    """Liabilities at the end, grouped: unused vouchers, unpaid payouts, the others."""
    groups: dict[str, Line] = {}
    for r in trial:
        if r["kind"] != "liability":
            continue
        if r["account"].startswith("voucher_liability:"):
            key, label = "vouchers", "商品券未使用残高 Unused vouchers"
        elif r["account"].startswith("payable:"):
            key, label = "payables", "工房への未払金 Owed to workshops"
        else:
            key, label = r["account"], r["name"]
        groups.setdefault(key, Line(key, label, 0)).amount += normal_balance(r)
    return list(groups.values())


# ------------------------------------------------------------------ PDF and XLSX

AUDIT_NOTE = "上記のとおり相違ないことを報告します。"


def annual_rows(r: AnnualReport) -> list[list[object]]:
    """The report as a table (科目, 金額, 備考): the header first; the XLSX sheet."""
    rows: list[list[object]] = [["科目 Item", "金額 Amount (¥)", "備考 Note"]]
    rows.append(["前期繰越金 Brought forward", r.brought_forward, ""])
    rows.append(["【収入の部 Receipts】", "", ""])
    rows += [[f"　{x.label}", x.amount, x.key] for x in r.income]
    rows.append(["収入合計 Total receipts", r.income_total, ""])
    rows.append(["【支出の部 Payments】", "", ""])
    rows += [[f"　{x.label}", x.amount, x.key] for x in r.expenditure]
    rows.append(["支出合計 Total payments", r.expenditure_total, ""])
    rows.append(["当期収支差額 Receipts − payments", r.difference, ""])
    if r.held:
        rows.append(["【預り金の増減（収入・支出ではない） Money held for others】", "", ""])
        rows += [[f"　{x.label}", x.amount, x.key] for x in r.held]
        rows.append(["預り金の増減 Change in money held", r.held_change, ""])
        rows.append(["次期繰越金 Carried forward", r.carried_forward,
                     "前期繰越金＋当期収支差額＋預り金の増減 brought forward + difference "
                     "+ money held"])
    else:
        rows.append(["次期繰越金 Carried forward", r.carried_forward,
                     "前期繰越金＋当期収支差額 brought forward + difference"])
    rows.append(["【次期繰越金の内訳 Funds carried forward】", "", ""])
    rows += [[f"　{x.label}", x.amount, x.key] for x in r.funds]
    rows.append(["【うち預り金・未払金 Of which owed (liabilities)】", "", ""])
    rows += [[f"　{x.label}", x.amount, x.key] for x in r.obligations]
    rows.append(["【純資産 Equity】", "", ""])
    rows += [[f"　{x.label}", x.amount, x.key] for x in r.equity]
    return rows


def write_annual_xlsx(out: IO[bytes], r: AnnualReport) -> None:
    from oflocal.reports.exports import write_xlsx

    write_xlsx(out, "収支報告書", annual_rows(r), (58, 16, 40), preamble=[
        ["収支報告書 Annual report", r.committee_name],
        ["期間 自 From", r.start, "至 To", r.end],
        [r.event_name],
        [],
    ])


def annual_xlsx(r: AnnualReport) -> Iterator[bytes]:
    return spooled(lambda out: write_annual_xlsx(out, r))


def write_annual_pdf(out: IO[bytes], r: AnnualReport, *, issued: date | None = None) -> None:
    canvas = new_canvas(out, f"収支報告書 {r.committee_name}")
    page = 1

    def new_page() -> float:
        nonlocal page
        text(canvas, PAGE_W - MARGIN, MARGIN - 6 * mm, str(page), 7, "right")
        canvas.showPage()
        page += 1
        return float(PAGE_H - MARGIN - 4 * mm)

    y = PAGE_H - MARGIN - 4 * mm
    text(canvas, PAGE_W / 2, y, "収支報告書", 18, "center")
    y -= 6 * mm
    text(canvas, PAGE_W / 2, y, "Annual report of receipts and payments", 9, "center")
    y -= 8 * mm
    text(canvas, MARGIN, y, r.committee_name, 11)
    text(canvas, PAGE_W - MARGIN, y,
         f"自 {ja_date(r.start)}　至 {ja_date(r.end)}", 10, "right")
    y -= 5 * mm
    text(canvas, MARGIN, y, r.event_name, 9)
    y -= 8 * mm
    columns = [("科目 Item", 130 * mm, "left"), ("金額 Amount", 44 * mm, "right")]

    def section(y: float, title: str, lines: list[Line], total: tuple[str, int] | None) -> float:
        if y < MARGIN + 30 * mm:  # a title with no room for its table starts a page
            y = new_page()
        text(canvas, MARGIN, y, title, 11)
        y -= 6 * mm
        table = Table(canvas, columns, new_page=new_page)
        y = table.rows(y, [[x.label, yen(x.amount)] for x in lines],
                       total=[total[0], yen(total[1])] if total else None)
        return float(y - 4 * mm)

    text(canvas, MARGIN, y, "前期繰越金 Brought forward", 11)
    text(canvas, MARGIN + 174 * mm, y, yen(r.brought_forward), 11, "right")
    y -= 9 * mm
    y = section(y, "収入の部 Receipts", r.income, ("収入合計 Total receipts", r.income_total))
    y = section(y, "支出の部 Payments", r.expenditure,
                ("支出合計 Total payments", r.expenditure_total))
    if r.held:
        y = section(y, "預り金の増減（収入・支出ではない） Money held for others", r.held,
                    ("預り金の増減 Change in money held", r.held_change))
    y = section(y, "収支 Balance", [
        Line("difference", "当期収支差額 Receipts − payments", r.difference),
        *([Line("held", "預り金の増減 Change in money held", r.held_change)] if r.held else []),
        Line("brought_forward", "前期繰越金 Brought forward", r.brought_forward),
    ], ("次期繰越金 Carried forward", r.carried_forward))
    if y < 90 * mm:
        y = new_page()
    y = section(y, "次期繰越金の内訳 Funds carried forward", r.funds,
                ("合計", sum(x.amount for x in r.funds)))
    y = section(y, "うち預り金・未払金 Of which owed", r.obligations,
                ("合計", sum(x.amount for x in r.obligations)))
    y = section(y, "純資産 Equity", r.equity, ("合計", sum(x.amount for x in r.equity)))
    if y < 50 * mm:
        y = new_page()
    text(canvas, MARGIN, y, AUDIT_NOTE, 10)
    y -= 8 * mm
    text(canvas, MARGIN, y, f"{ja_date(issued or clock.tokyo_date(clock.now()))}", 10)
    y -= 10 * mm
    text(canvas, MARGIN + 70 * mm, y, "会計　＿＿＿＿＿＿＿＿＿＿　印", 10)
    y -= 10 * mm
    text(canvas, MARGIN, y, "上記の収支報告書を監査した結果、適正であることを認めます。", 10)
    y -= 10 * mm
    text(canvas, MARGIN + 70 * mm, y, "監事　＿＿＿＿＿＿＿＿＿＿　印", 10)
    text(canvas, PAGE_W - MARGIN, MARGIN - 6 * mm, str(page), 7, "right")
    canvas.showPage()
    canvas.save()


def annual_pdf(r: AnnualReport) -> Iterator[bytes]:
    return spooled(lambda out: write_annual_pdf(out, r))
