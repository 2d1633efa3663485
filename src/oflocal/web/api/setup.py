"""Setting up an event over the API: events, workshops, programmes, print batches, staff.

Admins set things up; desk and treasurer staff may look. Handlers parse, call one
domain function per change (``events.changes``, ``vouchers.issue``, ``auth``) and
answer; those turn the database's unique rules into clear refusals (a duplicate slug,
workshop code or login name is a 409, never a 500). Bank account numbers are shown in
full to admins only (``***4567`` to others), and PIN hashes to nobody.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from litestar import Request, Response, Router, get, patch, post, put
from pydantic import AwareDatetime, BaseModel, Field
from pydantic.config import JsonDict
from pydantic.json_schema import SkipJsonSchema
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from oflocal import clock
from oflocal.auth.models import ROLES
from oflocal.auth.service import create_staff_user, set_pin
from oflocal.errors import Refusal
from oflocal.events import changes
from oflocal.events.models import Event, Workshop
from oflocal.events.setup import (
    BANK_FIELDS,
    KANA_NAME,
    ProgrammeTerms,
    WorkshopDetails,
)
from oflocal.idempotency.store import run_once
from oflocal.vouchers.expiry import expire_programme
from oflocal.vouchers.issue import add_booklets
from oflocal.vouchers.models import Booklet, PrintBatch, Programme, Ticket
from oflocal.web.api.common import (
    ADMIN,
    KEY_OPTIONAL,
    MONEY,
    NOT_BLANK,
    STAFF,
    EventId,
    ProgrammeId,
    RequestBody,
    WorkshopId,
    actor_of,
    answer,
    idempotency,
    once,
)
from oflocal.web.errors import require_json_body
from oflocal.web.state import services

MAX_ID = 2**31 - 1  # ids are INTEGER columns; anything outside is not an id of ours
Yen = Annotated[int, Field(ge=0, le=10_000_000)]
FaceYen = Annotated[int, Field(gt=0, le=10_000_000)]

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
    with services(request.app.state).db.read() as session:
        events = session.execute(
            select(Event).order_by(Event.starts_on.desc(), Event.id.desc())
        ).scalars()
        return [_event_out(e) for e in events]


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
    with services(request.app.state).db.read() as session:
        event = changes.event_or_404(session, event_id)
        total, participating = session.execute(
            select(
                func.count(Workshop.id),
                func.coalesce(func.sum(case((Workshop.participating, 1), else_=0)), 0),
            ).where(Workshop.event_id == event_id)
        ).one()
        programmes = session.execute(
            select(Programme.id, Programme.name, Programme.valid_until)
            .where(Programme.event_id == event_id)
            .order_by(Programme.id)
        ).all()
        return EventDetail(
            **_event_out(event).model_dump(),
            workshop_count=int(total),
            participating_count=int(participating),
            programmes=[ProgrammeSummary(id=i, name=n, valid_until=v) for i, n, v in programmes],
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
    with services(request.app.state).db.read() as session:
        changes.event_or_404(session, event_id)
        rows = session.execute(
            select(Workshop).where(Workshop.event_id == event_id).order_by(Workshop.code)
        ).scalars()
        return [_workshop_out(w, full_bank=full) for w in rows]


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
                                        participating=data.participating, pin=data.pin)
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
        return _workshop_out(changes.change_workshop(db, workshop_id, changed), full_bank=True)

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


# ------------------------------------------------------------------------ programmes


class ProgrammeIn(RequestBody):
    name: str = Field(min_length=1, max_length=200, pattern=NOT_BLANK)
    price: Yen = Field(description="What a buyer pays for one booklet")
    face_value: FaceYen = Field(description="What one booklet is worth at the workshops")
    denominations: list[FaceYen] = Field(
        min_length=1, max_length=50, description="Face value of each ticket; they add up"
    )
    sales_starts_at: AwareDatetime
    sales_ends_at: AwareDatetime
    issue_date: date
    valid_from: date
    valid_until: date = Field(description="The last day of use, printed on every ticket")
    premium_budget: int = Field(ge=0, le=10**12)
    max_booklets_per_sale: int = Field(default=5, ge=1, le=1000)
    validity_override: bool = Field(
        default=False,
        description="Required to set a validity of 6 months or more from issue "
        "(the Payment Services Act then applies)",
    )
    breakage_rule: Literal["breakage", "premium_fund"] = "breakage"


class ProgrammeOut(BaseModel):
    id: int
    event_id: int
    name: str
    price: int
    face_value: int
    premium_per_booklet: int
    denominations: list[int]
    sales_starts_at: datetime
    sales_ends_at: datetime
    issue_date: date
    valid_from: date
    valid_until: date
    validity_override: bool
    premium_budget: int
    max_booklets_per_sale: int
    breakage_rule: str
    created_at: datetime


class ProgrammeCreated(ProgrammeOut):
    warnings: list[str] = Field(description="Things the committee must know, in ja / en")


class BookletCounts(BaseModel):
    printed: int = Field(description="Every booklet ever issued in a print batch")
    in_stock: int = Field(description="Printed, not sold, not voided")
    sold: int
    voided: int


class TicketCounts(BaseModel):
    in_stock: int
    active: int
    redeemed: int
    voided: int
    expired: int


class PremiumStatus(BaseModel):
    budget: int
    spent: int = Field(description="Premium of booklets sold (and face value of free ones)")
    remaining: int
    booklets_left_within_budget: int | None = Field(
        description="More booklets the budget allows; null when the premium is ¥0"
    )


class BatchOut(BaseModel):
    batch_id: int
    number: int
    booklet_count: int
    first_serial: int
    last_serial: int
    created_at: datetime
    created_by: str
    reason: str


class ProgrammeDetail(ProgrammeOut):
    booklets: BookletCounts
    tickets: TicketCounts
    free_booklets_given: int
    premium: PremiumStatus
    batches: list[BatchOut]


def _programme_out(p: Programme) -> dict[str, Any]:
    return {
        "id": p.id,
        "event_id": p.event_id,
        "name": p.name,
        "price": p.price,
        "face_value": p.face_value,
        "premium_per_booklet": p.premium,
        "denominations": list(p.denominations),
        "sales_starts_at": p.sales_starts_at,
        "sales_ends_at": p.sales_ends_at,
        "issue_date": p.issue_date,
        "valid_from": p.valid_from,
        "valid_until": p.valid_until,
        "validity_override": p.validity_override,
        "premium_budget": p.premium_budget,
        "max_booklets_per_sale": p.max_booklets_per_sale,
        "breakage_rule": p.breakage_rule,
        "created_at": p.created_at,
    }


@post("/events/{event_id:int}/programmes", opt={"roles": ADMIN, "idempotency": KEY_OPTIONAL},
      sync_to_thread=True, status_code=201)
def new_programme(request: Request[Any, Any, Any], event_id: EventId,
                  data: ProgrammeIn) -> Response[ProgrammeCreated]:
    """Set up a voucher programme. Validity of 6 months or more from issue is refused
    (`programme.validity_too_long`) unless `validity_override` is true; then the answer
    carries a warning."""
    def work() -> ProgrammeCreated:
        programme, warnings = changes.new_programme(services(request.app.state).db, event_id,
                                                    ProgrammeTerms(**data.model_dump()))
        return ProgrammeCreated(**_programme_out(programme), warnings=warnings)

    return once(request, work, event_id, data.model_dump())


@get("/programmes/{programme_id:int}", opt={"roles": STAFF}, sync_to_thread=True)
def programme_detail(request: Request[Any, Any, Any], programme_id: ProgrammeId) -> ProgrammeDetail:
    """Terms, booklet and ticket counts, premium spent against the budget, print batches."""
    with services(request.app.state).db.read() as session:
        p = session.get(Programme, programme_id)
        if p is None:
            raise Refusal("programme.not_found")
        booklets: dict[str, int] = dict(
            session.execute(
                select(Booklet.status, func.count())
                .where(Booklet.programme_id == programme_id)
                .group_by(Booklet.status)
            ).all()
        )
        tickets: dict[str, int] = dict(
            session.execute(
                select(Ticket.status, func.count())
                .where(Ticket.programme_id == programme_id)
                .group_by(Ticket.status)
            ).all()
        )
        batches = session.execute(
            select(PrintBatch).where(PrintBatch.programme_id == programme_id)
            .order_by(PrintBatch.number)
        ).scalars().all()
        spent = p.premium_spent
        remaining = p.premium_budget - spent
        return ProgrammeDetail(
            **_programme_out(p),
            booklets=BookletCounts(
                printed=sum(booklets.values()),
                in_stock=booklets.get("printed", 0),
                sold=booklets.get("sold", 0),
                voided=booklets.get("voided", 0),
            ),
            tickets=TicketCounts(
                in_stock=tickets.get("printed", 0),
                active=tickets.get("active", 0),
                redeemed=tickets.get("redeemed", 0),
                voided=tickets.get("voided", 0),
                expired=tickets.get("expired", 0),
            ),
            free_booklets_given=p.free_sold,
            premium=PremiumStatus(
                budget=p.premium_budget,
                spent=spent,
                remaining=remaining,
                booklets_left_within_budget=p.booklets_left_within_budget(),
            ),
            batches=[
                BatchOut(
                    batch_id=b.id,
                    number=b.number,
                    booklet_count=b.booklet_count,
                    first_serial=b.first_booklet_serial,
                    last_serial=b.first_booklet_serial + b.booklet_count - 1,
                    created_at=b.created_at,
                    created_by=b.created_by,
                    reason=b.reason,
                )
                for b in batches
            ],
        )


class BatchIn(RequestBody):
    count: int = Field(ge=1, le=20000, description="How many booklets to issue")
    reason: str = Field(default="", max_length=300)


class BatchIssued(BaseModel):
    batch_id: int
    programme_id: int
    number: int
    booklet_count: int
    first_serial: int
    last_serial: int
    first_booklet_code: str
    last_booklet_code: str


@post("/programmes/{programme_id:int}/batches", opt={"roles": ADMIN, "idempotency": KEY_OPTIONAL},
      sync_to_thread=True, status_code=201)
def issue_batch(request: Request[Any, Any, Any], programme_id: ProgrammeId,
                data: BatchIn) -> Response[BatchIssued]:
    """Issue a numbered print batch of booklets (not valid until sold; printing comes later).
    An `Idempotency-Key` is optional and makes a retry return the same batch."""
    s = services(request.app.state)
    actor = actor_of(request)

    def work(session: Session) -> dict[str, Any]:
        batch = add_booklets(session, s.signer, programme_id, data.count,
                             now=clock.now(), actor=actor.scope, reason=data.reason)
        last = batch.first_booklet_serial + batch.booklet_count - 1
        return BatchIssued(
            batch_id=batch.batch_id,
            programme_id=programme_id,
            number=batch.number,
            booklet_count=batch.booklet_count,
            first_serial=batch.first_booklet_serial,
            last_serial=last,
            first_booklet_code=s.signer.make("B", programme_id, batch.first_booklet_serial),
            last_booklet_code=s.signer.make("B", programme_id, last),
        ).model_dump()

    idem = idempotency(request, actor, data.model_dump())
    return answer(run_once(s.db, idem, work, status=201))


class ExpiryOut(BaseModel):
    programme_id: int
    tickets: int = Field(description="Sold tickets that expired unredeemed now")
    amount: int = Field(description="Their face value, moved from voucher liability")
    entry_id: int | None


@post("/programmes/{programme_id:int}/expire", opt={"roles": MONEY, "idempotency": KEY_OPTIONAL},
      sync_to_thread=True, status_code=200)
def expire(request: Request[Any, Any, Any], programme_id: ProgrammeId) -> Response[ExpiryOut]:
    """After the last day of use: unredeemed sold tickets expire in one breakage entry.
    Running it again finds nothing left and posts nothing."""
    def work() -> ExpiryOut:
        return ExpiryOut(**expire_programme(services(request.app.state).db,
                                            programme_id=programme_id,
                                            actor=actor_of(request).scope))

    return once(request, work, programme_id)


# ----------------------------------------------------------------------------- staff


class StaffUserIn(RequestBody):
    username: str = Field(min_length=3, max_length=60, pattern=r"^[A-Za-z0-9._@-]+$")
    display_name: str = Field(min_length=1, max_length=120, pattern=NOT_BLANK)
    role: Literal["admin", "desk", "treasurer"]
    password: str = Field(min_length=10, max_length=200)


class StaffUserOut(BaseModel):
    id: int
    username: str
    display_name: str
    role: str


@post("/staff-users", opt={"roles": ADMIN, "idempotency": KEY_OPTIONAL}, sync_to_thread=True,
      status_code=201)
def new_staff_user(request: Request[Any, Any, Any], data: StaffUserIn) -> Response[StaffUserOut]:
    """Create a staff login. A taken login name answers 409 `staff.username_taken`."""
    assert data.role in ROLES

    def work() -> StaffUserOut:
        user_id = create_staff_user(services(request.app.state).db, username=data.username,
                                    display_name=data.display_name, role=data.role,
                                    password=data.password)
        return StaffUserOut(id=user_id, username=data.username,
                            display_name=data.display_name, role=data.role)

    # The password stays out of the stored request hash.
    return once(request, work, data.model_dump(exclude={"password"}))


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
        new_programme,
        programme_detail,
        issue_batch,
        expire,
        new_staff_user,
    ],
    tags=["setup"],
    before_request=require_json_body,
)
