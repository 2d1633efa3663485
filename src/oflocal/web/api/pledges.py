"""The public side of crowdfunding over the API: no login.

``GET /public/campaigns/{campaign_id}``: a live (or finished) campaign as a supporter
sees it, with its returns and what is left of each; ``POST
/public/campaigns/{campaign_id}/pledges``: pledge (``Idempotency-Key`` required: a retry
or a double tap makes one pledge), answered 201 with the pledge and how to pay it. A
sold-out return is ``409 reward.sold_out``; the rest of the refusals are the domain's
(``pledge.*``, ``campaign.not_open``...). A card or konbini pledge (offered when Stripe
is set up) gets its PaymentIntent at once and ``instructions.payment_page``, the
supporter's page where it is paid. Staff routes for campaigns live elsewhere
(``/campaigns``); these are under ``/public`` so the two never collide.

Keys of the public share one scope (``supporter``): a key replays only the request it
was first used with (the request hash); another request under it is
``idempotency.key_reused``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from litestar import Request, Response, Router, get, post
from litestar.params import Parameter
from pydantic import BaseModel, Field
from pydantic.json_schema import SkipJsonSchema

from oflocal import clock
from oflocal.crowdfunding import links, public
from oflocal.crowdfunding.images import images_of
from oflocal.crowdfunding.items import ITEM_NAMES
from oflocal.crowdfunding.pledge import PledgeRequest, make_pledge
from oflocal.crowdfunding.provider_payments import PROVIDER_METHODS, payment_step
from oflocal.errors import Refusal
from oflocal.idempotency.store import IdempotencyKey, check_key, request_hash
from oflocal.web.api.common import KEY_REQUIRED, MAX_ID, NOT_BLANK, Id, RequestBody
from oflocal.web.errors import refusal_response, request_lang
from oflocal.web.pages.supporters import result_path
from oflocal.web.pictures import public_url
from oflocal.web.state import services
from oflocal.web.story import StoryImage, render_story

CampaignId = Annotated[int, Parameter(ge=1, le=MAX_ID, description="Campaign id")]
SCOPE = "supporter"  # shared with the pages (web/pages/supporters.py)


class ShippingIn(RequestBody):
    recipient: str = Field(min_length=1, max_length=120, pattern=NOT_BLANK)
    postal_code: str = Field(min_length=1, max_length=20, description="7 digits, 933-0029 too")
    prefecture: str = Field(min_length=1, max_length=4, description="富山県; must match "
                            "the postal code")
    address: str = Field(min_length=1, max_length=300, pattern=NOT_BLANK)
    phone: str = Field(min_length=1, max_length=30, description="A Japanese phone number")


class AnswersIn(RequestBody):
    """What the return's items ask (``asks`` of the return): only those, all of them."""

    sns_handle: str | SkipJsonSchema[None] = Field(default=None, max_length=60)
    wall_name: str | SkipJsonSchema[None] = Field(default=None, max_length=40)
    wall_anonymous: bool | SkipJsonSchema[None] = None
    shipping: ShippingIn | SkipJsonSchema[None] = None


class PledgeIn(RequestBody):
    reward_id: Id
    quantity: int = Field(default=1, ge=1, le=100)
    amount: int | SkipJsonSchema[None] = Field(
        default=None, ge=1, le=100_000_000,
        description="A free-amount return: what the supporter gives (at least its price "
                    "× quantity). Otherwise leave it out, or send exactly price × quantity.")
    name: str = Field(min_length=1, max_length=120, pattern=NOT_BLANK)
    email: str = Field(min_length=3, max_length=254)
    phone: str = Field(min_length=1, max_length=30, description="A Japanese phone number")
    payment_method: Literal["bank_transfer", "cash", "card", "konbini"] = Field(
        description="One of the campaign's `payment_methods`")
    answers: AnswersIn = Field(default_factory=AnswersIn)
    lang: Literal["ja", "en"] = "ja"


class BankAccountOut(BaseModel):
    bank_code: str
    bank_name: str
    branch_code: str
    branch_name: str
    account_type: str
    account_number: str
    holder_kana: str


class DeskOut(BaseModel):
    committee: str
    venue: str


class PaymentInstructions(BaseModel):
    method: str
    amount: int = Field(description="What to pay, yen (support + shipping)")
    reference: str = Field(description="Typed before the sender's name on a bank transfer")
    deadline: datetime
    account: BankAccountOut | None = None
    sender_name_example: str | None = None
    desk: DeskOut | None = None
    payment_page: str | None = Field(
        default=None, description="Card and konbini: the supporter's page where the payment "
        "is made (Stripe's card form, or the konbini voucher's numbers and deadline)")


class PledgeOut(BaseModel):
    pledge_id: int
    campaign_id: int
    reward_id: int
    reference: str
    state: str
    quantity: int
    amount: int
    shipping: int
    total: int
    payment_method: str
    payment_deadline: datetime
    created_at: datetime
    instructions: PaymentInstructions


class ItemOut(BaseModel):
    kind: str
    name_ja: str
    name_en: str


class RewardOut(BaseModel):
    id: int
    number: int
    title: str
    description: str
    price: int = Field(description="The price, or the minimum when `free_amount`")
    free_amount: bool
    shipping_fee: int
    delivery_month: str
    quantity_limit: int | None
    per_supporter_limit: int | None
    left: int | None = Field(description="What is left now; null: unlimited")
    sold_out: bool
    items: list[ItemOut]
    asks: list[str] = Field(description="The `answers` a pledge for it must give")


class LegalRow(BaseModel):
    heading: str
    text: str


class PictureOut(BaseModel):
    number: int = Field(description="How the story names it: ![alt](image:N)")
    url: str = Field(description="A path on this site; cacheable for a year")
    alt: str
    width: int
    height: int


class CampaignOut(BaseModel):
    id: int
    event_slug: str
    slug: str
    title: str
    story: str = Field(description="Markdown, as the committee wrote it")
    story_html: str = Field(description="The story as sanitised HTML, with its pictures")
    images: list[PictureOut] = Field(description="In gallery order: the first is the main "
                                                 "picture")
    state: str
    goal: int
    raised: int = Field(description="Support of paid pledges, yen")
    awaiting: int = Field(description="Support of pledges awaiting payment, yen")
    percent: int
    supporters: int
    starts_at: datetime
    ends_at: datetime
    open_now: bool
    funding_model: str
    payment_methods: list[str] = Field(description="What a pledge can use now")
    payment_days: int
    legal_notice: list[LegalRow] = Field(description="特定商取引法に基づく表記")
    rewards: list[RewardOut]


@get("/public/campaigns/{campaign_id:int}", sync_to_thread=True)
def read_campaign(request: Request[Any, Any, Any], campaign_id: CampaignId) -> CampaignOut:
    """A campaign as supporters see it: progress, returns with what is left, the legal
    notice. Drafts are `campaign.not_found`."""
    lang = request_lang(request)
    s = services(request.app.state)
    with s.db.read() as session:
        event, campaign = public.campaign_by_id(session, campaign_id)
        v = public.view(session, event, campaign, clock.now())
        pictures = [PictureOut(number=i.number, url=public_url(event.slug, campaign.slug, i),
                               alt=i.alt, width=i.width, height=i.height)
                    for i in images_of(session, campaign.id)]
    story = render_story(campaign.story, {
        p.number: StoryImage(p.url, p.alt, p.width, p.height) for p in pictures})
    return CampaignOut(
        id=campaign.id, event_slug=event.slug, slug=campaign.slug, title=campaign.title,
        story=campaign.story, story_html=str(story), images=pictures,
        state=campaign.state, goal=campaign.goal, raised=v.raised, awaiting=v.awaiting,
        percent=v.percent, supporters=v.supporters, starts_at=campaign.starts_at,
        ends_at=campaign.ends_at, open_now=v.open_now, funding_model=campaign.funding_model,
        payment_methods=list(public.offered_methods(campaign, s.settings.stripe)),
        payment_days=campaign.payment_days,
        legal_notice=[LegalRow(heading=h, text=t) for h, t in public.legal_notice(campaign, lang)],
        rewards=[RewardOut(
            id=r.id, number=r.number, title=r.title, description=r.description,
            price=r.price, free_amount=r.free_amount, shipping_fee=r.shipping_fee,
            delivery_month=r.delivery_month, quantity_limit=r.quantity_limit,
            per_supporter_limit=r.per_supporter_limit, left=r.left, sold_out=r.sold_out,
            items=[ItemOut(kind=i["kind"], name_ja=ITEM_NAMES[i["kind"]][0],
                           name_en=ITEM_NAMES[i["kind"]][1]) for i in r.items],
            asks=r.asks) for r in v.rewards],
    )


@post("/public/campaigns/{campaign_id:int}/pledges", opt={"idempotency": KEY_REQUIRED},
      sync_to_thread=True, status_code=201)
def pledge(request: Request[Any, Any, Any], campaign_id: CampaignId,
           data: PledgeIn) -> Response[PledgeOut]:
    """Pledge for a return. Needs `Idempotency-Key`. The return's stock is reserved until
    the payment deadline; the answer says how to pay. Sold out: `409 reward.sold_out`."""
    s = services(request.app.state)
    body = data.model_dump(mode="json", exclude_none=True)
    try:
        idem = IdempotencyKey(SCOPE, check_key(request.headers.get("idempotency-key")),
                              request_hash(request.url.path, body))
        with s.db.read() as session:
            event, campaign = public.campaign_by_id(session, campaign_id)
        if data.payment_method not in public.offered_methods(campaign, s.settings.stripe):
            raise Refusal("pledge.method_unavailable", method=data.payment_method)
        outcome = make_pledge(s.db, PledgeRequest(
            campaign_id=campaign_id, reward_id=data.reward_id, name=data.name,
            email=data.email, phone=data.phone, payment_method=data.payment_method,
            quantity=data.quantity, amount=data.amount,
            answers=data.answers.model_dump(mode="json", exclude_none=True),
            lang=data.lang), idem=idem)
    except Refusal as refusal:
        # "Sold out" is the everyday answer of a spike: answered here, in the shape of
        # the app's exception handler, without raising it through the middleware.
        return refusal_response(request, refusal)
    answer = {**outcome.body, "instructions": public.instructions(
        event, {**outcome.body, "payment_deadline": datetime.fromisoformat(
            outcome.body["payment_deadline"])}, data.lang)}
    if data.payment_method in PROVIDER_METHODS:
        # The PaymentIntent now (once per pledge; Stripe down: the page offers a retry);
        # the supporter pays on the pledge's page, as after the pages' final button.
        pledge_id = int(outcome.body["pledge_id"])
        payment_step(s.db, s.settings, pledge_id, start=True)
        answer["instructions"]["payment_page"] = links.public_url() + result_path(
            s, event.slug, campaign.slug, pledge_id)
    headers = {"Idempotent-Replayed": "true"} if outcome.replayed else {}
    return Response(PledgeOut.model_validate(answer), status_code=outcome.status,
                    headers=headers)


router = Router(path="/", route_handlers=[read_campaign, pledge], tags=["crowdfunding"])
