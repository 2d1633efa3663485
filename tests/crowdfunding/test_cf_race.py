"""Supporters pressing "pledge" at the same second, on real threads and both databases:
a limited return is never oversold, the losers get a clear sold-out refusal, and the
counts, the auditor and the ledger agree; also while reservations expire during the run
(an expiry run racing the pledges that release the same reservations)."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from cf_world import T0, audit, balances, build_world, claimed, request
from sqlalchemy import func, select

from oflocal.crowdfunding.models import Pledge
from oflocal.crowdfunding.payments import mark_paid
from oflocal.crowdfunding.pledge import make_pledge
from oflocal.crowdfunding.sweep import expire_reservations
from oflocal.db.engine import Database
from oflocal.errors import Refusal

pytestmark = pytest.mark.slow

THREADS, LIMIT = 40, 10


def _storm(db: Database, w, at, *, with_expiry_run: bool = False) -> Counter[str]:  # type: ignore[no-untyped-def]
    start = threading.Barrier(THREADS + (1 if with_expiry_run else 0))

    def one(i: int) -> str:
        start.wait()
        try:
            make_pledge(db, request(w, w.limited, email=f"s{i}@example.jp", method="card"),
                        now=at)
            return "reserved"
        except Refusal as refusal:
            return refusal.code

    def sweep() -> str:
        start.wait()
        expire_reservations(db, now=at)
        return "sweep"

    with ThreadPoolExecutor(THREADS + 1) as pool:
        futures = [pool.submit(one, i) for i in range(THREADS)]
        if with_expiry_run:
            futures.append(pool.submit(sweep))
        return Counter(f.result(timeout=120) for f in futures)


def _states(db: Database, w) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with db.read() as session:
        return dict(session.execute(select(Pledge.state, func.count())
                                    .where(Pledge.reward_id == w.limited)
                                    .group_by(Pledge.state)).all())


def test_forty_supporters_for_ten(db: Database) -> None:
    w = build_world(db, limit=LIMIT, per_supporter=None)
    outcomes = _storm(db, w, T0)
    assert outcomes == {"reserved": LIMIT, "reward.sold_out": THREADS - LIMIT}
    assert _states(db, w) == {"reserved": LIMIT} and claimed(db, w.limited) == LIMIT
    audit(db)
    # They all pay at once: the ledger holds exactly what the ten pledges owe.
    with db.read() as session:
        ids = session.execute(select(Pledge.id).where(Pledge.state == "reserved")).scalars().all()
    with ThreadPoolExecutor(LIMIT) as pool:
        list(pool.map(lambda p: mark_paid(db, p, source="provider", amount=5000, actor="t",
                                          now=T0), ids))
    assert balances(db, w.event_id)["pledges_held"] == -5000 * LIMIT
    audit(db)


def test_forty_supporters_while_the_held_stock_expires(db: Database) -> None:
    w = build_world(db, limit=LIMIT, per_supporter=None)
    for i in range(LIMIT):  # card reservations holding all the stock for half an hour
        make_pledge(db, request(w, w.limited, email=f"early{i}@example.jp", method="card"),
                    now=T0)
    outcomes = _storm(db, w, T0 + timedelta(minutes=31), with_expiry_run=True)
    assert outcomes == {"reserved": LIMIT, "reward.sold_out": THREADS - LIMIT, "sweep": 1}
    assert _states(db, w) == {"reserved": LIMIT, "expired": LIMIT}
    assert claimed(db, w.limited) == LIMIT
    audit(db)
