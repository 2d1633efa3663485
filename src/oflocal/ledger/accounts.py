"""The chart of accounts of one event. Accounts are made when their owner is made."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from oflocal.ledger.models import Account


@dataclass(frozen=True)
class StandardAccount:
    code: str
    name: str
    kind: str


STANDARD = (
    StandardAccount("cash", "現金（販売窓口） Cash at the desk", "asset"),
    StandardAccount("bank", "普通預金 Bank", "asset"),
    StandardAccount("provider_receivable", "決済代行未収金 Payment provider receivable", "asset"),
    StandardAccount("premium_fund", "プレミアム原資 Premium fund", "equity"),
    StandardAccount("breakage", "未使用券収益 Breakage", "income"),
    StandardAccount("fee_income", "換金手数料収入 Redemption fee income", "income"),
    StandardAccount("pledges_held", "支援金預り Pledges held", "liability"),
    StandardAccount("crowdfunding_income", "クラファン収入 Crowdfunding income", "income"),
    # What a payment provider keeps of a pledge (card, konbini); migration 0011 adds it
    # to events made before.
    StandardAccount("payment_fees", "支払手数料 Payment provider fees", "expense"),
    # The treasurer's own entries (oflocal/treasury); migration 0019 adds them to events
    # made before.
    StandardAccount("subsidy_income", "補助金収入 Subsidy income", "income"),
    StandardAccount("sponsorship_income", "協賛金収入 Sponsorship income", "income"),
    StandardAccount("other_income", "雑収入 Other income", "income"),
    StandardAccount("deposits_received", "預り金 Money held (over-payments)", "liability"),
    StandardAccount("bank_fees", "振込手数料 Bank charges", "expense"),
    StandardAccount("other_expenses", "雑費 Other expenses", "expense"),
    # What the committee's money brought from last year is set against (its net assets):
    # the treasurer's opening balances (開始残高); migration 0021 adds it to events made
    # before.
    StandardAccount("opening_equity", "前期繰越正味財産 Net assets brought forward", "equity"),
)

OPENING_EQUITY = "opening_equity"


def standard_name_ja(code: str) -> str:
    """The Japanese name of a standard account (未使用券収益 of 未使用券収益 Breakage), so a
    page names the account as the ledger does."""
    return next(a.name for a in STANDARD if a.code == code).split(" ", 1)[0]

# Which account a desk payment lands in.
PAYMENT_ACCOUNT = {
    "cash": "cash",
    "card": "provider_receivable",
    "qr": "provider_receivable",
    "bank": "bank",
}


def liability_code(programme_id: int) -> str:
    return f"voucher_liability:P{programme_id}"


def payable_code(workshop_id: int) -> str:
    return f"payable:W{workshop_id}"


def receivable_code(workshop_id: int) -> str:
    """What a workshop owes back to the committee (未収金), after a correction took back
    more than it had pending: offset against its next payout, or paid back."""
    return f"receivable:W{workshop_id}"


def ensure_receivable_account(session: Session, event_id: int, workshop_id: int,
                              name: str) -> int:
    """The workshop's receivable account, made the first time a correction needs it
    (call under the event's lock)."""
    code = receivable_code(workshop_id)
    found = session.execute(
        select(Account.id).where(Account.event_id == event_id, Account.code == code)
    ).scalar_one_or_none()
    if found is not None:
        return int(found)
    account = Account(event_id=event_id, code=code, name=f"未収金 Receivable: {name}",
                      kind="asset", workshop_id=workshop_id)
    session.add(account)
    session.flush()
    return account.id


def create_standard_accounts(session: Session, event_id: int) -> None:
    session.add_all(
        Account(event_id=event_id, code=a.code, name=a.name, kind=a.kind) for a in STANDARD
    )


def create_programme_account(session: Session, event_id: int, programme_id: int, name: str) -> None:
    session.add(
        Account(
            event_id=event_id,
            code=liability_code(programme_id),
            name=f"商品券未使用残高 Voucher liability: {name}",
            kind="liability",
            programme_id=programme_id,
        )
    )


def create_workshop_account(session: Session, event_id: int, workshop_id: int, name: str) -> None:
    session.add(
        Account(
            event_id=event_id,
            code=payable_code(workshop_id),
            name=f"未払金 Payable: {name}",
            kind="liability",
            workshop_id=workshop_id,
        )
    )


def account_ids(session: Session, event_id: int, *codes: str) -> dict[str, int]:
    """Ids of named accounts of an event; a missing one is a programming error."""
    rows = session.execute(
        select(Account.code, Account.id).where(
            Account.event_id == event_id, Account.code.in_(codes)
        )
    ).all()
    found = {code: id_ for code, id_ in rows}
    missing = set(codes) - found.keys()
    if missing:
        raise LookupError(f"event {event_id} has no account(s) {sorted(missing)}")
    return found
