"""Alembic environment: the connection is handed in by oflocal.db.migrate."""

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext

import oflocal.models  # noqa: F401  (registers every table)
from oflocal.db.base import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `oflocal db upgrade`")



def _render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    # Migrations must not import app code: UTCDateTime is a plain timezone-aware DateTime.
    if type_ == "type" and type(obj).__name__ == "UTCDateTime":
        return "sa.DateTime(timezone=True)"
    return False


context.configure(
    connection=connection,
    render_item=_render_item,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
