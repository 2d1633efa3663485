"""Schema migrations (alembic), kept inside the package so an install can migrate itself."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine


def _config(engine_connection: object) -> Config:
    config = Config()
    config.set_main_option("script_location", "oflocal:migrations")
    config.attributes["connection"] = engine_connection
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    with engine.begin() as connection:
        command.upgrade(_config(connection), revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Back to ``revision`` (for a rollback of a release; every migration can)."""
    with engine.begin() as connection:
        command.downgrade(_config(connection), revision)


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
