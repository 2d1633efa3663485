"""Payments tests: a Stripe stand-in on 127.0.0.1, and no way out to the internet.

Every test here runs with ``socket`` refusing any address but the loopback one, so a
stray call to Stripe's real API (or anything else) fails the test instead of leaving
the machine."""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Lets the tests here `import stripe_standin` whatever pytest's import mode.
sys.path.insert(0, str(Path(__file__).parent))

from stripe_standin import API_KEY, PUBLISHABLE_KEY, WEBHOOK_SECRET, StripeStandIn

from oflocal.payments.stripe_provider import StripeProvider
from oflocal.settings import Stripe

LOOPBACK = {"127.0.0.1", "::1", "localhost"}


def _local(address: Any) -> bool:
    if isinstance(address, tuple) and address:
        return str(address[0]) in LOOPBACK
    return isinstance(address, str | bytes)  # a Unix socket path


@pytest.fixture(autouse=True)
def no_internet(monkeypatch: pytest.MonkeyPatch) -> None:
    real_connect = socket.socket.connect
    real_getaddrinfo = socket.getaddrinfo

    def connect(self: socket.socket, address: Any) -> Any:
        if not _local(address):
            raise AssertionError(f"a test tried to reach {address!r}")
        return real_connect(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in LOOPBACK and host is not None:
            raise AssertionError(f"a test tried to resolve {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture
def standin() -> Iterator[StripeStandIn]:
    server = StripeStandIn().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def stripe_settings(standin: StripeStandIn) -> Stripe:
    return Stripe(secret_key=API_KEY, webhook_secret=WEBHOOK_SECRET, api_base=standin.url,
                  publishable_key=PUBLISHABLE_KEY)


@pytest.fixture
def provider(stripe_settings: Stripe) -> StripeProvider:
    return StripeProvider(stripe_settings)
