"""A sold-out pledge answered in one PostgreSQL statement: the fast path of
:func:`oflocal.crowdfunding.pledge.make_pledge` during a spike.

The statement is pledge.py's look (the campaign, the return, the key's stored outcome,
whether a reservation is past its deadline) and, in the same snapshot, the INSERT of the
``reward.sold_out`` refusal as the key's outcome when every check the pledge makes before
"sold out" passes and the return is full with nothing past its deadline. One round trip
in autocommit instead of two (the look, then the INSERT).

The checks that need Python (the amount against the return's price, the answers against
its items) are made before the statement on the return's terms as this process last saw
them (:data:`_TERMS`), and the statement inserts only if the row still has exactly those
terms (price, free amount, items). Terms not seen yet, or changed, or a check failing:
nothing is inserted, and pledge.py goes on from the look as usual. So the answer and the
stored outcome are the ones the two-step path gives (tests/crowdfunding/test_cf_pledge.py
compares them).
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Row, text

from oflocal.db.base import UTCDateTime
from oflocal.db.engine import Database
from oflocal.errors import Refusal
from oflocal.idempotency.store import IdempotencyKey

_LEFT = "@@LEFT@@"  # where the statement writes what is left, in the stored answer

# The columns of pledge.py's ``_LOOK`` (the read on both databases), here as text.
_LOOK_COLUMNS = """campaign.id AS campaign_id, campaign.event_id, campaign.state,
    campaign.starts_at, campaign.ends_at, campaign.payment_methods, campaign.payment_days,
    reward.id AS reward_id, reward.campaign_id AS reward_campaign_id, reward.price,
    reward.free_amount, reward.items, reward.quantity_limit, reward.claimed,
    EXISTS (SELECT 1 FROM pledge WHERE pledge.reward_id = :rid AND pledge.state = 'reserved'
            AND pledge.payment_deadline <= :now) AS expired,
    rec.request_hash, rec.status_code, rec.body"""

_STATEMENT = text(f"""WITH look AS (
  SELECT {_LOOK_COLUMNS}
  FROM (SELECT 1) AS one
  LEFT OUTER JOIN campaign ON campaign.id = :cid
  LEFT OUTER JOIN reward ON reward.id = :rid
  LEFT OUTER JOIN idempotency_record AS rec ON rec.scope = :scope AND rec."key" = :key),
refused AS (  -- the key's outcome, only when the pledge is sold out now (see the module)
  INSERT INTO idempotency_record (scope, "key", request_hash, status_code, body, created_at)
  SELECT :scope, :key, :request_hash, 409,
    replace(:body, '{_LEFT}', CAST(GREATEST(look.quantity_limit - look.claimed, 0) AS text)),
    :now
  FROM look
  WHERE look.status_code IS NULL AND look.reward_campaign_id = :cid
    AND look.state = 'live' AND look.starts_at <= :now AND :now < look.ends_at
    AND CAST(look.payment_methods AS jsonb) @> jsonb_build_array(CAST(:method AS text))
    AND look.price = :price AND look.free_amount = :free_amount
    AND CAST(look.items AS jsonb) = CAST(:items AS jsonb)
    AND look.quantity_limit IS NOT NULL AND look.claimed + :q > look.quantity_limit
    AND NOT look.expired
  ON CONFLICT DO NOTHING
  RETURNING 1)
SELECT look.*, EXISTS (SELECT 1 FROM refused) AS refused FROM look""").columns(  # noqa: S608 (constant text; values are bound)
    starts_at=UTCDateTime(), ends_at=UTCDateTime())

# A return's terms as last read by this process, per database: (price, free amount,
# items). Only a hint: the statement checks them against the row.
Terms = tuple[int, bool, list[dict[str, Any]]]
_TERMS: dict[tuple[str, int], Terms] = {}
_MAX_TERMS = 1000


def remember_terms(db: Database, reward_id: int, terms: Terms) -> None:
    if len(_TERMS) >= _MAX_TERMS:
        _TERMS.clear()
    _TERMS[(db.url, reward_id)] = terms


def terms_seen(db: Database, reward_id: int) -> Terms | None:
    return _TERMS.get((db.url, reward_id))


@cache
def _body() -> str:
    """The stored answer of ``reward.sold_out`` as run_once stores it, with a mark for
    what is left (a number in ``detail`` and in the messages)."""
    body = json.dumps(Refusal("reward.sold_out", left=_LEFT).to_body("en"),
                      ensure_ascii=False)
    return body.replace(f'"{_LEFT}"', _LEFT)


def look_and_refuse(
    db: Database, *, campaign_id: int, reward_id: int, method: str, quantity: int,
    terms: Terms, idem: IdempotencyKey, now: datetime,
) -> Row[Any]:
    """The look's row, with ``refused``: the sold-out refusal was stored under ``idem``."""
    price, free_amount, items = terms
    params = {
        "cid": campaign_id, "rid": reward_id, "now": now, "scope": idem.scope,
        "key": idem.key, "request_hash": idem.request_hash, "body": _body(),
        "method": method, "price": price, "free_amount": free_amount,
        "items": json.dumps(items, ensure_ascii=False), "q": quantity,
    }
    with db.single_statement_engine.connect() as conn:
        return conn.execute(_STATEMENT, params).one()
