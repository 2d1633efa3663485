"""What closing the next period at a cut-off would settle, before the treasurer confirms.

Read only, with no lock: the same membership rule and line arithmetic as the close
(``close.py``), over the redemptions and corrections as they are now. Closing is
irreversible, so the page shows these figures and asks first; the close itself
recounts under its locks, so a redemption that commits in between is never lost.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from oflocal import clock
from oflocal.errors import Refusal
from oflocal.events.models import Event, Workshop
from oflocal.settlement.close import line_amounts, offsets_that_fit, pending_offsets
from oflocal.settlement.membership import in_period, last_period
from oflocal.settlement.models import SettlementCorrection
from oflocal.settlement.settings import fee_rule_of
from oflocal.vouchers.models import Programme, Redemption


@dataclass(frozen=True)
class ClosePreview:
    number: int
    cutoff: datetime
    previous_cutoff: datetime | None
    workshops: int
    ticket_count: int
    face_total: int
    adjustment_total: int
    fee_total: int
    net_total: int
    negative: list[tuple[str, int]]  # workshops whose net would be below zero: refused


def preview_close(session: Session, event_id: int, cut: datetime) -> ClosePreview:
    if cut > clock.now():
        raise Refusal("settlement.cutoff_in_future", cutoff=cut)
    event = session.get(Event, event_id)
    if event is None:
        raise Refusal("event.not_found")
    last = last_period(session, event_id)
    if last is not None and cut <= last.cutoff_at:
        raise Refusal("settlement.cutoff_not_after_last", cutoff=cut, last=last.cutoff_at)
    previous = last.cutoff_at if last is not None else None
    counts: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])  # tickets, face, adjustment
    for workshop_id, tickets, face in session.execute(
        select(Redemption.workshop_id, func.count(), func.sum(Redemption.amount))
        .where(
            Redemption.programme_id.in_(select(Programme.id).where(Programme.event_id == event_id)),
            Redemption.undone_at.is_(None),
            in_period(event.open_period, cut, previous),
        )
        .group_by(Redemption.workshop_id)
    ):
        counts[workshop_id][0] += int(tickets)
        counts[workshop_id][1] += int(face)
    for workshop_id, adjustment in session.execute(
        select(SettlementCorrection.workshop_id, func.sum(SettlementCorrection.amount))
        .where(SettlementCorrection.event_id == event_id,
               SettlementCorrection.settlement_period_id.is_(None),
               SettlementCorrection.created_at <= cut,
               SettlementCorrection.settle_by == "payout")
        .group_by(SettlementCorrection.workshop_id)
    ):
        counts[workshop_id][2] += int(adjustment)
    rule = fee_rule_of(event)
    offsets_that_fit(rule, counts, pending_offsets(session, event_id, cut))
    totals, negative = [0, 0, 0, 0, 0], []
    for workshop_id, (tickets, face, adjustment) in counts.items():
        fee, net = line_amounts(rule, tickets, face, adjustment)
        if net < 0:
            workshop = session.get(Workshop, workshop_id)
            negative.append((workshop.name if workshop else str(workshop_id), net))
        for i, value in enumerate((tickets, face, adjustment, fee, net)):
            totals[i] += value
    tickets, face, adjustment, fee, net = totals
    return ClosePreview(event.open_period, cut, previous, len(counts), tickets, face,
                        adjustment, fee, net, negative)
