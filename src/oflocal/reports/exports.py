"""Ledger exports: the journal (every entry with its postings) and the trial balance,
as CSV (UTF-8 with BOM by default, Shift_JIS selectable) and XLSX.

Exports are generators: the journal is read with a server-side cursor in chunks and
written as it is read (CSV) or into a constant-memory workbook spooled to a temporary
file (XLSX), so memory stays bounded however long the journal is. ``progress`` is
called with the number of postings done after each chunk (the CLI shows a bar).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import IO, Any

from sqlalchemy import func, select

from oflocal.clock import as_tokyo
from oflocal.db.engine import Database
from oflocal.errors import Refusal
from oflocal.events.models import Event
from oflocal.ledger.models import Account, JournalEntry, Posting
from oflocal.ledger.verify import trial_balance
from oflocal.reports.csvout import encode_rows, text_cell
from oflocal.reports.pdfkit import spooled

Progress = Callable[[int], None]

JOURNAL_HEADER = (
    "仕訳番号", "日時", "種類", "摘要", "担当", "勘定コード", "勘定科目", "借方", "貸方",
)
TRIAL_HEADER = ("勘定コード", "勘定科目", "区分", "借方", "貸方", "残高")
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
    "refund": "返金",
    "correction": "訂正",
    "cash_deposit": "現金預入",
    "account_transfer": "資金振替",
    "subsidy": "補助金受入",
    "sponsorship": "協賛金受入",
    "other_receipt": "その他入金",
    "expense": "経費支払",
    "overpayment_refund": "過入金返金",
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
    """One row per posting, entries in order; the header first."""
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
        )
        .join(Posting, Posting.entry_id == JournalEntry.id)
        .join(Account, Account.id == Posting.account_id)
        .where(JournalEntry.event_id == event_id)
        .order_by(JournalEntry.id, Posting.id)
        .execution_options(yield_per=CHUNK)
    )
    with db.read() as session:
        for chunk in session.execute(query).partitions():
            for entry_id, at, kind, memo, actor, code, name, amount in chunk:
                yield [
                    entry_id,
                    as_tokyo(at).strftime("%Y-%m-%d %H:%M:%S"),
                    KINDS_JA.get(kind, kind),
                    text_cell(memo),
                    actor,
                    code,
                    name,
                    amount if amount > 0 else "",
                    -amount if amount < 0 else "",
                ]
            if progress is not None:
                progress(len(chunk))


def trial_rows(db: Database, event_id: int) -> list[list[object]]:
    with db.read() as session:
        rows = trial_balance(session, event_id)
    table: list[list[object]] = [list(TRIAL_HEADER)]
    table += [
        [r["account"], r["name"], r["kind"], r["debit"], r["credit"], r["balance"]] for r in rows
    ]
    table.append(
        ["合計", "", "", sum(r["debit"] for r in rows), sum(r["credit"] for r in rows),
         sum(r["balance"] for r in rows)]
    )
    return table


def journal_csv(db: Database, event_id: int, encoding: str = "utf-8-sig",
                progress: Progress | None = None) -> Iterator[bytes]:
    return encode_rows(journal_rows(db, event_id, progress), encoding)


def trial_balance_csv(db: Database, event_id: int, encoding: str = "utf-8-sig") -> Iterator[bytes]:
    return encode_rows(trial_rows(db, event_id), encoding)


def write_xlsx(out: IO[bytes], sheet: str, rows: Iterator[Sequence[object]] | list[list[object]],
                widths: Sequence[int]) -> None:
    import xlsxwriter

    book = xlsxwriter.Workbook(out, {"constant_memory": True, "in_memory": False})
    bold = book.add_format({"bold": True, "bg_color": "#EEEEEE"})
    money = book.add_format({"num_format": "#,##0"})
    page = book.add_worksheet(sheet)
    for col, width in enumerate(widths):
        page.set_column(col, col, width)
    for row_number, row in enumerate(rows):
        for col, value in enumerate(row):
            if row_number == 0:
                page.write_string(row_number, col, str(value), bold)
            elif isinstance(value, int) and not isinstance(value, bool):
                page.write_number(row_number, col, value, money)
            else:
                page.write_string(row_number, col, _plain(value))
    book.close()


def _plain(value: Any) -> str:
    text = "" if value is None else str(value)
    return text[1:] if text.startswith("'") else text  # xlsx cells are never formulas


def journal_xlsx(db: Database, event_id: int, progress: Progress | None = None) -> Iterator[bytes]:
    return spooled(
        lambda out: write_xlsx(out, "仕訳帳", journal_rows(db, event_id, progress),
                                (9, 20, 10, 40, 16, 24, 34, 12, 12))
    )


def trial_balance_xlsx(db: Database, event_id: int) -> Iterator[bytes]:
    return spooled(
        lambda out: write_xlsx(out, "試算表", trial_rows(db, event_id), (24, 40, 10, 14, 14, 14))
    )
