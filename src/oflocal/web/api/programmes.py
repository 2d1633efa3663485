"""Voucher programmes over the API: a new one, one at a glance (booklet and ticket
counts, the premium spent against its budget, its print batches), a new print batch,
its rules and print layout changed, and expiry after the last day of use.

Admins set programmes up and issue batches; desk and treasurer staff may look; admins
and treasurers expire. Handlers parse, call one domain function
(``events.changes.new_programme`` / ``edit_programme`` / ``change_print_layout``,
``vouchers.overview``, ``vouchers.issue.issue_batch``,
``vouchers.expiry``) and answer; every change runs through ``common.once``, so an
``Idempotency-Key`` makes a retry return the first outcome.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime
from typing import Annotated, Any, Literal

from litestar import Request, Response, Router, get, patch, post, put
from pydantic import AwareDatetime, BaseModel, Field
from pydantic.json_schema import SkipJsonSchema

from oflocal.errors import Refusal
from oflocal.events import changes
from oflocal.events.setup import ProgrammeTerms
from oflocal.printing.layout import PrintLayout, read_layout
from oflocal.vouchers.expiry import close_out_programme, closeout_status, expire_programme
from oflocal.vouchers.issue import issue_batch as issue_booklets
from oflocal.vouchers.models import Programme
from oflocal.vouchers.overview import programme_overview
from oflocal.web.api.common import (
    ADMIN,
    KEY_OPTIONAL,
    MONEY,
    NOT_BLANK,
    STAFF,
    EventId,
    ProgrammeId,
    RequestBody,
    actor_of,
    once,
)
from oflocal.web.errors import require_json_body
from oflocal.web.state import services

Yen = Annotated[int, Field(ge=0, le=10_000_000)]
FaceYen = Annotated[int, Field(gt=0, le=10_000_000)]


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


class ProgrammePatch(RequestBody):
    """Only the fields sent change; the result is checked as a whole, like a new
    programme. Once a booklet is printed, what it shows (name, price, face value,
    denominations, issue date, validity) is fixed: `programme.terms_printed`."""

    name: str | SkipJsonSchema[None] = Field(default=None, min_length=1, max_length=200,
                                             pattern=NOT_BLANK)
    price: Yen | SkipJsonSchema[None] = None
    face_value: FaceYen | SkipJsonSchema[None] = None
    denominations: list[FaceYen] | SkipJsonSchema[None] = Field(default=None, min_length=1,
                                                                max_length=50)
    sales_starts_at: AwareDatetime | SkipJsonSchema[None] = None
    sales_ends_at: AwareDatetime | SkipJsonSchema[None] = None
    issue_date: date | SkipJsonSchema[None] = None
    valid_from: date | SkipJsonSchema[None] = None
    valid_until: date | SkipJsonSchema[None] = None
    premium_budget: int | SkipJsonSchema[None] = Field(default=None, ge=0, le=10**12)
    max_booklets_per_sale: int | SkipJsonSchema[None] = Field(default=None, ge=1, le=1000)
    validity_override: bool | SkipJsonSchema[None] = None
    breakage_rule: Literal["breakage", "premium_fund"] | SkipJsonSchema[None] = None


@patch("/programmes/{programme_id:int}", opt={"roles": ADMIN, "idempotency": KEY_OPTIONAL},
       sync_to_thread=True)
def change_programme(request: Request[Any, Any, Any], programme_id: ProgrammeId,
                     data: ProgrammePatch) -> Response[ProgrammeCreated]:
    """Change a programme's rules (`events.changes.edit_programme`, as the console does).
    The budget never goes below what sales have spent (`programme.budget_below_spent`)."""
    sent = data.model_dump(exclude_unset=True)
    nulls = sorted(name for name, value in sent.items() if value is None)
    if nulls:
        raise Refusal("request.invalid", detail=f"{', '.join(nulls)} cannot be null")

    def work() -> ProgrammeCreated:
        programme, warnings = changes.edit_programme(services(request.app.state).db,
                                                     programme_id, sent)
        return ProgrammeCreated(**_programme_out(programme), warnings=warnings)

    return once(request, work, programme_id, data.model_dump(mode="json", exclude_unset=True))


class PrintLayoutIn(RequestBody):
    """The whole layout (fields left out take their defaults), checked by the print
    engine's own rules: `print.layout_invalid` names the problem in Japanese and
    English."""

    paper: Literal["A4", "A3", "B4"] | SkipJsonSchema[None] = None
    mode: Literal["office", "printshop"] | SkipJsonSchema[None] = Field(
        default=None, description="office: cut guides; printshop: 3 mm bleed and crop marks")
    columns: int | SkipJsonSchema[None] = Field(default=None, ge=1, le=8)
    rows: int | SkipJsonSchema[None] = Field(default=None, ge=1, le=10)
    margin_mm: float | SkipJsonSchema[None] = Field(default=None, ge=0, le=40)
    accent_colour: str | SkipJsonSchema[None] = Field(default=None, pattern=r"^#[0-9A-Fa-f]{6}$")
    show_workshop: bool | SkipJsonSchema[None] = None
    show_rules: bool | SkipJsonSchema[None] = None
    show_serial: bool | SkipJsonSchema[None] = None
    rules: list[str] | SkipJsonSchema[None] = Field(
        default=None, max_length=4,
        description="Rule lines, at most 40 characters; {event} and {committee} are replaced")
    duplex: bool | SkipJsonSchema[None] = None
    back_side: Literal["workshop", "blank"] | SkipJsonSchema[None] = None


@put("/programmes/{programme_id:int}/print-layout",
     opt={"roles": ADMIN, "idempotency": KEY_OPTIONAL}, sync_to_thread=True)
def set_print_layout(request: Request[Any, Any, Any], programme_id: ProgrammeId,
                     data: PrintLayoutIn) -> Response[PrintLayout]:
    """How the next print runs look; printed booklets keep theirs."""
    fields = {k: v for k, v in data.model_dump(exclude_unset=True).items() if v is not None}
    layout = read_layout(fields)

    def work() -> PrintLayout:
        changes.change_print_layout(services(request.app.state).db, programme_id, layout)
        return layout

    return once(request, work, programme_id, data.model_dump(mode="json", exclude_unset=True))


@get("/programmes/{programme_id:int}", opt={"roles": STAFF}, sync_to_thread=True)
def programme_detail(request: Request[Any, Any, Any], programme_id: ProgrammeId) -> ProgrammeDetail:
    """Terms, booklet and ticket counts, premium spent against the budget, print batches."""
    overview = programme_overview(services(request.app.state).db, programme_id)
    return ProgrammeDetail(
        **_programme_out(overview.programme),
        booklets=BookletCounts(**asdict(overview.booklets)),
        tickets=TicketCounts(**asdict(overview.tickets)),
        free_booklets_given=overview.free_booklets_given,
        premium=PremiumStatus(**asdict(overview.premium)),
        batches=[BatchOut(**asdict(b)) for b in overview.batches],
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

    def work() -> BatchIssued:
        batch = issue_booklets(s.db, s.signer, programme_id, data.count, actor=actor.scope,
                               reason=data.reason)
        return BatchIssued(
            batch_id=batch.batch_id,
            programme_id=programme_id,
            number=batch.number,
            booklet_count=batch.booklet_count,
            first_serial=batch.first_booklet_serial,
            last_serial=batch.last_booklet_serial,
            first_booklet_code=batch.first_booklet_code,
            last_booklet_code=batch.last_booklet_code,
        )

    return once(request, work, data.model_dump())


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


class CloseOutOut(BaseModel):
    programme_id: int
    event_id: int
    name: str
    valid_until: str
    last_day_passed: bool
    closed_out: bool = Field(description="Last day passed and no sold ticket still valid")
    tickets: int = Field(description="Sold tickets still valid (they expire at close-out)")
    amount: int = Field(description="Their face value")
    target: Literal["breakage", "premium_fund"] = Field(
        description="Where expired face value goes, per the programme's rule")
    target_ja: str
    expired_tickets: int
    expired_face: int
    unsettled_redemptions: int = Field(description="Redemptions no period has settled yet")
    unpaid_periods: int = Field(description="Closed periods of the event not marked paid")
    expired_now: int | None = None
    expired_now_amount: int | None = None
    entry_id: int | None = None


@get("/programmes/{programme_id:int}/close-out", opt={"roles": MONEY}, sync_to_thread=True)
def close_out_status(request: Request[Any, Any, Any], programme_id: ProgrammeId) -> CloseOutOut:
    """Where the programme stands at its close-out: what would expire and where it goes,
    what is still to settle with workshops."""
    with services(request.app.state).db.read() as session:
        return CloseOutOut(**closeout_status(session, programme_id))


@post("/programmes/{programme_id:int}/close-out",
      opt={"roles": MONEY, "idempotency": KEY_OPTIONAL}, sync_to_thread=True, status_code=200)
def close_out(request: Request[Any, Any, Any], programme_id: ProgrammeId) -> Response[CloseOutOut]:
    """After the last day of use: close the programme out (its valid tickets expire, once,
    to breakage or back to the premium fund per its rule). Asking again posts nothing."""
    def work() -> CloseOutOut:
        return CloseOutOut(**close_out_programme(services(request.app.state).db,
                                                 programme_id=programme_id,
                                                 actor=actor_of(request).scope))

    return once(request, work, programme_id)


router = Router(
    path="/",
    route_handlers=[new_programme, change_programme, set_print_layout, programme_detail,
                    issue_batch, expire, close_out_status, close_out],
    tags=["setup"],
    before_request=require_json_body,
)
