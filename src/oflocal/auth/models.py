"""Who may do what: staff users, workshop logins, browser sessions and API tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from oflocal.db.base import Base, UTCDateTime

ROLES = ("admin", "desk", "treasurer")


class StaffUser(Base):
    __tablename__ = "staff_user"
    __table_args__ = (
        CheckConstraint("role IN ('admin', 'desk', 'treasurer')", name="role"),
        CheckConstraint("failed_logins >= 0", name="failed_logins"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(60), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    role: Mapped[str] = mapped_column(String(12))
    password_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Password attempts since the last right one, and the lock they led to (migration 0006).
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # A generated password (oflocal init, an admin's reset) must be replaced at first login.
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)


_ONE_HOLDER = "(staff_user_id IS NULL) <> (workshop_id IS NULL)"


class WebSession(Base):
    """Server-side browser session; the cookie holds a random token, we keep its hash."""

    __tablename__ = "web_session"
    __table_args__ = (CheckConstraint(_ONE_HOLDER, name="holder"),)

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    staff_user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    workshop_id: Mapped[int | None] = mapped_column(ForeignKey("workshop.id"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ApiToken(Base):
    __tablename__ = "api_token"
    __table_args__ = (CheckConstraint(_ONE_HOLDER, name="holder"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    staff_user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    workshop_id: Mapped[int | None] = mapped_column(ForeignKey("workshop.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
