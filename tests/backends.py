"""Which databases a test runs on (``tests/conftest.py`` makes them).

Every database test runs on ``sqlite`` and ``postgres``. The race and concurrency tests
also run on ``pgbouncer``: the same PostgreSQL database reached through PgBouncer in
transaction mode. Mark them ``@through_pgbouncer`` (or ``pytestmark``); the whole suite
through the pooler would add minutes and show nothing more.

A module of its own because ``conftest`` is not importable by name from test modules
(``tests/settlement/conftest.py`` shares the name).
"""

from __future__ import annotations

import pytest

BACKENDS = ["sqlite", "postgres"]
RACE_BACKENDS = [*BACKENDS, "pgbouncer"]
through_pgbouncer = pytest.mark.parametrize("db_url", RACE_BACKENDS, indirect=True)
