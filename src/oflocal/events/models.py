"""An open-factory event and the workshops taking part in it."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from oflocal.db.base import Base, UTCDateTime


class Event(Base):
    __tablename__ = "event"
    __table_args__ = (
        CheckConstraint("ends_on >= starts_on", name="dates_ordered"),
        CheckConstraint("fee_rule IN ('none', 'rate', 'fixed')", name="fee_rule"),
        CheckConstraint("fee_rounding IN ('floor', 'round', 'ceil')", name="fee_rounding"),
        CheckConstraint("fee_rate_bp >= 0 AND fee_rate_bp <= 10000", name="fee_rate"),
        CheckConstraint("fee_fixed_yen >= 0", name="fee_fixed"),
        CheckConstraint(
            "payer_account_type IS NULL OR payer_account_type IN (1, 2, 9)",
            name="payer_acct_type",
        ),
        CheckConstraint("open_period >= 1", name="open_period"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    committee_name: Mapped[str] = mapped_column(String(200))
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    # 特定商取引法 / statements: who the committee is, printed on documents.
    committee_address: Mapped[str] = mapped_column(String(300), default="")
    committee_phone: Mapped[str] = mapped_column(String(40), default="")
    # The committee as it presents itself (migration 0008): statements, covers, legal page.
    venue: Mapped[str] = mapped_column(String(300), default="")
    representative: Mapped[str] = mapped_column(String(120), default="")
    committee_email: Mapped[str] = mapped_column(String(254), default="")
    invoice_number: Mapped[str | None] = mapped_column(String(14))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Settlement (migration 0002): the committee's Zengin requester data (the account the
    # bank debits) and the redemption fee rule (none / rate in basis points / fixed yen
    # per ticket; rounding of a rate fee: floor / round / ceil, stated on statements).
    zengin_requester_code: Mapped[str | None] = mapped_column(String(10))
    zengin_requester_kana: Mapped[str | None] = mapped_column(String(200))
    payer_bank_code: Mapped[str | None] = mapped_column(String(4))
    payer_branch_code: Mapped[str | None] = mapped_column(String(3))
    payer_account_type: Mapped[int | None] = mapped_column(Integer)
    payer_account_number: Mapped[str | None] = mapped_column(String(7))
    fee_rule: Mapped[str] = mapped_column(String(10), default="none")
    fee_rate_bp: Mapped[int] = mapped_column(Integer, default=0)
    fee_fixed_yen: Mapped[int] = mapped_column(Integer, default=0)
    fee_rounding: Mapped[str] = mapped_column(String(5), default="floor")
    # The number of the settlement period now open (migration 0004): every redemption
    # copies it, and closing period N makes it N + 1 (settlement/membership.py).
    open_period: Mapped[int] = mapped_column(Integer, default=1)


class Workshop(Base):
    __tablename__ = "workshop"
    __table_args__ = (
        UniqueConstraint("event_id", "code"),
        CheckConstraint("account_type IS NULL OR account_type IN (1, 2, 4, 9)", name="acct_type"),
        CheckConstraint("failed_pins >= 0", name="failed_pins"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id"), index=True)
    code: Mapped[str] = mapped_column(String(20))  # the login code staff hand out, e.g. W01
    name: Mapped[str] = mapped_column(String(200))
    name_kana: Mapped[str] = mapped_column(String(200))
    craft: Mapped[str] = mapped_column(String(200), default="")
    introduction: Mapped[str] = mapped_column(Text, default="")
    tools: Mapped[str] = mapped_column(String(300), default="")
    contact: Mapped[str] = mapped_column(String(300), default="")
    bank_code: Mapped[str | None] = mapped_column(String(4))
    branch_code: Mapped[str | None] = mapped_column(String(3))
    account_type: Mapped[int | None] = mapped_column(Integer)
    account_number: Mapped[str | None] = mapped_column(String(7))
    account_holder_kana: Mapped[str | None] = mapped_column(String(200))
    invoice_number: Mapped[str | None] = mapped_column(String(14))
    image: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    participating: Mapped[bool] = mapped_column(Boolean, default=True)
    pin_hash: Mapped[str | None] = mapped_column(String(200))
    failed_pins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
