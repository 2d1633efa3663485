"""The committee's settlement settings: its Zengin requester data and the fee rule."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from oflocal.db.engine import Database
from oflocal.errors import Refusal
from oflocal.events.models import Event
from oflocal.settlement.kana import KanaError, to_zengin_kana
from oflocal.settlement.models import FEE_RULES, ROUNDING
from oflocal.settlement.rules import FeeRule
from oflocal.settlement.zengin import Requester, account_problems


@dataclass(frozen=True)
class RequesterData:
    code: str  # 委託者コード, 10 digits from the bank
    name_kana: str
    bank_code: str
    branch_code: str
    account_type: int  # 1 普通, 2 当座, 9 その他
    account_number: str


def fee_rule_of(event: Event) -> FeeRule:
    return FeeRule(event.fee_rule, event.fee_rate_bp, event.fee_fixed_yen, event.fee_rounding)


def requester_of(event: Event) -> Requester:
    """The committee as the bank knows it; missing data is left empty for validate()."""
    return Requester(
        code=event.zengin_requester_code or "",
        name_kana=event.zengin_requester_kana or "",
        bank_code=event.payer_bank_code or "",
        branch_code=event.payer_branch_code or "",
        account_type=event.payer_account_type or 0,
        account_number=event.payer_account_number or "",
    )


def lock_event(session: Any, event_id: int) -> Event:
    """The event row, locked (PostgreSQL; SQLite writes are serialised already).

    ``FOR NO KEY UPDATE``: closes, corrections and settings changes of one event queue
    behind each other, while redemptions, whose journal entries take a key-share lock on
    the event for their foreign key, are not held by it. (A close holds redemptions with
    the event's own advisory lock instead, which queues fairly: settlement/membership.py.)
    """
    event = session.execute(
        select(Event).where(Event.id == event_id).with_for_update(key_share=True)
    ).scalar_one_or_none()
    if event is None:
        raise Refusal("event.not_found")
    return event  # type: ignore[no-any-return]


def set_fee_rule(db: Database, *, event_id: int, rule: FeeRule) -> dict[str, Any]:
    """Change the fee rule for periods closed from now on (closed ones keep theirs)."""
    if rule.rule not in FEE_RULES:
        raise Refusal("settlement.settings_invalid", detail=f"fee rule {rule.rule!r}")
    if rule.rounding not in ROUNDING:
        raise Refusal("settlement.settings_invalid", detail=f"rounding {rule.rounding!r}")
    if not 0 <= rule.rate_bp <= 10_000:
        raise Refusal("settlement.settings_invalid", detail="rate is 0 to 10000 basis points")
    if not 0 <= rule.fixed_yen <= 100_000:
        raise Refusal("settlement.settings_invalid", detail="fixed fee is 0 to 100,000 yen")
    with db.write() as session:
        event = lock_event(session, event_id)
        event.fee_rule = rule.rule
        event.fee_rate_bp = rule.rate_bp if rule.rule == "rate" else 0
        event.fee_fixed_yen = rule.fixed_yen if rule.rule == "fixed" else 0
        event.fee_rounding = rule.rounding
        stored = fee_rule_of(event)
    return {"event_id": event_id, **stored.__dict__, "description_ja": stored.describe_ja(),
            "description_en": stored.describe_en()}


def set_requester(db: Database, *, event_id: int, data: RequesterData) -> dict[str, Any]:
    """Store the committee's bank data, its account checked as every account is
    (``zengin.account_problems``: the file's shapes, a bank and branch that exist)."""
    if not (len(data.code) == 10 and data.code.isascii() and data.code.isdigit()):
        raise Refusal("settlement.settings_invalid", detail="requester code is 10 digits")
    try:
        kana = to_zengin_kana(data.name_kana)
    except KanaError as error:
        raise Refusal("settlement.settings_invalid", detail=str(error)) from error
    if not kana:
        raise Refusal("settlement.settings_invalid", detail="requester name (kana) is missing")
    problems = account_problems(data.bank_code, data.branch_code, data.account_type,
                                data.account_number, requester=True)
    if problems:
        raise Refusal("settlement.settings_invalid", detail=problems[0].message_en)
    with db.write() as session:
        event = lock_event(session, event_id)
        event.zengin_requester_code = data.code
        event.zengin_requester_kana = data.name_kana.strip()
        event.payer_bank_code = data.bank_code
        event.payer_branch_code = data.branch_code
        event.payer_account_type = data.account_type
        event.payer_account_number = data.account_number
    return settings_view(db, event_id)


def settings_view(db: Database, event_id: int) -> dict[str, Any]:
    with db.read() as session:
        event = session.get(Event, event_id)
        if event is None:
            raise Refusal("event.not_found")
        rule = fee_rule_of(event)
        return {
            "event_id": event.id,
            "committee_name": event.committee_name,
            "requester_code": event.zengin_requester_code,
            "requester_name_kana": event.zengin_requester_kana,
            "bank_code": event.payer_bank_code,
            "branch_code": event.payer_branch_code,
            "account_type": event.payer_account_type,
            "account_number": event.payer_account_number,
            "fee_rule": rule.rule,
            "fee_rate_bp": rule.rate_bp,
            "fee_fixed_yen": rule.fixed_yen,
            "fee_rounding": rule.rounding,
            "fee_description_ja": rule.describe_ja(),
            "fee_description_en": rule.describe_en(),
        }
