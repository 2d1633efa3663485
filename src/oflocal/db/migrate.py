"""Schema migrations (alembic), kept inside the package so an install can migrate itself."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine


def _config(engine_connection: object) -> Config:
    config = Config()
    config.set_main_option("script_location", "oflocal:migrations")
    config.attributes["connection"] = engine_connection
    return config


@contextmanager
def _migrating(engine: Engine) -> Iterator[Connection]:
    """One transaction for the whole migration. On SQLite, foreign keys are off while it
    runs (SQLite's own procedure for changing a table: ``batch_alter_table`` rebuilds it,
    and dropping a table other rows refer to fails with them on), then checked before
    the commit: a migration that broke a reference is rolled back."""
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        raw: Any = connection.connection.driver_connection
        if sqlite:  # outside any transaction, or SQLite ignores it
            raw.execute("PRAGMA foreign_keys=OFF")
        try:
            with connection.begin():
                yield connection
                if sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise RuntimeError(f"the migration broke foreign keys: {broken[:5]}")
        finally:
            if sqlite:
                raw.execute("PRAGMA foreign_keys=ON")


def upgrade(engine: Engine, revision: str = "head") -> None:
    with _migrating(engine) as connection:
        command.upgrade(_config(connection), revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Back to ``revision`` (for a rollback of a release; every migration can)."""
    with _migrating(engine) as connection:
        command.downgrade(_config(connection), revision)


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def _script() -> Any:
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", "oflocal:migrations")
    return ScriptDirectory.from_config(config)


def head_revision() -> str:
    """The schema revision this code migrates to."""
    return str(_script().get_current_head())


def known_revisions() -> set[str]:
    """Every revision this code knows (a backup from a newer oflocal has another)."""
    return {rev.revision for rev in _script().walk_revisions()}
