"""Time in one place: stored in UTC, shown and reasoned about in Asia/Tokyo."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

TOKYO = ZoneInfo("Asia/Tokyo")


def now() -> datetime:
    return datetime.now(UTC)


def tokyo_date(moment: datetime) -> date:
    """The calendar day in Tokyo: what "valid until 30 November" means to people."""
    return moment.astimezone(TOKYO).date()


def as_tokyo(moment: datetime) -> datetime:
    return moment.astimezone(TOKYO)


def start_of_tokyo_day(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=TOKYO).astimezone(UTC)
