"""2,000 supporters pledge at once over HTTP for a return limited to 100: uvicorn with two
worker processes on the test's database (SQLite, PostgreSQL), 2,000 pledges from 40
keep-alive client threads. Exactly 100 are reserved, the 1,900 others are told
``409 reward.sold_out`` (nothing else, no 5xx), the return's counter, its pledges and the
auditor agree, and once the 100 are paid the ledger holds exactly their money.

The second run has 100 reservations already holding all the stock, with payment
deadlines that pass while the first half of the spike is running, and the expiry running
meanwhile (the server's ``crowdfunding.sweep`` jobs at those deadlines and an expiry
loop in this process): every released unit is taken again by the second half, exactly
once.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from pledge_spike import PRICE, seed_campaign, stock, storm
from sqlalchemy import select, update

from oflocal import clock
from oflocal.audit import verify
from oflocal.crowdfunding.models import Pledge
from oflocal.crowdfunding.payments import mark_paid
from oflocal.crowdfunding.pledge import PledgeRequest, make_pledge
from oflocal.crowdfunding.schedule import schedule_sweep
from oflocal.crowdfunding.sweep import expire_reservations
from oflocal.db.engine import Database
from oflocal.ledger.verify import trial_balance
from serverutil import running_server, server_log

pytestmark = [pytest.mark.slow]

PLEDGES, LIMIT, CLIENTS = 2_000, 100, 40


def _audit(db: Database) -> None:
    with db.read() as session:
        report = verify(session)
    assert report.ok, report.failures


def _pay_all_and_check_ledger(db: Database, event_id: int, reward_id: int) -> None:
    with db.read() as session:
        ids = session.execute(select(Pledge.id).where(
            Pledge.reward_id == reward_id, Pledge.state == "reserved")).scalars().all()
    assert len(ids) == LIMIT
    for pledge_id in ids:
        mark_paid(db, pledge_id, source="bank", amount=PRICE, actor="test")
    with db.read() as session:
        held = {r["account"]: r["balance"] for r in trial_balance(session, event_id)}
    assert held["pledges_held"] == -PRICE * LIMIT
    _audit(db)


def test_two_thousand_supporters_for_a_hundred(db: Database, db_url: str,
                                               tmp_path: Path) -> None:
    spike = seed_campaign(db, limit=LIMIT)
    with running_server(db_url, tmp_path, workers=2) as base:
        answers, seconds = storm(base, spike, PLEDGES, CLIENTS)
    outcomes = Counter((status, code) for status, code, _ in answers)
    assert outcomes == {(201, "reserved"): LIMIT, (409, "reward.sold_out"): PLEDGES - LIMIT}, (
        outcomes, server_log(tmp_path)[-3000:])
    assert stock(db, spike) == (LIMIT, {"reserved": LIMIT})
    _audit(db)
    _pay_all_and_check_ledger(db, spike.event_id, spike.reward_id)
    print(f"\n{PLEDGES} pledges in {seconds:.1f} s ({PLEDGES / seconds:.0f}/s)")


def test_while_the_held_stock_expires(db: Database, db_url: str, tmp_path: Path) -> None:
    spike = seed_campaign(db, limit=LIMIT)
    now = clock.now()
    for n in range(LIMIT):  # earlier supporters holding all the stock
        make_pledge(db, PledgeRequest(
            campaign_id=spike.campaign_id, reward_id=spike.reward_id, name=f"先{n}",
            email=f"early{n}@example.jp", phone="090-1234-5678",
            payment_method="bank_transfer"))
    # Their deadlines pass one after another while the first half of the spike runs,
    # and the server's sweep jobs are due at those moments.
    first = now + timedelta(seconds=4)
    deadlines = [first + timedelta(milliseconds=20 * n) for n in range(LIMIT)]
    with db.write() as session:
        for n, at in enumerate(deadlines):
            session.execute(update(Pledge).where(Pledge.supporter_email == f"early{n}@example.jp")
                            .values(payment_deadline=at))
        for at in deadlines[::25] + deadlines[-1:]:
            schedule_sweep(db, session, spike.campaign_id, at)
    last = deadlines[-1]
    stop = threading.Event()

    def expiry_loop() -> None:
        while not stop.is_set():
            expire_reservations(db, campaign_id=spike.campaign_id)
            time.sleep(0.05)

    def after_the_last_deadline() -> None:
        time.sleep(max((last - clock.now()).total_seconds(), 0) + 0.05)

    with running_server(db_url, tmp_path, workers=2) as base:
        sweeper = threading.Thread(target=expiry_loop, daemon=True)
        time.sleep(max((first - clock.now()).total_seconds() - 1.0, 0))  # start 1 s before
        sweeper.start()
        try:
            answers, seconds = storm(base, spike, PLEDGES, CLIENTS,
                                     halfway=after_the_last_deadline, tag="expiring")
        finally:
            stop.set()
            sweeper.join()
    outcomes = Counter((status, code) for status, code, _ in answers)
    assert outcomes == {(201, "reserved"): LIMIT, (409, "reward.sold_out"): PLEDGES - LIMIT}, (
        outcomes, server_log(tmp_path)[-3000:])
    claimed, states = stock(db, spike)
    assert (claimed, states) == (LIMIT, {"reserved": LIMIT, "expired": LIMIT})
    _audit(db)
    _pay_all_and_check_ledger(db, spike.event_id, spike.reward_id)
    print(f"\n{PLEDGES} pledges (100 expiring) in {seconds:.1f} s")
