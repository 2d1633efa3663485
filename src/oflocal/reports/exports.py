"""Ledger exports: the journal (every entry with its postings) and the trial balance,
as CSV (UTF-8 with BOM by default, Shift_JIS selectable) and XLSX.

Exports are generators: the journal is read with a server-side cursor in chunks and
written as it is read (CSV) or into a constant-memory workbook spooled to a temporary
file (XLSX), so memory stays bounded however long the journal is. ``progress`` is
called with the number of postings done after each chunk (the CLI shows a bar).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime
from typing import IO, Any

from sqlalchemy import func, select

from oflocal.clock import as_tokyo, now, tokyo_date
from oflocal.db.engine import Database
from oflocal.errors import Refusal
from oflocal.events.models import Event
from oflocal.ledger.models import Account, JournalEntry, Posting
from oflocal.ledger.verify import DEBIT_NORMAL, normal_balance, trial_balance
from oflocal.reports.csvout import encode_rows, text_cell
from oflocal.reports.journal_text import ActorNames, description_ja
from oflocal.reports.pdfkit import spooled

Progress = Callable[[int], None]

JOURNAL_HEADER = (
    "仕訳番号", "日時", "種類", "摘要", "担当", "勘定コード", "勘定科目", "借方", "貸方",
    "記録者ID", "記録時の摘要", "取引日",
)
TRIAL_HEADER = ("勘定コード", "勘定科目", "区分", "期首残高", "借方合計", "貸方合計", "期末残高")
KINDS_JA = {
    "sale": "販売",
    "redemption": "利用",
    "undo": "利用取消",
    "payout": "支払",
    "expiry": "失効",
    "funding": "入金",
    "pledge_paid": "支援金入金",
    "campaign_success": "目標達成",
    "booklet_pickup": "返礼冊子引渡",
    "payment_fee": "決済手数料",
    "refund": "返金",
    "correction": "訂正",
    "repayment": "工房からの返金受領",
    "cash_deposit": "現金預入",
    "account_transfer": "資金振替",
    "subsidy": "補助金受入",
    "sponsorship": "協賛金受入",
    "other_receipt": "その他入金",
    "expense": "経費支払",
    "overpayment_refund": "過入金返金",
    "opening_balance": "開始残高（前期繰越）",
    "reversal": "取消（反対仕訳）",
}
CHUNK = 5000


def check_event(db: Database, event_id: int) -> str:
    with db.read() as session:
        event = session.get(Event, event_id)
        if event is None:
            raise Refusal("event.not_found")
        return event.slug


def count_postings(db: Database, event_id: int) -> int:
    with db.read() as session:
        return int(
            session.execute(
                select(func.count())
                .select_from(Posting)
                .join(JournalEntry, JournalEntry.id == Posting.entry_id)
                .where(JournalEntry.event_id == event_id)
            ).scalar_one()
        )


def journal_rows(
    db: Database, event_id: int, progress: Progress | None = None
) -> Iterator[list[object]]:
    """One row per posting, entries in order; the header first. The time is a datetime
    in Tokyo (naive: what a spreadsheet shows); the CSV writes it as text. 取引日 is the
    entry's business date (a payout: the bank's transfer date), a date cell."""
    yield list(JOURNAL_HEADER)
    query = (
        select(
            JournalEntry.id,
            JournalEntry.occurred_at,
            JournalEntry.kind,
            JournalEntry.memo,
            JournalEntry.actor,
            Account.code,
            Account.name,
            Posting.amount,
            JournalEntry.business_date,
        )
        .join(Posting, Posting.entry_id == JournalEntry.id)
        .join(Account, Account.id == Posting.account_id)
        .where(JournalEntry.event_id == event_id)
        .order_by(JournalEntry.id, Posting.id)
        .execution_options(yield_per=CHUNK)
    )
    with db.read() as session:
        names = ActorNames(session, event_id)
        for chunk in session.execute(query).partitions():
            for entry_id, at, kind, memo, actor, code, name, amount, business in chunk:
                yield [
                    entry_id,
                    as_tokyo(at).replace(tzinfo=None, microsecond=0),
                    KINDS_JA.get(kind, kind),
                    text_cell(description_ja(kind, memo)),
                    text_cell(names.name(actor)),
                    code,
                    name,
                    amount if amount > 0 else "",
                    -amount if amount < 0 else "",
                    text_cell(actor),
                    text_cell(memo),
                    # the day the money moved (a payout: the transfer date); 日時 is
                    # when it was recorded (ledger.journal.business_day)
                    business or tokyo_date(at),
                ]
            if progress is not None:
                progress(len(chunk))


def _as_text(rows: Iterator[list[object]]) -> Iterator[list[object]]:
    """Dates and times as CSV text (``2026-12-07 10:30:00``, ``2026-12-07``)."""
    for row in rows:
        yield [v.strftime("%Y-%m-%d %H:%M:%S") if isinstance(v, datetime)
               else v.isoformat() if isinstance(v, date) else v for v in row]


def trial_rows(db: Database, event_id: int, start: date | None = None,
               end: date | None = None) -> list[list[object]]:
    """The trial balance for Tokyo days ``start``..``end``: per account the balance
    brought forward, the debit and credit totals of the period and the closing balance,
    balances on the class's normal side (資産・費用 debit, the others credit). Then the
    totals: debits = credits, and the debit-side balances = the credit-side ones."""
    with db.read() as session:
        rows = trial_balance(session, event_id, start, end)
    table: list[list[object]] = [list(TRIAL_HEADER)]
    table += [
        [r["account"], r["name"], r["kind_label"], normal_balance(r, "opening"), r["debit"],
         r["credit"], normal_balance(r)] for r in rows
    ]
    table.append(["合計 Total", "借方合計＝貸方合計 debits = credits", "", "",
                  sum(r["debit"] for r in rows), sum(r["credit"] for r in rows), ""])
    for label, side in (("借方残高計 Debit balances", True), ("貸方残高計 Credit balances", False)):
        mine = [r for r in rows if (r["kind"] in DEBIT_NORMAL) == side]
        table.append([label, "資産・費用 Assets, expenses" if side
                      else "負債・純資産・収益 Liabilities, equity, income", "",
                      sum(normal_balance(r, "opening") for r in mine), "", "",
                      sum(normal_balance(r) for r in mine)])
    return table


def trial_preamble(db: Database, event_id: int, start: date | None,
                   end: date | None) -> list[list[object]]:
    """The title rows of the XLSX trial balance: the event and the period, as dates."""
    with db.read() as session:
        event = session.get(Event, event_id)
        name = event.name if event is not None else ""
        first = start or session.execute(
            select(func.min(JournalEntry.occurred_at)).where(JournalEntry.event_id == event_id)
        ).scalar_one()
    if isinstance(first, datetime):
        first = as_tokyo(first).date()
    last = end or tokyo_date(now())
    return [["試算表 Trial balance", name], ["期間 自 From", first, "至 To", last], []]


def journal_csv(db: Database, event_id: int, encoding: str = "utf-8-sig",
                progress: Progress | None = None) -> Iterator[bytes]:
    return encode_rows(_as_text(journal_rows(db, event_id, progress)), encoding)


def trial_balance_csv(db: Database, event_id: int, encoding: str = "utf-8-sig",
                      start: date | None = None, end: date | None = None) -> Iterator[bytes]:
    return encode_rows(trial_rows(db, event_id, start, end), encoding)


def write_xlsx(out: IO[bytes], sheet: str, rows: Iterator[Sequence[object]] | list[list[object]],
               widths: Sequence[int], *, preamble: Sequence[Sequence[object]] = ()) -> None:
    """One sheet: ``preamble`` rows (a title, a period), then the header in bold and the
    rows. Integers are numbers with thousands separators; a datetime (an aware one in
    Tokyo time) or a date is an Excel date (``yyyy-mm-dd hh:mm:ss`` / ``yyyy-mm-dd``);
    the rest is text."""
    import xlsxwriter

    book = xlsxwriter.Workbook(out, {"constant_memory": True, "in_memory": False})
    bold = book.add_format({"bold": True, "bg_color": "#EEEEEE"})
    money = book.add_format({"num_format": "#,##0"})
    stamp = book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    day = book.add_format({"num_format": "yyyy-mm-dd"})
    page = book.add_worksheet(sheet)
    for col, width in enumerate(widths):
        page.set_column(col, col, width)

    def cell(row_number: int, col: int, value: object) -> None:
        if isinstance(value, datetime):
            shown = as_tokyo(value) if value.tzinfo is not None else value
            page.write_datetime(row_number, col, shown.replace(tzinfo=None), stamp)
        elif isinstance(value, date):
            page.write_datetime(row_number, col, datetime(value.year, value.month, value.day),
                                day)
        elif isinstance(value, int) and not isinstance(value, bool):
            page.write_number(row_number, col, value, money)
        else:
            page.write_string(row_number, col, _plain(value))

    offset = len(preamble)
    for row_number, row in enumerate(preamble):
        for col, value in enumerate(row):
            cell(row_number, col, value)
    for row_number, row in enumerate(rows):
        for col, value in enumerate(row):
            if row_number == 0:
                page.write_string(offset, col, str(value), bold)
            else:
                cell(offset + row_number, col, value)
    book.close()


def _plain(value: Any) -> str:
    text = "" if value is None else str(value)
    return text[1:] if text.startswith("'") else text  # xlsx cells are never formulas


def journal_xlsx(db: Database, event_id: int, progress: Progress | None = None) -> Iterator[bytes]:
    return spooled(
        lambda out: write_xlsx(out, "仕訳帳", journal_rows(db, event_id, progress),
                               (9, 20, 10, 40, 20, 24, 34, 12, 12, 14, 40))
    )


def trial_balance_xlsx(db: Database, event_id: int, start: date | None = None,
                       end: date | None = None) -> Iterator[bytes]:
    return spooled(
        lambda out: write_xlsx(out, "試算表", trial_rows(db, event_id, start, end),
                               (26, 40, 16, 14, 14, 14, 14),
                               preamble=trial_preamble(db, event_id, start, end))
    )
