"""Accounts, journal entries and postings. Postings are never updated or deleted.

Amounts are integer yen; a positive posting is a debit, a negative one a credit.
The last posting of an entry is marked ``closes_entry``; database triggers refuse it
unless the entry then sums to zero, and refuse any posting added after it.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from oflocal.db.base import Base, UTCDateTime


class Account(Base):
    __tablename__ = "account"
    __table_args__ = (
        UniqueConstraint("event_id", "code"),
        CheckConstraint(
            "kind IN ('asset', 'liability', 'equity', 'income', 'expense')", name="kind"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id"))
    code: Mapped[str] = mapped_column(String(60))  # e.g. cash, payable:W12, voucher_liability:P3
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(12))
    workshop_id: Mapped[int | None] = mapped_column(ForeignKey("workshop.id"))
    programme_id: Mapped[int | None] = mapped_column(ForeignKey("programme.id"))


class JournalEntry(Base):
    __tablename__ = "journal_entry"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    memo: Mapped[str] = mapped_column(String(300), default="")
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())  # when it was recorded
    # The day the money moved in the books (a payout: the bank's transfer date), when it
    # is not the Tokyo day of ``occurred_at``. NULL means that day (rows before 0020,
    # and the redemption hot path): read it with ``ledger.journal.business_day``.
    business_date: Mapped[date | None] = mapped_column(Date)
    # An entry that must happen at most once (e.g. expiry of a programme) names itself.
    once_key: Mapped[str | None] = mapped_column(String(120), unique=True)
    reverses_entry_id: Mapped[int | None] = mapped_column(
        ForeignKey("journal_entry.id"), unique=True
    )
    actor: Mapped[str] = mapped_column(String(60), default="")


class Posting(Base):
    __tablename__ = "posting"
    __table_args__ = (CheckConstraint("amount <> 0", name="nonzero"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("journal_entry.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    closes_entry: Mapped[bool] = mapped_column(Boolean, default=False)
