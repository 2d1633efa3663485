"""Corrections after a period closed: an undo is then refused, so the committee posts a
reversing entry instead, and the next period settles it.

Two kinds, both one ``correction`` journal entry on the workshop's accounts plus one or
two correction rows that the next close gives to its period:

- :func:`correct_redemption`: a settled redemption should not have been paid to its
  workshop. Its face value leaves the workshop and goes to another workshop (scanned on
  the wrong booth's phone) or to breakage (the ticket was not honoured). The fee the
  settled period charged on that ticket (the period's rule applied to the one ticket)
  moves with it: the workshop it leaves gives back face − fee, the workshop it goes to
  is owed face − fee (its fee was charged already), and a ticket sent to breakage
  refunds its fee from fee income. The ticket stays used: the paper was taken. The
  treasurer names it by the ticket's code, printed on the paper and shown in the
  booth's history; a ``redemption_id`` everywhere else (booth, undo, answers) is the
  redemption's journal entry, which may hold several tickets.
- :func:`adjust_workshop`: any other amount owed to (+) or by (−) a workshop, against
  the premium fund, fee income or breakage, with a reason (e.g. a fee refunded).

How an amount taken back is settled (``settlement_correction.settle_by``):

- ``payout``: it fits in what the workshop has pending for the next period, so it is
  posted on payable:W and the next period's line nets it (as before the fair ended);
- ``offset``: the workshop was paid already and has not enough pending, so the amount
  is what it owes the committee: posted on receivable:W (未収金, an asset; a payable
  never goes negative), carried into its next payout, whose entry credits the
  receivable. A close takes an offset only while the workshop's line stays ≥ ¥0; an
  offset that does not fit waits for a later period, or the treasurer asks the
  workshop to pay it back (:func:`request_repayment`);
- ``repayment``: the workshop is asked to pay it back; no period takes it, and
  :func:`record_repayment` books the money when it arrives (bank or cash debited,
  receivable:W credited).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import func, not_, select, update
from sqlalchemy.orm import Session

from oflocal import clock
from oflocal.db.engine import Database
from oflocal.db.rows import affected
from oflocal.errors import Refusal
from oflocal.events.models import Workshop
from oflocal.idempotency.store import IdempotencyKey, Outcome, run_once
from oflocal.ledger.accounts import (
    account_ids,
    ensure_receivable_account,
    payable_code,
    receivable_code,
)
from oflocal.ledger.journal import post_entry
from oflocal.ledger.models import Account, Posting
from oflocal.settlement.membership import is_settled, last_period, settled
from oflocal.settlement.models import SettlementCorrection, SettlementPeriod
from oflocal.settlement.rules import FeeRule
from oflocal.settlement.settings import lock_event
from oflocal.vouchers.codes import CodeFormatError, grouped, parse
from oflocal.vouchers.models import Programme, Redemption, Ticket

COUNTER_ACCOUNTS = ("premium_fund", "fee_income", "breakage")
MAX_CORRECTION = 10_000_000
# How the treasurer wants an amount taken back settled, when the workshop has not enough
# pending: carried into its next payout, or paid back by the workshop.
SETTLE_CHOICES = ("next_payout", "repayment")
SETTLE_BY = ("payout", "offset", "repayment")  # settlement_correction.settle_by
REPAYMENT_ACCOUNTS = ("bank", "cash")


def _workshop(session: Session, workshop_id: int, event_id: int | None = None) -> Workshop:
    workshop = session.get(Workshop, workshop_id)
    if workshop is None or (event_id is not None and workshop.event_id != event_id):
        raise Refusal("workshop.not_found")
    return workshop


def pending_for(session: Session, workshop_id: int) -> int:
    """What the next close would give the workshop on payable:W before fees: unsettled
    live redemptions plus unsettled corrections posted on payable:W."""
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
            SettlementCorrection.settle_by == "payout",
        )
    ).scalar_one()
    return int(redeemed) + int(corrected)


def _settle_by(session: Session, workshop: Workshop, amount: int, settle: str) -> str:
    """Where an amount owed to (+) or taken back from (−) the workshop is posted."""
    if settle not in SETTLE_CHOICES:
        raise Refusal("settlement.settle_invalid", settle=str(settle)[:20])
    if amount > 0:
        return "payout"
    if settle == "repayment":
        return "repayment"
    return "payout" if pending_for(session, workshop.id) + amount >= 0 else "offset"


def _workshop_account(session: Session, workshop: Workshop, settle_by: str) -> int:
    if settle_by == "payout":
        return account_ids(session, workshop.event_id, payable_code(workshop.id))[
            payable_code(workshop.id)]
    return ensure_receivable_account(session, workshop.event_id, workshop.id, workshop.name)


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


def period_of(session: Session, event_id: int, redemption: Redemption) -> SettlementPeriod | None:
    """The period a settled redemption belongs to (membership.py's rule)."""
    return session.execute(
        select(SettlementPeriod)
        .where(
            SettlementPeriod.event_id == event_id,
            SettlementPeriod.number >= redemption.open_period,
            SettlementPeriod.cutoff_at >= redemption.redeemed_at,
        )
        .order_by(SettlementPeriod.number)
        .limit(1)
    ).scalar_one_or_none()


def ticket_fee(period: SettlementPeriod | None, amount: int) -> int:
    """The fee the period charged on one ticket of ``amount`` yen: its rule, one ticket."""
    if period is None:
        return 0
    rule = FeeRule(period.fee_rule, period.fee_rate_bp, period.fee_fixed_yen,
                   period.fee_rounding)
    return rule.fee(amount, 1)


def correct_redemption(
    db: Database,
    *,
    ticket_code: str,
    reason: str,
    actor: str,
    to_workshop_id: int | None = None,
    settle: str = "next_payout",
    now: datetime | None = None,
) -> dict[str, Any]:
    """Take the settled redemption of one ticket back from its workshop, with the fee
    charged on it. ``settle``: how the workshop gives it back when it has not enough
    pending (``next_payout``: offset against its next payout; ``repayment``: it pays
    the committee back)."""
    at = now or clock.now()
    reason = reason.strip()
    if not reason:
        raise Refusal("settlement.correction_reason_required")
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
        target: Workshop | None = None
        if to_workshop_id is not None:
            if to_workshop_id == source.id:
                raise Refusal("settlement.correction_same_workshop")
            target = _workshop(session, to_workshop_id, event_id)
        face = redemption.amount
        fee = ticket_fee(period_of(session, event_id, redemption), face)
        moved = face - fee  # what the workshop was paid (or is to be paid) for it
        if moved <= 0:  # a fixed fee as large as the ticket: nothing to move
            raise Refusal("settlement.correction_amount_invalid")
        settle_by = _settle_by(session, source, -moved, settle)
        source_account = _workshop_account(session, source, settle_by)
        lines = [(source_account, moved)]
        if target is not None:
            counter = payable_code(target.id)
            accounts = account_ids(session, event_id, counter)
            lines.append((accounts[counter], -moved))
        else:
            counter = "breakage"
            accounts = account_ids(session, event_id, "breakage", "fee_income")
            lines += [(accounts["breakage"], -face), (accounts["fee_income"], fee)]
        entry_id = post_entry(
            session,
            event_id=event_id,
            kind="correction",
            lines=lines,
            occurred_at=at,
            memo=(f"訂正 券{code}（仕訳{redemption.entry_id}の利用"
                  + (f"・手数料¥{fee:,}を含む" if fee else "") + f"）: {reason}"),
            actor=actor,
        )
        rows = [(source.id, -moved, counter, settle_by)]
        if target is not None:
            rows.append((target.id, moved, payable_code(source.id), "payout"))
        for workshop_id, amount, other, how in rows:
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
                    settle_by=how,
                )
            )
        session.flush()
        return {
            "entry_id": entry_id,
            "ticket_code": code,
            "redemption_id": redemption.entry_id,  # the booth's and undo's id
            "from_workshop_id": source.id,
            "to_workshop_id": target.id if target else None,
            "amount": moved,
            "face": face,
            "fee": fee,
            "counter_account": counter,
            "settle_by": settle_by,
        }


def adjust_workshop(
    db: Database,
    *,
    workshop_id: int,
    amount: int,
    counter_account: str,
    reason: str,
    actor: str,
    settle: str = "next_payout",
    now: datetime | None = None,
) -> dict[str, Any]:
    """Owe a workshop ``amount`` more (+) or less (−) in the next period (a negative
    amount beyond what it has pending is settled as ``settle`` says)."""
    at = now or clock.now()
    reason = reason.strip()
    if type(amount) is not int or amount == 0 or abs(amount) > MAX_CORRECTION:
        raise Refusal("settlement.correction_amount_invalid")
    if counter_account not in COUNTER_ACCOUNTS:
        raise Refusal("settlement.correction_counter_invalid", account=str(counter_account)[:40])
    if not reason:
        raise Refusal("settlement.correction_reason_required")
    with db.write() as session:
        workshop = _workshop(session, workshop_id)
        lock_event(session, workshop.event_id)
        settle_by = _settle_by(session, workshop, amount, settle)
        own = _workshop_account(session, workshop, settle_by)
        accounts = account_ids(session, workshop.event_id, counter_account)
        entry_id = post_entry(
            session,
            event_id=workshop.event_id,
            kind="correction",
            lines=[(own, -amount), (accounts[counter_account], amount)],
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
                settle_by=settle_by,
            )
        )
        session.flush()
        return {"entry_id": entry_id, "workshop_id": workshop_id, "amount": amount,
                "counter_account": counter_account, "settle_by": settle_by}


# ------------------------------------------------------------- what a workshop owes back


def receivable_balance(session: Session, workshop: Workshop) -> int:
    """What the workshop owes the committee now (receivable:W, debit balance)."""
    return int(session.execute(
        select(func.coalesce(func.sum(Posting.amount), 0))
        .join(Account, Account.id == Posting.account_id)
        .where(Account.event_id == workshop.event_id,
               Account.code == receivable_code(workshop.id))
    ).scalar_one())


def _pending_sum(session: Session, workshop_id: int, settle_by: str) -> int:
    return -int(session.execute(
        select(func.coalesce(func.sum(SettlementCorrection.amount), 0)).where(
            SettlementCorrection.workshop_id == workshop_id,
            SettlementCorrection.settlement_period_id.is_(None),
            SettlementCorrection.settle_by == settle_by,
        )
    ).scalar_one())


def owed_back(session: Session, workshop: Workshop) -> dict[str, int]:
    """What the workshop owes the committee: in all, still to be offset against a payout,
    and asked to be paid back (what :func:`record_repayment` may take)."""
    total = receivable_balance(session, workshop)
    to_offset = _pending_sum(session, workshop.id, "offset")
    return {"total": total, "to_offset": to_offset,
            "to_repay": max(0, total - to_offset - _offset_in_unpaid(session, workshop))}


def _offset_in_unpaid(session: Session, workshop: Workshop) -> int:
    """Offsets a closed period took but whose payout has not been posted yet."""
    return -int(session.execute(
        select(func.coalesce(func.sum(SettlementCorrection.amount), 0))
        .join(SettlementPeriod,
              SettlementPeriod.id == SettlementCorrection.settlement_period_id)
        .where(SettlementCorrection.workshop_id == workshop.id,
               SettlementCorrection.settle_by == "offset",
               SettlementPeriod.status == "closed")
    ).scalar_one())


def request_repayment(db: Database, *, workshop_id: int, actor: str) -> dict[str, Any]:
    """Ask the workshop to pay back what waits to be offset against its next payout
    (no money moves: the pending offsets become repayments)."""
    with db.write() as session:
        workshop = _workshop(session, workshop_id)
        lock_event(session, workshop.event_id)
        moved = affected(session.execute(
            update(SettlementCorrection)
            .where(SettlementCorrection.workshop_id == workshop_id,
                   SettlementCorrection.settlement_period_id.is_(None),
                   SettlementCorrection.settle_by == "offset")
            .values(settle_by="repayment")
            .execution_options(synchronize_session=False)
        ))
        return {"workshop_id": workshop_id, "corrections": moved,
                **owed_back(session, workshop)}


def record_repayment(
    db: Database,
    *,
    workshop_id: int,
    amount: int,
    received_on: date,
    actor: str,
    account: str = "bank",
    now: datetime | None = None,
    idem: IdempotencyKey | None = None,
) -> Outcome:
    """The workshop paid back ``amount`` yen on ``received_on``: debit the bank (or the
    desk's cash), credit receivable:W. At most what it was asked to pay back."""
    at = now or clock.now()
    if type(amount) is not int or amount <= 0 or amount > MAX_CORRECTION:
        raise Refusal("settlement.correction_amount_invalid")
    if account not in REPAYMENT_ACCOUNTS:
        raise Refusal("settlement.correction_counter_invalid", account=str(account)[:40])
    if received_on > clock.tokyo_date(at):
        raise Refusal("settlement.repayment_in_future", date=received_on)

    def work(session: Session) -> dict[str, Any]:
        workshop = _workshop(session, workshop_id)
        lock_event(session, workshop.event_id)
        owed = owed_back(session, workshop)
        if amount > owed["to_repay"]:
            raise Refusal("settlement.repayment_too_much", workshop=workshop.name,
                          amount=amount, owed=owed["to_repay"])
        ids = account_ids(session, workshop.event_id, account, receivable_code(workshop.id))
        entry_id = post_entry(
            session,
            event_id=workshop.event_id,
            kind="repayment",
            lines=[(ids[account], amount), (ids[receivable_code(workshop.id)], -amount)],
            occurred_at=at,
            memo=f"返金受領 {workshop.code} {workshop.name} 入金日 {received_on.isoformat()}",
            actor=actor,
            business_date=received_on,  # booked on the day the money arrived
        )
        return {"entry_id": entry_id, "workshop_id": workshop_id, "amount": amount,
                "received_on": received_on.isoformat(), **owed_back(session, workshop)}

    return run_once(db, idem, work, status=201)


def owed_back_by_workshop(session: Session, event_id: int) -> list[dict[str, Any]]:
    """Every workshop of the event that owes the committee something, or did."""
    workshops = session.execute(
        select(Workshop)
        .join(Account, Account.workshop_id == Workshop.id)
        .where(Account.event_id == event_id, Account.code.startswith("receivable:"))
        .order_by(Workshop.code)
    ).scalars().all()
    rows = []
    for workshop in workshops:
        owed = owed_back(session, workshop)
        if owed["total"]:
            rows.append({"workshop_id": workshop.id, "code": workshop.code,
                         "name": workshop.name, **owed})
    return rows


def statement_notes(session: Session, period: SettlementPeriod,
                    workshop_id: int) -> list[tuple[str, int]]:
    """What a workshop's statement of ``period`` says, beside its corrections, about
    tickets moved with their fee and about money it owes back: (text, yen), as of the
    period's cut-off, from rows that do not change once the period is closed (an
    offset the treasurer later turns into a repayment request shows as a request)."""
    notes: list[tuple[str, int]] = []
    moved = session.execute(
        select(SettlementCorrection, Ticket.code, Redemption.amount)
        .join(Redemption, Redemption.id == SettlementCorrection.redemption_id)
        .join(Ticket, Ticket.id == Redemption.ticket_id)
        .where(SettlementCorrection.settlement_period_id == period.id,
               SettlementCorrection.workshop_id == workshop_id)
        .order_by(SettlementCorrection.id)
    ).all()
    for row, raw_code, face in moved:
        code = grouped(raw_code)  # as printed on the ticket, like the correction line
        fee = int(face) - abs(row.amount)
        if row.amount < 0:
            where = ("利用取消し" if row.counter_account == "breakage"
                     else _workshop_label(session, row.counter_account))
            notes.append((f"券{code}→{where}（額面{_yen(int(face))}・手数料{_yen(fee)}戻し）",
                          row.amount))
        else:
            notes.append((f"券{code}←{_workshop_label(session, row.counter_account)}"
                          f"（額面{_yen(int(face))}・手数料{_yen(fee)}差引済）", row.amount))
    offset = -int(session.execute(
        select(func.coalesce(func.sum(SettlementCorrection.amount), 0))
        .where(SettlementCorrection.settlement_period_id == period.id,
               SettlementCorrection.workshop_id == workshop_id,
               SettlementCorrection.settle_by == "offset")
    ).scalar_one())
    if offset:
        notes.append(("支払済み分の戻し（今回のお支払いから差引）", -offset))
    later = (SettlementCorrection.workshop_id == workshop_id,
             SettlementCorrection.event_id == period.event_id,
             SettlementCorrection.created_at <= period.cutoff_at)
    unsettled = (SettlementCorrection.settlement_period_id.is_(None)
                 | (SettlementCorrection.settlement_period_id.in_(
                     select(SettlementPeriod.id).where(
                         SettlementPeriod.event_id == period.event_id,
                         SettlementPeriod.number > period.number))))
    carried = -int(session.execute(
        select(func.coalesce(func.sum(SettlementCorrection.amount), 0))
        .where(*later, unsettled, SettlementCorrection.settle_by == "offset")
    ).scalar_one())
    if carried:
        notes.append(("支払済み分の戻し 残り（次回以降のお支払いから差引）", -carried))
    asked = -int(session.execute(
        select(func.coalesce(func.sum(SettlementCorrection.amount), 0))
        .where(*later, SettlementCorrection.settle_by == "repayment")
    ).scalar_one())
    if asked:
        notes.append(("支払済み分の戻し ご返金のお願い（入金済み分を含む）", -asked))
    return notes


def _yen(amount: int) -> str:
    return f"¥{amount:,}"


def _workshop_label(session: Session, account_code: str) -> str:
    """「W03 工房名」 for payable:W<id>."""
    workshop_id = int(account_code.split(":W", 1)[1]) if ":W" in account_code else 0
    workshop = session.get(Workshop, workshop_id)
    return f"{workshop.code} {workshop.name}" if workshop else account_code
