"""Bank transfers found on the committee's statement, matched to pledges and recorded.

The statement's parser (Zengin 入出金取引明細 / 振込入金通知, or a bank's CSV: the
payments package) gives rows of (reference, amount, date, sender). Supporters type the
pledge's reference before their name, so the reference may also be found inside the
sender's text. :func:`plan_transfers` says, for each row, what it would do (nothing is
written); :func:`apply_matched_transfers` records the matched ones, each through
``payments.mark_paid`` in its own transaction. A pledge is paid at most once whatever
happens: importing the same statement again finds the pledges already paid.

A transfer is matched when its reference names a pledge of the campaign and its amount
is the pledge's total. Everything else is listed for the treasurer to look at (and mark
by hand from the pledges list if it is right): an unknown reference, an amount that
differs (a transfer fee taken off, two pledges paid in one transfer), a pledge already
paid, a second transfer for the same pledge in the same statement.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from oflocal import clock
from oflocal.crowdfunding.models import Pledge
from oflocal.crowdfunding.payments import mark_paid
from oflocal.crowdfunding.reserve import _luhn
from oflocal.db.engine import Database
from oflocal.errors import Refusal
from oflocal.payments import bank_statements
from oflocal.payments.bank_statements import StatementUnreadable

MATCHED = "matched"
UNMATCHED = ("unknown_reference", "amount_mismatch", "already_paid", "duplicate")
STATUS_NAMES = {
    "matched": ("照合OK", "matched"),
    "unknown_reference": ("受付番号が見つかりません", "no pledge with this reference"),
    "amount_mismatch": ("金額が一致しません", "the amount differs"),
    "already_paid": ("入金済みの支援です", "the pledge is already paid"),
    "duplicate": ("同じ支援への2件目の振込です", "a second transfer for the same pledge"),
}
_DIGITS = re.compile(r"\d{7,8}")


@dataclass(frozen=True)
class TransferRow:
    """One credit on the committee's account, as the statement's parser gives it."""

    reference: str | None
    amount: int
    date: date
    sender: str = ""


@dataclass(frozen=True)
class TransferMatch:
    row: TransferRow
    status: str  # "matched" or one of UNMATCHED
    pledge_id: int | None = None
    reference: str | None = None  # the pledge reference found
    supporter: str = ""
    expected: int | None = None  # the pledge's total


@dataclass(frozen=True)
class TransferApplied:
    match: TransferMatch
    recorded: bool
    accepted: bool = False  # False with recorded: a late payment, to be refunded
    refusal: str | None = None  # the code, when mark_paid refused


def _candidates(row: TransferRow) -> list[str]:
    """References the row may carry: its own field, then digit runs in the sender's text
    whose last digit checks (Luhn, as reserve.transfer_reference makes them)."""
    found = []
    for text in (row.reference or "", row.sender or ""):
        plain = re.sub(r"[\s\-‐−ー]", "", unicodedata.normalize("NFKC", text))
        for digits in _DIGITS.findall(plain) or ([plain] if plain.isdigit() else []):
            if str(_luhn(digits[:-1])) == digits[-1] and digits not in found:
                found.append(digits)
    return found


def plan_transfers(session: Session, campaign_id: int,
                   rows: Iterable[TransferRow]) -> list[TransferMatch]:
    """What each row would do, in the statement's order. Reads only."""
    rows = list(rows)
    wanted = {ref for row in rows for ref in _candidates(row)}
    pledges = {p.reference: p for p in session.execute(
        select(Pledge).where(Pledge.campaign_id == campaign_id, Pledge.reference.in_(wanted))
    ).scalars()} if wanted else {}
    seen: set[int] = set()
    plan = []
    for row in rows:
        pledge = next((pledges[r] for r in _candidates(row) if r in pledges), None)
        if pledge is None:
            plan.append(TransferMatch(row, "unknown_reference"))
            continue
        if pledge.paid_at is not None:
            status = "already_paid"
        elif pledge.id in seen:
            status = "duplicate"
        elif row.amount != pledge.total:
            status = "amount_mismatch"
        else:
            status = MATCHED
            seen.add(pledge.id)
        plan.append(TransferMatch(row, status, pledge_id=pledge.id, reference=pledge.reference,
                                  supporter=pledge.supporter_name, expected=pledge.total))
    return plan


def received_moment(day: date) -> datetime:
    """A statement gives the day only: noon in Tokyo that day, never after now."""
    return min(clock.start_of_tokyo_day(day) + timedelta(hours=12), clock.now())


def apply_matched_transfers(db: Database, campaign_id: int, rows: Sequence[TransferRow], *,
                            actor: str, now: datetime | None = None) -> list[TransferApplied]:
    """Record every matched row as the pledge's bank payment (payments.mark_paid: a late
    payment whose stock is gone is recorded and refunded). The plan is made again here,
    so rows shown a while ago cannot pay a pledge twice or pay the wrong amount."""
    with db.read() as session:
        plan = plan_transfers(session, campaign_id, rows)
    done = []
    for match in plan:
        if match.status != MATCHED or match.pledge_id is None:
            done.append(TransferApplied(match, recorded=False))
            continue
        try:
            outcome = mark_paid(db, match.pledge_id, source="bank", amount=match.row.amount,
                                actor=actor, received_at=received_moment(match.row.date),
                                now=now)
        except Refusal as refusal:
            done.append(TransferApplied(match, recorded=False, refusal=refusal.code))
            continue
        done.append(TransferApplied(match, recorded=True,
                                    accepted=bool(outcome.body["accepted"])))
    return done


# --------------------------------------------------------------- a plain CSV statement

_COLUMNS = {
    "date": ("date", "日付", "取引日", "入金日", "勘定日"),
    "amount": ("amount", "金額", "入金額", "入金金額", "お預り金額"),
    "reference": ("reference", "受付番号", "参照番号"),
    "sender": ("sender", "振込依頼人", "振込依頼人名", "依頼人名", "摘要", "お取引内容"),
}


def read_statement(filename: str, data: bytes) -> list[TransferRow]:
    """The credits of a statement file: a Zengin 入出金取引明細 or 振込入金通知 file, or a
    CSV: first a plain one with a header row (date, amount, sender and optionally the
    reference; Japanese headers too), else a bank's own CSV as the payments package
    reads it (``payments.bank_statements``). Debits are skipped."""
    if bank_statements.looks_like_zengin(data):
        return _rows(bank_statements.read_statement(data))
    try:
        return _read_plain_csv(filename, data)
    except Refusal as plain:
        try:
            return _rows(bank_statements.read_statement(data))
        except StatementUnreadable:
            raise plain from None


def _rows(statement: bank_statements.Statement) -> list[TransferRow]:
    # The reference is looked for in the sender's name (plan_transfers); a Zengin file
    # has no column of its own for it.
    return [TransferRow(None, t.amount, t.booked_on, t.sender)
            for t in statement.transfers if t.amount > 0]


def _read_plain_csv(filename: str, data: bytes) -> list[TransferRow]:
    import csv
    import io

    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp932", errors="replace")
    reader = csv.reader(io.StringIO(text))
    header = [unicodedata.normalize("NFKC", h).strip().lower() for h in next(reader, [])]
    where = {key: next((i for i, h in enumerate(header) if h in names), None)
             for key, names in _COLUMNS.items()}
    if where["date"] is None or where["amount"] is None:
        raise Refusal("request.invalid",
                      detail=f"{filename}: a header row with date (日付) and amount (金額)")
    rows = []
    for line, cells in enumerate(reader, 2):
        if not any(c.strip() for c in cells):
            continue

        def cell(key: str, cells: list[str] = cells) -> str:
            i = where[key]
            return cells[i].strip() if i is not None and i < len(cells) else ""

        raw = re.sub(r"[,¥￥円\s]", "", unicodedata.normalize("NFKC", cell("amount")))
        try:
            amount = int(raw) if raw else 0
            day = _day(cell("date"))
        except ValueError as error:
            raise Refusal("request.invalid", detail=f"{filename} line {line}: {error}") from None
        if amount > 0:
            rows.append(TransferRow(cell("reference") or None, amount, day, cell("sender")))
    return rows


def _day(text: str) -> date:
    found = re.fullmatch(r"(\d{4})\D(\d{1,2})\D(\d{1,2})\D?", unicodedata.normalize("NFKC", text))
    if found is None:
        raise ValueError(f"not a date: {text!r} (2026-05-01)")
    return date(int(found[1]), int(found[2]), int(found[3]))
