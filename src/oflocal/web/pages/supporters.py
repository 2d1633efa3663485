"""The supporter's side of a campaign: public pages, no login, phone first, Japanese first.

``/c/{event}/{campaign}``: the campaign (story, goal, raised, supporters, days left, the
funding model, each return with what is left); ``…/legal``: the 特定商取引法に基づく表記;
``…/pledge``: the pledge form, then the **final confirmation page** (最終確認画面, what
Article 12-6 asks: quantity, price, extra charges, total, when and how to pay, when the
return is delivered, cancellation, the period to apply, and a link to the legal page),
then the pledge itself and a redirect to the result page with the payment instructions
(``…/pledges/{id}/{token}``: the token is a MAC of the pledge id, so only the supporter
who made it has the link).

Card and konbini (Stripe, offered only when its keys are set: ``public.offered_methods``):
the final button makes the pledge, then starts its PaymentIntent
(``provider_payments.payment_step``, the pledge as idempotency key) before the redirect.
The result page only re-reads the stored PaymentIntent, so a reload never creates one:
konbini shows the voucher (the payment numbers of each chain, Stripe's hosted voucher
page, the deadline) and needs no script; card shows Stripe's Payment Element, loaded
from js.stripe.com on that page only (its CSP widened for it) and only against Stripe's
own API with a publishable key (``settings.Stripe.stripe_js``). The payment is recorded
by the signed webhook (or the reconcile run), never by the browser coming back. If the
provider is down the pledge is kept and the page offers to try again
(``…/pledges/{id}/{token}/pay``).

The forms are HTML forms (no script needed). They carry a double-submit CSRF token (the
login forms' cookie) and an Idempotency-Key made when the form is first drawn, kept
through the confirmation page: a double tap on the final button makes one pledge and
both taps land on the same result page. The form is checked (``public.preview``) before
the confirmation page, so a mistake is shown where it can be corrected; the pledge
repeats every check under its locks.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from datetime import timedelta
from typing import Annotated, Any

from litestar import Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, Parameter
from litestar.response import Redirect

from oflocal import clock
from oflocal.crowdfunding import public
from oflocal.crowdfunding.images import images_of
from oflocal.crowdfunding.models import CampaignImage, Pledge, Reward
from oflocal.crowdfunding.pledge import PledgeRequest, make_pledge
from oflocal.crowdfunding.provider_payments import PROVIDER_METHODS, PaymentStep, payment_step
from oflocal.errors import Refusal
from oflocal.format import shown_moment
from oflocal.i18n import gettext_for
from oflocal.idempotency.store import IdempotencyKey, request_hash
from oflocal.supporters.signin import COOKIE as SUPPORTER_COOKIE
from oflocal.supporters.signin import signed_in
from oflocal.supporters.updates import AUDIENCE_NAMES, published_updates
from oflocal.supporters.wall import wall
from oflocal.web.pages.render import (
    SECURITY_HEADERS,
    AnyRequest,
    login_csrf_cookie,
    page,
    page_lang,
    refusal_texts,
)
from oflocal.web.pictures import lay_out, public_url, story_images
from oflocal.web.state import Services, services
from oflocal.web.story import render_story

Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
PUBLIC = {"csrf": "form"}  # no roles: anyone; the guard checks the double-submit token
BASE = "/c/{event_slug:str}/{campaign_slug:str}"
# The Idempotency-Key scope of pledges made by the public (pages and API): a key only
# replays the request it was first used for (the request hash), so a stranger who
# guessed one gets ``idempotency.key_reused``, never someone else's pledge.
SCOPE = "supporter"
PREFECTURES = (
    "北海道", "青森県", "岩手県", "宮城県", "秋田県", "山形県", "福島県", "茨城県", "栃木県",
    "群馬県", "埼玉県", "千葉県", "東京都", "神奈川県", "新潟県", "富山県", "石川県", "福井県",
    "山梨県", "長野県", "岐阜県", "静岡県", "愛知県", "三重県", "滋賀県", "京都府", "大阪府",
    "兵庫県", "奈良県", "和歌山県", "鳥取県", "島根県", "岡山県", "広島県", "山口県", "徳島県",
    "香川県", "愛媛県", "高知県", "福岡県", "佐賀県", "長崎県", "熊本県", "大分県", "宮崎県",
    "鹿児島県", "沖縄県",
)
FIELDS = ("reward", "quantity", "amount", "name", "email", "phone", "method", "sns_handle",
          "wall_name", "wall_anonymous", "ship_recipient", "ship_postal_code",
          "ship_prefecture", "ship_address", "ship_phone", "key")


def result_token(s: Services, pledge_id: int) -> str:
    mac = hmac.new(s.settings.secret_key, f"pledge-page:{pledge_id}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()[:16]).decode().rstrip("=")


def result_path(s: Services, event_slug: str, campaign_slug: str, pledge_id: int) -> str:
    return (f"/c/{event_slug}/{campaign_slug}/pledges/{pledge_id}/"
            f"{result_token(s, pledge_id)}")


def _common(request: AnyRequest, event_slug: str, campaign_slug: str) -> dict[str, Any]:
    lang = page_lang(request)
    s = services(request.app.state)
    with s.db.read() as session:
        event, campaign = public.find_campaign(session, event_slug, campaign_slug)
        shown = public.view(session, event, campaign, clock.now())
    return {"v": shown, "c": campaign, "event": event, "lang": lang,
            "base": f"/c/{event_slug}/{campaign_slug}",
            "methods": public.offered_methods(campaign, s.settings.stripe),
            "method_names": {m: n[0 if lang == "ja" else 1]
                             for m, n in public.METHOD_NAMES.items()},
            "model_name": public.FUNDING_MODEL_NAMES[campaign.funding_model][
                0 if lang == "ja" else 1],
            "month": lambda m: public.delivery_month_label(m, lang),
            "moment": lambda m: shown_moment(m, lang),
            # A deadline is the first moment past it (00:00 Tokyo): shown as 23:59 the day before.
            "until": lambda m: shown_moment(m - timedelta(seconds=1), lang),
            "legal": public.legal_notice(campaign, lang)}


@get(BASE, sync_to_thread=True, include_in_schema=False)
def campaign_page(request: AnyRequest, event_slug: str, campaign_slug: str) -> Response[Any]:
    """The campaign: story, goal and progress, the returns."""
    ctx = _common(request, event_slug, campaign_slug)
    db = services(request.app.state).db
    def url_of(image: CampaignImage) -> str:
        return public_url(event_slug, campaign_slug, image)

    with db.read() as session:
        images = images_of(session, ctx["c"].id)
    pictures = lay_out(ctx["c"].story, images, url_of)
    shown = story_images(images, url_of)  # updates place the same pictures
    reader = signed_in(db, request.cookies.get(SUPPORTER_COOKIE))
    news = published_updates(db, ctx["c"].id, reader.email if reader else None)
    return page(request, "supporters/campaign.html", story=pictures.story, pictures=pictures,
                wall=wall(db, ctx["c"].id), updates=news,
                render=lambda markdown: render_story(markdown, shown),
                audiences=AUDIENCE_NAMES, **ctx)


@get(f"{BASE}/legal", sync_to_thread=True, include_in_schema=False)
def legal_page(request: AnyRequest, event_slug: str, campaign_slug: str) -> Response[Any]:
    """特定商取引法に基づく表記."""
    return page(request, "supporters/legal.html", **_common(request, event_slug, campaign_slug))


def _form_page(request: AnyRequest, ctx: dict[str, Any], values: dict[str, str], *,
               status: int = 200, error: Refusal | None = None) -> Response[Any]:
    token, cookie = login_csrf_cookie(request)
    rewards = {r.id: r for r in ctx["v"].rewards}
    try:
        chosen = rewards.get(int(values.get("reward") or 0))
    except ValueError:
        chosen = None
    values = {**{f: "" for f in FIELDS}, "quantity": "1", **values}
    if not values["key"]:
        values["key"] = uuid.uuid4().hex
    if not values["method"] and ctx["methods"]:
        values["method"] = ctx["methods"][0]
    return page(request, "supporters/pledge.html", status=status, cookies=[cookie],
                form_csrf=token, reward=chosen, values=values, prefectures=PREFECTURES,
                error=refusal_texts(error, ctx["lang"]) if error else None, **ctx)


@get(f"{BASE}/pledge", sync_to_thread=True, include_in_schema=False)
def pledge_form(request: AnyRequest, event_slug: str, campaign_slug: str,
                reward: int | None = Parameter(query="reward", default=None, ge=1)
                ) -> Response[Any]:
    """The pledge form for one return (or the choice of a return)."""
    ctx = _common(request, event_slug, campaign_slug)
    return _form_page(request, ctx, {"reward": str(reward or "")})


def form_answers(data: dict[str, str]) -> dict[str, Any]:
    """What the return asks (templates/supporters/_answers.html), as the domain's answers."""
    answers: dict[str, Any] = {}
    if "sns_handle" in data:
        answers["sns_handle"] = data["sns_handle"]
    if data.get("wall_anonymous") == "yes":
        answers["wall_anonymous"] = True
    elif "wall_name" in data:
        answers["wall_name"] = data["wall_name"]
    if "ship_postal_code" in data:
        answers["shipping"] = {k: data.get(f"ship_{k}", "") for k in (
            "recipient", "postal_code", "prefecture", "address", "phone")}
    return answers


def pledge_request(campaign_id: int, data: dict[str, str], lang: str) -> PledgeRequest:
    """The form's fields as the domain's request; what cannot be read is refused."""
    def number(name: str, label: str) -> int | None:
        raw = (data.get(name) or "").strip().replace(",", "").replace("¥", "")
        if not raw:
            return None
        try:
            return int(raw)
        except ValueError:
            raise Refusal("pledge.invalid", detail=f"{label}: {raw[:20]}") from None

    return PledgeRequest(
        campaign_id=campaign_id, reward_id=number("reward", "リターン / return") or 0,
        name=data.get("name", ""), email=data.get("email", ""), phone=data.get("phone", ""),
        payment_method=data.get("method", ""), quantity=number("quantity", "数量 / quantity") or 1,
        amount=number("amount", "支援額 / amount"), answers=form_answers(data),
        lang=lang)


@post(f"{BASE}/pledge", opt=PUBLIC, sync_to_thread=True, include_in_schema=False)
def pledge_submit(request: AnyRequest, event_slug: str, campaign_slug: str,
                  data: Form) -> Response[Any]:
    """``step=confirm``: check the form and show the final confirmation; ``step=edit``:
    back to the form; ``step=send``: make the pledge (once per key) and show the result."""
    s = services(request.app.state)
    ctx = _common(request, event_slug, campaign_slug)
    campaign = ctx["c"]
    values = {f: (data.get(f) or "")[:400] for f in FIELDS if f in data}
    step = data.get("step", "confirm")
    if step == "edit":
        return _form_page(request, ctx, values)
    try:
        req = pledge_request(campaign.id, data, ctx["lang"])
        with s.db.read() as session:
            reward = session.get(Reward, req.reward_id)
            if reward is None or reward.campaign_id != campaign.id:
                raise Refusal("reward.not_found")
            shown = public.preview(campaign, reward, req, clock.now(), ctx["methods"])
        if step != "send":
            token, cookie = login_csrf_cookie(request)
            return page(request, "supporters/confirm.html", cookies=[cookie], form_csrf=token,
                        p=shown, values=values, **ctx)
        key = values.get("key", "")[:100]
        idem = IdempotencyKey(SCOPE, f"page-{key}", request_hash("pledge-page", req)) \
            if key else None
        outcome = make_pledge(s.db, req, idem=idem)
    except Refusal as refusal:
        if step == "send":  # the key has its answer now: a corrected form needs a new one
            values["key"] = ""
        return _form_page(request, ctx, values, status=refusal.status, error=refusal)
    pledge_id = int(outcome.body["pledge_id"])
    if req.payment_method in PROVIDER_METHODS:
        # The PaymentIntent, once per pledge (a replayed tap resumes it). A provider that
        # is down leaves the pledge made: the result page offers to try again.
        payment_step(s.db, s.settings, pledge_id, start=True)
    return Redirect(result_path(s, event_slug, campaign_slug, pledge_id), status_code=303)


# Stripe.js (the card form) needs its script, its frames and its API, on that page only.
STRIPE_CSP = (SECURITY_HEADERS["Content-Security-Policy"]
              .replace("script-src 'self'", "script-src 'self' https://js.stripe.com")
              .replace("connect-src 'self'", "connect-src 'self' https://api.stripe.com")
              + "; frame-src https://js.stripe.com https://hooks.stripe.com")


def _result_page(request: AnyRequest, event_slug: str, campaign_slug: str, pledge_id: int,
                 token: str, step: PaymentStep | None = None, *,
                 status: int = 200) -> Response[Any]:
    s = services(request.app.state)
    if not hmac.compare_digest(token, result_token(s, pledge_id)):
        raise Refusal("pledge.not_found")
    ctx = _common(request, event_slug, campaign_slug)
    with s.db.read() as session:
        pledge = session.get(Pledge, pledge_id)
        if pledge is None or pledge.campaign_id != ctx["c"].id:
            raise Refusal("pledge.not_found")
        reward = session.get(Reward, pledge.reward_id)
        assert reward is not None
    if step is None:  # shown or reloaded: re-read the stored payment, never start one
        step = payment_step(s.db, s.settings, pledge_id)
    deadline = pledge.payment_deadline
    if step is not None and step.start is not None:
        deadline = min(deadline, step.start.deadline)  # a konbini voucher's, if earlier
    facts = {"payment_method": pledge.payment_method, "total": pledge.total,
             "reference": pledge.reference, "payment_deadline": deadline}
    how = public.instructions(ctx["event"], facts, ctx["lang"])
    _ = gettext_for(ctx["lang"])
    state = {"reserved": _("Awaiting payment"), "paid": _("Paid"),
             "expired": _("Expired (not paid in time)"), "cancelled": _("Cancelled"),
             "refund_due": _("To be refunded"), "refunded": _("Refunded")}[pledge.state]
    stripe = s.settings.stripe
    card_form = bool(step and step.start and step.start.client_secret and stripe.stripe_js)
    token_, cookie = login_csrf_cookie(request)
    response = page(request, "supporters/result.html", status=status, cookies=[cookie],
                    form_csrf=token_, pledge=pledge, reward=reward, how=how, state_name=state,
                    step=step, card_form=card_form, publishable_key=stripe.publishable_key,
                    pay_path=result_path(s, event_slug, campaign_slug, pledge_id) + "/pay",
                    step_error=refusal_texts(step.refusal, ctx["lang"])
                    if step and step.refusal else None,
                    stores=STORE_NAMES, **ctx)
    if card_form:
        response.headers["Content-Security-Policy"] = STRIPE_CSP
    return response


STORE_NAMES = {"familymart": "ファミリーマート", "lawson": "ローソン", "ministop": "ミニストップ",
               "seicomart": "セイコーマート"}


@get(f"{BASE}/pledges/{{pledge_id:int}}/{{token:str}}", sync_to_thread=True,
     include_in_schema=False)
def pledge_result(request: AnyRequest, event_slug: str, campaign_slug: str, pledge_id: int,
                  token: str) -> Response[Any]:
    """Thank you, and how to pay: the account, the amount, the reference, the deadline;
    for card the card form, for konbini the voucher (the stored payment, re-read)."""
    return _result_page(request, event_slug, campaign_slug, pledge_id, token)


@post(f"{BASE}/pledges/{{pledge_id:int}}/{{token:str}}/pay", opt=PUBLIC, sync_to_thread=True,
      include_in_schema=False)
def pledge_pay(request: AnyRequest, event_slug: str, campaign_slug: str, pledge_id: int,
               token: str) -> Response[Any]:
    """Try again to start a card or konbini payment that could not be started (the
    provider was down): once per pledge whatever the number of taps."""
    s = services(request.app.state)
    if not hmac.compare_digest(token, result_token(s, pledge_id)):
        raise Refusal("pledge.not_found")
    step = payment_step(s.db, s.settings, pledge_id, start=True)
    if step is not None and step.state != "ready":
        status = 503 if step.state in ("not_started", "unavailable") else 409
        return _result_page(request, event_slug, campaign_slug, pledge_id, token, step,
                            status=status)
    return Redirect(result_path(s, event_slug, campaign_slug, pledge_id), status_code=303)


route_handlers = [campaign_page, legal_page, pledge_form, pledge_submit, pledge_result,
                  pledge_pay]
