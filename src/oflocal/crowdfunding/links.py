"""Addresses supporters are sent to, in one place (the web routes serve them).

They start at ``OFLOCAL_PUBLIC_URL``, the address the public reaches this installation
at (``http://127.0.0.1:8000`` for ``make run``).
"""

from __future__ import annotations

import os

DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"


def public_url() -> str:
    return (os.environ.get("OFLOCAL_PUBLIC_URL") or DEFAULT_PUBLIC_URL).rstrip("/")


def campaign_path(event_slug: str, campaign_slug: str) -> str:
    """The campaign's public page (web/pages/supporters.py)."""
    return f"/c/{event_slug}/{campaign_slug}"


def campaign_url(event_slug: str, campaign_slug: str) -> str:
    return public_url() + campaign_path(event_slug, campaign_slug)


def my_page_url() -> str:
    """The supporter's own page (web/pages/my_pledges.py): every pledge of an address."""
    return public_url() + "/my"


def refund_account_path(token: str) -> str:
    return f"/refund-account/{token}"


def refund_account_url(token: str) -> str:
    return public_url() + refund_account_path(token)


def pledge_number(pledge_id: int) -> str:
    """What a supporter quotes when asking about a pledge: 「P-000012」."""
    return f"P-{pledge_id:06d}"
