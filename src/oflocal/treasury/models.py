"""The treasurer's vouchers (会計伝票), their receipts, and the bank reconciliation.

A :class:`TreasuryEntry` is one voucher: what happened in words a treasurer uses (a
cash deposit, a subsidy received, an expense paid, ...), on which business day, under
which voucher number, and the one balanced journal entry it posted. Like the journal,
vouchers and receipts are never updated or deleted (database triggers, migration 0019);
a mistake is put right by a reversing voucher (``reverses_id``, at most one per voucher).

:class:`BankTick` marks a posting on the bank account as seen in the passbook; a tick
may be taken back (it is the treasurer's working mark, not money). A
:class:`BankReconciliation` is the record of one comparison with the passbook.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, deferred, mapped_column

from oflocal.db.base import Base, UTCDateTime

ENTRY_KINDS = ("cash_deposit", "account_transfer", "subsidy", "sponsorship", "other_receipt",
               "expense", "overpayment_refund", "opening_balance", "reversal")
RECEIPT_TYPES = ("application/pdf", "image/jpeg", "image/png")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _entry_fk() -> ForeignKey:
    return ForeignKey("journal_entry.id")


class TreasuryAttachment(Base):
    """A receipt or other evidence (証憑) of a voucher, kept as it was uploaded, in the
    database: backed up with the books it supports, written in the same transaction as
    its voucher (a refused entry leaves no stray file), the same on both databases."""

    __tablename__ = "treasury_attachment"
    __table_args__ = (
        CheckConstraint(_in("content_type", RECEIPT_TYPES), name="content_type"),
        CheckConstraint("byte_size >= 1", name="size"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id"), index=True)
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(30))
    byte_size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    uploaded_by: Mapped[str] = mapped_column(String(60))
    # Loaded only when the receipt itself is downloaded: lists never carry the bytes.
    data: Mapped[bytes] = deferred(mapped_column(LargeBinary, nullable=False))


class TreasuryEntry(Base):
    __tablename__ = "treasury_entry"
    __table_args__ = (
        UniqueConstraint("event_id", "voucher_no"),
        CheckConstraint(_in("kind", ENTRY_KINDS), name="kind"),
        CheckConstraint("amount > 0", name="amount"),
        CheckConstraint("debit_account_id <> credit_account_id", name="two_accounts"),
        CheckConstraint("(kind = 'reversal') = (reverses_id IS NOT NULL)", name="reversal"),
        CheckConstraint("description <> ''", name="description"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id"), index=True)
    voucher_no: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(20))
    business_date: Mapped[date] = mapped_column(Date)  # the day it happened, in Tokyo
    amount: Mapped[int] = mapped_column(BigInteger)
    debit_account_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    credit_account_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    description: Mapped[str] = mapped_column(String(300))
    counterparty: Mapped[str] = mapped_column(String(120), default="")
    entry_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), _entry_fk(), unique=True)
    attachment_id: Mapped[int | None] = mapped_column(
        ForeignKey("treasury_attachment.id"), unique=True)
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("treasury_entry.id"), unique=True)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())  # when it was typed in
    recorded_by: Mapped[str] = mapped_column(String(60))


class BankTick(Base):
    """A bank-account posting the treasurer has seen in the passbook."""

    __tablename__ = "bank_tick"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id"), index=True)
    posting_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), ForeignKey("posting.id"), unique=True)
    ticked_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ticked_by: Mapped[str] = mapped_column(String(60))


class BankReconciliation(Base):
    """One comparison of the ledger's bank balance with the passbook, as it was made."""

    __tablename__ = "bank_reconciliation"
    __table_args__ = (
        CheckConstraint("difference = ledger_balance - passbook_balance", name="difference"),
        CheckConstraint("unexplained = difference - unmatched_total", name="unexplained"),
        CheckConstraint("unmatched_count >= 0", name="count"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id"), index=True)
    as_of: Mapped[date] = mapped_column(Date)
    passbook_balance: Mapped[int] = mapped_column(BigInteger)
    ledger_balance: Mapped[int] = mapped_column(BigInteger)
    unmatched_total: Mapped[int] = mapped_column(BigInteger)
    unmatched_count: Mapped[int] = mapped_column(Integer)
    difference: Mapped[int] = mapped_column(BigInteger)
    unexplained: Mapped[int] = mapped_column(BigInteger)
    note: Mapped[str] = mapped_column(String(300), default="")
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_by: Mapped[str] = mapped_column(String(60))
