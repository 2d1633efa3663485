"""The notices supporters get, one function each, for the crowdfunding domain to call
inside the transaction of the change they tell of (see ``messages.queue_message``).

Each function takes plain facts (these dataclasses; amounts in integer yen, moments as
aware datetimes), picks the template and the dedupe key, and answers the message's id.
Calling one again for the same pledge, payment or refund queues nothing more.

=================  ==============================  ======================================
function           dedupe key                      when
=================  ==============================  ======================================
pledge_received    ``pledge:<id>:received``        the pledge is made (how to pay)
payment_received   ``pledge:<id>:paid``            its payment is recorded
payment_reminder   ``pledge:<id>:reminder:<day>``  before the deadline (one per deadline)
refund_requested   ``refund:<id>:requested``       a refund is started
refund_sent        ``refund:<id>:sent``            the refund has gone out
=================  ==============================  ======================================
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

from sqlalchemy.orm import Session

from oflocal.clock import tokyo_date
from oflocal.outbox.messages import queue_message

PaymentMethod = Literal["bank_transfer", "konbini", "card", "cash"]
RefundReason = Literal["campaign_failed", "sold_out", "cancelled", "other"]


@dataclass(frozen=True)
class Supporter:
    """Who the message goes to, in the language they chose (``ja`` or ``en``)."""

    email: str
    name: str
    language: str = "ja"


@dataclass(frozen=True)
class Campaign:
    """Who writes, and where to ask: every message ends with these."""

    title: str  # 「尾州ひつじサミット2026 ひつじ団」
    committee: str  # 「尾州ひつじサミット実行委員会」
    contact: str  # an address or phone number for questions
    url: str  # the campaign's page
    my_url: str = ""  # the supporter's own page (sign in by e-mail): all their pledges


@dataclass(frozen=True)
class PledgeLine:
    """One return in the pledge: its name, how many, and the yen for the line."""

    name: str
    quantity: int
    amount: int
    delivery: date | None = None  # the month it is delivered (any day of it)


@dataclass(frozen=True)
class Pledge:
    id: int
    number: str  # what the supporter quotes when asking (「P-000012」)
    lines: Sequence[PledgeLine]
    total: int  # yen, everything included (what is paid)
    url: str  # the supporter's own page of the pledge (a secret link)
    shipping: int = 0  # yen, included in the total


@dataclass(frozen=True)
class BankAccount:
    """The committee's account, as the supporter types it into their bank's form."""

    bank: str  # 「尾西信用金庫」
    branch: str  # 「本店営業部」
    kind: str  # 「普通」 or 「当座」
    number: str  # 「1234567」
    holder: str  # 「ビシュウヒツジサミットジッコウイインカイ」 (kana, as the bank shows it)


@dataclass(frozen=True)
class PaymentInstructions:
    """How this pledge is to be paid, by ``deadline`` (Asia/Tokyo when shown).

    ``bank_transfer`` needs ``bank_account`` and ``reference`` (typed before the sender's
    name so the treasurer can match the transfer); ``konbini`` needs ``payment_url`` (the
    provider's voucher page: store, number, how to pay); ``cash`` may name ``place``;
    ``card`` needs nothing (charged at pledge time, or on the page at ``payment_url``)."""

    method: PaymentMethod
    deadline: datetime | None = None
    bank_account: BankAccount | None = None
    reference: str | None = None
    payment_url: str | None = None
    place: str | None = None

    def __post_init__(self) -> None:
        needs: dict[str, tuple[str, ...]] = {
            "bank_transfer": ("deadline", "bank_account", "reference"),
            "konbini": ("deadline", "payment_url"),
            "card": (), "cash": (),
        }
        if self.method not in needs:
            raise ValueError(f"unknown payment method {self.method!r}")
        missing = [name for name in needs[self.method] if getattr(self, name) is None]
        if missing:
            raise ValueError(f"{self.method} instructions need {', '.join(missing)}")


@dataclass(frozen=True)
class Refund:
    """A refund: ``card`` goes back through the provider; ``cash`` at the desk;
    ``bank_transfer`` goes to the
    account the supporter gives at ``account_form_url`` (needed when requested) by
    ``account_form_deadline``. Once sent: ``sent_at``, and for a bank refund
    ``account_hint`` (the account, its number masked: 「尾西信金 本店 普通 ****567」)."""

    id: int
    amount: int
    reason: RefundReason
    method: Literal["card", "bank_transfer", "cash"]
    note: str = ""  # a sentence for reason "other"
    account_form_url: str | None = None
    account_form_deadline: datetime | None = None
    sent_at: datetime | None = None
    account_hint: str | None = None


@dataclass(frozen=True)
class _Facts:
    supporter: Supporter
    campaign: Campaign
    pledge: Pledge
    extra: dict[str, object] = field(default_factory=dict)


def _queue(session: Session, kind: str, key: str, about: str, facts: _Facts) -> int:
    return queue_message(
        session, kind=kind, to_address=facts.supporter.email, to_name=facts.supporter.name,
        language=facts.supporter.language, about=about, dedupe_key=key,
        context={"supporter": facts.supporter, "campaign": facts.campaign,
                 "pledge": facts.pledge, **facts.extra},
    )


def pledge_received(session: Session, *, supporter: Supporter, campaign: Campaign,
                    pledge: Pledge, payment: PaymentInstructions) -> int:
    """「ご支援を受け付けました」: what was pledged and how to pay it, by when."""
    return _queue(session, "pledge_received", f"pledge:{pledge.id}:received",
                  f"pledge:{pledge.id}",
                  _Facts(supporter, campaign, pledge, {"payment": payment}))


def payment_received(session: Session, *, supporter: Supporter, campaign: Campaign,
                     pledge: Pledge, amount: int, method: PaymentMethod,
                     paid_at: datetime) -> int:
    """「お支払いを確認しました」: the pledge is paid; what happens next."""
    return _queue(session, "payment_received", f"pledge:{pledge.id}:paid",
                  f"pledge:{pledge.id}",
                  _Facts(supporter, campaign, pledge,
                         {"amount": amount, "method": method, "paid_at": paid_at}))


def payment_reminder(session: Session, *, supporter: Supporter, campaign: Campaign,
                     pledge: Pledge, payment: PaymentInstructions) -> int:
    """「お支払い期限が近づいています」: the same instructions again, before the deadline.
    One per pledge and deadline (a deadline moved later gets its own reminder)."""
    if payment.deadline is None:
        raise ValueError("a reminder needs the payment deadline")
    day = tokyo_date(payment.deadline).isoformat()
    return _queue(session, "payment_reminder", f"pledge:{pledge.id}:reminder:{day}",
                  f"pledge:{pledge.id}",
                  _Facts(supporter, campaign, pledge, {"payment": payment}))


def refund_requested(session: Session, *, supporter: Supporter, campaign: Campaign,
                     pledge: Pledge, refund: Refund) -> int:
    """「返金のお知らせ」: why, how much, and for a bank refund the link to give the
    account."""
    if refund.method == "bank_transfer" and refund.account_form_url is None:
        raise ValueError("a bank refund needs the link where the supporter gives the account")
    return _queue(session, "refund_requested", f"refund:{refund.id}:requested",
                  f"refund:{refund.id}", _Facts(supporter, campaign, pledge, {"refund": refund}))


def refund_sent(session: Session, *, supporter: Supporter, campaign: Campaign,
                pledge: Pledge, refund: Refund) -> int:
    """「返金が完了しました」: the money has gone back, when and where."""
    if refund.sent_at is None:
        raise ValueError("a refund sent needs sent_at")
    return _queue(session, "refund_sent", f"refund:{refund.id}:sent", f"refund:{refund.id}",
                  _Facts(supporter, campaign, pledge, {"refund": refund}))


def check_message(session: Session, *, to: str, name: str = "", language: str = "ja",
                 key: str) -> int:
    """A short message that says the mail settings work (``oflocal mail test``)."""
    return queue_message(session, kind="test", to_address=to, to_name=name, language=language,
                         about="test", dedupe_key=f"test:{key}", context={})
