"""Messages to supporters, written in the transaction of the change they tell about (an
outbox): a pledge and its "pledge received" commit together or not at all. Sending them
(e-mail over SMTP, or files under the data folder) is the outbox worker's job; this module
only records what must be said.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from oflocal.crowdfunding.models import SupporterNotice

NOTICE_KINDS = frozenset({
    "pledge_received",  # with the payment instructions and the deadline
    "payment_received",
    "late_payment_refund",  # paid after the stock was gone (or the campaign was decided)
    "campaign_failed_refund",  # all-or-nothing goal missed: the money goes back
    "refund_sent",
})

_INSERT = insert(cast(Table, SupporterNotice.__table__))


def notify(session: Session, pledge_id: int, kind: str, at: datetime, **facts: Any) -> None:
    if kind not in NOTICE_KINDS:
        raise ValueError(f"unknown notice kind {kind!r}")
    session.connection().execute(_INSERT, {"pledge_id": pledge_id, "kind": kind, "facts": facts,
                                           "created_at": at, "attempts": 0})
