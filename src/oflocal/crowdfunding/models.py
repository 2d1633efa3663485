"""Campaigns, returns (rewards), pledges, payments, refunds, provider events.

The states that matter (DESIGN.md) are columns with check constraints; every state change
is a conditional UPDATE so the database decides races. The one rule that must never
break, a limited return oversold, is a counter on the return's row: ``claimed`` is the
quantity of its pledges that hold stock (reserved or paid), raised only by one guarded
UPDATE (reserve.py) and kept within ``quantity_limit`` by a check constraint as well.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, deferred, mapped_column

from oflocal.db.base import Base, UTCDateTime

CAMPAIGN_STATES = ("draft", "live", "waiting_payments", "succeeded", "failed", "closed")
DECIDED = ("succeeded", "failed", "closed")
FUNDING_MODELS = ("all_or_nothing", "all_in")
PAYMENT_METHODS = ("bank_transfer", "card", "konbini", "cash")
# reserved: stock held until the payment deadline; paid; expired: unpaid past the deadline
# (stock given back); cancelled: by the supporter while unpaid; refund_due: money held
# that goes back (campaign failed, or a late payment for stock already gone); refunded.
PLEDGE_STATES = ("reserved", "paid", "expired", "cancelled", "refund_due", "refunded")
HOLDS_STOCK = ("reserved", "paid")
HAS_PAYMENT = ("paid", "refund_due", "refunded")
PAYMENT_SOURCES = ("bank", "cash", "provider")  # the account the money landed in
REFUND_STATES = ("requested", "sent", "confirmed", "failed", "done_by_hand")
MONEY_OUT = ("sent", "confirmed", "done_by_hand")  # refund states where the money has left
REFUND_METHODS = ("provider", "bank_transfer", "cash")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Campaign(Base):
    __tablename__ = "campaign"
    __table_args__ = (
        UniqueConstraint("event_id", "slug"),
        CheckConstraint(_in("state", CAMPAIGN_STATES), name="state"),
        CheckConstraint(_in("funding_model", FUNDING_MODELS), name="funding_model"),
        CheckConstraint("goal > 0", name="goal"),
        CheckConstraint("ends_at > starts_at", name="dates"),
        CheckConstraint("payment_days >= 1 AND payment_days <= 60", name="payment_days"),
        CheckConstraint("moved_to_income >= 0 AND fees >= 0", name="outcome_money"),
        CheckConstraint(
            "(state IN ('succeeded', 'failed', 'closed')) = (decided_at IS NOT NULL)",
            name="decided",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id"), index=True)
    slug: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(200))
    story: Mapped[str] = mapped_column(Text, default="")  # Markdown, rendered safely by the web
    goal: Mapped[int] = mapped_column(Integer)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    funding_model: Mapped[str] = mapped_column(String(20), default="all_or_nothing")
    state: Mapped[str] = mapped_column(String(20), default="draft")
    # Bank-transfer and konbini pledges have this many days (to 23:59 Tokyo) to pay.
    payment_days: Mapped[int] = mapped_column(Integer, default=7)
    payment_methods: Mapped[list[str]] = mapped_column(JSON, default=list)
    # 特定商取引法に基づく表記 (legal.py says which are required).
    seller: Mapped[str] = mapped_column(String(200), default="")
    representative: Mapped[str] = mapped_column(String(120), default="")
    address: Mapped[str] = mapped_column(String(300), default="")
    phone: Mapped[str] = mapped_column(String(40), default="")
    phone_on_request: Mapped[bool] = mapped_column(Boolean, default=False)
    email: Mapped[str] = mapped_column(String(254), default="")
    price_note: Mapped[str] = mapped_column(Text, default="")  # prices include tax, ...
    extra_charges: Mapped[str] = mapped_column(Text, default="")  # shipping, transfer fees
    payment_terms: Mapped[str] = mapped_column(Text, default="")  # when and how to pay
    delivery_terms: Mapped[str] = mapped_column(Text, default="")  # when returns arrive
    cancellation_terms: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    went_live_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The outcome, decided once (outcome.py): what moved from pledges held to income,
    # the provider fees recorded as an expense, and the entry that did it.
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    moved_to_income: Mapped[int] = mapped_column(Integer, default=0)
    fees: Mapped[int] = mapped_column(Integer, default=0)
    outcome_entry_id: Mapped[int | None] = mapped_column(ForeignKey("journal_entry.id"))
    # From this moment the committee prepares the returns: supporters can no longer
    # correct their addresses, handles or wall names (supporters/changes.py).
    fulfilment_locked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Pictures ever added: the next one's number, so a removed picture's number (which a
    # story may still name) is never given to another.
    images_made: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp")


class CampaignImage(Base):
    """A picture for the campaign page, stored in the database (backed up with it, the same
    on both databases). ``number`` is how the story names it (``![alt](image:2)``) and never
    changes; ``position`` orders the gallery, the first being the page's hero image. The
    bytes are the re-encoded picture (images.py: no EXIF or GPS, at most 1600 px wide)."""

    __tablename__ = "campaign_image"
    __table_args__ = (
        UniqueConstraint("campaign_id", "number"),
        CheckConstraint("number >= 1 AND position >= 1", name="order"),
        CheckConstraint("alt <> ''", name="alt"),  # accessibility: every picture is described
        CheckConstraint(_in("content_type", IMAGE_TYPES), name="content_type"),
        CheckConstraint("width >= 1 AND height >= 1 AND byte_size >= 1", name="size"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer)
    alt: Mapped[str] = mapped_column(String(300))
    content_type: Mapped[str] = mapped_column(String(20))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    byte_size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))  # of ``data``: the ETag
    # Loaded only when the picture itself is served: lists never carry the bytes.
    data: Mapped[bytes] = deferred(mapped_column(LargeBinary, nullable=False))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Reward(Base):
    """A return (リターン): a price, or a minimum above which the supporter gives freely."""

    __tablename__ = "reward"
    __table_args__ = (
        UniqueConstraint("campaign_id", "number"),
        CheckConstraint("price > 0", name="price"),
        CheckConstraint("shipping_fee >= 0", name="shipping_fee"),
        CheckConstraint("quantity_limit IS NULL OR quantity_limit >= 1", name="quantity_limit"),
        CheckConstraint("per_supporter_limit IS NULL OR per_supporter_limit >= 1",
                        name="per_supporter_limit"),
        # Never oversold, whatever the code above does: the last line of defence.
        CheckConstraint("claimed >= 0 AND (quantity_limit IS NULL OR claimed <= quantity_limit)",
                        name="claimed"),
        CheckConstraint("pledges_made >= 0", name="pledges_made"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)  # 1, 2, ... within the campaign
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    price: Mapped[int] = mapped_column(Integer)  # the price, or the minimum if free_amount
    free_amount: Mapped[bool] = mapped_column(Boolean, default=False)
    quantity_limit: Mapped[int | None] = mapped_column(Integer)
    per_supporter_limit: Mapped[int | None] = mapped_column(Integer)
    delivery_month: Mapped[str] = mapped_column(String(7))  # "2026-11"
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    shipping_fee: Mapped[int] = mapped_column(Integer, default=0)  # per pledge, with goods
    claimed: Mapped[int] = mapped_column(Integer, default=0)
    # Pledges ever made for it: the serial in each pledge's transfer reference.
    pledges_made: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Pledge(Base):
    __tablename__ = "pledge"
    __table_args__ = (
        UniqueConstraint("campaign_id", "reference"),
        CheckConstraint(_in("state", PLEDGE_STATES), name="state"),
        CheckConstraint(_in("payment_method", PAYMENT_METHODS), name="method"),
        CheckConstraint("quantity >= 1", name="quantity"),
        CheckConstraint("amount > 0 AND shipping >= 0 AND total = amount + shipping",
                        name="money"),
        CheckConstraint(f"({_in('state', HAS_PAYMENT)}) = (paid_at IS NOT NULL)", name="paid"),
        Index("ix_pledge_reward_hold", "reward_id", "state", "payment_deadline"),
        Index("ix_pledge_campaign_state", "campaign_id", "state"),
        Index("ix_pledge_reward_email", "reward_id", "supporter_email"),
        # One provider payment pays one pledge (migration 0013).
        Index("uq_pledge_provider_payment", "provider", "provider_payment_id", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id"))
    reward_id: Mapped[int] = mapped_column(ForeignKey("reward.id"))
    reference: Mapped[str] = mapped_column(String(12))  # typed before the sender's name
    supporter_name: Mapped[str] = mapped_column(String(120))
    supporter_email: Mapped[str] = mapped_column(String(254))  # lower-cased
    supporter_phone: Mapped[str] = mapped_column(String(20))  # E.164
    lang: Mapped[str] = mapped_column(String(2), default="ja")
    quantity: Mapped[int] = mapped_column(Integer)
    amount: Mapped[int] = mapped_column(Integer)  # the support (counts towards the goal)
    shipping: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer)  # what the supporter pays
    answers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    payment_method: Mapped[str] = mapped_column(String(15))
    state: Mapped[str] = mapped_column(String(12), default="reserved")
    payment_deadline: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # expired / cancelled
    # Card and konbini: the provider's payment (Stripe PaymentIntent), stored once it is
    # started and resumed from then on (crowdfunding/provider_payments.py).
    provider: Mapped[str | None] = mapped_column(String(20))
    provider_payment_id: Mapped[str | None] = mapped_column(String(120))
    # A committee member hid this supporter's wall name (supporters/wall.py).
    wall_hidden_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


DUPLICATE = "duplicate_payment"  # the refund reason of a duplicate payment


class Payment(Base):
    """Money received for a pledge: one pays it, posted once. A provider's second payment
    for a pledge already paid (another PaymentIntent that succeeded) is a ``duplicate``:
    recorded once per provider payment, never paying anything, and refunded (migration
    0014)."""

    __tablename__ = "pledge_payment"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount"),
        CheckConstraint("fee >= 0 AND fee <= amount", name="fee"),
        CheckConstraint(_in("source", PAYMENT_SOURCES), name="source"),
        CheckConstraint("NOT duplicate OR (source = 'provider' AND provider_ref IS NOT NULL)",
                        name="duplicate"),
        Index("uq_pledge_payment_pledge", "pledge_id", unique=True,
              sqlite_where=text("duplicate = 0"), postgresql_where=text("NOT duplicate")),
        Index("uq_pledge_payment_duplicate", "provider_ref", unique=True,
              sqlite_where=text("duplicate = 1"), postgresql_where=text("duplicate")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    pledge_id: Mapped[int] = mapped_column(ForeignKey("pledge.id"), index=True)
    duplicate: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id"), index=True)
    amount: Mapped[int] = mapped_column(Integer)
    fee: Mapped[int] = mapped_column(Integer, default=0)  # kept by the provider
    source: Mapped[str] = mapped_column(String(10))
    provider_ref: Mapped[str | None] = mapped_column(String(120))
    late: Mapped[bool] = mapped_column(Boolean, default=False)  # refused: refunded
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_by: Mapped[str] = mapped_column(String(60), default="")
    entry_id: Mapped[int] = mapped_column(ForeignKey("journal_entry.id"), unique=True)


class Refund(Base):
    """Money going back for a pledge: at most one per payment, ever, and one per pledge
    besides the refunds of duplicate payments (reason ``duplicate_payment``).

    requested → sent → confirmed; sent or confirmed → failed (the money came back) →
    sent again (retried) or done_by_hand; requested → done_by_hand."""

    __tablename__ = "pledge_refund"
    __table_args__ = (
        CheckConstraint(_in("state", REFUND_STATES), name="state"),
        CheckConstraint(_in("method", REFUND_METHODS), name="method"),
        CheckConstraint("amount > 0", name="amount"),
        CheckConstraint("attempts >= 0", name="attempts"),
        CheckConstraint(
            "account_type IS NULL OR account_type IN (1, 2, 4, 9)", name="acct_type"
        ),
        Index("uq_pledge_refund_pledge", "pledge_id", unique=True,
              sqlite_where=text(f"reason <> '{DUPLICATE}'"),
              postgresql_where=text(f"reason <> '{DUPLICATE}'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    pledge_id: Mapped[int] = mapped_column(ForeignKey("pledge.id"), index=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("pledge_payment.id"), unique=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id"), index=True)
    amount: Mapped[int] = mapped_column(Integer)
    method: Mapped[str] = mapped_column(String(15))
    # campaign_failed, sold_out, cancelled, campaign_decided, duplicate_payment
    reason: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(12), default="requested")
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # times the money was sent
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    failure: Mapped[str] = mapped_column(String(300), default="")
    note: Mapped[str] = mapped_column(String(300), default="")
    # The supporter's bank account (given through a secure link; the Zengin refund file).
    bank_code: Mapped[str | None] = mapped_column(String(4))
    branch_code: Mapped[str | None] = mapped_column(String(3))
    account_type: Mapped[int | None] = mapped_column(Integer)
    account_number: Mapped[str | None] = mapped_column(String(7))
    account_holder_kana: Mapped[str | None] = mapped_column(String(200))
    # The secret of the link where the supporter gives that account (bank refunds only).
    account_token: Mapped[str | None] = mapped_column(String(48), unique=True)
    # A card refund sent through the provider: the provider's id of the last attempt.
    provider_refund_id: Mapped[str | None] = mapped_column(String(120))


class ProviderEvent(Base):
    """Each verified provider event (a webhook) is acted on once: the unique key decides."""

    __tablename__ = "provider_event"
    __table_args__ = (UniqueConstraint("provider", "event_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(20))
    event_id: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(60), default="")
    pledge_id: Mapped[int | None] = mapped_column(ForeignKey("pledge.id"))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    outcome: Mapped[str] = mapped_column(String(60), default="")
