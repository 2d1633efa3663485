"""A supporter has no password: an e-mailed link signs them in for a while.

Links and sessions keep only the SHA-256 of their secret, so a copy of the database
signs nobody in. ``signin_window`` counts link requests per address and per client
in fixed windows; one guarded statement takes a request from the count, so parallel
requests cannot beat the limit (the staff lockout was once beaten that way).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from oflocal.db.base import Base, UTCDateTime


class SignInLink(Base):
    __tablename__ = "supporter_signin_link"
    __table_args__ = (CheckConstraint("expires_at > created_at", name="lifetime"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), index=True)  # lower-cased
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SupporterSession(Base):
    __tablename__ = "supporter_session"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class SignInWindow(Base):
    """Link requests taken in one window by one address (``email:<sha256>``) or one
    client (``client:<address>``)."""

    __tablename__ = "signin_window"
    __table_args__ = (CheckConstraint("taken >= 1", name="taken"),)

    subject: Mapped[str] = mapped_column(String(100), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    taken: Mapped[int] = mapped_column(Integer)


UPDATE_AUDIENCES = ("public", "supporters", "rewards")


class CampaignUpdate(Base):
    """An update (活動報告) from the committee: for everyone, for the supporters, or for
    the supporters of given returns; e-mailed to them when published, if asked."""

    __tablename__ = "campaign_update"
    __table_args__ = (
        UniqueConstraint("campaign_id", "number"),
        CheckConstraint("audience IN ('public', 'supporters', 'rewards')", name="audience"),
        CheckConstraint("recipients IS NULL OR recipients >= 0", name="recipients"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)  # 1, 2, ... within the campaign
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)  # Markdown, rendered safely (web/story.py)
    audience: Mapped[str] = mapped_column(String(12))
    reward_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    send_mail: Mapped[bool] = mapped_column(Boolean, default=True)
    author: Mapped[str] = mapped_column(String(60))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # None: a draft
    # The mailing (updates.mail job): how many addresses, and when all were queued.
    recipients: Mapped[int | None] = mapped_column(Integer)
    mailing_queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class UpdateUnsubscribe(Base):
    """An address that asked for no more updates of a campaign (no sign-in needed)."""

    __tablename__ = "update_unsubscribe"

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id"), primary_key=True)
    email: Mapped[str] = mapped_column(String(254), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class TourSlot(Base):
    """A date of the special factory tour, with its places (``booked`` never passes
    ``capacity``: the guarded booking and this check both say so)."""

    __tablename__ = "tour_slot"
    __table_args__ = (
        CheckConstraint("capacity >= 1", name="capacity"),
        CheckConstraint("booked >= 0 AND booked <= capacity", name="booked"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))  # 「○○織物 工場見学」
    place: Mapped[str] = mapped_column(String(300), default="")
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    capacity: Mapped[int] = mapped_column(Integer)
    booked: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class TourBooking(Base):
    """A tour invitation's chosen date: one per pledge, for the pledge's quantity of
    people; checked in at the door once."""

    __tablename__ = "tour_booking"
    __table_args__ = (CheckConstraint("seats >= 1", name="seats"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    slot_id: Mapped[int] = mapped_column(ForeignKey("tour_slot.id"), index=True)
    pledge_id: Mapped[int] = mapped_column(ForeignKey("pledge.id"), unique=True)
    seats: Mapped[int] = mapped_column(Integer)
    booked_at: Mapped[datetime] = mapped_column(UTCDateTime())
    checked_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    checked_in_by: Mapped[str | None] = mapped_column(String(60))


DELIVERED_ITEMS = ("sns_thanks", "goods")


class ReturnDelivery(Base):
    """An item of a pledge's return, delivered: the thanks posted (its URL) or the goods
    shipped (carrier and tracking number). One per pledge and item."""

    __tablename__ = "return_delivery"
    __table_args__ = (
        UniqueConstraint("pledge_id", "item"),
        CheckConstraint("item IN ('sns_thanks', 'goods')", name="item"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    pledge_id: Mapped[int] = mapped_column(ForeignKey("pledge.id"))
    item: Mapped[str] = mapped_column(String(20))
    detail: Mapped[str] = mapped_column(String(300))  # the post's URL, the tracking number
    carrier: Mapped[str | None] = mapped_column(String(20))  # yamato, japanpost, other
    done_at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(60))


class BookletPickup(Base):
    """A voucher-booklet return collected at the venue desk: per pledge and programme,
    the booklets handed over (``sale_id``: their :class:`~oflocal.vouchers.models.Sale`,
    paid by the pledge) and when, where and by whom. The unique key makes it once."""

    __tablename__ = "booklet_pickup"
    __table_args__ = (
        UniqueConstraint("pledge_id", "programme_id"),
        CheckConstraint("booklet_count >= 1", name="count"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    pledge_id: Mapped[int] = mapped_column(ForeignKey("pledge.id"))
    programme_id: Mapped[int] = mapped_column(ForeignKey("programme.id"))
    sale_id: Mapped[int] = mapped_column(ForeignKey("sale.id"), unique=True)
    booklet_count: Mapped[int] = mapped_column(Integer)
    place: Mapped[str] = mapped_column(String(100))
    collected_at: Mapped[datetime] = mapped_column(UTCDateTime())
    collected_by: Mapped[str] = mapped_column(String(60))
