"""Programmes, print batches, booklets, tickets, sales and redemptions.

The states that matter (DESIGN.md) are columns with check constraints, and every state
change is a conditional UPDATE (``WHERE status = 'active'``) so the database, not
Python, decides who wins a race.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column

from oflocal.db.base import Base, UTCDateTime

TICKET_STATES = ("printed", "active", "redeemed", "voided", "expired")
BOOKLET_STATES = ("printed", "sold", "voided")
# "pledge": a crowdfunding return's booklets, paid by the pledge, handed over at the desk.
PAYMENT_METHODS = ("cash", "card", "qr", "bank", "free", "pledge")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Programme(Base):
    __tablename__ = "programme"
    __table_args__ = (
        CheckConstraint("price >= 0 AND face_value > 0 AND price <= face_value", name="prices"),
        CheckConstraint("premium_budget >= 0", name="budget"),
        CheckConstraint("max_booklets_per_sale >= 1", name="sale_limit"),
        CheckConstraint("valid_until >= valid_from AND valid_from >= issue_date", name="validity"),
        CheckConstraint("sales_ends_at > sales_starts_at", name="sales_window"),
        CheckConstraint("booklets_sold >= 0", name="sold"),
        # The budget, enforced by the database itself: sales stop before it is exceeded.
        CheckConstraint(
            "booklets_sold * (face_value - price) + free_sold * face_value <= premium_budget",
            name="premium",
        ),
        CheckConstraint("free_sold >= 0", name="free_sold"),
        CheckConstraint(_in("breakage_rule", ("breakage", "premium_fund")), name="breakage_rule"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    price: Mapped[int] = mapped_column(Integer)
    face_value: Mapped[int] = mapped_column(Integer)
    denominations: Mapped[list[int]] = mapped_column(JSON)
    sales_starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sales_ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    issue_date: Mapped[date] = mapped_column(Date)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date] = mapped_column(Date)  # the last day of use, printed on tickets
    validity_override: Mapped[bool] = mapped_column(Boolean, default=False)
    premium_budget: Mapped[int] = mapped_column(BigInteger)
    max_booklets_per_sale: Mapped[int] = mapped_column(Integer, default=5)
    booklets_sold: Mapped[int] = mapped_column(Integer, default=0)
    free_sold: Mapped[int] = mapped_column(Integer, default=0)
    breakage_rule: Mapped[str] = mapped_column(String(20), default="breakage")
    print_layout: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    next_booklet_serial: Mapped[int] = mapped_column(Integer, default=1)
    next_ticket_serial: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    @property
    def premium(self) -> int:
        return self.face_value - self.price

    @hybrid_property
    def premium_spent(self) -> int:
        """What the premium budget has paid for: the premium of every booklet sold, and
        the whole face of free ones. In Python and in SQL alike (the sale's guard), and
        the check constraint above keeps it within the budget."""
        return (self.booklets_sold * (self.face_value - self.price)
                + self.free_sold * self.face_value)

    def booklets_left_within_budget(self) -> int | None:
        """More booklets the budget allows; None when the premium is ¥0 (no limit)."""
        if not self.premium:
            return None
        return max(self.premium_budget - self.premium_spent, 0) // self.premium


class PrintBatch(Base):
    __tablename__ = "print_batch"
    __table_args__ = (UniqueConstraint("programme_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programme.id"))
    number: Mapped[int] = mapped_column(Integer)
    booklet_count: Mapped[int] = mapped_column(Integer)
    first_booklet_serial: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(60), default="")
    reason: Mapped[str] = mapped_column(String(300), default="")


class Sale(Base):
    """A desk sale: one receipt, one or more booklets, one journal entry."""

    __tablename__ = "sale"
    __table_args__ = (
        CheckConstraint("booklet_count >= 1", name="count"),
        CheckConstraint("amount_paid >= 0 AND face_total > 0 AND premium_total >= 0", name="money"),
        CheckConstraint("amount_paid + premium_total = face_total", name="balanced"),
        CheckConstraint(_in("payment_method", PAYMENT_METHODS), name="method"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programme.id"), index=True)
    receipt_number: Mapped[str] = mapped_column(String(40), unique=True)
    booklet_count: Mapped[int] = mapped_column(Integer)
    amount_paid: Mapped[int] = mapped_column(BigInteger)
    face_total: Mapped[int] = mapped_column(BigInteger)
    premium_total: Mapped[int] = mapped_column(BigInteger)
    payment_method: Mapped[str] = mapped_column(String(10))
    entry_id: Mapped[int] = mapped_column(ForeignKey("journal_entry.id"), unique=True)
    sold_by: Mapped[str] = mapped_column(String(60))
    sold_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Booklet(Base):
    __tablename__ = "booklet"
    __table_args__ = (
        UniqueConstraint("programme_id", "serial"),
        CheckConstraint(_in("status", BOOKLET_STATES), name="status"),
        CheckConstraint("(status = 'sold') = (sale_id IS NOT NULL)", name="sold_has_sale"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programme.id"))
    batch_id: Mapped[int] = mapped_column(ForeignKey("print_batch.id"), index=True)
    serial: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    status: Mapped[str] = mapped_column(String(10), default="printed")
    sale_id: Mapped[int | None] = mapped_column(ForeignKey("sale.id"), index=True)
    void_reason: Mapped[str | None] = mapped_column(String(300))
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    replaces_booklet_id: Mapped[int | None] = mapped_column(ForeignKey("booklet.id"))


class Ticket(Base):
    __tablename__ = "ticket"
    __table_args__ = (
        UniqueConstraint("programme_id", "serial"),
        CheckConstraint(_in("status", TICKET_STATES), name="status"),
        CheckConstraint("denomination > 0", name="denomination"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programme.id"))
    booklet_id: Mapped[int] = mapped_column(ForeignKey("booklet.id"), index=True)
    serial: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    denomination: Mapped[int] = mapped_column(Integer)
    featured_workshop_id: Mapped[int | None] = mapped_column(ForeignKey("workshop.id"))
    status: Mapped[str] = mapped_column(String(10), default="printed")


class Redemption(Base):
    """A ticket taken at a workshop. Undo marks it undone and posts a reversing entry."""

    __tablename__ = "redemption"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount"),
        CheckConstraint("(undone_at IS NULL) = (undo_entry_id IS NULL)", name="undo_pair"),
        CheckConstraint("open_period >= 1", name="open_period"),
        # A ticket is redeemed at most once, ever (an undone redemption no longer counts).
        Index(
            "uq_redemption_ticket_live",
            "ticket_id",
            unique=True,
            sqlite_where=text("undone_at IS NULL"),
            postgresql_where=text("undone_at IS NULL"),
        ),
        Index("ix_redemption_workshop_time", "workshop_id", "redeemed_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id"))
    workshop_id: Mapped[int] = mapped_column(ForeignKey("workshop.id"))
    programme_id: Mapped[int] = mapped_column(ForeignKey("programme.id"))
    amount: Mapped[int] = mapped_column(Integer)
    entry_id: Mapped[int] = mapped_column(ForeignKey("journal_entry.id"), index=True)
    redeemed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    undone_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    undo_entry_id: Mapped[int | None] = mapped_column(ForeignKey("journal_entry.id"))
    # The event's open settlement period when this was written (migration 0004): the
    # redemption belongs to the first period from this one whose cut-off is at or after
    # redeemed_at (settlement/membership.py). Never changed; a trigger checks the copy.
    open_period: Mapped[int] = mapped_column(Integer)
