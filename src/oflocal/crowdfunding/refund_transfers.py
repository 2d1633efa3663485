"""Bank refunds go out in a Zengin 総合振込 file, made by the same writer as the
workshops' settlement (``settlement.zengin``): one data record per refund whose
supporter gave an account (``refund_account.py``), from the committee's own account.

Making the file changes nothing: the treasurer uploads it to the bank, then marks the
refunds sent (``refunds.mark_refund_sent``, page or ``oflocal refunds sent``), which
posts each one. A refund already sent is never in a file again; one whose transfer
bounced (``failed``) is, once its account is corrected. Any problem (an account the
bank would refuse, a name that does not convert to Zengin kana) blocks the whole file
with the list of what to fix (``zengin.blocked``), never a silently wrong record.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from oflocal import clock
from oflocal.crowdfunding.links import pledge_number
from oflocal.crowdfunding.models import Campaign, Refund
from oflocal.errors import Refusal
from oflocal.events.models import Event
from oflocal.settlement.settings import requester_of
from oflocal.settlement.zengin import Payee, ZenginBlocked, build_zengin_file

# Refunds a file may carry: not sent yet, or sent and bounced.
IN_A_FILE = ("requested", "failed")


def refunds_to_transfer(session: Session, campaign_id: int) -> list[Refund]:
    """Bank refunds of the campaign ready to go: an account given, money not yet sent."""
    return list(session.execute(
        select(Refund).where(Refund.campaign_id == campaign_id,
                             Refund.method == "bank_transfer",
                             Refund.state.in_(IN_A_FILE),
                             Refund.account_number.is_not(None))
        .order_by(Refund.id)).scalars())


def _payee(refund: Refund) -> Payee:
    assert refund.bank_code and refund.branch_code and refund.account_number
    number = pledge_number(refund.pledge_id)
    return Payee(key=number, display_name=f"{number} (refund {refund.id})",
                 name_kana=refund.account_holder_kana or "", bank_code=refund.bank_code,
                 branch_code=refund.branch_code, account_type=refund.account_type or 1,
                 account_number=refund.account_number, amount=refund.amount,
                 customer_code=str(refund.id))


def refund_zengin_file(session: Session, campaign_id: int,
                       transfer_date: date) -> tuple[bytes, list[int], int]:
    """The file, the refunds in it (ids) and their total. Refused when there is nothing
    to send, or with every problem named when the bank would refuse the file."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise Refusal("campaign.not_found")
    event = session.get(Event, campaign.event_id)
    assert event is not None
    refunds = refunds_to_transfer(session, campaign_id)
    if not refunds:
        raise Refusal("refund.nothing_to_transfer")
    try:
        data = build_zengin_file(requester_of(event), [_payee(r) for r in refunds],
                                 transfer_date, today=clock.tokyo_date(clock.now()))
    except ZenginBlocked as blocked:
        raise Refusal("zengin.blocked", count=len(blocked.problems),
                      problems=[asdict(p) for p in blocked.problems]) from blocked
    return data, [r.id for r in refunds], sum(r.amount for r in refunds)
