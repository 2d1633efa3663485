"""A redemption on PostgreSQL is one statement (vouchers/redeem_sql.py) when every ticket
is valid and free; it must write exactly what the transaction of redeem.py writes.

Each test redeems the same kind of request twice in one database, once by the statement
(``redeem_tickets`` on its own) and once by the Python path (``redeem_tickets`` inside an
open write, where the statement is never used), and compares every column, with ids and
times replaced by how they relate. On SQLite there is no statement to compare: there the
test checks that ``redeem_tickets`` never calls it. PostgreSQL directly and through
PgBouncer (no server-side prepared statements).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from backends import RACE_BACKENDS
from oflocal import clock
from oflocal.audit import verify
from oflocal.db.engine import Database
from oflocal.demo import build_event
from oflocal.errors import Refusal
from oflocal.events.setup import ProgrammeTerms, create_programme
from oflocal.idempotency.store import IdempotencyKey, Outcome, request_hash
from oflocal.vouchers import redeem as redeem_module
from oflocal.vouchers.codes import CodeSigner
from oflocal.vouchers.desk import sell_booklets
from oflocal.vouchers.issue import add_booklets
from oflocal.vouchers.redeem import redeem_tickets, undo_redemption
from oflocal.vouchers.redeem_sql import redeem_in_one_statement

pytestmark = pytest.mark.parametrize("db_url", RACE_BACKENDS, indirect=True)


def _world(db: Database, signer: CodeSigner) -> dict[str, Any]:
    """One event, two programmes (¥500 and ¥1,000 tickets), two booklets of each sold."""
    now = clock.now()
    day = clock.tokyo_date(now)
    with db.write() as session:
        sc = build_event(session, signer, slug="fast", workshops=2, booklets=2)
        second, _ = create_programme(session, sc.event_id, ProgrammeTerms(
            name="千円券", price=9000, face_value=10000, denominations=[1000] * 10,
            sales_starts_at=now - timedelta(days=1), sales_ends_at=now + timedelta(days=3),
            issue_date=day - timedelta(days=1), valid_from=day - timedelta(days=1),
            valid_until=day + timedelta(days=3), premium_budget=100_000,
            max_booklets_per_sale=10))
        batch = add_booklets(session, signer, second.id, 2, now=now, actor="test")
        second_covers = [signer.make("B", second.id, batch.first_booklet_serial + i)
                         for i in range(2)]
    for programme, covers in ((sc.programme_id, sc.booklet_codes[:2]), (second.id, second_covers)):
        sell_booklets(db, signer, programme_id=programme, codes=covers, payment_method="cash",
                      actor="test")
    with db.read() as session:
        tickets = session.execute(text(
            "SELECT t.programme_id, t.code FROM ticket t WHERE t.status = 'active' "
            "ORDER BY t.programme_id, t.id")).all()
    by_programme: dict[int, list[str]] = {}
    for programme_id, code in tickets:
        by_programme.setdefault(programme_id, []).append(code)
    return {"event": sc.event_id, "workshop": sc.workshop_ids[0],
            "first": by_programme[sc.programme_id], "second": by_programme[second.id]}


def _books_verify(db: Database) -> None:
    with db.read() as session:
        report = verify(session)
    assert report.ok, report.failures


def _key(workshop: int, key: str, codes: list[str]) -> IdempotencyKey:
    return IdempotencyKey(f"workshop:{workshop}", key, request_hash(codes))


def _by_statement(db: Database, signer: CodeSigner, workshop: int, codes: list[str],
                  key: str, now: datetime) -> Outcome:
    return redeem_tickets(db, signer, workshop_id=workshop, codes=codes,
                          idem=_key(workshop, key, codes), now=now)


def _by_python(db: Database, signer: CodeSigner, workshop: int, codes: list[str],
               key: str, now: datetime) -> Outcome:
    with db.write():  # an open write: redeem_tickets runs inside it, never as one statement
        return redeem_tickets(db, signer, workshop_id=workshop, codes=codes,
                              idem=_key(workshop, key, codes), now=now)


def _written(db: Database, outcome: Outcome, key: str, now: datetime) -> dict[str, Any]:
    """Every column the redemption wrote, ids and times replaced by how they relate."""
    entry_id = outcome.body["redemption_id"]
    with db.read() as session:
        c = session.connection()
        entry = c.execute(text(
            "SELECT event_id, kind, memo, occurred_at, once_key, reverses_entry_id, actor "
            "FROM journal_entry WHERE id = :e"), {"e": entry_id}).one()
        postings = c.execute(text(
            "SELECT a.code, p.amount, p.closes_entry FROM posting p "
            "JOIN account a ON a.id = p.account_id WHERE p.entry_id = :e ORDER BY p.id"),
            {"e": entry_id}).all()
        redemptions = c.execute(text(
            "SELECT t.code, t.status, r.workshop_id, r.programme_id, r.amount, r.redeemed_at, "
            "r.undone_at, r.undo_entry_id, r.open_period FROM redemption r "
            "JOIN ticket t ON t.id = r.ticket_id WHERE r.entry_id = :e ORDER BY t.code"),
            {"e": entry_id}).all()
        stored = c.execute(text(
            'SELECT status_code, request_hash, body, created_at FROM idempotency_record '
            'WHERE "key" = :k'), {"k": key}).one()
    body = json.loads(stored.body)
    return {
        "answer": {**outcome.body, "redemption_id": "<entry>"},
        "answer is the stored body": body == outcome.body,
        "entry": (entry.event_id, entry.kind, entry.memo, entry.once_key,
                  entry.reverses_entry_id, entry.actor, _at(entry.occurred_at) == now),
        "postings": [tuple(p) for p in postings],
        "redemptions": [(*r[:5], _at(r.redeemed_at) == now, *r[6:]) for r in redemptions],
        "stored": (stored.status_code, len(stored.request_hash), _at(stored.created_at) >= now),
    }


def _at(value: Any) -> datetime:
    """A stored time as an aware UTC datetime (SQLite hands back naive text)."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _same_shape(a: dict[str, Any], b: dict[str, Any], codes_a: list[str],
                codes_b: list[str]) -> None:
    """Compare two redemptions of different tickets: codes replaced by their position."""
    def blind(found: dict[str, Any], codes: list[str]) -> str:
        dumped = json.dumps(found, default=str, sort_keys=True, ensure_ascii=False)
        for i, code in enumerate(codes):
            dumped = dumped.replace(code, f"<code {i}>")
        return dumped
    assert blind(a, codes_a) == blind(b, codes_b)


@pytest.mark.parametrize("shape", [(1, 0), (3, 2)], ids=["one ticket", "five of two programmes"])
def test_the_statement_writes_what_the_python_path_writes(
        db: Database, signer: CodeSigner, shape: tuple[int, int],
        monkeypatch: pytest.MonkeyPatch) -> None:
    world = _world(db, signer)
    first, second = shape
    now = clock.now()
    codes_a = world["first"][:first] + world["second"][:second]
    codes_b = world["first"][first:2 * first] + world["second"][second:2 * second]
    calls: list[dict[str, Any] | None] = []

    def counting(*args: Any, **kwargs: Any) -> dict[str, Any] | None:
        calls.append(redeem_in_one_statement(*args, **kwargs))
        return calls[-1]

    monkeypatch.setattr(redeem_module, "redeem_in_one_statement", counting)
    fast = _by_statement(db, signer, world["workshop"], codes_a, "fast", now)
    slow = _by_python(db, signer, world["workshop"], codes_b, "slow", now)
    # The open write of _by_python never calls it; on PostgreSQL the first redemption was
    # the statement's (it answered), on SQLite it is never called.
    assert [body is not None for body in calls] == ([] if db.is_sqlite else [True])
    a, b = _written(db, fast, "fast", now), _written(db, slow, "slow", now)
    assert a["answer is the stored body"] and bool(a["postings"][-1][2])
    assert a["answer"]["total"] == 500 * first + 1000 * second
    _same_shape(a, b, codes_a, codes_b)
    _books_verify(db)


def test_a_refused_ticket_among_several_changes_nothing(db: Database,
                                                        signer: CodeSigner) -> None:
    """The statement takes the two good tickets, sees it did not take all three, and its
    transaction is rolled back; the Python path then names the refused ticket."""
    world = _world(db, signer)
    good = world["first"][:2]
    redeem_tickets(db, signer, workshop_id=world["workshop"], codes=[world["second"][0]])
    codes = [*good, world["second"][0]]
    with pytest.raises(Refusal) as refused:
        redeem_tickets(db, signer, workshop_id=world["workshop"], codes=codes,
                       idem=_key(world["workshop"], "mixed", codes))
    assert refused.value.code == "ticket.already_redeemed"
    assert refused.value.facts["code"] == world["second"][0]
    with db.read() as session:
        statuses = session.execute(text("SELECT status FROM ticket WHERE code IN (:a, :b)"),
                                   {"a": good[0], "b": good[1]}).scalars().all()
        entries = session.execute(text("SELECT count(*) FROM journal_entry "
                                       "WHERE kind = 'redemption'")).scalar_one()
    assert statuses == ["active", "active"] and entries == 1
    _books_verify(db)


def test_a_key_used_again_after_an_undo_replays_the_first_answer(
        db: Database, signer: CodeSigner) -> None:
    """The ticket is free again after the undo, so the statement takes it; the key's
    primary key fails the statement, nothing is written, and the first answer comes back."""
    world = _world(db, signer)
    codes = world["first"][:1]
    idem = _key(world["workshop"], "again", codes)
    first = redeem_tickets(db, signer, workshop_id=world["workshop"], codes=codes, idem=idem)
    undo_redemption(db, workshop_id=world["workshop"],
                    redemption_id=first.body["redemption_id"])
    again = redeem_tickets(db, signer, workshop_id=world["workshop"], codes=codes, idem=idem)
    assert again.replayed and again.body == first.body
    with db.read() as session:
        status = session.execute(text("SELECT status FROM ticket WHERE code = :c"),
                                 {"c": codes[0]}).scalar_one()
        entries = session.execute(text("SELECT count(*) FROM journal_entry "
                                       "WHERE kind = 'redemption'")).scalar_one()
    assert status == "active" and entries == 1
    _books_verify(db)
