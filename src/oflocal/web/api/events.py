"""Events and their workshops over the API: the events, one at a glance, a new one; an
event's workshops, a new one, a change, a workshop's PIN.

Admins change; desk and treasurer staff may look. Handlers parse, call one domain
function (``events.overview`` to look, ``events.changes`` and ``auth.service.set_pin``
to change) and answer; those turn the database's unique rules into clear refusals (a
duplicate slug or workshop code is a 409, never a 500). Bank account numbers are shown
in full to admins only (``***4567`` to others), and PIN hashes to nobody.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from litestar import Request, Response, Router, get, patch, post, put
from pydantic import BaseModel, Field
from pydantic.config import JsonDict
from pydantic.json_schema import SkipJsonSchema

from oflocal.auth.service import set_pin
from oflocal.errors import Refusal
from oflocal.events import changes
from oflocal.events.models import Event, Workshop
from oflocal.events.overview import all_events, event_overview, event_workshops
from oflocal.events.setup import BANK_FIELDS, KANA_NAME, WorkshopDetails
from oflocal.web.api.common import (
    ADMIN,
    KEY_OPTIONAL,
    NOT_BLANK,
    STAFF,
    EventId,
    RequestBody,
    WorkshopId,
    actor_of,
    once,
)
from oflocal.web.errors import require_json_body
from oflocal.web.state import services

# The services refuse these with their own codes (workshop.bank_invalid, .kana_invalid,
# request.invalid for a PIN); the same rules are written into the OpenAPI document only
# (json_schema_extra), so the answer keeps its specific code and the schema is exact.
_KANA_CLASS = KANA_NAME.pattern[: KANA_NAME.pattern.rindex("]") + 1]
_KANA_LETTER = _KANA_CLASS.replace(r" \u3000", "")  # at least one that is not a space
KANA_SCHEMA: JsonDict = {"pattern": "^" + _KANA_CLASS + "*" + _KANA_LETTER + _KANA_CLASS + "*$"}
PIN_SCHEMA: JsonDict = {"pattern": "^[0-9]{4,8}$"}
INVOICE_SCHEMA: JsonDict = {"pattern": "^T[0-9]{13}$"}


def _digits(n: int) -> JsonDict:
    return {"pattern": f"^[0-9]{{{n}}}$"}


# ---------------------------------------------------------------------------- events


class EventIn(RequestBody):
    slug: str = Field(
        min_length=1,
        max_length=40,
        pattern=r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$",
        description="Short lower-case name used in workshop logins, e.g. `takaoka-2026`.",
    )
    name: str = Field(min_length=1, max_length=200, pattern=NOT_BLANK)
    committee_name: str = Field(min_length=1, max_length=200, pattern=NOT_BLANK)
    starts_on: date
    ends_on: date
    committee_address: str = Field(default="", max_length=300)
    committee_phone: str = Field(default="", max_length=40)


class EventOut(BaseModel):
    id: int
    slug: str
    name: str
    committee_name: str
    starts_on: date
    ends_on: date
    committee_address: str
    committee_phone: str
    created_at: datetime


class ProgrammeSummary(BaseModel):
    id: int
    name: str
    valid_until: date


class EventDetail(EventOut):
    workshop_count: int
    participating_count: int
    programmes: list[ProgrammeSummary]


def _event_out(event: Event) -> EventOut:
    return EventOut(
        id=event.id,
        slug=event.slug,
        name=event.name,
        committee_name=event.committee_name,
        starts_on=event.starts_on,
        ends_on=event.ends_on,
        committee_address=event.committee_address,
        committee_phone=event.committee_phone,
        created_at=event.created_at,
    )


@get("/events", opt={"roles": STAFF}, sync_to_thread=True)
def list_events(request: Request[Any, Any, Any]) -> list[EventOut]:
    """All events, the latest first."""
    return [_event_out(e) for e in all_events(services(request.app.state).db)]


@post("/events", opt={"roles": ADMIN, "idempotency": KEY_OPTIONAL}, sync_to_thread=True,
      status_code=201)
def new_event(request: Request[Any, Any, Any], data: EventIn) -> Response[EventOut]:
    """Create an event with its chart of accounts. A taken slug answers 409 `event.slug_taken`."""
    db = services(request.app.state).db
    return once(request, lambda: _event_out(changes.new_event(db, **data.model_dump())),
                data.model_dump())


@get("/events/{event_id:int}", opt={"roles": STAFF}, sync_to_thread=True)
def event_detail(request: Request[Any, Any, Any], event_id: EventId) -> EventDetail:
    """One event with its workshop counts and voucher programmes."""
    overview = event_overview(services(request.app.state).db, event_id)
    return EventDetail(
        **_event_out(overview.event).model_dump(),
        workshop_count=overview.workshop_count,
        participating_count=overview.participating_count,
        programmes=[ProgrammeSummary(id=p.id, name=p.name, valid_until=p.valid_until)
                    for p in overview.programmes],
    )


# ------------------------------------------------------------------------- workshops


class BankAccountIn(RequestBody):
    bank_code: str = Field(max_length=10, description="4 digits (全銀協 bank code)",
                           json_schema_extra=_digits(4))
    branch_code: str = Field(max_length=10, description="3 digits", json_schema_extra=_digits(3))
    account_type: int = Field(description="1 普通, 2 当座, 4 貯蓄, 9 その他",
                              json_schema_extra={"enum": [1, 2, 4, 9]})
    account_number: str = Field(max_length=20, description="7 digits, zero-padded",
                                json_schema_extra=_digits(7))
    account_holder_kana: str = Field(max_length=60, description="口座名義 in katakana",
                                     json_schema_extra=KANA_SCHEMA)


class BankAccountOut(BaseModel):
    bank_code: str
    branch_code: str
    account_type: int
    account_number: str = Field(description="In full for admins, else masked like `***4567`")
    account_holder_kana: str


class WorkshopIn(RequestBody):
    code: str = Field(
        min_length=1,
        max_length=20,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="Login code handed to the workshop, e.g. W01 (stored in upper case).",
    )
    name: str = Field(min_length=1, max_length=200, pattern=NOT_BLANK)
    name_kana: str = Field(min_length=1, max_length=200, json_schema_extra=KANA_SCHEMA)
    craft: str = Field(default="", max_length=200)
    introduction: str = Field(default="", max_length=5000)
    tools: str = Field(default="", max_length=300)
    contact: str = Field(default="", max_length=300)
    invoice_number: str | None = Field(default=None, max_length=20, description="T + 13 digits",
                                       json_schema_extra=INVOICE_SCHEMA)
    bank: BankAccountIn | None = None
    participating: bool = True
    pin: str | None = Field(default=None, max_length=20, description="4 to 8 digits",
                            json_schema_extra=PIN_SCHEMA)
    confirm_invoice_number: bool = Field(
        default=False, description="The registration number was checked against the "
        "registration notice: store it even though it fails the corporate number check "
        "digit (sole proprietors and voluntary bodies); else that answers 422 "
        "`invoice_number.check_digit`")


class WorkshopPatch(RequestBody):
    """Only the fields sent are changed; `null` clears `invoice_number` and `bank`."""

    # The other fields cannot be null (the handler refuses it); the schema says so.
    name: str | SkipJsonSchema[None] = Field(default=None, min_length=1, max_length=200,
                                             pattern=NOT_BLANK)
    name_kana: str | SkipJsonSchema[None] = Field(
        default=None, min_length=1, max_length=200, json_schema_extra=KANA_SCHEMA
    )
    craft: str | SkipJsonSchema[None] = Field(default=None, max_length=200)
    introduction: str | SkipJsonSchema[None] = Field(default=None, max_length=5000)
    tools: str | SkipJsonSchema[None] = Field(default=None, max_length=300)
    contact: str | SkipJsonSchema[None] = Field(default=None, max_length=300)
    invoice_number: str | None = Field(default=None, max_length=20,
                                       json_schema_extra=INVOICE_SCHEMA)
    bank: BankAccountIn | None = None
    participating: bool | SkipJsonSchema[None] = None
    confirm_invoice_number: bool = Field(
        default=False, description="The registration number was checked against the "
        "registration notice: store it even though it fails the corporate number check "
        "digit (sole proprietors and voluntary bodies); else that answers 422 "
        "`invoice_number.check_digit`")


class WorkshopOut(BaseModel):
    id: int
    event_id: int
    code: str
    name: str
    name_kana: str
    craft: str
    introduction: str
    tools: str
    contact: str
    invoice_number: str | None
    participating: bool
    bank: BankAccountOut | None
    pin_set: bool
    locked_until: datetime | None


class PinIn(RequestBody):
    pin: str = Field(min_length=1, max_length=20, description="4 to 8 digits",
                     json_schema_extra=PIN_SCHEMA)


class PinSet(BaseModel):
    workshop_id: int
    pin_set: bool


def mask_account_number(number: str) -> str:
    return "***" + number[-4:]


def _workshop_out(workshop: Workshop, *, full_bank: bool) -> WorkshopOut:
    bank = None
    if workshop.account_number is not None:
        bank = BankAccountOut(
            bank_code=workshop.bank_code or "",
            branch_code=workshop.branch_code or "",
            account_type=workshop.account_type or 0,
            account_number=workshop.account_number
            if full_bank
            else mask_account_number(workshop.account_number),
            account_holder_kana=workshop.account_holder_kana or "",
        )
    return WorkshopOut(
        id=workshop.id,
        event_id=workshop.event_id,
        code=workshop.code,
        name=workshop.name,
        name_kana=workshop.name_kana,
        craft=workshop.craft,
        introduction=workshop.introduction,
        tools=workshop.tools,
        contact=workshop.contact,
        invoice_number=workshop.invoice_number,
        participating=workshop.participating,
        bank=bank,
        pin_set=workshop.pin_hash is not None,
        locked_until=workshop.locked_until,
    )


def _bank_columns(bank: BankAccountIn | None) -> dict[str, Any]:
    return bank.model_dump() if bank is not None else dict.fromkeys(BANK_FIELDS)


def _is_admin(request: Request[Any, Any, Any]) -> bool:
    return actor_of(request).role == "admin"


@get("/events/{event_id:int}/workshops", opt={"roles": STAFF}, sync_to_thread=True)
def list_workshops(request: Request[Any, Any, Any], event_id: EventId) -> list[WorkshopOut]:
    """The event's workshops by code. Account numbers are masked (`***4567`) for non-admins."""
    full = _is_admin(request)
    workshops = event_workshops(services(request.app.state).db, event_id)
    return [_workshop_out(w, full_bank=full) for w in workshops]


@post("/events/{event_id:int}/workshops", opt={"roles": ADMIN, "idempotency": KEY_OPTIONAL},
      sync_to_thread=True, status_code=201)
def new_workshop(request: Request[Any, Any, Any], event_id: EventId,
                 data: WorkshopIn) -> Response[WorkshopOut]:
    """Add a workshop (and its payable account). A taken code answers 409 `workshop.code_taken`."""
    s = services(request.app.state)
    details = WorkshopDetails(
        code=data.code.upper(),
        name=data.name,
        name_kana=data.name_kana,
        craft=data.craft,
        introduction=data.introduction,
        tools=data.tools,
        contact=data.contact,
        invoice_number=data.invoice_number,
        **_bank_columns(data.bank),
    )

    def work() -> WorkshopOut:
        workshop = changes.new_workshop(s.db, event_id, details,
                                        participating=data.participating, pin=data.pin,
                                        confirm_invoice_number=data.confirm_invoice_number)
        return _workshop_out(workshop, full_bank=True)

    return once(request, work, event_id, data.model_dump(exclude={"pin"}))


@patch("/workshops/{workshop_id:int}", opt={"roles": ADMIN, "idempotency": KEY_OPTIONAL},
       sync_to_thread=True)
def change_workshop(request: Request[Any, Any, Any], workshop_id: WorkshopId,
                    data: WorkshopPatch) -> Response[WorkshopOut]:
    """Change texts, the participating flag, the invoice number or the bank account."""
    sent = data.model_fields_set
    changed: dict[str, Any] = {}
    for name in ("name", "name_kana", "craft", "introduction", "tools", "contact",
                 "participating"):
        if name in sent:
            value = getattr(data, name)
            if value is None:
                raise Refusal("request.invalid", detail=f"{name} cannot be null")
            changed[name] = value
    if "invoice_number" in sent:
        changed["invoice_number"] = data.invoice_number
    if "bank" in sent:
        changed.update(_bank_columns(data.bank))
    db = services(request.app.state).db

    def work() -> WorkshopOut:
        workshop = changes.change_workshop(db, workshop_id, changed,
                                           confirm_invoice_number=data.confirm_invoice_number)
        return _workshop_out(workshop, full_bank=True)

    return once(request, work, workshop_id, data.model_dump(exclude_unset=True))


@put("/workshops/{workshop_id:int}/pin", opt={"roles": ADMIN, "idempotency": KEY_OPTIONAL},
     sync_to_thread=True)
def reset_pin(request: Request[Any, Any, Any], workshop_id: WorkshopId,
              data: PinIn) -> Response[PinSet]:
    """Set a new PIN (4 to 8 digits); it also lifts a lock after wrong PINs."""
    db = services(request.app.state).db

    def work() -> PinSet:
        set_pin(db, workshop_id, data.pin)
        return PinSet(workshop_id=workshop_id, pin_set=True)

    # The PIN stays out of the stored request hash: four digits are quickly guessed.
    return once(request, work, workshop_id)


router = Router(
    path="/",
    route_handlers=[
        list_events,
        new_event,
        event_detail,
        list_workshops,
        new_workshop,
        change_workshop,
        reset_pin,
    ],
    tags=["setup"],
    before_request=require_json_body,
)
