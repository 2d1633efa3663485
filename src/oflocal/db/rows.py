"""Typed access to what a statement did, and which rule refused it."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, Result
from sqlalchemy.exc import IntegrityError


def affected(result: Result[Any]) -> int:
    """Rows matched by an UPDATE/DELETE: how conditional updates learn who won a race."""
    return cast(CursorResult[Any], result).rowcount


def unique_violation(error: IntegrityError, table: str, *columns: str) -> bool:
    """Whether ``error`` is the unique constraint on ``table(columns)``, on either backend.

    Constraint names follow ``db.base.NAMING``: ``uq_<table>_<col>_<col>``.
    """
    original = error.orig
    if getattr(original, "sqlstate", None) == "23505":  # PostgreSQL unique_violation
        name = getattr(getattr(original, "diag", None), "constraint_name", None)
        return name == f"uq_{table}_{'_'.join(columns)}"
    expected = "UNIQUE constraint failed: " + ", ".join(f"{table}.{c}" for c in columns)
    return str(original) == expected
