"""Desk sales, crowdfunding returns' booklets handed over, voiding stock, redemptions at
the booth and undo."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime
from typing import Annotated, Any, Literal

from litestar import Request, Response, Router, get, post
from litestar.params import Parameter
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from oflocal import clock
from oflocal.errors import Refusal
from oflocal.supporters import pickup
from oflocal.vouchers.desk import sell_booklets, void_booklet
from oflocal.vouchers.lookup import booklet_facts
from oflocal.vouchers.models import Redemption, Ticket
from oflocal.vouchers.redeem import redeem_tickets, undo_redemption
from oflocal.web.api.common import (
    DESK,
    KEY_OPTIONAL,
    KEY_REQUIRED,
    NOT_BLANK,
    WORKSHOP,
    ProgrammeId,
    RequestBody,
    actor_of,
    answer,
    idempotency,
    once,
)
from oflocal.web.errors import refusal_response
from oflocal.web.state import services

Code = Field(min_length=1, max_length=64)
# Path ids within what the columns hold: a larger number is a 422, not a 404 or a crash.
RedemptionId = Annotated[int, Parameter(ge=1, le=2**62, description="The redemption to undo")]


class SaleRequest(RequestBody):
    booklet_codes: list[str] = Field(min_length=1, max_length=50)
    payment_method: Literal["cash", "card", "qr", "bank"] = "cash"


class SaleReceipt(BaseModel):
    receipt_number: str
    sale_id: int
    programme_id: int
    booklets: list[str]
    booklet_count: int
    amount_paid: int
    face_total: int
    premium_total: int
    payment_method: str
    sold_at: datetime


class VoidRequest(RequestBody):
    code: str = Field(min_length=1, max_length=64)
    reason: str = Field(min_length=1, max_length=300, pattern=NOT_BLANK)


class RedeemRequest(RequestBody):
    codes: list[str] = Field(min_length=1, max_length=50)


class RedeemedTicket(BaseModel):
    code: str
    denomination: int


class RedemptionResult(BaseModel):
    redemption_id: int
    workshop_id: int
    workshop_name: str
    total: int
    tickets: list[RedeemedTicket]
    redeemed_at: datetime
    undo_until: datetime


class UndoResult(BaseModel):
    redemption_id: int
    undo_entry_id: int
    total: int
    undone_at: datetime


class RedemptionLine(BaseModel):
    redemption_id: int
    ticket_code: str
    amount: int
    redeemed_at: datetime
    undone: bool


class TodaySummary(BaseModel):
    workshop_id: int
    date: str
    total: int
    count: int
    lines: list[RedemptionLine]


@post(
    "/programmes/{programme_id:int}/sales",
    opt={"roles": DESK, "idempotency": KEY_REQUIRED},
    sync_to_thread=True,
    status_code=201,
    responses=None,
)
def sell(
    request: Request[Any, Any, Any], programme_id: ProgrammeId, data: SaleRequest
) -> Response[SaleReceipt]:
    """Sell booklets at the desk: all their tickets become valid. Needs `Idempotency-Key`."""
    s = services(request.app.state)
    actor = actor_of(request)
    idem = idempotency(request, actor, data.model_dump())
    outcome = sell_booklets(
        s.db,
        s.signer,
        programme_id=programme_id,
        codes=data.booklet_codes,
        payment_method=data.payment_method,
        actor=actor.scope,
        idem=idem,
    )
    return answer(outcome)


class BookletOut(BaseModel):
    code: str
    serial: int
    programme_id: int
    programme_name: str
    status: Literal["printed", "sold", "voided"]
    tickets: int
    face_value: int = Field(description="The tickets' face values added up, in yen")
    tickets_used: int
    sold_at: datetime | None
    voided_at: datetime | None
    void_reason: str | None
    voidable: bool = Field(description="Unsold stock only: it may be voided or reprinted")


@get("/booklets/{code:str}", opt={"roles": DESK}, sync_to_thread=True)
def booklet(request: Request[Any, Any, Any],
            code: Annotated[str, Parameter(max_length=64, description="The cover's code")]
            ) -> BookletOut:
    """One booklet by its cover code: what voiding or reprinting it would touch."""
    s = services(request.app.state)
    facts = booklet_facts(s.db, s.signer, code)
    return BookletOut(**asdict(facts), voidable=facts.voidable)


@post("/booklets/void", opt={"roles": DESK, "idempotency": KEY_OPTIONAL}, sync_to_thread=True,
      status_code=200)
def void(request: Request[Any, Any, Any], data: VoidRequest) -> Response[dict[str, Any]]:
    """Void an unsold booklet that was lost or damaged."""
    s = services(request.app.state)

    def work() -> dict[str, Any]:
        return void_booklet(s.db, s.signer, code=data.code, reason=data.reason,
                            actor=actor_of(request).scope)

    return once(request, work, data.model_dump())


@post("/redemptions", opt={"roles": WORKSHOP, "idempotency": KEY_REQUIRED}, sync_to_thread=True,
      status_code=201)
def redeem(request: Request[Any, Any, Any], data: RedeemRequest) -> Response[RedemptionResult]:
    """Take one or more tickets at the logged-in workshop; all or none. Needs `Idempotency-Key`."""
    s = services(request.app.state)
    try:
        actor = actor_of(request)
        idem = idempotency(request, actor, data.codes)
        outcome = redeem_tickets(
            s.db,
            s.signer,
            workshop_id=actor.id,
            codes=data.codes,
            undo_window_seconds=s.settings.undo_window_seconds,
            max_codes=s.settings.max_codes_per_redemption,
            idem=idem,
        )
    except Refusal as refusal:
        # "Already used" is an everyday answer at a busy booth: answered here, in the
        # same shape as the app's exception handler, without the cost of raising it
        # through the framework's middleware stack.
        return refusal_response(request, refusal)
    return answer(outcome)


@post(
    "/redemptions/{redemption_id:int}/undo",
    opt={"roles": WORKSHOP, "idempotency": KEY_REQUIRED},
    sync_to_thread=True,
    status_code=200,
)
def undo(request: Request[Any, Any, Any], redemption_id: RedemptionId) -> Response[UndoResult]:
    """Undo a redemption of this workshop within the undo window. Needs `Idempotency-Key`."""
    s = services(request.app.state)
    actor = actor_of(request)
    idem = idempotency(request, actor, redemption_id)
    outcome = undo_redemption(
        s.db,
        workshop_id=actor.id,
        redemption_id=redemption_id,
        undo_window_seconds=s.settings.undo_window_seconds,
        idem=idem,
    )
    return answer(outcome)


@get("/redemptions/today", opt={"roles": WORKSHOP}, sync_to_thread=True)
def today(
    request: Request[Any, Any, Any],
    limit: int = Parameter(default=100, ge=1, le=1000),
) -> TodaySummary:
    """This workshop's redemptions today (Asia/Tokyo): running total and latest first."""
    s = services(request.app.state)
    actor = actor_of(request)
    day = clock.tokyo_date(clock.now())
    start = clock.start_of_tokyo_day(day)
    live = (Redemption.workshop_id == actor.id, Redemption.redeemed_at >= start)
    with s.db.read() as session:
        total, count = session.execute(
            select(func.coalesce(func.sum(Redemption.amount), 0), func.count()).where(
                *live, Redemption.undone_at.is_(None)
            )
        ).one()
        rows = session.execute(
            select(Redemption, Ticket.code)
            .join(Ticket, Ticket.id == Redemption.ticket_id)
            .where(*live)
            .order_by(Redemption.id.desc())
            .limit(limit)
        ).all()
    return TodaySummary(
        workshop_id=actor.id,
        date=day.isoformat(),
        total=int(total),
        count=int(count),
        lines=[
            RedemptionLine(
                redemption_id=r.entry_id,
                ticket_code=code,
                amount=r.amount,
                redeemed_at=r.redeemed_at,
                undone=r.undone_at is not None,
            )
            for r, code in rows
        ],
    )


class PickupRequest(RequestBody):
    code: str = Field(min_length=1, max_length=300,
                      description="What the scanner read from the supporter's pickup QR code "
                                  "(its whole link, or the path `/desk/pickup/{pledge}/{mac}`)")
    booklet_codes: list[str] = Field(min_length=1, max_length=200,
                                     description="The covers of the booklets handed over")
    place: str = Field(min_length=1, max_length=100, pattern=NOT_BLANK,
                       description="Where they are handed over, e.g. `本部受付`")


class OwedBooklets(BaseModel):
    programme_id: int
    programme: str
    count: int
    face_value: int
    issue_date: date
    valid_until: date


class CollectedBooklets(BaseModel):
    programme_id: int
    count: int
    place: str
    collected_at: datetime
    collected_by: str
    receipt_number: str


class PickupOut(BaseModel):
    pledge_id: int
    number: str = Field(description="The pledge's number, as the supporter sees it")
    name: str
    reference: str
    campaign_title: str
    owed: list[OwedBooklets]
    collected: list[CollectedBooklets]
    ready: bool = Field(description="Whether the booklets can be handed over now")
    refusal: dict[str, Any] | None = Field(
        description="Why not, as the error body a hand-over would answer")


class HandedOver(BaseModel):
    programme_id: int
    booklets: list[str]
    receipt_number: str
    face_total: int


class PickupReceipt(BaseModel):
    pledge_id: int
    reference: str
    place: str
    collected_at: datetime
    collected_by: str
    handed_over: list[HandedOver]


def _scanned(code: str) -> tuple[int, str]:
    found = pickup.read_scan(code)
    if found is None:
        raise Refusal("pickup.code_invalid")
    return found


@get("/pickups", opt={"roles": DESK}, sync_to_thread=True)
def pickup_facts(request: Request[Any, Any, Any],
                 code: Annotated[str, Parameter(query="code", min_length=1, max_length=300,
                                                description="The scanned pickup code")]
                 ) -> PickupOut:
    """What a supporter's pickup code is owed, what was collected, and whether the
    booklets can be handed over now."""
    s = services(request.app.state)
    pledge_id, token = _scanned(code)
    v = pickup.look_up(s.db, s.settings.secret_key, pledge_id, token)
    return PickupOut(
        pledge_id=v.pledge_id, number=v.number, name=v.name, reference=v.reference,
        campaign_title=v.campaign_title, owed=[OwedBooklets(**asdict(o)) for o in v.owed],
        collected=[CollectedBooklets(**asdict(c)) for c in v.collected],
        ready=v.blocker is None, refusal=v.blocker.to_body() if v.blocker else None)


@post("/pickups", opt={"roles": DESK, "idempotency": KEY_REQUIRED}, sync_to_thread=True,
      status_code=201)
def collect_pickup(request: Request[Any, Any, Any],
                   data: PickupRequest) -> Response[PickupReceipt]:
    """Hand over a crowdfunding return's voucher booklets at the desk: they are issued
    and become valid now, paid by the pledge; once per return (a second scan answers
    `pickup.already_collected` with when and where). Needs `Idempotency-Key`."""
    s = services(request.app.state)
    actor = actor_of(request)
    idem = idempotency(request, actor, data.model_dump())
    pledge_id, token = _scanned(data.code)
    outcome = pickup.collect(s.db, s.signer, s.settings.secret_key, pledge_id, token,
                             codes=data.booklet_codes, place=data.place, actor=actor.scope,
                             idem=idem)
    return answer(outcome)


router = Router(path="/", route_handlers=[sell, booklet, void, redeem, undo, today,
                                          pickup_facts, collect_pickup],
                tags=["vouchers"])
