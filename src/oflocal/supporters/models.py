"""A supporter has no password: an e-mailed link signs them in for a while.

Links and sessions keep only the SHA-256 of their secret, so a copy of the database
signs nobody in. ``signin_window`` counts link requests per address and per client
in fixed windows; one guarded statement takes a request from the count, so parallel
requests cannot beat the limit (the staff lockout was once beaten that way).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Integer, String
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
