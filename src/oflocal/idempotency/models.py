"""Stored first outcomes of retryable writes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from oflocal.db.base import Base, UTCDateTime


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_record"

    scope: Mapped[str] = mapped_column(String(60), primary_key=True)  # who: staff:3, workshop:12
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)  # JSON of the response, success or refusal
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
