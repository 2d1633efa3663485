"""Closing periods while workshops redeem (and undo) at the same time, through a real
HTTP server (uvicorn, own process) on SQLite, on PostgreSQL and through PgBouncer.

What must hold: the sum over all periods equals the sum of live redemptions, every
redemption is in exactly one period once the last close ran, each period's lines are
exactly the redemptions the membership rule gives it (worked out independently in
the test), none is counted twice, an undone redemption is in no period, and a
redemption acknowledged before a close was sent, redeemed up to that cut-off, is in
that period or an earlier one.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from backends import through_pgbouncer
from oflocal import clock
from oflocal.auth.models import StaffUser
from oflocal.auth.service import issue_api_token
from oflocal.db.engine import Database
from oflocal.settlement.models import SettlementLine, SettlementPeriod
from oflocal.vouchers.codes import CodeSigner
from oflocal.vouchers.models import Redemption
from serverutil import running_server
from test_settlement import make_world, period_numbers

pytestmark = [pytest.mark.slow, through_pgbouncer]


@pytest.fixture
def server(db_url: str, secret: bytes, tmp_path: Path) -> Iterator[str]:
    """``uvicorn --factory oflocal.web.asgi:app_from_env`` against the test database."""
    with running_server(db_url, tmp_path, secret=secret.decode()) as base:
        yield base


@dataclass
class Ack:
    entry_id: int
    total: int
    redeemed_at: datetime
    acked: float  # time.monotonic() when the response arrived


@dataclass
class Close:
    sent: float
    cutoff: datetime
    period_id: int | None = None


@dataclass
class Log:
    acks: list[Ack] = field(default_factory=list)
    undone: list[int] = field(default_factory=list)
    undo_refused: list[int] = field(default_factory=list)
    closes: list[Close] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def test_closing_while_redeeming_puts_each_redemption_in_exactly_one_period(
    db: Database, signer: CodeSigner, server: str
) -> None:
    world = make_world(db, signer, workshops=4, booklets=40, sold=40)  # 240 tickets
    with db.write() as session:
        user = StaffUser(username="race-treasurer", display_name="t", role="treasurer",
                         password_hash="!", created_at=clock.now())
        session.add(user)
        session.flush()
        treasurer_id = user.id
    treasurer = issue_api_token(db, name="t", staff_user_id=treasurer_id)
    workshop_tokens = [issue_api_token(db, name=f"w{i}", workshop_id=w)
                       for i, w in enumerate(world.sc.workshop_ids)]
    log = Log()
    stop = threading.Event()
    codes = world.tickets

    def redeemer(index: int) -> None:
        mine = codes[index::len(workshop_tokens)]
        headers = {"Authorization": f"Bearer {workshop_tokens[index]}"}
        checkpoints = [len(mine) * k // 4 for k in (1, 2, 3)]
        with httpx.Client(base_url=server, headers=headers, timeout=60) as client:
            i = 0
            while i < len(mine):
                if checkpoints and i >= checkpoints[0]:
                    # However slow the machine, some closes land inside the stream:
                    # at each quarter, wait for one more period to have closed.
                    wanted = 4 - len(checkpoints)
                    checkpoints.pop(0)
                    with closed:
                        closed.wait_for(lambda n=wanted: periods_closed() >= n, timeout=30)
                batch = mine[i:i + 1 + (i % 2)]  # one or two tickets per request
                i += len(batch)
                r = client.post("/api/v1/redemptions", json={"codes": batch},
                                headers={"Idempotency-Key": uuid.uuid4().hex})
                if r.status_code != 201:
                    with log.lock:
                        log.errors.append(f"redeem {r.status_code} {r.text}")
                    continue
                body = r.json()
                ack = Ack(body["redemption_id"], body["total"],
                          datetime.fromisoformat(body["redeemed_at"]), time.monotonic())
                with log.lock:
                    log.acks.append(ack)
                if i % 7 == 0:  # now and then, the booth undoes what it just took
                    u = client.post(f"/api/v1/redemptions/{ack.entry_id}/undo",
                                    headers={"Idempotency-Key": uuid.uuid4().hex})
                    with log.lock:
                        if u.status_code == 200:
                            log.undone.append(ack.entry_id)
                        elif u.json().get("code") == "undo.settled":
                            log.undo_refused.append(ack.entry_id)
                        else:
                            log.errors.append(f"undo {u.status_code} {u.text}")

    def closer() -> None:
        headers = {"Authorization": f"Bearer {treasurer}"}
        with httpx.Client(base_url=server, headers=headers, timeout=120) as client:
            while not stop.is_set():
                close_once(client)
                time.sleep(0.15)

    def close_once(client: httpx.Client) -> None:
        sent = time.monotonic()
        cutoff = clock.now()
        r = client.post(f"/api/v1/events/{world.sc.event_id}/settlement/periods",
                        json={"cutoff_at": cutoff.isoformat()})
        record = Close(sent, cutoff)
        if r.status_code == 201:
            record.period_id = r.json()["period_id"]
        elif r.json().get("code") != "settlement.nothing_to_settle":
            with log.lock:
                log.errors.append(f"close {r.status_code} {r.text}")
        with log.lock:
            log.closes.append(record)
        with closed:
            closed.notify_all()

    closed = threading.Condition()

    def periods_closed() -> int:
        with log.lock:
            return sum(1 for c in log.closes if c.period_id is not None)

    threads = [threading.Thread(target=redeemer, args=(i,)) for i in range(len(workshop_tokens))]
    closing = threading.Thread(target=closer)
    closing.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    closing.join()
    with httpx.Client(base_url=server, headers={"Authorization": f"Bearer {treasurer}"},
                      timeout=120) as client:
        close_once(client)  # after everything: takes whatever is left

    assert not log.errors, log.errors[:5]
    periods = [c for c in log.closes if c.period_id is not None]
    assert len(periods) >= 3, "the closes should have overlapped the redemptions"
    undone = set(log.undone)
    acked_live = {a.entry_id: a for a in log.acks if a.entry_id not in undone}
    with db.read() as s:
        rows = s.execute(select(Redemption.id, Redemption.entry_id, Redemption.workshop_id,
                                Redemption.amount, Redemption.undone_at)).all()
        line_total = s.execute(select(func.sum(SettlementLine.face_total))).scalar_one()
        number = dict(s.execute(select(SettlementPeriod.id, SettlementPeriod.number)).all())
        frozen = {(number[ln.period_id], ln.workshop_id): (ln.ticket_count, ln.face_total)
                  for ln in s.execute(select(SettlementLine)).scalars()}
    live = [r for r in rows if r.undone_at is None]
    assert {r.entry_id for r in live} == set(acked_live)
    # The sum over periods equals the sum of redemptions: none lost, none twice.
    assert line_total == sum(r.amount for r in live) == sum(a.total for a in acked_live.values())
    numbers = period_numbers(db)
    settled_in = {r.id: n for r in live if (n := numbers[r.id]) is not None}
    assert len(settled_in) == len(live), "a live redemption is in no period"
    assert all(numbers[r.id] is None for r in rows if r.undone_at is not None)
    # Every line is exactly what the rule gives its period and workshop.
    expected: dict[tuple[int, int], tuple[int, int]] = {}
    for r in live:
        key = (settled_in[r.id], r.workshop_id)
        count, face = expected.get(key, (0, 0))
        expected[key] = (count + 1, face + r.amount)
    assert frozen == expected
    assert set(log.undo_refused) <= {r.entry_id for r in live}
    # Acknowledged before a close was sent and redeemed up to its cut-off: in that
    # period or an earlier one.
    period_of = {r.entry_id: settled_in[r.id] for r in live}
    for close in periods:
        assert close.period_id is not None
        for ack in acked_live.values():
            if ack.acked < close.sent and ack.redeemed_at <= close.cutoff:
                assert period_of[ack.entry_id] <= number[close.period_id], (ack, close)
    world.assert_verified()
