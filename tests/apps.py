"""Apps for the tests: built once per worker process, pointed at each test's own
installation.

Building an app (``oflocal.web.app.build_app``: Litestar copies and inspects ~300
handlers) cost ~0.45 s of CPU, paid by some 600 tests; pointing a built one at a test's
settings and database (``install``) costs nothing. The app is the one production
builds, and it starts and stops with each test's client as it would in a server
(startup, the job worker, shutdown); one in use is never handed to a second client.
Tests that add routes of their own, or look at how the app is built, call
``create_app``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from litestar import Litestar
from litestar.testing import TestClient

from oflocal.db.engine import Database
from oflocal.settings import Settings
from oflocal.web.app import build_app, install

_FREE: dict[float, list[Litestar]] = {}  # by body timeout, the only setting built in


@contextmanager
def app_for(settings: Settings, db: Database) -> Iterator[Litestar]:
    free = _FREE.setdefault(settings.body_timeout_seconds, [])
    app = free.pop() if free else build_app(body_timeout=settings.body_timeout_seconds)
    install(app, settings, db)
    try:
        yield app
    finally:
        app.state.services = app.state.job_worker = None  # nothing of this test stays
        free.append(app)


@contextmanager
def client_for(settings: Settings, db: Database,
               **options: Any) -> Iterator[TestClient[Litestar]]:
    """``TestClient`` on an app for this installation, started (``with``) and stopped."""
    with app_for(settings, db) as app, TestClient(app=app, **options) as client:
        yield client
