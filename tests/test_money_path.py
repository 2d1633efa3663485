"""The voucher money path end to end through the services, on both databases."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from oflocal import clock
from oflocal.audit import verify
from oflocal.db.engine import Database
from oflocal.demo import build_event
from oflocal.errors import Refusal
from oflocal.idempotency.store import IdempotencyKey, request_hash
from oflocal.ledger.models import Posting
from oflocal.ledger.verify import trial_balance
from oflocal.vouchers.codes import CodeSigner
from oflocal.vouchers.desk import sell_booklets, void_booklet
from oflocal.vouchers.expiry import expire_programme
from oflocal.vouchers.models import Ticket
from oflocal.vouchers.redeem import redeem_tickets, undo_redemption


def _setup(db: Database, signer: CodeSigner, booklets: int = 5):  # type: ignore[no-untyped-def]
    with db.write() as s:
        return build_event(s, signer, workshops=3, booklets=booklets)


def _tickets(db: Database, booklet_code: str) -> list[str]:
    with db.read() as s:
        return list(
            s.execute(
                text(
                    "SELECT t.code FROM ticket t JOIN booklet b ON b.id = t.booklet_id "
                    "WHERE b.code = :c ORDER BY t.serial"
                ),
                {"c": booklet_code},
            ).scalars()
        )


def _balances(db: Database, event_id: int) -> dict[str, int]:
    with db.read() as s:
        return {row["account"]: row["balance"] for row in trial_balance(s, event_id)}  # type: ignore[misc]


def test_sale_redeem_undo_expire_keeps_every_identity(db: Database, signer: CodeSigner) -> None:
    sc = _setup(db, signer)
    sale = sell_booklets(
        db, signer, programme_id=sc.programme_id, codes=sc.booklet_codes[:2],
        payment_method="cash", actor="staff:1",
    )
    assert sale.body["amount_paid"] == 5000 and sale.body["face_total"] == 6000
    b = _balances(db, sc.event_id)
    assert b["cash"] == 5000 and b["premium_fund"] == 1000
    assert b[f"voucher_liability:P{sc.programme_id}"] == -6000

    codes = _tickets(db, sc.booklet_codes[0])
    out = redeem_tickets(db, signer, workshop_id=sc.workshop_ids[0], codes=codes[:4])
    assert out.body["total"] == 2000
    b = _balances(db, sc.event_id)
    assert b[f"payable:W{sc.workshop_ids[0]}"] == -2000
    assert b[f"voucher_liability:P{sc.programme_id}"] == -4000

    with pytest.raises(Refusal) as again:
        redeem_tickets(db, signer, workshop_id=sc.workshop_ids[1], codes=[codes[0]])
    assert again.value.code == "ticket.already_redeemed"
    assert "大野木工所" in again.value.message("ja")

    undo_redemption(db, workshop_id=sc.workshop_ids[0], redemption_id=out.body["redemption_id"])
    b = _balances(db, sc.event_id)
    assert b[f"payable:W{sc.workshop_ids[0]}"] == 0
    assert b[f"voucher_liability:P{sc.programme_id}"] == -6000
    redeem_tickets(db, signer, workshop_id=sc.workshop_ids[1], codes=[codes[0]])

    later = clock.now() + timedelta(days=10)
    expired = expire_programme(db, programme_id=sc.programme_id, actor="t", now=later)
    assert expired["amount"] == 6000 - 500
    with db.read() as s:
        report = verify(s)
    assert report.ok, report.failures
    assert _balances(db, sc.event_id)["breakage"] == -5500


def test_refusals_change_nothing(db: Database, signer: CodeSigner) -> None:
    sc = _setup(db, signer)
    codes = _tickets(db, sc.booklet_codes[0])
    with db.read() as s:
        before = s.execute(select(Ticket.status).order_by(Ticket.id)).scalars().all()
    with pytest.raises(Refusal) as unsold:
        redeem_tickets(db, signer, workshop_id=sc.workshop_ids[0], codes=codes[:2])
    assert unsold.value.code == "ticket.not_sold"
    sell_booklets(db, signer, programme_id=sc.programme_id, codes=[sc.booklet_codes[0]],
                  payment_method="cash", actor="x")
    # one good ticket and one unsold ticket: all-or-nothing
    other = _tickets(db, sc.booklet_codes[1])
    with pytest.raises(Refusal) as mixed:
        redeem_tickets(db, signer, workshop_id=sc.workshop_ids[0], codes=[codes[0], other[0]])
    assert mixed.value.code == "ticket.not_sold"
    with db.read() as s:
        assert s.execute(text("SELECT count(*) FROM redemption")).scalar_one() == 0
        after = s.execute(select(Ticket.status).order_by(Ticket.id)).scalars().all()
    assert after.count("active") == 6 and len(after) == len(before)


def test_idempotent_retry_returns_first_outcome(db: Database, signer: CodeSigner) -> None:
    sc = _setup(db, signer)
    sell_booklets(db, signer, programme_id=sc.programme_id, codes=[sc.booklet_codes[0]],
                  payment_method="cash", actor="x")
    codes = _tickets(db, sc.booklet_codes[0])
    key = IdempotencyKey("workshop:1", "k-1", request_hash(codes[:1]))
    first = redeem_tickets(db, signer, workshop_id=sc.workshop_ids[0], codes=codes[:1], idem=key)
    second = redeem_tickets(db, signer, workshop_id=sc.workshop_ids[0], codes=codes[:1], idem=key)
    assert second.replayed and second.body == first.body
    other = IdempotencyKey("workshop:1", "k-1", request_hash(codes[1:2]))
    with pytest.raises(Refusal) as reused:
        redeem_tickets(db, signer, workshop_id=sc.workshop_ids[0], codes=codes[1:2], idem=other)
    assert reused.value.code == "idempotency.key_reused"
    # a refusal is remembered too
    bad = IdempotencyKey("workshop:1", "k-2", request_hash(codes[:1]))
    for _ in range(2):
        with pytest.raises(Refusal) as refused:
            redeem_tickets(db, signer, workshop_id=sc.workshop_ids[1], codes=codes[:1], idem=bad)
        assert refused.value.code == "ticket.already_redeemed"


def test_budget_and_void(db: Database, signer: CodeSigner) -> None:
    with db.write() as s:
        sc = build_event(s, signer, workshops=2, booklets=4, premium_budget=1000)
    sell_booklets(db, signer, programme_id=sc.programme_id, codes=sc.booklet_codes[:2],
                  payment_method="cash", actor="x")
    with pytest.raises(Refusal) as budget:
        sell_booklets(db, signer, programme_id=sc.programme_id, codes=[sc.booklet_codes[2]],
                      payment_method="cash", actor="x")
    assert budget.value.code == "sale.budget_exhausted"
    void_booklet(db, signer, code=sc.booklet_codes[3], reason="破損", actor="x")
    with pytest.raises(Refusal) as voided:
        redeem_tickets(db, signer, workshop_id=sc.workshop_ids[0],
                       codes=_tickets(db, sc.booklet_codes[3])[:1])
    assert voided.value.code == "ticket.voided"
    with db.read() as s:
        assert verify(s).ok


def test_database_refuses_to_edit_the_journal(db: Database, signer: CodeSigner) -> None:
    sc = _setup(db, signer)
    sell_booklets(db, signer, programme_id=sc.programme_id, codes=[sc.booklet_codes[0]],
                  payment_method="cash", actor="x")
    for statement in (
        "UPDATE posting SET amount = amount + 1",
        "DELETE FROM posting",
        "UPDATE journal_entry SET memo = 'x'",
        "DELETE FROM sale",
        "UPDATE ticket SET status = 'printed' WHERE status = 'active'",
    ):
        with pytest.raises(DBAPIError), db.write() as s:
            s.execute(text(statement))
    with db.write() as s:
        entry = s.execute(select(Posting.entry_id)).scalars().first()
        account = s.execute(select(Posting.account_id)).scalars().first()
    # a posting added to a closed entry, and an unbalanced new entry, are refused
    with pytest.raises(DBAPIError), db.write() as s:
        s.execute(text("INSERT INTO posting (entry_id, account_id, amount, closes_entry) "
                       "VALUES (:e, :a, 5, false)"), {"e": entry, "a": account})
