"""What supporters are told, queued in the transaction of the change it tells about.

The domain says *that* something must be said (:func:`notify`, with the pledge and what
happened); this module gathers the facts from the pledge, its return, its campaign and
its event, and hands them to the e-mail outbox (``oflocal.outbox.notices``), which writes
the message and its sending job in the same transaction: a pledge and its "pledge
received" commit together or not at all, and the outbox's dedupe key makes a notice
queued twice a single message.

Links in the messages start at ``OFLOCAL_PUBLIC_URL`` (:func:`links.public_url`).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from oflocal.crowdfunding import links
from oflocal.crowdfunding.models import DUPLICATE, Campaign, Pledge, Refund, Reward
from oflocal.errors import Refusal
from oflocal.events.models import Event
from oflocal.outbox import notices as mail
from oflocal.settlement.banks import lookup_bank, lookup_branch
from oflocal.settlement.zengin import PAYEE_ACCOUNT_TYPES

NOTICE_KINDS = frozenset({
    "pledge_received",  # with the payment instructions and the deadline
    "payment_reminder",  # the same, a day before the deadline
    "payment_received",
    "late_payment_refund",  # paid after the stock was gone (or the campaign was decided)
    "campaign_failed_refund",  # all-or-nothing goal missed: the money goes back
    "refund_sent",
})

# The domain's refund reasons, as the messages explain them.
_REASONS: dict[str, mail.RefundReason] = {
    "campaign_failed": "campaign_failed", "sold_out": "sold_out", "cancelled": "cancelled",
}
_REFUND_METHODS = {"provider": "card", "bank_transfer": "bank_transfer", "cash": "cash"}


def notify(session: Session, pledge_id: int, kind: str, at: datetime, *,
           loaded: tuple[Pledge, Reward, Campaign, Event] | None = None, **facts: Any) -> None:
    """Queue the notice ``kind`` about pledge ``pledge_id`` in the caller's transaction.
    ``loaded``: the pledge, its return, campaign and event as the caller's transaction
    has them already (a new pledge: its return's row is locked meanwhile, so no read)."""
    if kind not in NOTICE_KINDS:
        raise ValueError(f"unknown notice kind {kind!r}")
    if loaded is not None and loaded[0].id == pledge_id:
        pledge, reward, campaign, event = loaded
    else:
        pledge, reward, campaign, event = session.execute(
            select(Pledge, Reward, Campaign, Event)
            .join(Reward, Reward.id == Pledge.reward_id)
            .join(Campaign, Campaign.id == Pledge.campaign_id)
            .join(Event, Event.id == Campaign.event_id)
            .where(Pledge.id == pledge_id)
        ).one()
    who = mail.Supporter(pledge.supporter_email, pledge.supporter_name, pledge.lang)
    about = _campaign(campaign, event)
    told = _pledge(pledge, reward, event, campaign)
    if kind == "pledge_received":
        mail.pledge_received(session, supporter=who, campaign=about, pledge=told,
                             payment=_instructions(pledge, event, campaign))
    elif kind == "payment_reminder":
        mail.payment_reminder(session, supporter=who, campaign=about, pledge=told,
                              payment=_instructions(pledge, event, campaign))
    elif kind == "payment_received":
        mail.payment_received(session, supporter=who, campaign=about, pledge=told,
                              amount=int(facts.get("total", pledge.total)),
                              method=_method(pledge.payment_method), paid_at=at)
    elif kind in ("late_payment_refund", "campaign_failed_refund"):
        refund = _refund_of(session, pledge_id, facts.get("refund_id"))
        reason = "campaign_failed" if kind == "campaign_failed_refund" else str(
            facts.get("reason", "other"))
        mail.refund_requested(session, supporter=who, campaign=about, pledge=told,
                              refund=_refund(refund, reason))
    else:  # refund_sent
        mail.refund_sent(session, supporter=who, campaign=about, pledge=told,
                         refund=_refund(_refund_of(session, pledge_id, facts.get("refund_id")),
                                        "other", sent=True))


def _campaign(campaign: Campaign, event: Event) -> mail.Campaign:
    contact = campaign.email or event.committee_email or campaign.phone or event.committee_phone
    return mail.Campaign(title=campaign.title, committee=campaign.seller or event.committee_name,
                         contact=contact, url=links.campaign_url(event.slug, campaign.slug),
                         my_url=links.my_page_url())


def _pledge(pledge: Pledge, reward: Reward, event: Event, campaign: Campaign) -> mail.Pledge:
    year, month = (int(part) for part in reward.delivery_month.split("-"))
    line = mail.PledgeLine(name=reward.title, quantity=pledge.quantity, amount=pledge.amount,
                           delivery=date(year, month, 1))
    return mail.Pledge(id=pledge.id, number=links.pledge_number(pledge.id), lines=[line],
                       total=pledge.total, shipping=pledge.shipping,
                       url=links.campaign_url(event.slug, campaign.slug))


def _method(method: str) -> mail.PaymentMethod:
    if method not in ("bank_transfer", "konbini", "card", "cash"):
        raise ValueError(f"unknown payment method {method!r}")
    return method  # type: ignore[return-value]


def _instructions(pledge: Pledge, event: Event, campaign: Campaign) -> mail.PaymentInstructions:
    method = _method(pledge.payment_method)
    if method == "bank_transfer":
        return mail.PaymentInstructions(method, deadline=pledge.payment_deadline,
                                        bank_account=receiving_account(event),
                                        reference=pledge.reference)
    if method == "konbini":
        return mail.PaymentInstructions(method, deadline=pledge.payment_deadline,
                                        payment_url=links.campaign_url(event.slug,
                                                                       campaign.slug))
    if method == "cash":
        return mail.PaymentInstructions(method, deadline=pledge.payment_deadline,
                                        place=event.venue or None)
    return mail.PaymentInstructions(method)


def has_receiving_account(event: Event) -> bool:
    return bool(event.payer_bank_code and event.payer_branch_code
                and event.payer_account_number and event.zengin_requester_kana)


def receiving_account(event: Event) -> mail.BankAccount:
    """The committee's account supporters transfer to: the event's own account (the one
    settlement pays workshops from). Refused when the committee has not set it."""
    bank_code, branch_code = event.payer_bank_code, event.payer_branch_code
    if not has_receiving_account(event) or not (bank_code and branch_code):
        raise Refusal("pledge.no_bank_account")
    assert event.payer_account_number and event.zengin_requester_kana
    bank, branch = lookup_bank(bank_code), lookup_branch(bank_code, branch_code)
    return mail.BankAccount(
        bank=bank.name if bank else bank_code, branch=branch.name if branch else branch_code,
        kind=PAYEE_ACCOUNT_TYPES.get(event.payer_account_type or 1, ("普通", ""))[0],
        number=event.payer_account_number, holder=event.zengin_requester_kana)


def _refund_of(session: Session, pledge_id: int, refund_id: int | None) -> Refund:
    """The refund a notice is about: the one named, else the pledge's own (a pledge has
    one, besides the refunds of duplicate payments, which always name theirs)."""
    if refund_id is not None:
        return session.execute(select(Refund).where(Refund.id == refund_id,
                                                    Refund.pledge_id == pledge_id)).scalar_one()
    return session.execute(select(Refund).where(Refund.pledge_id == pledge_id,
                                                Refund.reason != DUPLICATE)).scalar_one()


def _refund(refund: Refund, reason: str, *, sent: bool = False) -> mail.Refund:
    method = _REFUND_METHODS[refund.method]
    hint = None
    if sent and refund.method == "bank_transfer" and refund.account_number:
        hint = f"{refund.bank_code}-{refund.branch_code} ****{refund.account_number[-3:]}"
    return mail.Refund(
        id=refund.id, amount=refund.amount, reason=_REASONS.get(reason, "other"),
        method=method,  # type: ignore[arg-type]
        note="" if reason in _REASONS else _OTHER_NOTES.get(reason, ""),
        account_form_url=(links.refund_account_url(refund.account_token)
                          if refund.account_token else None),
        sent_at=refund.sent_at if sent else None, account_hint=hint)


_OTHER_NOTES = {
    "campaign_decided": "支援募集の結果が確定した後のお支払いのため、お受けできませんでした。"
               " / It arrived after the campaign's outcome was decided.",
    "late_payment": "お支払い期限を過ぎてのお支払いのため、お受けできませんでした。"
                    " / It arrived after the payment deadline.",
    DUPLICATE: "この支援はすでにお支払い済みのため、重複したお支払いをお返しします"
               "（支援はそのまま有効です）。"
               " / This pledge was already paid: the second payment goes back (the pledge "
               "stands).",
}
