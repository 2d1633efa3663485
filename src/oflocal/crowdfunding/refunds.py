"""A refund's life: requested → sent → confirmed; sent or confirmed → failed (the money
came back: a bounced transfer, or a card refund Stripe reports failed, even one it had
confirmed) → sent again (retried) or done by hand; requested → done by hand. Read this
file to know how money goes back to a supporter.

Refunds are requested by the outcome (an all-or-nothing campaign that failed), by a
late payment and by a duplicate payment (payments.py), one per payment and one per
pledge besides duplicates', by unique constraints: nothing is refunded twice. A
duplicate payment's refund leaves its pledge's state alone (the pledge stands).

Money leaves when a refund is sent (or done by hand): one entry from pledges held to
the account it leaves from (provider receivable for a card, the bank for a Zengin
transfer, cash at the desk), keyed by the refund and its attempt so that no attempt
posts twice. A failed transfer's money came back: the entry of that attempt is
reversed. Each step is a conditional UPDATE of the refund's state under its row lock.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from oflocal import clock
from oflocal.crowdfunding.models import DUPLICATE, REFUND_METHODS, Campaign, Pledge, Refund
from oflocal.crowdfunding.notices import notify
from oflocal.crowdfunding.payments import REFUND_ACCOUNT
from oflocal.db.engine import Database
from oflocal.db.rows import affected
from oflocal.errors import Refusal
from oflocal.idempotency.store import IdempotencyKey, Outcome, run_once
from oflocal.ledger.accounts import account_ids
from oflocal.ledger.journal import post_entry, reverse_entry
from oflocal.ledger.models import JournalEntry

STATE_NAMES = {
    "requested": ("返金待ち", "requested"),
    "sent": ("送金済み", "sent"),
    "confirmed": ("返金完了", "confirmed"),
    "failed": ("送金失敗", "failed"),
    "done_by_hand": ("手作業で返金済み", "done by hand"),
}


def attempt_key(refund_id: int, attempt: int) -> str:
    return f"refund:{refund_id}:{attempt}"


def _step(db: Database, refund_id: int, allowed: tuple[str, ...], idem: IdempotencyKey | None,
          change: Callable[[Session, Refund, int], dict[str, Any]]) -> Outcome:
    def work(session: Session) -> dict[str, Any]:
        refund = session.get(Refund, refund_id, with_for_update=True)
        if refund is None:
            raise Refusal("refund.not_found")
        if refund.state not in allowed:
            ja, en = STATE_NAMES[refund.state]
            raise Refusal("refund.wrong_state", state=ja, state_en=en)
        event_id = session.execute(
            select(Campaign.event_id).where(Campaign.id == refund.campaign_id)).scalar_one()
        body = change(session, refund, event_id)
        session.flush()
        return {"refund_id": refund.id, "pledge_id": refund.pledge_id, "state": refund.state,
                "attempts": refund.attempts, "amount": refund.amount, **body}

    return run_once(db, idem, work, status=200)


def _send(session: Session, refund: Refund, event_id: int, method: str, now: datetime,
          actor: str, state: str, **values: Any) -> int:
    """Money leaves: the entry of this attempt, the pledge refunded, the supporter told."""
    attempt = refund.attempts + 1
    accounts = account_ids(session, event_id, "pledges_held", REFUND_ACCOUNT[method])
    entry_id = post_entry(
        session, event_id=event_id, kind="refund",
        lines=[(accounts["pledges_held"], refund.amount),
               (accounts[REFUND_ACCOUNT[method]], -refund.amount)],
        occurred_at=now, memo=f"refund {refund.id} attempt {attempt} ({method})", actor=actor,
        once_key=attempt_key(refund.id, attempt),
    )
    _move(session, refund, state, attempts=attempt, method=method, sent_at=now, **values)
    if refund.reason != DUPLICATE:  # a duplicate payment's refund leaves the pledge as it is
        _pledge_to(session, refund.pledge_id, "refund_due", "refunded")
    notify(session, refund.pledge_id, "refund_sent", now, total=refund.amount, method=method,
           refund_id=refund.id)
    return entry_id


def _move(session: Session, refund: Refund, state: str, **values: Any) -> None:
    moved = affected(session.execute(
        update(Refund).where(Refund.id == refund.id, Refund.state == refund.state,
                             Refund.attempts == refund.attempts)
        .values(state=state, **values).execution_options(synchronize_session=False)
    ))
    if moved != 1:  # cannot happen under the row lock; never guess
        raise AssertionError(f"refund {refund.id} changed under its lock")
    session.refresh(refund)


def _pledge_to(session: Session, pledge_id: int, old: str, new: str) -> None:
    moved = affected(session.execute(
        update(Pledge).where(Pledge.id == pledge_id, Pledge.state == old).values(state=new)
        .execution_options(synchronize_session=False)
    ))
    if moved != 1:
        raise AssertionError(f"pledge {pledge_id} is not {old}")


def mark_refund_sent(db: Database, refund_id: int, *, actor: str,
                     idem: IdempotencyKey | None = None, now: datetime | None = None) -> Outcome:
    """The money went out (the provider's refund, or the Zengin transfer, was made);
    also how a failed refund is retried."""
    at = now or clock.now()

    def change(session: Session, refund: Refund, event_id: int) -> dict[str, Any]:
        return {"entry_id": _send(session, refund, event_id, refund.method, at, actor, "sent")}

    return _step(db, refund_id, ("requested", "failed"), idem, change)


def mark_refund_confirmed(db: Database, refund_id: int, *, idem: IdempotencyKey | None = None,
                          now: datetime | None = None) -> Outcome:
    """The provider or the bank confirmed the money arrived. Nothing moves."""
    at = now or clock.now()

    def change(session: Session, refund: Refund, event_id: int) -> dict[str, Any]:
        _move(session, refund, "confirmed", confirmed_at=at)
        return {}

    return _step(db, refund_id, ("sent",), idem, change)


def mark_refund_failed(db: Database, refund_id: int, *, reason: str, actor: str,
                       idem: IdempotencyKey | None = None, now: datetime | None = None
                       ) -> Outcome:
    """The transfer bounced (a wrong account, a closed one), or the provider reports a
    card refund failed (even one it had confirmed: Stripe's ``charge.refund.updated``
    with ``failed``, a closed card): its money came back, so the entry of that attempt
    is reversed and the pledge is to be refunded again (retried, or done by hand)."""
    at = now or clock.now()
    if not reason.strip():
        raise Refusal("request.invalid", detail="reason")

    def change(session: Session, refund: Refund, event_id: int) -> dict[str, Any]:
        sent = session.execute(select(JournalEntry.id).where(
            JournalEntry.once_key == attempt_key(refund.id, refund.attempts))).scalar_one()
        back = reverse_entry(session, sent, kind="refund", occurred_at=at, actor=actor,
                             memo=f"refund {refund.id} attempt {refund.attempts} failed")
        _move(session, refund, "failed", failed_at=at, failure=reason.strip()[:300])
        if refund.reason != DUPLICATE:
            _pledge_to(session, refund.pledge_id, "refunded", "refund_due")
        return {"entry_id": back}

    return _step(db, refund_id, ("sent", "confirmed"), idem, change)


def mark_refund_done_by_hand(db: Database, refund_id: int, *, method: str, note: str,
                             actor: str, idem: IdempotencyKey | None = None,
                             now: datetime | None = None) -> Outcome:
    """The treasurer gave the money back another way (cash at the desk, a transfer made
    by hand): it leaves the account named by ``method``."""
    at = now or clock.now()
    if method not in REFUND_METHODS:
        raise Refusal("request.invalid", detail=f"method: one of {', '.join(REFUND_METHODS)}")
    if not note.strip():
        raise Refusal("request.invalid", detail="note")

    def change(session: Session, refund: Refund, event_id: int) -> dict[str, Any]:
        entry_id = _send(session, refund, event_id, method, at, actor, "done_by_hand",
                         note=note.strip()[:300])
        return {"entry_id": entry_id}

    return _step(db, refund_id, ("requested", "failed"), idem, change)
