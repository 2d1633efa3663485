"""Setting up an event: the event itself, its workshops and its voucher programmes.

Programme rules come from DOMAIN-JAPAN.md: denominations add up to the face value, and
a validity of 6 months or more from issue is refused unless the committee explicitly
overrides it (the Payment Services Act would then apply), in which case we warn.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from oflocal import clock
from oflocal.errors import Refusal
from oflocal.events.invoice import check_invoice_number
from oflocal.events.models import Event, Workshop
from oflocal.ledger.accounts import (
    create_programme_account,
    create_standard_accounts,
    create_workshop_account,
)
from oflocal.settlement.zengin import account_problems
from oflocal.vouchers.models import Programme, Ticket

# What a bank accepts as a kana name before conversion (see settlement/kana.py).
KANA_NAME = re.compile(
    r"[\u30A1-\u30FA\u30FC\u30FD\u30FE\uFF66-\uFF9F"  # katakana, ー, ｦ..ﾟ
    r"A-Za-z0-9\uFF10-\uFF19\uFF21-\uFF3A\uFF41-\uFF5A"  # ASCII and full-width letters
    r" \u3000()\uFF08\uFF09.\uFF0E\-\uFF0D\u2010\u2212]+"  # spaces ( ) . and hyphens
)
BANK_FIELDS = ("bank_code", "branch_code", "account_type", "account_number", "account_holder_kana")
FIELD_LABELS = {
    "name_kana": "フリガナ",
    "bank.bank_code": "銀行コード",
    "bank.branch_code": "支店コード",
    "bank.account_type": "預金種目",
    "bank.account_number": "口座番号",
    "bank.account_holder_kana": "口座名義",
}
EDITABLE = frozenset(
    {"name", "name_kana", "craft", "introduction", "tools", "contact", "participating",
     "invoice_number", *BANK_FIELDS}
)
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


# What the committee may change about its event after creating it (the slug stays: it
# is in every workshop's login).
EVENT_FIELDS = frozenset({"name", "committee_name", "starts_on", "ends_on", "venue",
                          "representative", "committee_address", "committee_phone",
                          "committee_email", "invoice_number"})
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def check_event(fields: Mapping[str, Any], previous_invoice: str | None = None, *,
                confirm_invoice_number: bool = False) -> None:
    """The event's rules, for a new event and for every edit (checked as a whole); an
    invoice number already stored (``previous_invoice``) is not checked again."""
    if not str(fields.get("name", "")).strip():
        raise Refusal("request.invalid", detail="name")
    if not str(fields.get("committee_name", "")).strip():
        raise Refusal("request.invalid", detail="committee_name")
    if fields["ends_on"] < fields["starts_on"]:
        raise Refusal("programme.dates_invalid", detail="ends_on < starts_on")
    email = fields.get("committee_email") or ""
    if email and not EMAIL.fullmatch(email):
        raise Refusal("request.invalid", detail="committee_email")
    check_invoice_number(fields.get("invoice_number"), previous_invoice,
                         confirmed=confirm_invoice_number)


def create_event(session: Session, *, slug: str, confirm_invoice_number: bool = False,
                 **fields: Any) -> Event:
    """An event and its chart of accounts. ``fields``: name, committee_name, starts_on,
    ends_on, and optionally the rest of :data:`EVENT_FIELDS`."""
    unknown = set(fields) - EVENT_FIELDS
    if unknown:
        raise ValueError(f"not event fields: {sorted(unknown)}")
    check_event(fields, confirm_invoice_number=confirm_invoice_number)
    event = Event(slug=slug, created_at=clock.now(), **fields)
    session.add(event)
    session.flush()
    create_standard_accounts(session, event.id)
    return event


def update_event(session: Session, event_id: int, changes: Mapping[str, Any], *,
                 confirm_invoice_number: bool = False) -> Event:
    """Change the event's profile; the result is checked as a whole."""
    unknown = set(changes) - EVENT_FIELDS
    if unknown:
        raise ValueError(f"not editable: {sorted(unknown)}")
    event = session.get(Event, event_id, with_for_update=True)
    if event is None:
        raise Refusal("event.not_found")
    check_event({**{f: getattr(event, f) for f in EVENT_FIELDS}, **changes},
                event.invoice_number, confirm_invoice_number=confirm_invoice_number)
    for field_name, value in changes.items():
        setattr(event, field_name, value)
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


def check_kana(field: str, value: str) -> None:
    if not KANA_NAME.fullmatch(value) or not value.strip(" \u3000"):
        raise Refusal("workshop.kana_invalid", field=field, label=FIELD_LABELS[field])


def check_bank(values: Mapping[str, Any]) -> None:
    """A bank account is all five fields or none; the account itself is checked by
    ``settlement.zengin.account_problems``, as the transfer file will need it."""
    given = [values.get(name) is not None for name in BANK_FIELDS]
    if not any(given):
        return
    for name, present in zip(BANK_FIELDS, given, strict=True):
        if not present:
            raise Refusal("workshop.bank_invalid", field=f"bank.{name}",
                          label=FIELD_LABELS[f"bank.{name}"],
                          problem=f"{FIELD_LABELS[f'bank.{name}']}が入力されていません",
                          problem_en=f"{name} is missing")
    problems = account_problems(str(values["bank_code"]), str(values["branch_code"]),
                                values["account_type"], str(values["account_number"]))
    if problems:
        first = problems[0]
        raise Refusal("workshop.bank_invalid", field=f"bank.{first.field}",
                      label=FIELD_LABELS[f"bank.{first.field}"], problem=first.message_ja,
                      problem_en=first.message_en)
    check_kana("bank.account_holder_kana", str(values["account_holder_kana"]))


def check_workshop(details: Mapping[str, Any], previous_invoice: str | None = None, *,
                   confirm_invoice_number: bool = False) -> None:
    """A workshop's rules; an invoice number already stored (``previous_invoice``) is not
    checked again (events.invoice)."""
    check_kana("name_kana", str(details["name_kana"]))
    check_invoice_number(details.get("invoice_number"), previous_invoice,
                         confirmed=confirm_invoice_number)
    check_bank(details)


def add_workshop(session: Session, event_id: int, details: WorkshopDetails, *,
                 confirm_invoice_number: bool = False) -> Workshop:
    check_workshop(details.__dict__, confirm_invoice_number=confirm_invoice_number)
    workshop = Workshop(event_id=event_id, **details.__dict__)
    session.add(workshop)
    session.flush()
    create_workshop_account(session, event_id, workshop.id, workshop.name)
    return workshop


def update_workshop(session: Session, workshop_id: int, changes: Mapping[str, Any], *,
                    confirm_invoice_number: bool = False) -> Workshop:
    """Change a workshop's texts, participation, invoice number or bank account; the
    result is checked as a whole, so a half-changed bank account is refused."""
    unknown = set(changes) - EDITABLE
    if unknown:
        raise ValueError(f"not editable: {sorted(unknown)}")
    workshop = session.execute(
        select(Workshop).where(Workshop.id == workshop_id).with_for_update()
    ).scalar_one_or_none()
    if workshop is None:
        raise Refusal("workshop.not_found")
    merged = {name: getattr(workshop, name) for name in EDITABLE} | dict(changes)
    check_workshop(merged, workshop.invoice_number,
                   confirm_invoice_number=confirm_invoice_number)
    for name, value in changes.items():
        setattr(workshop, name, value)
    session.flush()
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


# Printed on every booklet (the cover and each ticket): fixed once the first is printed.
PRINTED_TERMS = {"name": ("名称", "name"), "price": ("販売価格", "price"),
                 "face_value": ("額面", "face value"),
                 "denominations": ("券の額面", "denominations"),
                 "issue_date": ("発行日", "issue date"), "valid_from": ("使用開始日", "valid from"),
                 "valid_until": ("使用期限", "last day of use"),
                 "validity_override": ("6か月ルールの上書き", "6-month override")}
PROGRAMME_FIELDS = frozenset(ProgrammeTerms.__dataclass_fields__)


def programme_terms(programme: Programme) -> ProgrammeTerms:
    return ProgrammeTerms(**{name: getattr(programme, name) for name in PROGRAMME_FIELDS})


def update_programme(session: Session, programme_id: int,
                     changes: Mapping[str, Any]) -> tuple[Programme, list[str]]:
    """Change a programme's rules; the result is checked as a whole, like a new one.

    Once a booklet is printed, what it shows stays as printed (a reprint must match the
    original). The sales window, the per-sale limit and the budget stay editable: the
    budget not below what sales have already spent (the row is locked, so a sale in
    flight either counts or waits), and what expiry does until expiry has run.
    """
    unknown = set(changes) - PROGRAMME_FIELDS
    if unknown:
        raise ValueError(f"not programme terms: {sorted(unknown)}")
    programme = session.get(Programme, programme_id, with_for_update=True)
    if programme is None:
        raise Refusal("programme.not_found")
    current = programme_terms(programme)
    changed = {k: v for k, v in changes.items() if getattr(current, k) != v}
    printed = [k for k in PRINTED_TERMS if k in changed]
    if printed and programme.next_booklet_serial > 1:
        raise Refusal("programme.terms_printed",
                      fields="、".join(PRINTED_TERMS[k][0] for k in printed),
                      fields_en=", ".join(PRINTED_TERMS[k][1] for k in printed))
    if changed.get("premium_budget", programme.premium_budget) < programme.premium_spent:
        raise Refusal("programme.budget_below_spent", spent=programme.premium_spent)
    if "breakage_rule" in changed and _expiry_has_run(session, programme_id):
        raise Refusal("programme.already_expired")
    warnings = check_terms(ProgrammeTerms(**{**current.__dict__, **changed}))
    for name, value in changed.items():
        setattr(programme, name, value)
    session.flush()
    return programme, warnings


def _expiry_has_run(session: Session, programme_id: int) -> bool:
    return session.execute(
        select(Ticket.id).where(Ticket.programme_id == programme_id,
                                Ticket.status == "expired").limit(1)
    ).first() is not None
