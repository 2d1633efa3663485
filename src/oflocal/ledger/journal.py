"""The only writer of the journal. Entries balance, are written once, never edited.

Every money movement in oflocal ends here: a service function (sale, redemption,
undo, payout, expiry, ...) decides *what* moves and calls :func:`post_entry` inside
its own transaction. Corrections are new entries made by :func:`reverse_entry`.

One hot path, a redemption on PostgreSQL, decides and posts in a single statement
(vouchers/redeem_sql.py); it writes its entry with :func:`entry_sql`, the same writer
in SQL: the same columns and the same closing-posting rule, which the database's
triggers check for both forms alike (the entry balances when its closing posting
arrives, nothing is added after it).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import Date, Table, func, insert, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from oflocal.clock import tokyo_date
from oflocal.ledger.models import JournalEntry, Posting
from oflocal.reports.sql import tokyo_day

# Core statements on the session's connection, compiled once: every sale and redemption
# posts here, and the ORM's bulk-insert machinery cost a third of a redemption's Python.
_entry = cast(Table, JournalEntry.__table__)
_posting = cast(Table, Posting.__table__)
_INSERT_ENTRY = insert(_entry).returning(_entry.c.id)
_INSERT_POSTINGS = insert(_posting)

Line = tuple[int, int]  # (account id, amount in yen: + debit, - credit)

ENTRY_KINDS = frozenset(
    {
        "sale",
        "redemption",
        "undo",
        "payout",
        "expiry",
        "funding",
        "pledge_paid",
        "campaign_success",
        "booklet_pickup",
        "payment_fee",
        "refund",
        "correction",
        "repayment",
        # The treasurer's own entries (oflocal/treasury)
        "cash_deposit",
        "account_transfer",
        "subsidy",
        "sponsorship",
        "other_receipt",
        "expense",
        "overpayment_refund",
        "opening_balance",
        "reversal",
    }
)
# A balance brought forward from last year (the treasurer's 開始残高): the trial balance
# shows it (and a reversal of it) in the opening column, the annual report as 前期繰越金.
OPENING_KIND = "opening_balance"


class UnbalancedEntry(ValueError):
    pass


def post_entry(
    session: Session,
    *,
    event_id: int,
    kind: str,
    lines: Sequence[Line],
    occurred_at: datetime,
    memo: str = "",
    actor: str = "",
    once_key: str | None = None,
    reverses_entry_id: int | None = None,
    business_date: date | None = None,
) -> int:
    """Write one balanced entry and return its id. Call inside a write transaction.

    ``occurred_at`` is when it is recorded; ``business_date`` the day the money moved in
    the books when that is another day (a payout: the bank's transfer date). Left out,
    the entry's business day is the Tokyo day of ``occurred_at`` (:func:`business_day`)."""
    if kind not in ENTRY_KINDS:
        raise ValueError(f"unknown entry kind {kind!r}")
    merged: dict[int, int] = {}
    for account_id, amount in lines:
        if type(amount) is not int:  # bool and float are not yen
            raise TypeError(f"amounts are integer yen, got {amount!r}")
        merged[account_id] = merged.get(account_id, 0) + amount
    postings = [(a, v) for a, v in merged.items() if v != 0]
    if len(postings) < 2 or sum(v for _, v in postings) != 0:
        raise UnbalancedEntry(f"{kind} entry does not balance: {postings}")
    session.flush()  # the caller's pending rows first, as the ORM's autoflush would
    conn = session.connection()
    entry_id = conn.execute(_INSERT_ENTRY, {
        "event_id": event_id, "kind": kind, "memo": memo[:300], "occurred_at": occurred_at,
        "once_key": once_key, "reverses_entry_id": reverses_entry_id, "actor": actor[:60],
        "business_date": business_date,
    }).scalar_one()
    last = len(postings) - 1
    conn.execute(
        _INSERT_POSTINGS,
        [
            {"entry_id": entry_id, "account_id": a, "amount": v, "closes_entry": i == last}
            for i, (a, v) in enumerate(postings)
        ],
    )
    return int(entry_id)


def business_day(entry: JournalEntry) -> date:
    """The entry's business date: its own, else the Tokyo day it was recorded."""
    return entry.business_date or tokyo_date(entry.occurred_at)


def business_day_sql(dialect: str) -> ColumnElement[Any]:
    """:func:`business_day` as SQL, for the reports that split by day (a payout clicked
    on 1 April for a 31 March transfer belongs to March)."""
    return func.coalesce(JournalEntry.business_date,
                         tokyo_day(JournalEntry.occurred_at, dialect), type_=Date)


def entry_sql(*, head: str, lines: str) -> str:
    """:func:`post_entry` as two CTEs, ``entry`` and ``postings``, of one PostgreSQL
    statement (its ``WITH`` list continues after them).

    ``head`` names a CTE of at most one row (event_id, kind, memo, occurred_at, actor):
    no row, no entry and no postings. ``lines`` names a CTE of (n, account_id, amount)
    with one line per account and no zero amounts; the line with the highest ``n``, alone,
    is the closing posting, written last. Balance and the closing order are checked by
    the database (the posting triggers); the kind is the caller's constant, one of
    :data:`ENTRY_KINDS` (the statement's tests check it)."""
    return f"""entry AS (
  INSERT INTO journal_entry (event_id, kind, memo, occurred_at, actor)
  SELECT event_id, kind, left(memo, 300), occurred_at, left(actor, 60) FROM {head}
  RETURNING id),
postings AS (
  INSERT INTO posting (entry_id, account_id, amount, closes_entry)
  SELECT entry.id, line.account_id, line.amount, line.n = max(line.n) OVER ()
  FROM entry CROSS JOIN {lines} AS line
  ORDER BY line.n)"""  # noqa: S608 (CTE names from code, never from input)


def reverse_entry(
    session: Session,
    entry_id: int,
    *,
    kind: str,
    occurred_at: datetime,
    memo: str = "",
    actor: str = "",
    business_date: date | None = None,
) -> int:
    """Post the mirror image of an entry; the schema allows one reversal per entry."""
    entry = session.get(JournalEntry, entry_id)
    if entry is None:
        raise LookupError(f"no journal entry {entry_id}")
    lines = session.execute(
        select(Posting.account_id, Posting.amount).where(Posting.entry_id == entry_id)
    ).all()
    return post_entry(
        session,
        event_id=entry.event_id,
        kind=kind,
        lines=[(account_id, -amount) for account_id, amount in lines],
        occurred_at=occurred_at,
        memo=memo or f"reversal of entry {entry_id}",
        actor=actor,
        reverses_entry_id=entry_id,
        business_date=business_date,
    )
