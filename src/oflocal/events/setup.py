"""Setting up an event: the event itself, its workshops and its voucher programmes.

Programme rules come from DOMAIN-JAPAN.md: denominations add up to the face value, and
a validity of 6 months or more from issue is refused unless the committee explicitly
overrides it (the Payment Services Act would then apply), in which case we warn.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy.orm import Session

from oflocal import clock
from oflocal.errors import Refusal
from oflocal.events.models import Event, Workshop
from oflocal.ledger.accounts import (
    create_programme_account,
    create_standard_accounts,
    create_workshop_account,
)
from oflocal.vouchers.models import Programme

INVOICE_NUMBER = re.compile(r"T\d{13}")
VALIDITY_WARNING = (
    "有効期間が発行日から6か月以上です。資金決済法の前払式支払手段として届出・供託等が"
    "必要になる可能性があります。 / Validity is 6 months or more from issue: the Payment "
    "Services Act may apply (registration, unused-balance reports, deposits)."
)


def add_months(day: date, months: int) -> date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    for candidate in (day.day, 30, 29, 28):
        try:
            return date(year, month, candidate)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def create_event(
    session: Session,
    *,
    slug: str,
    name: str,
    committee_name: str,
    starts_on: date,
    ends_on: date,
    committee_address: str = "",
    committee_phone: str = "",
) -> Event:
    if ends_on < starts_on:
        raise Refusal("programme.dates_invalid", detail="ends_on < starts_on")
    event = Event(
        slug=slug,
        name=name,
        committee_name=committee_name,
        starts_on=starts_on,
        ends_on=ends_on,
        committee_address=committee_address,
        committee_phone=committee_phone,
        created_at=clock.now(),
    )
    session.add(event)
    session.flush()
    create_standard_accounts(session, event.id)
    return event


@dataclass
class WorkshopDetails:
    code: str
    name: str
    name_kana: str
    craft: str = ""
    introduction: str = ""
    tools: str = ""
    contact: str = ""
    bank_code: str | None = None
    branch_code: str | None = None
    account_type: int | None = None
    account_number: str | None = None
    account_holder_kana: str | None = None
    invoice_number: str | None = None
    image: bytes | None = field(default=None, repr=False)


def add_workshop(session: Session, event_id: int, details: WorkshopDetails) -> Workshop:
    if details.invoice_number and not INVOICE_NUMBER.fullmatch(details.invoice_number):
        raise Refusal("workshop.invoice_number_invalid")
    workshop = Workshop(event_id=event_id, **details.__dict__)
    session.add(workshop)
    session.flush()
    create_workshop_account(session, event_id, workshop.id, workshop.name)
    return workshop


@dataclass
class ProgrammeTerms:
    name: str
    price: int
    face_value: int
    denominations: list[int]
    sales_starts_at: datetime
    sales_ends_at: datetime
    issue_date: date
    valid_from: date
    valid_until: date
    premium_budget: int
    max_booklets_per_sale: int = 5
    validity_override: bool = False
    breakage_rule: str = "breakage"


def check_terms(terms: ProgrammeTerms) -> list[str]:
    """Refuse impossible terms; return warnings the committee must see."""
    if terms.price > terms.face_value:
        raise Refusal("programme.price_above_face")
    total = sum(terms.denominations)
    if total != terms.face_value or any(d <= 0 for d in terms.denominations):
        raise Refusal("programme.denominations_mismatch", total=total, face=terms.face_value)
    if terms.valid_until < terms.valid_from:
        raise Refusal("programme.dates_invalid", detail="valid_until < valid_from")
    if terms.valid_from < terms.issue_date:
        raise Refusal("programme.dates_invalid", detail="valid_from < issue_date")
    if terms.sales_ends_at <= terms.sales_starts_at:
        raise Refusal("programme.dates_invalid", detail="sales_ends_at <= sales_starts_at")
    if terms.valid_until >= add_months(terms.issue_date, 6):
        if not terms.validity_override:
            raise Refusal("programme.validity_too_long")
        return [VALIDITY_WARNING]
    return []


def create_programme(
    session: Session, event_id: int, terms: ProgrammeTerms
) -> tuple[Programme, list[str]]:
    warnings = check_terms(terms)
    programme = Programme(event_id=event_id, created_at=clock.now(), **terms.__dict__)
    session.add(programme)
    session.flush()
    create_programme_account(session, event_id, programme.id, programme.name)
    return programme, warnings
