"""A model of the crowdfunding money, replayed against the real services and database.

Hypothesis drives a campaign: supporters pledge for a return limited to 3 (by card, held
half an hour, or bank transfer, held to the end of the 7th day in Tokyo), pay (on time,
late after their reservation expired, after cancelling, after the outcome), cancel,
time passes, the expiry run runs, the outcome is decided (too early, while payments
may still come, then once) and refunds go through their states. An independent model in
plain Python predicts every answer, and after every step the pledges' states, the
return's count, the campaign's state, the refunds and every account's balance are
compared with the database, and the auditor must pass.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from cf_world import ENDS, T0, audit, balances, build_world, request
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select

from oflocal.crowdfunding.models import Campaign, Pledge, Refund, Reward
from oflocal.crowdfunding.outcome import decide_outcome
from oflocal.crowdfunding.payments import mark_paid, record_provider_payment
from oflocal.crowdfunding.pledge import cancel_pledge, make_pledge
from oflocal.crowdfunding.refunds import (
    mark_refund_confirmed,
    mark_refund_done_by_hand,
    mark_refund_failed,
    mark_refund_sent,
)
from oflocal.crowdfunding.sweep import expire_reservations
from oflocal.db.engine import Database
from oflocal.errors import Refusal

pytestmark = pytest.mark.slow

LIMIT, PRICE, GOAL, FEE = 3, 5000, 10_000, 100
TOKYO = ZoneInfo("Asia/Tokyo")
ACCOUNTS = ("pledges_held", "bank", "cash", "provider_receivable", "crowdfunding_income",
            "payment_fees")
REFUND_ACCOUNT = {"provider": "provider_receivable", "bank_transfer": "bank", "cash": "cash"}


def deadline(method: str, now: datetime) -> datetime:
    if method == "card":
        return now + timedelta(minutes=30)
    day = now.astimezone(TOKYO).date() + timedelta(days=8)
    return datetime(day.year, day.month, day.day, tzinfo=TOKYO)


@dataclass
class P:
    id: int
    method: str
    state: str = "reserved"
    deadline: datetime = T0
    paid: bool = False
    refund: dict[str, Any] | None = None


class CampaignMachine(RuleBasedStateMachine):
    new_database: Callable[[], str]

    def __init__(self) -> None:
        super().__init__()
        self.db = Database(self.new_database())
        self.w = build_world(self.db, goal=GOAL, limit=LIMIT, per_supporter=None,
                             methods=("bank_transfer", "card"))
        self.now = T0
        self.pledges: list[P] = []
        self.claimed = 0
        self.state = "live"
        self.money = dict.fromkeys(ACCOUNTS, 0)
        self.n = 0

    def teardown(self) -> None:
        self.db.dispose()

    # --- the model's rules ------------------------------------------------------
    def _expired(self) -> list[P]:
        return [p for p in self.pledges if p.state == "reserved" and p.deadline <= self.now]

    def _release(self) -> None:
        for p in self._expired():
            p.state = "expired"
            self.claimed -= 1

    def _refund(self, p: P, method: str) -> None:
        p.refund = {"state": "requested", "attempts": 0,
                    "method": "provider" if method == "card" else "bank_transfer"}

    def _expect(self, code: str | None, call: Callable[[], Any]) -> Any:
        try:
            result = call()
        except Refusal as refusal:
            assert refusal.code == code, refusal
            return None
        assert code is None, f"expected {code}"
        return result

    # --- rules --------------------------------------------------------------------
    @rule(method=st.sampled_from(["card", "bank_transfer"]))
    def pledge(self, method: str) -> None:
        self.n += 1
        call = lambda: make_pledge(self.db, request(self.w, self.w.limited, method=method,  # noqa: E731
                                                    email=f"s{self.n}@example.jp"), now=self.now)
        if self.state != "live" or self.now >= ENDS:
            self._expect("campaign.not_open", call)
            return
        if self.claimed - len(self._expired()) + 1 > LIMIT:
            self._expect("reward.sold_out", call)  # the release is rolled back with it
            return
        self._release()
        body = self._expect(None, call).body
        self.claimed += 1
        self.pledges.append(P(body["pledge_id"], method, deadline=deadline(method, self.now)))

    @initialize(first=st.sampled_from(["card", "bank_transfer"]))
    def two_supporters(self, first: str) -> None:
        self.pledge(first)
        self.pledge("bank_transfer")

    @precondition(lambda self: self.pledges)
    @rule(newest=st.booleans())
    def pay_newest(self, newest: bool) -> None:
        """Payments are what most steps should be about: the newest, or the oldest."""
        self.pay(-1 if newest else 0)

    @precondition(lambda self: self.pledges)
    @rule(i=st.integers(0, 100))
    def pay(self, i: int) -> None:
        p = self.pledges[i % len(self.pledges)]
        card = p.method == "card"

        def call() -> Any:
            if card:
                out = record_provider_payment(self.db, provider="stripe", event_id=f"evt{self.n}",
                                              kind="payment_intent.succeeded", pledge_id=p.id,
                                              amount=PRICE, fee=FEE, now=self.now)
                if "refused" in out:
                    raise Refusal(out["refused"])
                return out
            return mark_paid(self.db, p.id, source="bank", amount=PRICE, actor="t",
                             now=self.now).body

        self.n += 1
        if p.paid:
            self._expect("pledge.already_paid", call)
            return
        decided = self.state in ("succeeded", "failed")
        if decided:
            accepted = False
            if card:
                self.money["payment_fees"] += FEE
                self.money["provider_receivable"] -= FEE
        elif p.state == "reserved":
            accepted = True
        elif p.state == "cancelled":
            accepted = False
        else:
            self._release()
            accepted = self.claimed + 1 <= LIMIT
            self.claimed += accepted
        out = self._expect(None, call)
        assert out["accepted"] is accepted, (out, p)
        event(f"payment {'accepted' if accepted else 'refunded'} ({p.state})")
        p.paid = True
        p.state = "paid" if accepted else "refund_due"
        if not accepted:
            self._refund(p, p.method)
        self.money["provider_receivable" if card else "bank"] += PRICE
        self.money["pledges_held"] -= PRICE

    @precondition(lambda self: self.pledges)
    @rule(i=st.integers(0, 100))
    def cancel(self, i: int) -> None:
        p = self.pledges[i % len(self.pledges)]
        call = lambda: cancel_pledge(self.db, p.id, now=self.now)  # noqa: E731
        if p.state != "reserved":
            self._expect("pledge.not_cancellable", call)
            return
        self._expect(None, call)
        p.state = "cancelled"
        self.claimed -= 1

    @rule(minutes=st.sampled_from([10, 40, 60 * 24 * 2, 60 * 24 * 5]))
    def time_passes(self, minutes: int) -> None:
        self.now += timedelta(minutes=minutes)

    @rule()
    def expiry_run(self) -> None:
        assert expire_reservations(self.db, now=self.now) == len(self._expired())
        self._release()

    @rule()
    def decide(self) -> None:
        call = lambda: decide_outcome(self.db, self.w.campaign_id, now=self.now).body  # noqa: E731
        if self.state in ("succeeded", "failed"):
            assert self._expect(None, call)["already_decided"]
            return
        if self.now < ENDS:
            self._expect("campaign.not_ended", call)
            return
        self._release()
        body = self._expect(None, call)
        if any(p.state == "reserved" for p in self.pledges):
            self.state = "waiting_payments"
            assert body["state"] == "waiting_payments"
            return
        paid = [p for p in self.pledges if p.state == "paid"]
        fees = FEE * sum(1 for p in self.pledges if p.paid and p.method == "card")
        self.money["payment_fees"] += fees
        self.money["provider_receivable"] -= fees
        if len(paid) * PRICE >= GOAL:
            self.state = "succeeded"
            self.money["pledges_held"] += len(paid) * PRICE
            self.money["crowdfunding_income"] -= len(paid) * PRICE
        else:
            self.state = "failed"
            for p in paid:
                p.state = "refund_due"
                self.claimed -= 1
                self._refund(p, p.method)
        assert body["state"] == self.state
        event(f"campaign {self.state}")

    @precondition(lambda self: any(p.refund for p in self.pledges))
    @rule(i=st.integers(0, 100),
          action=st.sampled_from(["sent", "confirmed", "failed", "by_hand"]))
    def refund_step(self, i: int, action: str) -> None:
        owed = [p for p in self.pledges if p.refund]
        p = owed[i % len(owed)]
        r = p.refund
        assert r is not None
        with self.db.read() as session:
            refund_id = session.execute(select(Refund.id).where(Refund.pledge_id == p.id)
                                        ).scalar_one()
        calls = {
            "sent": (("requested", "failed"),
                     lambda: mark_refund_sent(self.db, refund_id, actor="t", now=self.now)),
            "confirmed": (("sent",), lambda: mark_refund_confirmed(self.db, refund_id,
                                                                   now=self.now)),
            "failed": (("sent", "confirmed"),
                       lambda: mark_refund_failed(self.db, refund_id, reason="x", actor="t",
                                                  now=self.now)),
            "by_hand": (("requested", "failed"),
                        lambda: mark_refund_done_by_hand(self.db, refund_id, method="cash",
                                                         note="desk", actor="t",
                                                         now=self.now)),
        }
        allowed, call = calls[action]
        if r["state"] not in allowed:
            self._expect("refund.wrong_state", call)
            return
        self._expect(None, call)
        event(f"refund {action}")
        if action in ("sent", "by_hand"):
            account = REFUND_ACCOUNT["cash" if action == "by_hand" else r["method"]]
            r["attempts"] += 1
            r["state"] = "sent" if action == "sent" else "done_by_hand"
            r["last"] = account
            self.money["pledges_held"] += PRICE
            self.money[account] -= PRICE
            p.state = "refunded"
        elif action == "failed":
            r["state"] = "failed"
            self.money["pledges_held"] -= PRICE
            self.money[r["last"]] += PRICE
            p.state = "refund_due"
        else:
            r["state"] = "confirmed"

    # --- the database agrees with the model after every step ------------------------
    @invariant()
    def agrees(self) -> None:
        with self.db.read() as session:
            states = dict(session.execute(select(Pledge.id, Pledge.state)).all())
            refunds = {pid: (s, a) for pid, s, a in session.execute(
                select(Refund.pledge_id, Refund.state, Refund.attempts))}
            claimed = session.execute(select(Reward.claimed)
                                      .where(Reward.id == self.w.limited)).scalar_one()
            state = session.execute(select(Campaign.state)
                                    .where(Campaign.id == self.w.campaign_id)).scalar_one()
        assert states == {p.id: p.state for p in self.pledges}
        assert refunds == {p.id: (p.refund["state"], p.refund["attempts"])
                           for p in self.pledges if p.refund}
        assert claimed == self.claimed <= LIMIT
        assert state == self.state
        b = balances(self.db, self.w.event_id)
        assert {k: b[k] for k in ACCOUNTS} == self.money
        audit(self.db)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_crowdfunding_follows_the_model(backend: str, templates: Any) -> None:
    new_database: Callable[[], str] = (
        templates.sqlite_url if backend == "sqlite" else templates.postgres_url)
    new_database()  # skips here, not inside hypothesis, when PostgreSQL is not configured

    class Machine(CampaignMachine):
        pass

    Machine.new_database = staticmethod(new_database)
    run_state_machine_as_test(Machine, settings=settings(
        max_examples=6, stateful_step_count=35, deadline=None,  # the 10-minute budget
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]))
