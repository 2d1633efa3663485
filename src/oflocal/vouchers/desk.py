"""The sales desk: selling booklets (which makes their tickets valid) and voiding stock.

One sale is one journal entry (DESIGN.md): debit the payment account with what the
buyer paid and the premium fund with the premium, credit voucher liability with the
face value. The premium budget is enforced by a conditional UPDATE on the programme
row plus a check constraint, so parallel desks cannot overspend it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from oflocal import clock
from oflocal.db.engine import Database
from oflocal.db.rows import affected
from oflocal.errors import Refusal
from oflocal.format import en_minute, ja_minute
from oflocal.idempotency.store import IdempotencyKey, Outcome, run_once
from oflocal.ledger.accounts import PAYMENT_ACCOUNT, account_ids, liability_code
from oflocal.ledger.journal import post_entry
from oflocal.vouchers.codes import CodeSigner
from oflocal.vouchers.issue import void_booklets
from oflocal.vouchers.lookup import authentic_codes
from oflocal.vouchers.models import Booklet, Programme, Sale, Ticket


def sell_booklets(
    db: Database,
    signer: CodeSigner,
    *,
    programme_id: int,
    codes: list[str],
    payment_method: str,
    actor: str,
    idem: IdempotencyKey | None = None,
    now: datetime | None = None,
) -> Outcome:
    """Sell booklets at the desk; all of them or none. Returns the receipt."""
    at = now or clock.now()

    def work(session: Session) -> dict[str, Any]:
        return _sell(session, signer, programme_id, codes, payment_method, actor, at)

    return run_once(db, idem, work)


def _sell(
    session: Session,
    signer: CodeSigner,
    programme_id: int,
    texts: list[str],
    payment_method: str,
    actor: str,
    now: datetime,
) -> dict[str, Any]:
    if payment_method not in PAYMENT_ACCOUNT:
        raise Refusal("request.invalid", detail=f"payment_method {payment_method!r}")
    programme = session.get(Programme, programme_id)
    if programme is None:
        raise Refusal("programme.not_found")
    codes = authentic_codes(signer, texts, "B", limit=programme.max_booklets_per_sale)
    if not programme.sales_starts_at <= now < programme.sales_ends_at:
        raise Refusal(
            "sale.window_closed",
            starts=programme.sales_starts_at,
            ends=programme.sales_ends_at,
        )
    sale = hand_over(session, programme, codes, method=payment_method,
                     paid_from=PAYMENT_ACCOUNT[payment_method], kind="sale", actor=actor,
                     now=now)
    return {
        "receipt_number": sale.receipt_number,
        "sale_id": sale.id,
        "programme_id": programme_id,
        "booklets": codes,
        "booklet_count": sale.booklet_count,
        "amount_paid": sale.amount_paid,
        "face_total": sale.face_total,
        "premium_total": sale.premium_total,
        "payment_method": payment_method,
        "sold_at": now.isoformat(),
    }


def hand_over(
    session: Session,
    programme: Programme,
    codes: list[str],
    *,
    method: str,
    paid_from: str,
    kind: str,
    actor: str,
    now: datetime,
) -> Sale:
    """Make printed booklets valid, inside the caller's write transaction: one journal
    entry (debit ``paid_from`` with the price and the premium fund with the premium,
    credit voucher liability with the face), one :class:`Sale` row, the booklets sold and
    their tickets active. A desk sale is paid at the desk; a crowdfunding return's
    booklets were paid by the pledge (``supporters/pickup.py``). Refuses, changing
    nothing, a booklet unknown, of another programme, voided or already handed over,
    and a premium budget that cannot pay for them."""
    booklets = {
        b.code: b
        for b in session.execute(select(Booklet).where(Booklet.code.in_(codes))).scalars()
    }
    for code in codes:
        booklet = booklets.get(code)
        if booklet is None:
            raise Refusal("booklet.unknown", code=code)
        if booklet.programme_id != programme.id:
            raise Refusal("booklet.other_programme", code=code)
        if booklet.status == "voided":
            raise Refusal("booklet.voided", code=code)
        if booklet.status == "sold":
            sold_at = session.execute(
                select(Sale.sold_at).where(Sale.id == booklet.sale_id)
            ).scalar_one()
            raise Refusal(
                "booklet.already_sold", code=code, when=ja_minute(sold_at),
                when_en=en_minute(sold_at),
            )
    n = len(codes)
    premium = programme.face_value - programme.price
    claimed = affected(
        session.execute(
            update(Programme)
            .where(
                Programme.id == programme.id,
                Programme.premium_spent + n * premium <= Programme.premium_budget,
            )
            .values(booklets_sold=Programme.booklets_sold + n)
        )
    )
    if claimed != 1:
        session.refresh(programme)
        raise Refusal("sale.budget_exhausted", left=programme.booklets_left_within_budget() or 0)
    liability = liability_code(programme.id)
    accounts = account_ids(session, programme.event_id, paid_from, "premium_fund", liability)
    paid, premium_total, face_total = n * programme.price, n * premium, n * programme.face_value
    entry_id = post_entry(
        session,
        event_id=programme.event_id,
        kind=kind,
        lines=[
            (accounts[paid_from], paid),
            (accounts["premium_fund"], premium_total),
            (accounts[liability], -face_total),
        ],
        occurred_at=now,
        memo=f"{n} booklet(s) of {programme.name}",
        actor=actor,
    )
    sale = Sale(
        programme_id=programme.id,
        receipt_number=f"R{programme.event_id:02d}-{entry_id:07d}",
        booklet_count=n,
        amount_paid=paid,
        face_total=face_total,
        premium_total=premium_total,
        payment_method=method,
        entry_id=entry_id,
        sold_by=actor,
        sold_at=now,
    )
    session.add(sale)
    session.flush()
    ids = [booklets[c].id for c in codes]
    moved = affected(
        session.execute(
            update(Booklet)
            .where(Booklet.id.in_(ids), Booklet.status == "printed")
            .values(status="sold", sale_id=sale.id)
        )
    )
    if moved != n:  # another desk sold one of them a moment ago
        raise Refusal(
            "booklet.already_sold", code=", ".join(codes), when=ja_minute(now),
            when_en=en_minute(now),
        )
    session.execute(
        update(Ticket)
        .where(Ticket.booklet_id.in_(ids), Ticket.status == "printed")
        .values(status="active")
    )
    return sale


def void_booklet(
    db: Database, signer: CodeSigner, *, code: str, reason: str, actor: str
) -> dict[str, Any]:
    """Void an unsold booklet that was lost or damaged; its tickets can never be used."""
    (canonical,) = authentic_codes(signer, [code], "B", limit=1)
    with db.write() as session:
        booklet_id = session.execute(
            select(Booklet.id).where(Booklet.code == canonical)
        ).scalar_one_or_none()
        if booklet_id is None:
            raise Refusal("booklet.unknown", code=canonical)
        void_booklets(session, [booklet_id], reason=reason, now=clock.now())
    return {"code": canonical, "status": "voided", "reason": reason.strip(), "by": actor}
