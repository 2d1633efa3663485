"""Corrections after a period closed: an undo is then refused, so the committee posts a
reversing entry instead, and the next period settles it.

Two kinds, both one ``correction`` journal entry on payable:W plus one or two
correction rows that the next close gives to its period:

- :func:`correct_redemption`: a settled redemption should not have been paid to its
  workshop. Its face value leaves payable:W and goes to another workshop's payable
  (scanned on the wrong booth's phone) or to breakage (the ticket was not honoured).
  The ticket stays used: the paper was taken. The treasurer names it by the ticket's
  code, which is printed on the paper and shown in the booth's history; a
  ``redemption_id`` everywhere else (booth, undo, answers) is the redemption's journal
  entry, which may hold several tickets.
- :func:`adjust_workshop`: any other amount owed to (+) or by (−) a workshop, against
  the premium fund, fee income or breakage, with a reason (e.g. a fee refunded).

A correction that takes money back may not exceed what the workshop has pending for
the next period; the close refuses a negative net as a last guard.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, not_, select
from sqlalchemy.orm import Session

from oflocal import clock
from oflocal.db.engine import Database
from oflocal.errors import Refusal
from oflocal.events.models import Workshop
from oflocal.ledger.accounts import account_ids, payable_code
from oflocal.ledger.journal import post_entry
from oflocal.settlement.membership import is_settled, last_period, settled
from oflocal.settlement.models import SettlementCorrection
from oflocal.settlement.settings import lock_event
from oflocal.vouchers.codes import CodeFormatError, parse
from oflocal.vouchers.models import Programme, Redemption, Ticket

COUNTER_ACCOUNTS = ("premium_fund", "fee_income", "breakage")
MAX_CORRECTION = 10_000_000


def _workshop(session: Session, workshop_id: int, event_id: int | None = None) -> Workshop:
    workshop = session.get(Workshop, workshop_id)
    if workshop is None or (event_id is not None and workshop.event_id != event_id):
        raise Refusal("workshop.not_found")
    return workshop


def pending_for(session: Session, workshop_id: int) -> int:
    """What the next close would give the workshop before fees: unsettled live
    redemptions plus unsettled corrections."""
    workshop = _workshop(session, workshop_id)
    redeemed = session.execute(
        select(func.coalesce(func.sum(Redemption.amount), 0)).where(
            Redemption.workshop_id == workshop_id,
            not_(settled(last_period(session, workshop.event_id))),
            Redemption.undone_at.is_(None),
        )
    ).scalar_one()
    corrected = session.execute(
        select(func.coalesce(func.sum(SettlementCorrection.amount), 0)).where(
            SettlementCorrection.workshop_id == workshop_id,
            SettlementCorrection.settlement_period_id.is_(None),
        )
    ).scalar_one()
    return int(redeemed) + int(corrected)


def _check_clawback(session: Session, workshop: Workshop, amount: int) -> None:
    if amount < 0 and pending_for(session, workshop.id) + amount < 0:
        raise Refusal(
            "settlement.correction_invalid",
            detail=(
                f"{workshop.name} has only ¥{pending_for(session, workshop.id):,} pending for "
                f"the next period; ¥{-amount:,} cannot be taken back from it"
            ),
        )


def ticket_code_of(text: str) -> str:
    """The canonical code of a ticket as a person typed it (case, spaces, dashes)."""
    try:
        parsed = parse(text)
    except CodeFormatError as error:
        raise Refusal(f"code.{error.reason}", code=text[:40]) from None
    if parsed.kind != "T":
        raise Refusal("code.not_a_ticket", code=parsed.code)
    return parsed.code


def ticket_event(session: Session, ticket_code: str) -> int:
    """The event of the ticket with this code (typed as a person would)."""
    code = ticket_code_of(ticket_code)
    event_id = session.execute(
        select(Programme.event_id)
        .join(Ticket, Ticket.programme_id == Programme.id)
        .where(Ticket.code == code)
    ).scalar_one_or_none()
    if event_id is None:
        raise Refusal("code.unknown", code=code)
    return int(event_id)


def correct_redemption(
    db: Database,
    *,
    ticket_code: str,
    reason: str,
    actor: str,
    to_workshop_id: int | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Take the settled redemption of one ticket back from its workshop."""
    at = now or clock.now()
    reason = reason.strip()
    if not reason:
        raise Refusal("settlement.correction_invalid", detail="a reason is required")
    code = ticket_code_of(ticket_code)
    with db.write() as session:
        event_id = ticket_event(session, code)
        lock_event(session, event_id)
        # Chosen under the lock: its live redemption, else its last undone one (an undo
        # may have committed while we waited for a close, and an undone redemption is
        # not the workshop's to give back).
        redemption = session.execute(
            select(Redemption)
            .join(Ticket, Ticket.id == Redemption.ticket_id)
            .where(Ticket.code == code)
            .order_by(Redemption.undone_at.is_not(None), Redemption.id.desc())
            .limit(1)
        ).scalar_one_or_none()
        if redemption is None:
            raise Refusal("settlement.redemption_not_found", code=code)
        if redemption.undone_at is not None:
            raise Refusal("undo.already_undone")
        if not is_settled(redemption, last_period(session, event_id)):
            raise Refusal("settlement.not_settled")
        done = session.execute(
            select(func.count()).where(
                SettlementCorrection.redemption_id == redemption.id,
                SettlementCorrection.workshop_id == redemption.workshop_id,
            )
        ).scalar_one()
        if done:
            raise Refusal("settlement.already_corrected")
        source = _workshop(session, redemption.workshop_id)
        _check_clawback(session, source, -redemption.amount)
        codes = [payable_code(source.id)]
        target: Workshop | None = None
        if to_workshop_id is not None:
            if to_workshop_id == source.id:
                raise Refusal("settlement.correction_invalid", detail="same workshop")
            target = _workshop(session, to_workshop_id, event_id)
            codes.append(payable_code(target.id))
        counter = payable_code(target.id) if target else "breakage"
        accounts = account_ids(session, event_id, *codes, "breakage")
        entry_id = post_entry(
            session,
            event_id=event_id,
            kind="correction",
            lines=[(accounts[payable_code(source.id)], redemption.amount),
                   (accounts[counter], -redemption.amount)],
            occurred_at=at,
            memo=f"訂正 券{code}（仕訳{redemption.entry_id}の利用）: {reason}",
            actor=actor,
        )
        rows = [(source.id, -redemption.amount, counter)]
        if target is not None:
            rows.append((target.id, redemption.amount, payable_code(source.id)))
        for workshop_id, amount, other in rows:
            session.add(
                SettlementCorrection(
                    event_id=event_id,
                    workshop_id=workshop_id,
                    amount=amount,
                    counter_account=other,
                    reason=reason[:300],
                    redemption_id=redemption.id,
                    entry_id=entry_id,
                    created_at=at,
                    created_by=actor[:60],
                )
            )
        session.flush()
        return {
            "entry_id": entry_id,
            "ticket_code": code,
            "redemption_id": redemption.entry_id,  # the booth's and undo's id
            "from_workshop_id": source.id,
            "to_workshop_id": target.id if target else None,
            "amount": redemption.amount,
            "counter_account": counter,
        }


def adjust_workshop(
    db: Database,
    *,
    workshop_id: int,
    amount: int,
    counter_account: str,
    reason: str,
    actor: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Owe a workshop ``amount`` more (+) or less (−) in the next period."""
    at = now or clock.now()
    reason = reason.strip()
    if type(amount) is not int or amount == 0 or abs(amount) > MAX_CORRECTION:
        raise Refusal("settlement.correction_invalid", detail="amount is ±1 to ±10,000,000 yen")
    if counter_account not in COUNTER_ACCOUNTS:
        raise Refusal(
            "settlement.correction_invalid",
            detail=f"counter account is one of {', '.join(COUNTER_ACCOUNTS)}",
        )
    if not reason:
        raise Refusal("settlement.correction_invalid", detail="a reason is required")
    with db.write() as session:
        workshop = _workshop(session, workshop_id)
        lock_event(session, workshop.event_id)
        _check_clawback(session, workshop, amount)
        accounts = account_ids(session, workshop.event_id, payable_code(workshop_id),
                               counter_account)
        entry_id = post_entry(
            session,
            event_id=workshop.event_id,
            kind="correction",
            lines=[(accounts[payable_code(workshop_id)], -amount),
                   (accounts[counter_account], amount)],
            occurred_at=at,
            memo=f"訂正 {workshop.code}: {reason}",
            actor=actor,
        )
        session.add(
            SettlementCorrection(
                event_id=workshop.event_id,
                workshop_id=workshop_id,
                amount=amount,
                counter_account=counter_account,
                reason=reason[:300],
                redemption_id=None,
                entry_id=entry_id,
                created_at=at,
                created_by=actor[:60],
            )
        )
        session.flush()
        return {"entry_id": entry_id, "workshop_id": workshop_id, "amount": amount,
                "counter_account": counter_account}
