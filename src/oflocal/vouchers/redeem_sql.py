"""A redemption as one PostgreSQL statement: the fast path of :mod:`oflocal.vouchers.redeem`.

The same work as redeem.py's transaction, in one round trip: the same conditional UPDATE
decides which tickets are taken; when it took every ticket asked for, the statement
writes the journal entry and its postings (:func:`oflocal.ledger.journal.entry_sql`, the
journal's writer in SQL), the redemptions (each copying the event's open period through
``oflocal_open_period``, which shares the event's settlement lock), the answer, and the
request's idempotency record. A statement is atomic, so one ticket needs no transaction
around it (autocommit: no ``BEGIN``, no ``COMMIT``); several tickets run it in a
transaction that is rolled back when it took fewer than all of them.

It answers only the everyday case: every ticket valid and free, a new key. Anything else
(a ticket refused, a race lost, a key already used) returns ``None`` having changed
nothing, and redeem.py's path decides and explains it. Both paths write the same rows
(tests/test_redeem_fast_path.py compares them column by column).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Date, Integer, String, bindparam, text
from sqlalchemy.exc import IntegrityError

from oflocal.db.base import UTCDateTime
from oflocal.db.engine import Database
from oflocal.idempotency.store import IdempotencyKey
from oflocal.ledger.accounts import payable_code
from oflocal.ledger.journal import entry_sql

# Account codes in SQL, as ledger/accounts.py makes them (liability_code).
_LIABILITY_CODE = "'voucher_liability:P' || taken.programme_id"

_REDEEM = f"""WITH taken AS (
  UPDATE ticket SET status = 'redeemed'
  WHERE ticket.code = ANY (CAST(:codes AS text[])) AND ticket.status = 'active'
    AND ticket.programme_id IN (
      SELECT programme.id FROM programme JOIN workshop ON workshop.event_id = programme.event_id
      WHERE workshop.id = :workshop_id AND workshop.participating
        AND programme.valid_from <= :today AND programme.valid_until >= :today)
  RETURNING ticket.id, ticket.code, ticket.denomination, ticket.programme_id),
here AS (  -- the workshop, only when every ticket asked for was taken
  SELECT workshop.event_id, workshop.name, workshop.code FROM workshop
  WHERE workshop.id = :workshop_id AND (SELECT count(*) FROM taken) = :count),
head AS (
  SELECT here.event_id, CAST('redemption' AS text) AS kind,
    CAST(:memo_head AS text) || here.code AS memo, :at AS occurred_at,
    CAST(:actor AS text) AS actor
  FROM here),
lines AS (  -- each programme's voucher liability debited; the workshop's payable credited last
  SELECT 1 AS n, account.id AS account_id, sum(taken.denomination) AS amount
  FROM taken CROSS JOIN here
  JOIN account ON account.event_id = here.event_id AND account.code = {_LIABILITY_CODE}
  GROUP BY account.id
  UNION ALL
  SELECT 2, account.id, -sum(taken.denomination)
  FROM taken CROSS JOIN here
  JOIN account ON account.event_id = here.event_id AND account.code = :payable_code
  GROUP BY account.id),
{entry_sql(head="head", lines="lines")},
recorded AS (
  INSERT INTO redemption
    (ticket_id, workshop_id, programme_id, amount, entry_id, redeemed_at, open_period)
  SELECT taken.id, :workshop_id, taken.programme_id, taken.denomination, entry.id, :at,
    oflocal_open_period(here.event_id)
  FROM taken CROSS JOIN entry CROSS JOIN here),
answer AS (  -- what redeem.py's path answers, key for key
  SELECT json_build_object(
    'redemption_id', entry.id,
    'workshop_id', :workshop_id,
    'workshop_name', here.name,
    'total', (SELECT sum(taken.denomination) FROM taken),
    'tickets', (SELECT json_agg(json_build_object('code', t.code, 'denomination', t.denomination)
                                ORDER BY array_position(CAST(:codes AS text[]), t.code))
                FROM taken AS t),
    'redeemed_at', CAST(:redeemed_at AS text),
    'undo_until', CAST(:undo_until AS text)) AS body
  FROM entry CROSS JOIN here){{kept}}
SELECT answer.body FROM answer"""  # noqa: S608 (constant text; values are bound)

# The request's idempotency record, as idempotency/store.py's _record writes it; its
# primary key refuses a key already used, which fails the whole statement.
_KEPT = """,
kept AS (
  INSERT INTO idempotency_record (scope, "key", request_hash, status_code, body, created_at)
  SELECT :scope, :key, :request_hash, 201, CAST(answer.body AS text), :at FROM answer)"""

_TYPES = (
    bindparam("workshop_id", type_=Integer()),
    bindparam("count", type_=Integer()),
    bindparam("today", type_=Date()),
    bindparam("at", type_=UTCDateTime()),
    bindparam("payable_code", type_=String()),
)
_WITH_KEY = text(_REDEEM.format(kept=_KEPT)).bindparams(*_TYPES)
_WITHOUT_KEY = text(_REDEEM.format(kept="")).bindparams(*_TYPES)


class _NotAll(Exception):
    """The statement took fewer tickets than asked for: roll its transaction back."""


def redeem_in_one_statement(
    db: Database,
    *,
    workshop_id: int,
    codes: list[str],
    today: date,
    now: datetime,
    undo_window: int,
    idem: IdempotencyKey | None,
) -> dict[str, Any] | None:
    """The redemption's answer, committed; or ``None``, nothing changed (see the module)."""
    params: dict[str, Any] = {
        "codes": codes,
        "count": len(codes),
        "workshop_id": workshop_id,
        "today": today,
        "at": now,
        "memo_head": f"{len(codes)} ticket(s) at ",
        "actor": f"workshop:{workshop_id}",
        "payable_code": payable_code(workshop_id),
        "redeemed_at": now.isoformat(),
        "undo_until": (now + timedelta(seconds=undo_window)).isoformat(),
    }
    statement = _WITHOUT_KEY
    if idem is not None:
        statement = _WITH_KEY
        params.update(scope=idem.scope, key=idem.key, request_hash=idem.request_hash)
    try:
        if len(codes) == 1:  # one ticket is taken or not: the statement is the transaction
            with db.single_statement_engine.connect() as conn:
                row = conn.execute(statement, params).first()
            return None if row is None else dict(row.body)
        with db.write() as session:
            row = session.connection().execute(statement, params).first()
            if row is None:
                raise _NotAll
            return dict(row.body)
    except (_NotAll, IntegrityError):
        return None
