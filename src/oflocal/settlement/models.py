"""Settlement periods and what closing one freezes.

A period is ``closed`` (cut-off fixed, lines frozen) and later ``paid`` (payouts posted).
Its lines (one per workshop) and tallies (per workshop, day and denomination) are
written once when it closes and never changed: database triggers refuse it. Which
period a redemption belongs to follows from its ``open_period`` and the periods
(membership.py); a correction is given to one by the close's conditional UPDATE
(``WHERE settlement_period_id IS NULL``) and never changed.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from oflocal.db.base import Base, UTCDateTime

PERIOD_STATES = ("closed", "paid")
FEE_RULES = ("none", "rate", "fixed")
ROUNDING = ("floor", "round", "ceil")


class SettlementPeriod(Base):
    __tablename__ = "settlement_period"
    __table_args__ = (
        UniqueConstraint("event_id", "number"),
        UniqueConstraint("event_id", "cutoff_at"),
        CheckConstraint("status IN ('closed', 'paid')", name="status"),
        CheckConstraint("(status = 'paid') = (transfer_date IS NOT NULL)", name="paid_has_date"),
        CheckConstraint("fee_rule IN ('none', 'rate', 'fixed')", name="fee_rule"),
        CheckConstraint("fee_rounding IN ('floor', 'round', 'ceil')", name="fee_rounding"),
        CheckConstraint(
            "fee_rate_bp >= 0 AND fee_rate_bp <= 10000 AND fee_fixed_yen >= 0", name="fee"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)  # 1, 2, ... per event
    # Live redemptions opened up to this number and redeemed up to cutoff_at, not in an
    # earlier period, belong here (membership.py).
    cutoff_at: Mapped[datetime] = mapped_column(UTCDateTime())
    previous_cutoff_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(10), default="closed")
    # The fee rule as it was when the period closed: statements state it.
    fee_rule: Mapped[str] = mapped_column(String(10))
    fee_rate_bp: Mapped[int] = mapped_column(Integer)
    fee_fixed_yen: Mapped[int] = mapped_column(Integer)
    fee_rounding: Mapped[str] = mapped_column(String(5))
    closed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_by: Mapped[str] = mapped_column(String(60))
    transfer_date: Mapped[date | None] = mapped_column(Date)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    paid_by: Mapped[str | None] = mapped_column(String(60))


class SettlementLine(Base):
    """What one workshop is owed for one period. Append-only."""

    __tablename__ = "settlement_line"
    __table_args__ = (
        UniqueConstraint("period_id", "workshop_id"),
        CheckConstraint("ticket_count >= 0 AND face_total >= 0 AND fee >= 0", name="amounts"),
        CheckConstraint("fee <= face_total", name="fee_within_face"),
        CheckConstraint("net = face_total + adjustment - fee AND net >= 0", name="net"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    period_id: Mapped[int] = mapped_column(ForeignKey("settlement_period.id"), index=True)
    workshop_id: Mapped[int] = mapped_column(ForeignKey("workshop.id"), index=True)
    ticket_count: Mapped[int] = mapped_column(Integer)
    face_total: Mapped[int] = mapped_column(BigInteger)
    adjustment: Mapped[int] = mapped_column(BigInteger)  # corrections, + owed more / - less
    fee: Mapped[int] = mapped_column(BigInteger)
    net: Mapped[int] = mapped_column(BigInteger)

    @property
    def payable(self) -> int:
        """What the period owed the workshop before the fee (face + corrections). When
        paid, payable:W is debited with it less the offsets (pay.py), receivable:W
        credited with those."""
        return self.face_total + self.adjustment


class SettlementPayment(Base):
    """Where a workshop's money for a paid period went: its bank account as it was when
    the period was marked paid, so the statement and the Zengin file of that period say
    the same later, whatever the workshop's account is by then. One per line with a
    positive net amount (migration 0005). Append-only."""

    __tablename__ = "settlement_payment"
    __table_args__ = (
        UniqueConstraint("period_id", "workshop_id"),
        CheckConstraint("amount > 0", name="amount"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    period_id: Mapped[int] = mapped_column(ForeignKey("settlement_period.id"), index=True)
    workshop_id: Mapped[int] = mapped_column(ForeignKey("workshop.id"))
    amount: Mapped[int] = mapped_column(BigInteger)  # the line's net, as transferred
    bank_code: Mapped[str | None] = mapped_column(String(4))
    branch_code: Mapped[str | None] = mapped_column(String(3))
    account_type: Mapped[int | None] = mapped_column(Integer)
    account_number: Mapped[str | None] = mapped_column(String(7))
    account_holder_kana: Mapped[str | None] = mapped_column(String(200))


class SettlementPayer(Base):
    """The committee's own account a paid period was sent from (the Zengin requester), as
    it was when the period was marked paid (migration 0005). Append-only."""

    __tablename__ = "settlement_payer"

    id: Mapped[int] = mapped_column(primary_key=True)
    period_id: Mapped[int] = mapped_column(ForeignKey("settlement_period.id"), unique=True)
    requester_code: Mapped[str | None] = mapped_column(String(10))
    requester_kana: Mapped[str | None] = mapped_column(String(200))
    bank_code: Mapped[str | None] = mapped_column(String(4))
    branch_code: Mapped[str | None] = mapped_column(String(3))
    account_type: Mapped[int | None] = mapped_column(Integer)
    account_number: Mapped[str | None] = mapped_column(String(7))


class SettlementTally(Base):
    """Redemptions of one period counted per workshop, Tokyo day and denomination."""

    __tablename__ = "settlement_tally"
    __table_args__ = (
        UniqueConstraint("period_id", "workshop_id", "day", "denomination"),
        CheckConstraint("ticket_count > 0 AND face_total > 0", name="amounts"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    period_id: Mapped[int] = mapped_column(ForeignKey("settlement_period.id"))
    workshop_id: Mapped[int] = mapped_column(ForeignKey("workshop.id"))
    day: Mapped[date] = mapped_column(Date)
    denomination: Mapped[int] = mapped_column(Integer)
    ticket_count: Mapped[int] = mapped_column(Integer)
    face_total: Mapped[int] = mapped_column(BigInteger)


class SettlementCorrection(Base):
    """A correction after a period closed: a journal entry on payable:W (or receivable:W,
    see ``settle_by``) that the next period settles (an undo after closing is not
    allowed)."""

    __tablename__ = "settlement_correction"
    __table_args__ = (
        CheckConstraint("amount <> 0", name="nonzero"),
        # A redemption is taken from a workshop (and maybe given to another) only once.
        UniqueConstraint("redemption_id", "workshop_id"),
        CheckConstraint("settle_by IN ('payout', 'offset', 'repayment')", name="settle_by"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id"), index=True)
    workshop_id: Mapped[int] = mapped_column(ForeignKey("workshop.id"))
    amount: Mapped[int] = mapped_column(BigInteger)  # + the workshop is owed more
    counter_account: Mapped[str] = mapped_column(String(60))
    reason: Mapped[str] = mapped_column(String(300))
    # The redemption this corrects, if any (see the unique constraint).
    redemption_id: Mapped[int | None] = mapped_column(ForeignKey("redemption.id"))
    entry_id: Mapped[int] = mapped_column(ForeignKey("journal_entry.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(60))
    settlement_period_id: Mapped[int | None] = mapped_column(ForeignKey("settlement_period.id"))
    # How it is settled (corrections.py): 'payout' on payable:W by the next period's
    # line; 'offset' on receivable:W, carried into the next payout; 'repayment' on
    # receivable:W, paid back by the workshop (migration 0018).
    settle_by: Mapped[str] = mapped_column(String(10), default="payout",
                                           server_default="payout")


class SettlementTransferPlan(Base):
    """A Zengin file made for a period before it was paid: the transfer date it was made
    for. The latest one is the period's planned transfer date (statements show it, and
    "mark paid" proposes it). Append-only: every file made is one row."""

    __tablename__ = "settlement_transfer_plan"

    id: Mapped[int] = mapped_column(primary_key=True)
    period_id: Mapped[int] = mapped_column(ForeignKey("settlement_period.id"), index=True)
    transfer_date: Mapped[date] = mapped_column(Date)
    made_at: Mapped[datetime] = mapped_column(UTCDateTime())
    made_by: Mapped[str] = mapped_column(String(60))


class SettlementStatementIssue(Base):
    """When a workshop's statement of a period was first issued (its PDF first made): the
    statement keeps that 発行日, and every later print says 再発行. Written once."""

    __tablename__ = "settlement_statement_issue"
    __table_args__ = (UniqueConstraint("period_id", "workshop_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    period_id: Mapped[int] = mapped_column(ForeignKey("settlement_period.id"))
    workshop_id: Mapped[int] = mapped_column(ForeignKey("workshop.id"))
    issued_on: Mapped[date] = mapped_column(Date)  # Tokyo date of issued_at
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    issued_by: Mapped[str] = mapped_column(String(60))


class RepaymentInvoice(Base):
    """A 請求書 asking a workshop to pay back what corrections after payment took back
    (``settle_by = 'repayment'``): numbered in its event, dated the day it was issued,
    with a due date and the committee's account to pay into as it was then. Its items
    (:class:`RepaymentInvoiceItem`) are the corrections it bills; money the workshop paid
    back before it was issued, beyond earlier invoices, is deducted (``received_before``).
    Written once, never changed (migration 0021)."""

    __tablename__ = "repayment_invoice"
    __table_args__ = (
        UniqueConstraint("event_id", "serial"),
        UniqueConstraint("event_id", "number"),
        CheckConstraint("serial >= 1", name="serial"),
        CheckConstraint("received_before >= 0 AND amount > 0", name="amounts"),
        CheckConstraint("amount = items_total - received_before", name="amount_sum"),
        CheckConstraint("due_date >= issued_on", name="due_after_issue"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id"), index=True)
    workshop_id: Mapped[int] = mapped_column(ForeignKey("workshop.id"), index=True)
    serial: Mapped[int] = mapped_column(Integer)  # 1, 2, ... per event
    number: Mapped[str] = mapped_column(String(30))  # 請求書番号, e.g. R0001-W03
    issued_on: Mapped[date] = mapped_column(Date)  # 発行日 (Tokyo)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    issued_by: Mapped[str] = mapped_column(String(60))
    due_date: Mapped[date] = mapped_column(Date)  # お支払期限
    items_total: Mapped[int] = mapped_column(BigInteger)
    received_before: Mapped[int] = mapped_column(BigInteger)
    amount: Mapped[int] = mapped_column(BigInteger)  # ご請求金額
    # The committee's account to pay into, as it was when the invoice was issued.
    bank_code: Mapped[str] = mapped_column(String(4))
    branch_code: Mapped[str] = mapped_column(String(3))
    account_type: Mapped[int] = mapped_column(Integer)
    account_number: Mapped[str] = mapped_column(String(7))
    account_holder_kana: Mapped[str] = mapped_column(String(200))


class RepaymentInvoiceItem(Base):
    """One correction a repayment invoice bills; a correction is billed once."""

    __tablename__ = "repayment_invoice_item"

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("repayment_invoice.id"),
                                            index=True)
    correction_id: Mapped[int] = mapped_column(ForeignKey("settlement_correction.id"),
                                               unique=True)


class RepaymentInvoicePrint(Base):
    """The first PDF of a repayment invoice: every later one is a reprint (再発行), as
    for statements (:class:`SettlementStatementIssue`). Written once."""

    __tablename__ = "repayment_invoice_print"

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("repayment_invoice.id"),
                                            unique=True)
    printed_on: Mapped[date] = mapped_column(Date)
    printed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    printed_by: Mapped[str] = mapped_column(String(60))
