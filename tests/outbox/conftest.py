"""A local SMTP server for the outbox tests (aiosmtpd on 127.0.0.1, a free port)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from mail_helpers import Handler, LocalSMTP


@pytest.fixture
def smtp() -> Iterator[tuple[LocalSMTP, Handler]]:
    handler = Handler()
    server = LocalSMTP(handler, hostname="127.0.0.1", port=0)
    server.start()
    yield server, handler
    server.stop()
