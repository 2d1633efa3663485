"""The pledge spike, shared by the HTTP race test (test_pledge_race_http.py) and the
benchmark (bench/pledge_bench.py): a live campaign on the real clock with one return
limited to ``limit``, and keep-alive clients sending pledges over HTTP from threads.

The clients use the standard library's ``http.client`` (as tests/test_race.py does):
on the 2-core machine httpx would spend the CPU the server under test needs.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from oflocal import clock
from oflocal.crowdfunding.campaigns import add_reward, create_campaign, go_live
from oflocal.crowdfunding.models import Pledge, Reward
from oflocal.db.engine import Database
from oflocal.demo import build_event, describe_demo_committee
from oflocal.vouchers.codes import CodeSigner

LEGAL = {
    "representative": "山田太郎", "phone": "0766-00-0000",
    "price_note": "表示価格はすべて税込です。",
    "extra_charges": "振込手数料はご負担ください。",
    "payment_terms": "銀行振込：お申し込みから7日以内。",
    "delivery_terms": "各リターンに記載の月にお届けします。",
    "cancellation_terms": "入金前はいつでも取り消せます。入金後の返品はお受けできません。",
}
PRICE = 5000


@dataclass(frozen=True)
class Spike:
    event_id: int
    campaign_id: int
    reward_id: int

    @property
    def path(self) -> str:
        return f"/api/v1/public/campaigns/{self.campaign_id}/pledges"


def seed_campaign(db: Database, *, limit: int = 100, slug: str = "spike") -> Spike:
    """A live all-or-nothing campaign (on the real clock) with a return limited to ``limit``."""
    now = clock.now()
    with db.write() as session:
        scenario = build_event(session, CodeSigner(b"k" * 32), slug=slug, workshops=1,
                               booklets=0)
        describe_demo_committee(session, scenario.event_id)  # the account transfers go to
    campaign = create_campaign(
        db, event_id=scenario.event_id, slug="hitsuji", title="ひつじ団", goal=1_000_000,
        starts_at=now - timedelta(hours=1), ends_at=now + timedelta(days=30),
        payment_methods=["bank_transfer", "cash", "card"], now=now - timedelta(hours=1),
        **LEGAL)
    reward = add_reward(db, campaign.id, title="特別工場見学", price=PRICE,
                        quantity_limit=limit, delivery_month="2027-03",
                        items=[{"kind": "tour_invite"}])
    go_live(db, campaign.id, now=now - timedelta(hours=1))
    return Spike(scenario.event_id, campaign.id, reward.id)


def body(spike: Spike, n: int) -> dict[str, Any]:
    return {"reward_id": spike.reward_id, "name": f"支援者{n}",
            "email": f"s{n}@example.jp", "phone": "090-1234-5678",
            "payment_method": "bank_transfer"}


class KeepAlive:
    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def post(self, path: str, payload: Any, key: str) -> tuple[int, dict[str, Any]]:
        self.connection.request("POST", path, json.dumps(payload), {
            "Content-Type": "application/json", "Idempotency-Key": key})
        answer = self.connection.getresponse()
        return answer.status, json.loads(answer.read())

    def close(self) -> None:
        self.connection.close()


Answer = tuple[int, str, float]  # status, code (or "reserved"), seconds


def storm(base: str, spike: Spike, pledges: int, clients: int, *,
          halfway: Callable[[], None] | None = None, tag: str = "race") -> tuple[
              list[Answer], float]:
    """``pledges`` pledges (distinct supporters and keys) from ``clients`` threads that
    start together; ``halfway`` runs in every client between its two halves (after a
    barrier). Answers and the wall time."""
    port = int(base.rsplit(":", 1)[1])
    start = threading.Barrier(clients, timeout=120)
    middle = threading.Barrier(clients, timeout=300)

    def client(index: int) -> list[Answer]:
        mine = list(range(index, pledges, clients))
        half = len(mine) // 2
        http = KeepAlive(port)
        answers: list[Answer] = []
        try:
            start.wait()
            for i, n in enumerate(mine):
                if i == half and halfway is not None:
                    middle.wait()
                    halfway()
                    http.close()  # idle past uvicorn's keep-alive timeout: a new one
                    http = KeepAlive(port)
                sent = time.perf_counter()
                status, answer = http.post(spike.path, body(spike, n), f"{tag}-{n}")
                code = "reserved" if status == 201 else str(answer.get("code"))
                answers.append((status, code, time.perf_counter() - sent))
        finally:
            http.close()
        return answers

    began = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = [f.result() for f in [pool.submit(client, i) for i in range(clients)]]
    return [a for r in results for a in r], time.perf_counter() - began


def stock(db: Database, spike: Spike) -> tuple[int, dict[str, int]]:
    """The return's ``claimed`` and its pledges by state."""
    with db.read() as session:
        claimed = session.execute(select(Reward.claimed).where(
            Reward.id == spike.reward_id)).scalar_one()
        states = dict(session.execute(
            select(Pledge.state, func.count()).where(Pledge.reward_id == spike.reward_id)
            .group_by(Pledge.state)).all())
    return int(claimed), {str(k): int(v) for k, v in states.items()}
