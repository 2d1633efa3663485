"""Crowdfunding for staff over the API: campaigns and their returns (create, change,
go live, close), the pledges (filters), a transfer or cash received, the outcome and
each refund's steps. Pictures are in ``cf_images``; the public side (campaign pages,
pledging) is another module.

Admins set campaigns up; admins and treasurers see the pledges and handle the money.
Handlers parse, call one domain function (``crowdfunding.campaigns``,
``payments.mark_paid``, ``outcome.decide_outcome``, ``refunds``) and answer; every
change runs through ``common.once``, so an ``Idempotency-Key`` makes a retry return the
first outcome. Money moving (a payment, a refund sent) requires the key.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from litestar import Request, Response, Router, get, patch, post
from litestar.params import Parameter
from pydantic import AwareDatetime, BaseModel, Field
from pydantic.json_schema import SkipJsonSchema

from oflocal.crowdfunding import refunds as refund_steps
from oflocal.crowdfunding import staff
from oflocal.crowdfunding.campaigns import (
    add_reward,
    close_campaign,
    create_campaign,
    edit_campaign,
    edit_reward,
    go_live,
)
from oflocal.crowdfunding.models import Campaign, Reward
from oflocal.crowdfunding.outcome import decide_outcome
from oflocal.crowdfunding.payments import mark_paid
from oflocal.errors import Refusal
from oflocal.web.api.common import (
    ADMIN,
    KEY_OPTIONAL,
    KEY_REQUIRED,
    MAX_ID,
    MONEY,
    NOT_BLANK,
    EventId,
    RequestBody,
    actor_of,
    once,
)
from oflocal.web.errors import require_json_body
from oflocal.web.state import services

CampaignId = Annotated[int, Parameter(ge=1, le=MAX_ID, description="Campaign id")]
RewardId = Annotated[int, Parameter(ge=1, le=MAX_ID, description="Return (reward) id")]
PledgeId = Annotated[int, Parameter(ge=1, le=MAX_ID, description="Pledge id")]
RefundId = Annotated[int, Parameter(ge=1, le=MAX_ID, description="Refund id")]
Yen = Annotated[int, Field(ge=1, le=100_000_000)]
Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,39}$")]
Month = Annotated[str, Field(pattern=r"^20\d\d-(0[1-9]|1[0-2])$", description="YYYY-MM")]
Method = Literal["bank_transfer", "card", "konbini", "cash"]
Text = Annotated[str, Field(max_length=2000)]


# ------------------------------------------------------------------------ campaigns


class CampaignIn(RequestBody):
    """A draft campaign. The legal notice (特定商取引法に基づく表記) starts from the
    committee's profile; fields sent replace it."""

    slug: Slug
    title: str = Field(min_length=1, max_length=200, pattern=NOT_BLANK)
    goal: Yen = Field(description="Yen; all-or-nothing campaigns must reach it")
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    story: str = Field(default="", max_length=50_000, description="Markdown")
    funding_model: Literal["all_or_nothing", "all_in"] = "all_or_nothing"
    payment_days: int = Field(default=7, ge=1, le=60)
    payment_methods: list[Method] = Field(default=["bank_transfer"], min_length=1,
                                          max_length=4)
    seller: str | SkipJsonSchema[None] = Field(default=None, max_length=200)
    representative: str | SkipJsonSchema[None] = Field(default=None, max_length=120)
    address: str | SkipJsonSchema[None] = Field(default=None, max_length=300)
    phone: str | SkipJsonSchema[None] = Field(default=None, max_length=40)
    phone_on_request: bool = False
    email: str | SkipJsonSchema[None] = Field(default=None, max_length=254)
    price_note: Text = ""
    extra_charges: Text = ""
    payment_terms: Text = ""
    delivery_terms: Text = ""
    cancellation_terms: Text = ""


class CampaignPatch(RequestBody):
    """Only the fields sent change. Once live, the slug, goal, dates, funding model and
    payment rules are fixed (`campaign.field_locked`)."""

    slug: Slug | SkipJsonSchema[None] = None
    title: str | SkipJsonSchema[None] = Field(default=None, min_length=1, max_length=200,
                                              pattern=NOT_BLANK)
    goal: Yen | SkipJsonSchema[None] = None
    starts_at: AwareDatetime | SkipJsonSchema[None] = None
    ends_at: AwareDatetime | SkipJsonSchema[None] = None
    story: str | SkipJsonSchema[None] = Field(default=None, max_length=50_000)
    funding_model: Literal["all_or_nothing", "all_in"] | SkipJsonSchema[None] = None
    payment_days: int | SkipJsonSchema[None] = Field(default=None, ge=1, le=60)
    payment_methods: list[Method] | SkipJsonSchema[None] = Field(default=None, min_length=1,
                                                                 max_length=4)
    seller: str | SkipJsonSchema[None] = Field(default=None, max_length=200)
    representative: str | SkipJsonSchema[None] = Field(default=None, max_length=120)
    address: str | SkipJsonSchema[None] = Field(default=None, max_length=300)
    phone: str | SkipJsonSchema[None] = Field(default=None, max_length=40)
    phone_on_request: bool | SkipJsonSchema[None] = None
    email: str | SkipJsonSchema[None] = Field(default=None, max_length=254)
    price_note: Text | SkipJsonSchema[None] = None
    extra_charges: Text | SkipJsonSchema[None] = None
    payment_terms: Text | SkipJsonSchema[None] = None
    delivery_terms: Text | SkipJsonSchema[None] = None
    cancellation_terms: Text | SkipJsonSchema[None] = None


class LegalItemOut(BaseModel):
    field: str
    ja: str
    en: str


class CampaignOut(BaseModel):
    id: int
    event_id: int
    slug: str
    title: str
    story: str
    goal: int
    starts_at: datetime
    ends_at: datetime
    funding_model: str
    state: str
    payment_days: int
    payment_methods: list[str]
    seller: str
    representative: str
    address: str
    phone: str
    phone_on_request: bool
    email: str
    price_note: str
    extra_charges: str
    payment_terms: str
    delivery_terms: str
    cancellation_terms: str
    went_live_at: datetime | None
    decided_at: datetime | None
    moved_to_income: int
    fees: int
    missing_legal_items: list[LegalItemOut] = Field(
        description="What the legal notice lacks: the campaign cannot go live until empty")


class FiguresOut(BaseModel):
    raised: int = Field(description="Support of paid pledges (counts towards the goal)")
    percent: int
    paid_total: int = Field(description="What paid pledges paid, shipping included")
    fees: int
    supporters: int = Field(description="Paid pledges")
    reserved: int = Field(description="Pledges waiting for their payment")
    by_state: dict[str, int]


# --- items of a return: strict JSON types, like every request body


class SnsThanksIn(RequestBody):
    kind: Literal["sns_thanks"]


class WallNameIn(RequestBody):
    kind: Literal["wall_name"]


class TourInviteIn(RequestBody):
    kind: Literal["tour_invite"]
    note: str = Field(default="", max_length=300)


class GoodsIn(RequestBody):
    kind: Literal["goods"]
    description: str = Field(min_length=1, max_length=300, pattern=NOT_BLANK)


class VoucherBookletsIn(RequestBody):
    kind: Literal["voucher_booklets"]
    programme_id: int = Field(ge=1, le=MAX_ID)
    count: int = Field(ge=1, le=100)


class ClubMembershipIn(RequestBody):
    kind: Literal["club_membership"]
    year: int = Field(ge=2000, le=2100)


# A plain union (each has its own ``kind``): a discriminator cannot have the before-
# validator every RequestBody field has.
ItemIn = (SnsThanksIn | WallNameIn | TourInviteIn | GoodsIn | VoucherBookletsIn
          | ClubMembershipIn)


class RewardIn(RequestBody):
    title: str = Field(min_length=1, max_length=200, pattern=NOT_BLANK)
    description: str = Field(default="", max_length=2000)
    price: Yen = Field(description="Tax included; the minimum when free_amount")
    free_amount: bool = False
    quantity_limit: int | None = Field(default=None, ge=1, le=1_000_000,
                                       description="null: unlimited")
    per_supporter_limit: int | None = Field(default=None, ge=1, le=1000)
    delivery_month: Month
    shipping_fee: int = Field(default=0, ge=0, le=100_000,
                              description="Per pledge; only a return with goods is shipped")
    items: list[ItemIn] = Field(min_length=1, max_length=10)


class RewardPatch(RequestBody):
    """Only the fields sent change. A return with pledges keeps its price, contents,
    shipping and delivery month (`reward.terms_locked`); the limit never goes below what
    its pledges hold (`reward.limit_below_claimed`). `quantity_limit: null` lifts it."""

    title: str | SkipJsonSchema[None] = Field(default=None, min_length=1, max_length=200,
                                              pattern=NOT_BLANK)
    description: str | SkipJsonSchema[None] = Field(default=None, max_length=2000)
    price: Yen | SkipJsonSchema[None] = None
    free_amount: bool | SkipJsonSchema[None] = None
    quantity_limit: int | None = Field(default=None, ge=1, le=1_000_000)
    per_supporter_limit: int | None = Field(default=None, ge=1, le=1000)
    delivery_month: Month | SkipJsonSchema[None] = None
    shipping_fee: int | SkipJsonSchema[None] = Field(default=None, ge=0, le=100_000)
    items: list[ItemIn] | SkipJsonSchema[None] = Field(default=None, min_length=1,
                                                       max_length=10)


class RewardOut(BaseModel):
    id: int
    campaign_id: int
    number: int
    title: str
    description: str
    price: int
    free_amount: bool
    quantity_limit: int | None
    per_supporter_limit: int | None
    delivery_month: str
    shipping_fee: int
    items: list[dict[str, Any]]
    claimed: int = Field(description="Quantity held by reserved and paid pledges")
    left: int | None = Field(description="null: unlimited")


class CampaignDetail(CampaignOut):
    figures: FiguresOut
    rewards: list[RewardOut]


def _campaign_out(c: Campaign) -> dict[str, Any]:
    from oflocal.crowdfunding.legal import missing_legal_items

    return {**{f: getattr(c, f) for f in CampaignOut.model_fields if f != "missing_legal_items"},
            "payment_methods": list(c.payment_methods),
            "missing_legal_items": [LegalItemOut(field=m.field, ja=m.ja, en=m.en)
                                    for m in missing_legal_items(c)]}


def _reward_out(r: Reward) -> RewardOut:
    left = None if r.quantity_limit is None else max(r.quantity_limit - r.claimed, 0)
    return RewardOut(**{f: getattr(r, f) for f in RewardOut.model_fields if f != "left"},
                     left=left)


@get("/events/{event_id:int}/campaigns", opt={"roles": MONEY}, sync_to_thread=True)
def list_campaigns(request: Request[Any, Any, Any], event_id: EventId) -> list[CampaignOut]:
    """The event's campaigns, newest first."""
    from oflocal.events.models import Event

    with services(request.app.state).db.read() as session:
        if session.get(Event, event_id) is None:
            raise Refusal("event.not_found")
        return [CampaignOut(**_campaign_out(row["campaign"]))
                for row in staff.campaign_rows(session, event_id)]


@post("/events/{event_id:int}/campaigns", opt={"roles": ADMIN, "idempotency": KEY_OPTIONAL},
      sync_to_thread=True, status_code=201)
def new_campaign(request: Request[Any, Any, Any], event_id: EventId,
                 data: CampaignIn) -> Response[CampaignOut]:
    """A draft campaign (`campaign.invalid`, `campaign.slug_taken`)."""
    fields = data.model_dump(exclude_unset=True)
    for name in ("seller", "representative", "address", "phone", "email"):
        if fields.get(name) is None:
            fields.pop(name, None)

    def work() -> CampaignOut:
        campaign = create_campaign(services(request.app.state).db, event_id=event_id, **fields)
        return CampaignOut(**_campaign_out(campaign))

    return once(request, work, event_id, data.model_dump(mode="json", exclude_unset=True))


@get("/campaigns/{campaign_id:int}", opt={"roles": MONEY}, sync_to_thread=True)
def campaign_detail(request: Request[Any, Any, Any], campaign_id: CampaignId) -> CampaignDetail:
    """The campaign, what its legal notice lacks, its figures and returns."""
    with services(request.app.state).db.read() as session:
        view = staff.campaign_view(session, campaign_id)
        f = view.figures
        return CampaignDetail(
            **_campaign_out(view.campaign),
            figures=FiguresOut(raised=f.raised, percent=f.percent(view.campaign.goal),
                               paid_total=f.paid_total, fees=f.fees, supporters=f.supporters,
                               reserved=f.reserved, by_state=f.by_state),
            rewards=[_reward_out(r.reward) for r in view.rewards])


@patch("/campaigns/{campaign_id:int}", opt={"roles": ADMIN, "idempotency": KEY_OPTIONAL},
       sync_to_thread=True)
def change_campaign(request: Request[Any, Any, Any], campaign_id: CampaignId,
                    data: CampaignPatch) -> Response[CampaignOut]:
    sent = data.model_dump(exclude_unset=True)
    nulls = sorted(name for name, value in sent.items() if value is None)
    if nulls:
        raise Refusal("request.invalid", detail=f"{', '.join(nulls)} cannot be null")

    def work() -> CampaignOut:
        return CampaignOut(**_campaign_out(
            edit_campaign(services(request.app.state).db, campaign_id, sent)))

    return once(request, work, campaign_id, data.model_dump(mode="json", exclude_unset=True))


@post("/campaigns/{campaign_id:int}/go-live",
      opt={"roles": ADMIN, "idempotency": KEY_OPTIONAL}, sync_to_thread=True, status_code=200)
def campaign_go_live(request: Request[Any, Any, Any],
                     campaign_id: CampaignId) -> Response[CampaignOut]:
    """Draft → live. Refused while the legal notice misses anything (`campaign.legal_missing`
    names every item), without a return (`campaign.no_rewards`) or after the end."""
    def work() -> CampaignOut:
        return CampaignOut(**_campaign_out(go_live(services(request.app.state).db,
                                                   campaign_id)))

    return once(request, work, campaign_id)


@post("/campaigns/{campaign_id:int}/close",
      opt={"roles": MONEY, "idempotency": KEY_OPTIONAL}, sync_to_thread=True, status_code=200)
def campaign_close(request: Request[Any, Any, Any],
                   campaign_id: CampaignId) -> Response[CampaignOut]:
    """Decided → closed, once every refund has gone out. Refused while a refund is
    requested or failed (`campaign.refunds_open` counts them), before the outcome
    (`campaign.not_decided`) and when already closed (`campaign.already_closed`)."""
    def work() -> CampaignOut:
        return CampaignOut(**_campaign_out(close_campaign(services(request.app.state).db,
                                                          campaign_id)))

    return once(request, work, campaign_id)


@post("/campaigns/{campaign_id:int}/rewards",
      opt={"roles": ADMIN, "idempotency": KEY_OPTIONAL}, sync_to_thread=True, status_code=201)
def new_reward(request: Request[Any, Any, Any], campaign_id: CampaignId,
               data: RewardIn) -> Response[RewardOut]:
    """A return, numbered after the campaign's others (`reward.invalid`)."""
    fields = data.model_dump()

    def work() -> RewardOut:
        return _reward_out(add_reward(services(request.app.state).db, campaign_id, **fields))

    return once(request, work, campaign_id, data.model_dump(mode="json"))


@patch("/rewards/{reward_id:int}", opt={"roles": ADMIN, "idempotency": KEY_OPTIONAL},
       sync_to_thread=True)
def change_reward(request: Request[Any, Any, Any], reward_id: RewardId,
                  data: RewardPatch) -> Response[RewardOut]:
    sent = data.model_dump(exclude_unset=True)
    nulls = sorted(name for name, value in sent.items()
                   if value is None and name not in ("quantity_limit", "per_supporter_limit"))
    if nulls:
        raise Refusal("request.invalid", detail=f"{', '.join(nulls)} cannot be null")

    def work() -> RewardOut:
        return _reward_out(edit_reward(services(request.app.state).db, reward_id, sent))

    return once(request, work, reward_id, data.model_dump(mode="json", exclude_unset=True))


# ------------------------------------------------------------------------ pledges


class PledgeOut(BaseModel):
    id: int
    reference: str = Field(description="Typed before the sender's name on a transfer")
    reward_id: int
    reward_number: int
    reward_title: str
    supporter_name: str
    supporter_email: str
    supporter_phone: str
    quantity: int
    amount: int
    shipping: int
    total: int
    payment_method: str
    state: str
    payment_deadline: datetime
    created_at: datetime
    paid_at: datetime | None
    payment_source: str | None
    refund_id: int | None
    refund_state: str | None
    answers: dict[str, Any]


class PledgePage(BaseModel):
    total: int = Field(description="Pledges matching the filters")
    pledges: list[PledgeOut]


@get("/campaigns/{campaign_id:int}/pledges", opt={"roles": MONEY}, sync_to_thread=True)
def list_pledges(
    request: Request[Any, Any, Any],
    campaign_id: CampaignId,
    pledge_state: Literal["reserved", "paid", "expired", "cancelled", "refund_due",
                          "refunded"] | None = Parameter(query="state", default=None),
    reward_id: int | None = Parameter(query="reward_id", default=None, ge=1, le=MAX_ID),
    method: Method | None = Parameter(query="method", default=None),
    q: str | None = Parameter(query="q", default=None, max_length=100,
                              description="Part of a name, e-mail, phone or reference"),
    limit: int = Parameter(query="limit", default=100, ge=1, le=1000),
    offset: int = Parameter(query="offset", default=0, ge=0, le=10_000_000),
) -> PledgePage:
    """Pledges, newest first, filtered."""
    f = staff.PledgeFilter(state=pledge_state, reward_id=reward_id, method=method, q=q or "")
    with services(request.app.state).db.read() as session:
        rows, total = staff.list_pledges(session, campaign_id, f, limit=limit, offset=offset)
        return PledgePage(total=total, pledges=[PledgeOut(
            **{k: getattr(r.pledge, k) for k in (
                "id", "reference", "reward_id", "supporter_name", "supporter_email",
                "supporter_phone", "quantity", "amount", "shipping", "total",
                "payment_method", "state", "payment_deadline", "created_at", "paid_at",
                "answers")},
            reward_number=r.reward_number, reward_title=r.reward_title,
            payment_source=r.payment_source, refund_id=r.refund_id,
            refund_state=r.refund_state) for r in rows])


class PaymentIn(RequestBody):
    source: Literal["bank", "cash"] = Field(
        description="bank: a transfer to the committee's account; cash: at the desk")
    amount: Yen = Field(description="What was received: the pledge's total, exactly")
    received_at: AwareDatetime | SkipJsonSchema[None] = Field(
        default=None, description="When the money arrived (default: now)")


class PaymentOut(BaseModel):
    pledge_id: int
    payment_id: int
    state: str = Field(description="paid, or refund_due for a payment it cannot take")
    accepted: bool
    entry_id: int
    paid_at: datetime
    refund_id: int | None = None
    refund_reason: str | None = None


@post("/pledges/{pledge_id:int}/payment", opt={"roles": MONEY, "idempotency": KEY_REQUIRED},
      sync_to_thread=True, status_code=201)
def record_payment(request: Request[Any, Any, Any], pledge_id: PledgeId,
                   data: PaymentIn) -> Response[PaymentOut]:
    """A transfer or cash received for a pledge, posted once (`pledge.already_paid`,
    `pledge.payment_amount_mismatch`). A reservation that expired is accepted if its
    return is still there; otherwise the money is kept and a refund requested."""
    actor = actor_of(request)

    def work() -> PaymentOut:
        outcome = mark_paid(services(request.app.state).db, pledge_id, source=data.source,
                            amount=data.amount, actor=actor.scope,
                            received_at=data.received_at)
        return PaymentOut(**outcome.body)

    return once(request, work, pledge_id, data.model_dump(mode="json"))


# ------------------------------------------------------------------------ outcome


class OutcomeOut(BaseModel):
    campaign_id: int
    state: str
    decided_at: datetime | None
    moved_to_income: int
    fees: int
    entry_id: int | None
    waiting_until: datetime | None = Field(
        default=None, description="Not decided yet: reservations may be paid until then")
    already_decided: bool = False
    raised: int | None = None
    goal: int | None = None
    paid_pledges: int | None = None


@post("/campaigns/{campaign_id:int}/outcome",
      opt={"roles": MONEY, "idempotency": KEY_OPTIONAL}, sync_to_thread=True, status_code=200)
def decide(request: Request[Any, Any, Any], campaign_id: CampaignId) -> Response[OutcomeOut]:
    """Decide the outcome after the end, once: success moves paid pledges to income
    (less fees); an all-or-nothing campaign below its goal refunds every paid pledge.
    While reservations may still be paid, it waits (`waiting_until`)."""
    actor = actor_of(request)

    def work() -> OutcomeOut:
        return OutcomeOut(**decide_outcome(services(request.app.state).db, campaign_id,
                                           actor=actor.scope).body)

    return once(request, work, campaign_id)


# ------------------------------------------------------------------------ refunds


class RefundOut(BaseModel):
    id: int
    pledge_id: int
    reference: str
    supporter_name: str
    amount: int
    method: str
    reason: str
    state: str
    attempts: int
    requested_at: datetime
    sent_at: datetime | None
    confirmed_at: datetime | None
    failed_at: datetime | None
    failure: str
    note: str


@get("/campaigns/{campaign_id:int}/refunds", opt={"roles": MONEY}, sync_to_thread=True)
def list_refunds(
    request: Request[Any, Any, Any], campaign_id: CampaignId,
    refund_state: Literal["requested", "sent", "confirmed", "failed", "done_by_hand"] | None
    = Parameter(query="state", default=None),
) -> list[RefundOut]:
    with services(request.app.state).db.read() as session:
        return [RefundOut(
            **{k: getattr(r, k) for k in (
                "id", "pledge_id", "amount", "method", "reason", "state", "attempts",
                "requested_at", "sent_at", "confirmed_at", "failed_at", "failure", "note")},
            reference=p.reference, supporter_name=p.supporter_name)
            for r, p in staff.list_refunds(session, campaign_id, refund_state)]


class RefundStepOut(BaseModel):
    refund_id: int
    pledge_id: int
    state: str
    attempts: int
    amount: int
    entry_id: int | None = None


@post("/refunds/{refund_id:int}/sent", opt={"roles": MONEY, "idempotency": KEY_REQUIRED},
      sync_to_thread=True, status_code=200)
def refund_sent(request: Request[Any, Any, Any], refund_id: RefundId) -> Response[RefundStepOut]:
    """The money went out (requested → sent, or a failed one retried)."""
    actor = actor_of(request)

    def work() -> RefundStepOut:
        return RefundStepOut(**refund_steps.mark_refund_sent(
            services(request.app.state).db, refund_id, actor=actor.scope).body)

    return once(request, work, refund_id)


@post("/refunds/{refund_id:int}/confirmed",
      opt={"roles": MONEY, "idempotency": KEY_OPTIONAL}, sync_to_thread=True, status_code=200)
def refund_confirmed(request: Request[Any, Any, Any],
                     refund_id: RefundId) -> Response[RefundStepOut]:
    """The bank or the provider confirmed the money arrived (sent → confirmed)."""
    def work() -> RefundStepOut:
        return RefundStepOut(**refund_steps.mark_refund_confirmed(
            services(request.app.state).db, refund_id).body)

    return once(request, work, refund_id)


class RefundFailedIn(RequestBody):
    reason: str = Field(min_length=1, max_length=300, pattern=NOT_BLANK)


@post("/refunds/{refund_id:int}/failed",
      opt={"roles": MONEY, "idempotency": KEY_OPTIONAL}, sync_to_thread=True, status_code=200)
def refund_failed(request: Request[Any, Any, Any], refund_id: RefundId,
                  data: RefundFailedIn) -> Response[RefundStepOut]:
    """The money came back (sent → failed): the attempt's entry is reversed."""
    actor = actor_of(request)

    def work() -> RefundStepOut:
        return RefundStepOut(**refund_steps.mark_refund_failed(
            services(request.app.state).db, refund_id, reason=data.reason,
            actor=actor.scope).body)

    return once(request, work, refund_id, data.model_dump())


class RefundByHandIn(RequestBody):
    method: Literal["provider", "bank_transfer", "cash"] = Field(
        description="The account the money left from")
    note: str = Field(min_length=1, max_length=300, pattern=NOT_BLANK)


@post("/refunds/{refund_id:int}/by-hand", opt={"roles": MONEY, "idempotency": KEY_REQUIRED},
      sync_to_thread=True, status_code=200)
def refund_by_hand(request: Request[Any, Any, Any], refund_id: RefundId,
                   data: RefundByHandIn) -> Response[RefundStepOut]:
    """The treasurer gave the money back another way (requested or failed → done by hand)."""
    actor = actor_of(request)

    def work() -> RefundStepOut:
        return RefundStepOut(**refund_steps.mark_refund_done_by_hand(
            services(request.app.state).db, refund_id, method=data.method, note=data.note,
            actor=actor.scope).body)

    return once(request, work, refund_id, data.model_dump())


router = Router(
    path="/",
    route_handlers=[list_campaigns, new_campaign, campaign_detail, change_campaign,
                    campaign_go_live, campaign_close, new_reward, change_reward, list_pledges,
                    record_payment,
                    decide, list_refunds, refund_sent, refund_confirmed, refund_failed,
                    refund_by_hand],
    tags=["crowdfunding"],
    before_request=require_json_body,
)
