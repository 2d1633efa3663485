"""The reservation guard: how a limited return is never oversold. Read this file to know it.

A return's row carries ``claimed``: the quantity its reserved and paid pledges hold.
Stock is taken by one guarded statement inside the pledge's write transaction::

    UPDATE reward SET claimed = claimed + :q, pledges_made = pledges_made + 1
    WHERE id = :id AND (quantity_limit IS NULL OR claimed + :q <= quantity_limit)
    RETURNING pledges_made

No row back: sold out. The database decides the race, on both backends: SQLite runs one
writer at a time (BEGIN IMMEDIATE); on PostgreSQL the statement locks the row, and a
concurrent one waits for the commit and re-checks its WHERE against the new count. A check
constraint (``claimed <= quantity_limit``) is the last line of defence. Nobody counts
pledges and then inserts (the bug Catarse, Open Collective and Goteo shipped).

Stock comes back by the same counter: a reservation past its payment deadline is expired
by :func:`release_expired`, which every guarded pledge for the return runs first (in its
own transaction, so a sold-out answer never waits for a sweep) and the expiry run runs
for all returns. A pledge answered "sold out" without the guarded transaction
(pledge.py's ``_look``) saw the return full and no reservation past its deadline in one
snapshot; with one past its deadline it takes the guarded path and releases it. Every
move out of reserved/paid lowers ``claimed`` in the transaction that makes it, so
``claimed`` = Σ quantity of reserved + paid pledges always (the auditor checks it), and
paid + reserved-and-unexpired ≤ limit.

Lock order, to never deadlock: the campaign's row (shared, by pledges and payments; for
update by the outcome), then pledge rows, in id order, then the return's row. A release
waits for a pledge another transaction holds (another release, a payment arriving for
it) and then sees what that transaction did: skipping it instead would let a pledge
answer "sold out" while stock is being given back (the race test shows it).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Connection, Table, bindparam, func, select, update

from oflocal import clock
from oflocal.crowdfunding.models import Pledge, Reward

_reward = cast(Table, Reward.__table__)
_pledge = cast(Table, Pledge.__table__)

_CLAIM = (
    update(_reward)
    .where(
        _reward.c.id == bindparam("rid"),
        (_reward.c.quantity_limit.is_(None))
        | (_reward.c.claimed + bindparam("q") <= _reward.c.quantity_limit),
    )
    .values(claimed=_reward.c.claimed + bindparam("q"),
            pledges_made=_reward.c.pledges_made + bindparam("made"))
    .returning(_reward.c.pledges_made)
)
_GIVE_BACK = (
    update(_reward)
    .where(_reward.c.id == bindparam("rid"))
    .values(claimed=_reward.c.claimed - bindparam("q"))
)
_EXPIRED = (
    select(_pledge.c.id)
    .where(
        _pledge.c.reward_id == bindparam("rid"),
        _pledge.c.state == "reserved",
        _pledge.c.payment_deadline <= bindparam("now"),
    )
    .order_by(_pledge.c.id)  # locked in id order by every releaser: they never deadlock
    .with_for_update()
)
_EXPIRE = (
    update(_pledge)
    .where(_pledge.c.id.in_(_EXPIRED), _pledge.c.state == "reserved")
    .values(state="expired", ended_at=bindparam("now"))
    .returning(_pledge.c.quantity)
)
_LEFT = select(_reward.c.quantity_limit, _reward.c.claimed).where(
    _reward.c.id == bindparam("rid"))


def claim(conn: Connection, reward_id: int, quantity: int, *, new_pledge: bool = True
          ) -> int | None:
    """Take ``quantity`` of the return's stock; the return's pledge serial if taken
    (``new_pledge``: count a new pledge), None when there is not enough left."""
    row = conn.execute(_CLAIM, {"rid": reward_id, "q": quantity,
                                "made": 1 if new_pledge else 0}).first()
    return None if row is None else int(row.pledges_made)


def give_back(conn: Connection, reward_id: int, quantity: int) -> None:
    """A pledge stopped holding stock (expired, cancelled, refunded): in its transaction."""
    if quantity:
        conn.execute(_GIVE_BACK, {"rid": reward_id, "q": quantity})


def release_expired(conn: Connection, reward_id: int, now: datetime) -> int:
    """Expire the return's reservations past their deadline; the quantity given back."""
    released = sum(int(q) for q in conn.execute(_EXPIRE, {"rid": reward_id, "now": now})
                   .scalars())
    give_back(conn, reward_id, released)
    return released


def left(conn: Connection, reward_id: int) -> int | None:
    """What is left of a limited return now (None: unlimited)."""
    row = conn.execute(_LEFT, {"rid": reward_id}).one()
    return None if row.quantity_limit is None else max(row.quantity_limit - row.claimed, 0)


def held_by(conn: Connection, reward_id: int, email: str) -> int:
    """What one supporter (by e-mail) holds of a return. Read after :func:`claim`: the
    return's row is then locked by this transaction, so no other pledge for it can
    commit in between (per-supporter limits are exact too)."""
    return int(conn.execute(
        select(func.coalesce(func.sum(_pledge.c.quantity), 0)).where(
            _pledge.c.reward_id == reward_id,
            _pledge.c.supporter_email == email,
            _pledge.c.state.in_(("reserved", "paid")),
        )
    ).scalar_one())


# --- Payment deadlines and transfer references ---------------------------------------

CARD_HOLD = timedelta(minutes=30)  # a card payment is confirmed by the provider at once


def payment_deadline(method: str, now: datetime, payment_days: int) -> datetime:
    """Until when a new pledge's stock is held: 23:59:59 Tokyo ``payment_days`` days on
    for bank transfers and konbini (konbini vouchers end then too), the end of today for
    cash at the desk, half an hour for a card."""
    if method == "card":
        return now + CARD_HOLD
    days = 0 if method == "cash" else payment_days
    return clock.start_of_tokyo_day(clock.tokyo_date(now) + timedelta(days=days + 1))


def transfer_reference(reward_number: int, serial: int) -> str:
    """The digits a supporter types before their name on a bank transfer: the return's
    number, the pledge's serial for that return (5 digits) and a Luhn check digit, so
    a typo is caught when matching. Unique per campaign by construction (and by a
    unique constraint)."""
    body = f"{reward_number}{serial:05d}"
    return body + str(_luhn(body))


def _luhn(digits: str) -> int:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return (10 - total % 10) % 10
