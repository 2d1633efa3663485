"""Typed access to what a statement did."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, Result


def affected(result: Result[Any]) -> int:
    """Rows matched by an UPDATE/DELETE: how conditional updates learn who won a race."""
    return cast(CursorResult[Any], result).rowcount
