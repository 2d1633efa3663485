"""SQL expressions both databases agree on, for reports and settlement."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Date, cast, func
from sqlalchemy.sql.elements import ColumnElement


def tokyo_day(column: Any, dialect: str) -> ColumnElement[Any]:
    """The Asia/Tokyo calendar day of a stored UTC timestamp.

    SQLite keeps UTC as text; Japan has had no daylight saving time since 1951, so
    "+9 hours" is exact. PostgreSQL converts with its time zone database.
    """
    if dialect == "sqlite":
        return func.date(column, "+9 hours")
    return cast(func.timezone("Asia/Tokyo", column), Date)
