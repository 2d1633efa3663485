"""The outbox: one row per e-mail to a supporter, written with the change it tells of."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from oflocal.db.base import Base, UTCDateTime

MAIL_STATES = ("queued", "sending", "sent", "failed")
TRANSPORTS = ("smtp", "file")


class MailMessage(Base):
    """An e-mail, rendered when it was queued and kept as it was sent.

    ``queued`` (a ``mail.send`` job will take it) → ``sending`` (an attempt has begun:
    the SMTP server may already have it) → ``sent`` (accepted by the server, or written
    as a file; ``transport`` says which) or ``failed`` (refused for good, or out of
    attempts; ``oflocal mail retry`` queues it again). ``send_round`` counts those
    queueings: the job of round n carries n, and only it may touch the message.
    ``dedupe_key`` is unique: the same notice is never queued twice."""

    __tablename__ = "mail_message"
    __table_args__ = (
        CheckConstraint("state IN ('queued', 'sending', 'sent', 'failed')", name="state"),
        CheckConstraint("language IN ('ja', 'en')", name="language"),
        CheckConstraint("attempts >= 0 AND send_round >= 1", name="counts"),
        CheckConstraint("(state = 'sent') = (sent_at IS NOT NULL)", name="sent_at"),
        CheckConstraint("(state = 'sent') = (transport IS NOT NULL)", name="sent_by"),
        CheckConstraint("transport IS NULL OR transport IN ('smtp', 'file')", name="transport"),
        Index("ix_mail_message_about", "about"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    to_address: Mapped[str] = mapped_column(String(254))
    to_name: Mapped[str] = mapped_column(String(200), default="")
    kind: Mapped[str] = mapped_column(String(40))
    language: Mapped[str] = mapped_column(String(2))
    subject: Mapped[str] = mapped_column(String(300))
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str | None] = mapped_column(Text)
    about: Mapped[str] = mapped_column(String(100))
    # Mailings (an update to supporters): where one click unsubscribes (RFC 8058 headers).
    unsubscribe_url: Mapped[str | None] = mapped_column(String(500))
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    state: Mapped[str] = mapped_column(String(10), default="queued")
    send_round: Mapped[int] = mapped_column(Integer, default=1)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(1000))
    transport: Mapped[str | None] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
