"""The settlement identities the auditor (``oflocal.audit``) checks, each from two sides.

- payable:W = redeemed at W + corrections of W on payable:W − paid to W, never negative;
- receivable:W = what W was asked to give back (corrections settled by offset or
  repayment) − offsets in payouts − repayments received, never negative;
- every frozen line equals its tallies, and the tallies equal the live redemptions that
  belong to its period, recounted by the membership rule (count and face value per
  workshop); a period's corrections equal the line's adjustment;
- a paid period has a copy of the account paid to for every line with a net amount;
- a paid period has one payout entry per line that owed something, and its postings
  are the line: payable:W debited face + corrections less offsets, receivable:W
  credited the offsets, bank credited the net, fee income the fee; a period not paid
  has no payout entries;
- the correction postings on W's accounts equal the correction rows of W.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from oflocal.ledger.models import Account, JournalEntry, Posting
from oflocal.ledger.verify import Report
from oflocal.ledger.verify import balances as ledger_balances
from oflocal.settlement.membership import in_period
from oflocal.settlement.models import (
    SettlementCorrection,
    SettlementLine,
    SettlementPayer,
    SettlementPayment,
    SettlementPeriod,
    SettlementTally,
)
from oflocal.settlement.pay import payout_key
from oflocal.vouchers.models import Programme, Redemption

Key = tuple[int, int]  # (period id, workshop id)


def _sums(session: Session, stmt: object) -> dict[Key, tuple[int, int]]:
    return {(p, w): (int(a), int(b)) for p, w, a, b in session.execute(stmt)}  # type: ignore[call-overload]


def check_payables(session: Session, report: Report) -> None:
    balances = ledger_balances(session)
    redeemed = dict(
        session.execute(
            select(Redemption.workshop_id, func.sum(Redemption.amount))
            .where(Redemption.undone_at.is_(None))
            .group_by(Redemption.workshop_id)
        ).all()
    )
    paid = dict(
        session.execute(
            select(Account.workshop_id, func.sum(Posting.amount))
            .join(Posting, Posting.account_id == Account.id)
            .join(JournalEntry, JournalEntry.id == Posting.entry_id)
            .where(Account.workshop_id.is_not(None), Account.code.startswith("payable:"),
                   JournalEntry.kind == "payout")
            .group_by(Account.workshop_id)
        ).all()
    )
    corrected = dict(
        session.execute(
            select(SettlementCorrection.workshop_id, func.sum(SettlementCorrection.amount))
            .where(SettlementCorrection.settle_by == "payout")
            .group_by(SettlementCorrection.workshop_id)
        ).all()
    )
    check_receivables(session, report, balances)
    payables = select(Account).where(Account.workshop_id.is_not(None),
                                     Account.code.startswith("payable:"))
    for account in session.execute(payables).scalars():
        wid = account.workshop_id
        assert wid is not None
        owed = int(redeemed.get(wid, 0)) + int(corrected.get(wid, 0)) - int(paid.get(wid, 0))
        ledger = -balances.get(f"{account.event_id}/{account.code}", 0)
        report.check(
            f"payable W{wid} = redeemed + corrections − paid, never negative",
            ledger == owed and owed >= 0,
            f"ledger {ledger} vs redeemed+corrections−paid {owed}",
        )


def check_receivables(session: Session, report: Report, balances: dict[str, int]) -> None:
    """receivable:W = asked back − offset in payouts − repaid, never negative."""
    asked = dict(
        session.execute(
            select(SettlementCorrection.workshop_id, func.sum(SettlementCorrection.amount))
            .where(SettlementCorrection.settle_by != "payout")
            .group_by(SettlementCorrection.workshop_id)
        ).all()
    )
    settled_back = dict(
        session.execute(
            select(Account.workshop_id, func.sum(Posting.amount))
            .join(Posting, Posting.account_id == Account.id)
            .join(JournalEntry, JournalEntry.id == Posting.entry_id)
            .where(Account.code.startswith("receivable:"),
                   JournalEntry.kind.in_(("payout", "repayment")))
            .group_by(Account.workshop_id)
        ).all()
    )
    receivables = select(Account).where(Account.code.startswith("receivable:"))
    workshops = set()
    for account in session.execute(receivables).scalars():
        wid = account.workshop_id
        assert wid is not None
        workshops.add(wid)
        owed = -int(asked.get(wid, 0)) + int(settled_back.get(wid, 0))
        ledger = balances.get(f"{account.event_id}/{account.code}", 0)
        report.check(
            f"receivable W{wid} = asked back − offset − repaid, never negative",
            ledger == owed and owed >= 0,
            f"ledger {ledger} vs asked back−offset−repaid {owed}",
        )
    orphan = sorted(set(int(w) for w in asked) - workshops)
    report.check("every amount asked back is on a receivable account", not orphan,
                 f"workshops {orphan[:10]}")


def check_settlement(session: Session, report: Report) -> None:
    check_payables(session, report)
    lines = {
        (ln.period_id, ln.workshop_id): ln
        for ln in session.execute(select(SettlementLine)).scalars()
    }
    tallies = _sums(
        session,
        select(
            SettlementTally.period_id,
            SettlementTally.workshop_id,
            func.sum(SettlementTally.ticket_count),
            func.sum(SettlementTally.face_total),
        ).group_by(SettlementTally.period_id, SettlementTally.workshop_id),
    )
    # Recounted from the redemptions by the membership rule, joined to every period.
    settled = _sums(
        session,
        select(
            SettlementPeriod.id,
            Redemption.workshop_id,
            func.count(),
            func.sum(Redemption.amount),
        )
        .select_from(Redemption)
        .join(Programme, Programme.id == Redemption.programme_id)
        .join(
            SettlementPeriod,
            and_(
                SettlementPeriod.event_id == Programme.event_id,
                in_period(
                    SettlementPeriod.number,
                    SettlementPeriod.cutoff_at,
                    SettlementPeriod.previous_cutoff_at,
                ),
            ),
        )
        .where(Redemption.undone_at.is_(None))
        .group_by(SettlementPeriod.id, Redemption.workshop_id),
    )
    adjustments: dict[Key, int] = defaultdict(int)
    for p, w, amount in session.execute(
        select(
            SettlementCorrection.settlement_period_id,
            SettlementCorrection.workshop_id,
            func.sum(SettlementCorrection.amount),
        )
        .where(SettlementCorrection.settlement_period_id.is_not(None))
        .group_by(SettlementCorrection.settlement_period_id, SettlementCorrection.workshop_id)
    ):
        assert p is not None
        adjustments[(p, w)] = int(amount)
    wrong = []
    for key in sorted(set(lines) | set(tallies) | set(settled) | set(adjustments)):
        line = lines.get(key)
        frozen = (line.ticket_count, line.face_total) if line else (0, 0)
        if not (frozen == tallies.get(key, (0, 0)) == settled.get(key, (0, 0))) or (
            (line.adjustment if line else 0) != adjustments.get(key, 0)
        ):
            wrong.append(key)
    report.check(
        "settlement lines = tallies = redemptions and corrections of their period",
        not wrong,
        f"(period, workshop) {wrong[:10]}",
    )

    paid = {
        p.id: p.status == "paid" for p in session.execute(select(SettlementPeriod)).scalars()
    }
    postings: dict[str, dict[str, int]] = defaultdict(dict)
    for once_key, code, amount in session.execute(
        select(JournalEntry.once_key, Account.code, Posting.amount)
        .join(Posting, Posting.entry_id == JournalEntry.id)
        .join(Account, Account.id == Posting.account_id)
        .where(JournalEntry.kind == "payout")
    ):
        bucket = code.split(":", 1)[0] if ":" in code else code
        postings[once_key or ""][bucket] = postings[once_key or ""].get(bucket, 0) + int(amount)
    expected: dict[str, dict[str, int]] = {}
    offsets: dict[Key, int] = defaultdict(int)
    for p, w, amount in session.execute(
        select(SettlementCorrection.settlement_period_id, SettlementCorrection.workshop_id,
               func.sum(SettlementCorrection.amount))
        .where(SettlementCorrection.settlement_period_id.is_not(None),
               SettlementCorrection.settle_by == "offset")
        .group_by(SettlementCorrection.settlement_period_id, SettlementCorrection.workshop_id)
    ):
        assert p is not None
        offsets[(p, w)] = int(amount)
    for (period_id, workshop_id), line in lines.items():
        offset = offsets.get((period_id, workshop_id), 0)
        if paid.get(period_id) and (line.payable != 0 or offset != 0):
            want = {"payable": line.payable - offset, "receivable": offset,
                    "bank": -line.net, "fee_income": -line.fee}
            expected[payout_key(period_id, workshop_id)] = {k: v for k, v in want.items() if v}
    mismatched = sorted(
        k for k in set(expected) | set(postings) if expected.get(k) != postings.get(k)
    )
    report.check(
        "payouts = lines of paid periods (payable, bank, fee), none for unpaid",
        not mismatched,
        f"{mismatched[:10]}",
    )

    sent = {
        (p.period_id, p.workshop_id): p.amount
        for p in session.execute(select(SettlementPayment)).scalars()
    }
    owed = {key: line.net for key, line in lines.items() if paid.get(key[0]) and line.net > 0}
    payers = set(session.execute(select(SettlementPayer.period_id)).scalars())
    paid_periods = {period_id for period_id, is_paid in paid.items() if is_paid}
    report.check(
        "a paid account copy for every line of a paid period with a net, and of the "
        "committee's account for every paid period; none for unpaid",
        sent == owed and payers == paid_periods,
        f"{sorted(set(sent.items()) ^ set(owed.items()))[:10]} "
        f"periods {sorted(payers ^ paid_periods)[:10]}",
    )

    ledger: dict[int | None, int] = dict(
        session.execute(
            select(Account.workshop_id, func.sum(Posting.amount))
            .join(Posting, Posting.account_id == Account.id)
            .join(JournalEntry, JournalEntry.id == Posting.entry_id)
            .where(Account.workshop_id.is_not(None), JournalEntry.kind == "correction")
            .group_by(Account.workshop_id)
        ).all()
    )
    rows: dict[int, int] = dict(
        session.execute(
            select(SettlementCorrection.workshop_id, func.sum(SettlementCorrection.amount))
            .group_by(SettlementCorrection.workshop_id)
        ).all()
    )
    workshops = {w for w in (*ledger, *rows) if w is not None}
    off = sorted(w for w in workshops if -int(ledger.get(w, 0)) != int(rows.get(w, 0)))
    report.check("corrections on payable:W and receivable:W = correction rows", not off,
                 f"workshops {off[:10]}")
