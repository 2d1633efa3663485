"""The crowdfunding identities the auditor (``oflocal.audit``) checks, each from two or
three sides: the ledger's postings, the pledge rows, the payment and refund rows.

- pledges held (per event) = paid − refunded − moved to income: from the ledger, from
  the pledges (paid or to be refunded, less what an outcome moved) and from the payment
  and refund rows; for a campaign not yet decided that is paid − refunded;
- every reservation is accounted for: a return's ``claimed`` = the quantity of its
  reserved and paid pledges, and its pledge count is its pledges;
- a limited return never has paid + unexpired reserved above its limit;
- a pledge with money has exactly one payment posted once for its total; nothing is
  refunded twice (one refund per pledge, of the payment's amount; a pledge is refunded
  exactly when its refund's money has left, and the refund entries say the same);
- a duplicate payment (a second provider payment of a paid pledge) is held until its
  own refund's money leaves, and has exactly that refund, of its amount;
- a failed campaign keeps no paid pledge; the fees booked are those of the payments of
  decided campaigns.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from oflocal import clock
from oflocal.crowdfunding.models import (
    DUPLICATE,
    HAS_PAYMENT,
    HOLDS_STOCK,
    MONEY_OUT,
    Campaign,
    Payment,
    Pledge,
    Refund,
    Reward,
)
from oflocal.ledger.models import Account, JournalEntry, Posting
from oflocal.ledger.verify import Report
from oflocal.ledger.verify import balances as ledger_balances


def _by_event(session: Session, stmt: Any) -> dict[int, int]:
    totals: dict[int, int] = defaultdict(int)
    for event_id, amount in session.execute(stmt):
        totals[int(event_id)] += int(amount or 0)
    return totals


def _ledger(session: Session, account: str, kind: str) -> dict[int, int]:
    """Per event: the postings on ``account`` of entries of ``kind``."""
    return _by_event(session, select(JournalEntry.event_id, func.sum(Posting.amount))
                     .join(Posting, Posting.entry_id == JournalEntry.id)
                     .join(Account, Account.id == Posting.account_id)
                     .where(Account.code == account, JournalEntry.kind == kind)
                     .group_by(JournalEntry.event_id))


def check_crowdfunding(session: Session, report: Report) -> None:
    events = list(session.execute(select(Campaign.event_id).distinct()).scalars())
    if not events:
        return
    _check_stock(session, report)
    _check_money(session, report, events)
    _check_refunds(session, report)


def _check_stock(session: Session, report: Report) -> None:
    now = clock.now()
    holding = case((Pledge.state.in_(HOLDS_STOCK), Pledge.quantity), else_=0)
    live = case(
        (Pledge.state == "paid", Pledge.quantity),
        ((Pledge.state == "reserved") & (Pledge.payment_deadline > now), Pledge.quantity),
        else_=0,
    )
    rows = session.execute(
        select(Reward.id, Reward.claimed, Reward.pledges_made, Reward.quantity_limit,
               func.coalesce(func.sum(holding), 0), func.coalesce(func.sum(live), 0),
               func.count(Pledge.id))
        .join(Pledge, Pledge.reward_id == Reward.id, isouter=True)
        .group_by(Reward.id, Reward.claimed, Reward.pledges_made, Reward.quantity_limit)
    ).all()
    unaccounted = [r[0] for r in rows if r[1] != r[4] or r[2] != r[6]]
    report.check("every reservation accounted for (claimed = reserved + paid pledges)",
                 not unaccounted, f"returns {unaccounted[:10]}")
    oversold = [r[0] for r in rows if r[3] is not None and (r[5] > r[3] or r[1] > r[3])]
    report.check("a limited return never has paid + unexpired reserved above its limit",
                 not oversold, f"returns {oversold[:10]}")


def _check_money(session: Session, report: Report, events: list[int]) -> None:
    balances = ledger_balances(session)
    held_ledger = {e: -balances.get(f"{e}/pledges_held", 0) for e in events}
    with_money = _by_event(session, select(Campaign.event_id, func.sum(Pledge.total))
                           .join(Pledge, Pledge.campaign_id == Campaign.id)
                           .where(Pledge.state.in_(("paid", "refund_due")))
                           .group_by(Campaign.event_id))
    moved = _by_event(session, select(Campaign.event_id, func.sum(Campaign.moved_to_income))
                      .group_by(Campaign.event_id))
    # Duplicate payments are held (not by their pledge, which another payment paid) until
    # their refund's money leaves.
    duplicates_in = _by_event(session, select(Campaign.event_id, func.sum(Payment.amount))
                              .join(Payment, Payment.campaign_id == Campaign.id)
                              .where(Payment.duplicate.is_(True)).group_by(Campaign.event_id))
    duplicates_out = _by_event(session, select(Campaign.event_id, func.sum(Refund.amount))
                               .join(Refund, Refund.campaign_id == Campaign.id)
                               .where(Refund.reason == DUPLICATE, Refund.state.in_(MONEY_OUT))
                               .group_by(Campaign.event_id))
    paid_in = _by_event(session, select(Campaign.event_id, func.sum(Payment.amount))
                        .join(Payment, Payment.campaign_id == Campaign.id)
                        .group_by(Campaign.event_id))
    paid_out = _by_event(session, select(Campaign.event_id, func.sum(Refund.amount))
                         .join(Refund, Refund.campaign_id == Campaign.id)
                         .where(Refund.state.in_(MONEY_OUT)).group_by(Campaign.event_id))
    posted_in = _ledger(session, "pledges_held", "pledge_paid")
    posted_out = _ledger(session, "pledges_held", "refund")
    posted_moved = _ledger(session, "pledges_held", "campaign_success")
    fees_booked = {e: balances.get(f"{e}/payment_fees", 0) for e in events}
    fees_due = _by_event(session, select(Campaign.event_id, func.sum(Payment.fee))
                         .join(Payment, Payment.campaign_id == Campaign.id)
                         .where(Campaign.decided_at.is_not(None))
                         .group_by(Campaign.event_id))
    for e in events:
        from_pledges = with_money[e] - moved[e] + duplicates_in[e] - duplicates_out[e]
        from_rows = paid_in[e] - paid_out[e] - moved[e]
        report.check(
            f"event {e}: pledges held = paid − refunded − moved to income",
            held_ledger[e] == from_pledges == from_rows,
            f"ledger {held_ledger[e]}, pledges {from_pledges}, payments/refunds {from_rows}",
        )
        report.check(
            f"event {e}: pledge payments, refunds and outcomes posted as recorded",
            -posted_in[e] == paid_in[e] and posted_out[e] == paid_out[e]
            and posted_moved[e] == moved[e],
            f"paid {-posted_in[e]}/{paid_in[e]}, refunded {posted_out[e]}/{paid_out[e]}, "
            f"moved {posted_moved[e]}/{moved[e]}",
        )
        report.check(f"event {e}: provider fees booked = fees of decided campaigns' payments",
                     fees_booked[e] == fees_due[e], f"ledger {fees_booked[e]} vs {fees_due[e]}")
    undecided_gap = session.execute(
        select(Campaign.id).where(Campaign.decided_at.is_(None), Campaign.moved_to_income != 0)
    ).scalars().all()
    report.check("a campaign not yet decided moved nothing to income", not undecided_gap,
                 f"campaigns {undecided_gap[:10]}")
    failed_paid = session.execute(
        select(func.count()).select_from(Pledge).join(Campaign, Campaign.id == Pledge.campaign_id)
        .where(Campaign.state == "failed", Pledge.state == "paid")
    ).scalar_one()
    report.check("a failed campaign keeps no paid pledge", failed_paid == 0,
                 f"{failed_paid} pledges")


def _check_refunds(session: Session, report: Report) -> None:
    payments = session.execute(
        select(Pledge.id, Pledge.state, Pledge.total, Payment.amount, JournalEntry.kind,
               JournalEntry.once_key)
        .join(Payment, (Payment.pledge_id == Pledge.id) & Payment.duplicate.is_(False),
              isouter=True)
        .join(JournalEntry, JournalEntry.id == Payment.entry_id, isouter=True)
    ).all()
    bad_payment = [
        p.id for p in payments
        if (p.state in HAS_PAYMENT) != (p.amount is not None)
        or (p.amount is not None and (p.amount != p.total or p.kind != "pledge_paid"
                                      or p.once_key != f"pledge_paid:{p.id}"))
    ]
    report.check("a pledge with money has exactly one payment, posted once for its total",
                 not bad_payment, f"pledges {bad_payment[:10]}")
    twice = session.execute(
        select(Refund.pledge_id).where(Refund.reason != DUPLICATE)
        .group_by(Refund.pledge_id).having(func.count() > 1)
    ).scalars().all()
    refunds = session.execute(
        select(Pledge.id, Pledge.state, Refund.state, Refund.amount, Payment.amount)
        .join(Refund, (Refund.pledge_id == Pledge.id) & (Refund.reason != DUPLICATE),
              isouter=True)
        .join(Payment, Payment.id == Refund.payment_id, isouter=True)
    ).all()
    mismatched = [
        r[0] for r in refunds
        if (r[1] in ("refund_due", "refunded")) != (r[2] is not None)
        or (r[2] is not None and (r[3] != r[4] or (r[1] == "refunded") != (r[2] in MONEY_OUT)))
    ]
    report.check("nothing is refunded twice; refund states agree with pledges",
                 not twice and not mismatched, f"twice {twice[:10]}, states {mismatched[:10]}")
    # Every duplicate payment has exactly its refund (of its amount), and only those
    # refunds carry the reason.
    duplicates = session.execute(
        select(Payment.id, Payment.amount, Payment.duplicate, Refund.reason, Refund.amount)
        .join(Refund, Refund.payment_id == Payment.id, isouter=True)
        .where(Payment.duplicate.is_(True) | (Refund.reason == DUPLICATE))
    ).all()
    odd = [d[0] for d in duplicates
           if not d[2] or d[3] != DUPLICATE or d[4] != d[1]]
    report.check("every duplicate payment is refunded, of its amount, once", not odd,
                 f"payments {odd[:10]}")
