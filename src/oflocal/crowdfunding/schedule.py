"""When the crowdfunding sweep must run: at each payment deadline (reservations expire),
a day before it for pledges paid by transfer or at a konbini (the reminder), and at each
campaign's end (the outcome). One ``crowdfunding.sweep`` job per campaign and
moment, queued in the transaction that creates the need (a pledge, going live), deduped
by key, so a thousand pledges with one deadline queue one job. The sweep itself is in
``sweep.py``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import event
from sqlalchemy.orm import Session

from oflocal.db.engine import Database
from oflocal.jobs.queue import db_now, enqueue

SWEEP = "crowdfunding.sweep"
# Supporters who pay by transfer or at a konbini are reminded this long before their
# deadline (if the deadline is further away than that when they pledge).
REMIND_BEFORE = timedelta(hours=24)
REMINDED = ("bank_transfer", "konbini")


def schedule_sweep(db: Database, session: Session, campaign_id: int, at: datetime) -> None:
    """Queue the campaign's sweep for ``at`` unless it is queued already."""
    key = f"cf-sweep:{campaign_id}:{int(at.timestamp())}"
    queued: set[str] = db.memo.setdefault("crowdfunding_sweeps", set())
    if key in queued:  # a job row, once committed, is never deleted
        return
    delay = max((at - db_now(session)).total_seconds(), 0.0)
    enqueue(session, SWEEP, {"campaign_id": campaign_id}, dedupe_key=key,
            delay_seconds=delay + 1.0)
    event.listen(session, "after_commit", lambda _s: queued.add(key), once=True)
