"""A supporter gives the bank account a refund is sent to, through a secret link.

Konbini and bank-transfer money can only go back by bank transfer, to an account the
supporter names. The refund's e-mail carries a link with a long random token (the
``account_token`` of the refund, made when the refund is requested); whoever holds the
link may give the account, until the money is sent. The account is checked as every
account in oflocal is (``settlement.zengin.account_problems``: the shapes the Zengin
file needs, a bank and branch that exist), and stored with one conditional UPDATE, so a
refund already on its way is never redirected. A failed transfer opens the form again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from oflocal.crowdfunding.links import pledge_number
from oflocal.crowdfunding.models import Campaign, Refund
from oflocal.crowdfunding.refunds import STATE_NAMES
from oflocal.db.engine import Database
from oflocal.db.rows import affected
from oflocal.errors import Refusal
from oflocal.events.setup import KANA_NAME
from oflocal.settlement.zengin import account_problems

# The account may be given (or corrected) until the money is on its way, and again
# after a transfer bounced.
OPEN_STATES = ("requested", "failed")


@dataclass(frozen=True)
class RefundForAccount:
    """What the supporter sees on the page: never the token, never the whole account."""

    refund_id: int
    pledge_number: str
    campaign_title: str
    amount: int
    state: str
    open: bool  # the form can be sent
    account_hint: str | None  # 「0152-001 ****321」 once given


def refund_for_link(db: Database, token: str) -> RefundForAccount:
    with db.read() as session:
        return _view(session, _by_token(session, token))


def give_refund_account(db: Database, token: str, *, bank_code: str, branch_code: str,
                        account_type: int, account_number: str,
                        holder_kana: str) -> RefundForAccount:
    """Store the account for the refund behind ``token``; refusals change nothing."""
    holder = holder_kana.strip(" \u3000")
    problems = account_problems(bank_code, branch_code, account_type, account_number)
    if problems:
        first = problems[0]
        raise Refusal("refund.account_invalid", problem=first.message_ja,
                      problem_en=first.message_en)
    if not holder or not KANA_NAME.fullmatch(holder):
        raise Refusal("refund.account_invalid", problem="口座名義はカタカナで入力してください",
                      problem_en="give the account holder's name in katakana")
    with db.write() as session:
        refund = _by_token(session, token)
        stored = affected(session.execute(
            update(Refund)
            .where(Refund.id == refund.id, Refund.state.in_(OPEN_STATES))
            .values(bank_code=bank_code, branch_code=branch_code, account_type=account_type,
                    account_number=account_number, account_holder_kana=holder)
        ))
        if stored != 1:  # sent (or done) between the look and the write
            ja, en = STATE_NAMES[refund.state]
            raise Refusal("refund.account_closed", state=ja, state_en=en)
        session.refresh(refund)
        return _view(session, refund)


def _by_token(session: Session, token: str) -> Refund:
    refund = None
    if 20 <= len(token) <= 64:
        refund = session.execute(
            select(Refund).where(Refund.account_token == token)).scalar_one_or_none()
    if refund is None or refund.method != "bank_transfer":
        raise Refusal("refund.link_unknown")
    return refund


def _view(session: Session, refund: Refund) -> RefundForAccount:
    title = session.execute(
        select(Campaign.title).where(Campaign.id == refund.campaign_id)).scalar_one()
    hint = None
    if refund.account_number:
        hint = f"{refund.bank_code}-{refund.branch_code} ****{refund.account_number[-3:]}"
    return RefundForAccount(refund_id=refund.id, pledge_number=pledge_number(refund.pledge_id),
                            campaign_title=title, amount=refund.amount, state=refund.state,
                            open=refund.state in OPEN_STATES, account_hint=hint)


def as_dict(view: RefundForAccount) -> dict[str, Any]:
    return view.__dict__.copy()
