"""The receipt (領収書) of a paid pledge, as facts; ``receipt_pdf`` draws them.

Only a pledge whose money is held (``paid``) gets one: a refunded pledge's money went
back. The amount is what was received (the pledge's total, shipping included); the
date of receipt is the payment's, in Tokyo. The receipt is issued as a PDF, never on
paper, so stamp duty (収入印紙, from ¥50,000 for money other than by card) does not apply,
and it says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select

from oflocal import clock
from oflocal.crowdfunding import links
from oflocal.crowdfunding.models import Campaign, Payment, Pledge, Reward
from oflocal.crowdfunding.pledge import STATE_NAMES
from oflocal.db.engine import Database
from oflocal.errors import Refusal
from oflocal.events.models import Event

METHOD_NAMES = {"bank_transfer": "銀行振込", "konbini": "コンビニ払い",
                "card": "クレジットカード", "cash": "現金"}
STAMP_THRESHOLD = 50_000  # 印紙税: receipts of ¥50,000 or more (not for card payments)


@dataclass(frozen=True)
class ReceiptFacts:
    number: str  # the pledge number: P-000012
    issued_on: date
    received_on: date
    to_name: str
    amount: int  # received, shipping included
    support: int
    shipping: int
    purpose: str  # 但し書き
    method: str
    committee: str
    representative: str
    address: str
    phone: str
    email: str

    @property
    def stamp_note(self) -> bool:
        return self.amount >= STAMP_THRESHOLD and self.method != METHOD_NAMES["card"]


def receipt_for(db: Database, email: str, pledge_id: int) -> ReceiptFacts:
    """The receipt of ``email``'s paid pledge; ``pledge.not_found`` for another's."""
    with db.read() as session:
        row = session.execute(
            select(Pledge, Reward, Campaign, Event, Payment)
            .join(Reward, Reward.id == Pledge.reward_id)
            .join(Campaign, Campaign.id == Pledge.campaign_id)
            .join(Event, Event.id == Campaign.event_id)
            .outerjoin(Payment, (Payment.pledge_id == Pledge.id) & ~Payment.duplicate)
            .where(Pledge.id == pledge_id, Pledge.supporter_email == email)
        ).first()
    if row is None:
        raise Refusal("pledge.not_found")
    pledge, reward, campaign, event, payment = row
    if pledge.state != "paid" or payment is None:
        ja, en = STATE_NAMES[pledge.state]
        raise Refusal("pledge.no_receipt", state=ja, state_en=en)
    return ReceiptFacts(
        number=links.pledge_number(pledge.id), issued_on=clock.tokyo_date(clock.now()),
        received_on=clock.tokyo_date(payment.received_at), to_name=pledge.supporter_name,
        amount=payment.amount, support=pledge.amount, shipping=pledge.shipping,
        purpose=f"「{campaign.title}」へのご支援（リターン「{reward.title}」×{pledge.quantity}）として",
        method=METHOD_NAMES[pledge.payment_method], committee=event.committee_name,
        representative=event.representative, address=event.committee_address,
        phone=event.committee_phone, email=event.committee_email,
    )
