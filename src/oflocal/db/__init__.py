"""Database access: engines, transactions and the shared declarative base."""

from oflocal.db.base import Base
from oflocal.db.engine import Database

__all__ = ["Base", "Database"]
