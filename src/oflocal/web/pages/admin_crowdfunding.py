"""The committee's and the treasurer's crowdfunding pages (クラウドファンディング):
campaigns per event, the campaign editor with the legal notice, its pictures and a
preview of the story, returns, going live, the pledges (filters, CSV/XLSX), marking a
transfer or cash received, deciding the outcome, refunds, importing the bank's
statement, and closing a decided campaign.

Pages draw; every change is one call of the crowdfunding domain (campaigns.py,
images.py, payments.mark_paid, outcome.decide_outcome, refunds.py, transfers.py) from a
form that carries the session's CSRF token. Money moves (and a campaign closes) only
after an in-page confirmation that says what will happen, and the confirming form
carries an idempotency key: sending it twice (a double click, a reload) answers the
first outcome. A refusal shows the page
again with the rule that refused it, in the page's language first; nothing changed.
Admins set campaigns up; admins and treasurers handle the money.
"""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime, timedelta
from typing import Annotated, Any

from litestar import Response, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, Parameter
from litestar.response import Redirect
from sqlalchemy import select
from sqlalchemy.orm import Session

from oflocal import clock
from oflocal.auth.service import Actor
from oflocal.crowdfunding import images as campaign_images
from oflocal.crowdfunding import refunds as refund_steps
from oflocal.crowdfunding import staff, transfers
from oflocal.crowdfunding.campaigns import (
    LEGAL_FIELDS,
    LOCKED_WHEN_LIVE,
    add_reward,
    close_campaign,
    create_campaign,
    edit_campaign,
    edit_reward,
    go_live,
    refunds_outstanding,
)
from oflocal.crowdfunding.legal import LEGAL_ITEMS
from oflocal.crowdfunding.models import (
    DECIDED,
    PAYMENT_METHODS,
    PLEDGE_STATES,
    REFUND_METHODS,
    REFUND_STATES,
    CampaignImage,
    Pledge,
    Reward,
)
from oflocal.crowdfunding.outcome import decide_outcome
from oflocal.crowdfunding.payments import mark_paid
from oflocal.errors import Refusal
from oflocal.events import changes
from oflocal.events.listing import events_by_relevance
from oflocal.format import tokyo_minute
from oflocal.i18n import gettext_for
from oflocal.idempotency.store import IdempotencyKey, Outcome, request_hash, run_once
from oflocal.reports.csvout import encoding_of
from oflocal.vouchers.models import Programme
from oflocal.web.api.common import ADMIN, MONEY, csv_media_type, download_headers
from oflocal.web.pages.render import AnyRequest, page, page_lang, refusal_texts
from oflocal.web.pictures import lay_out, staff_url
from oflocal.web.security import current_actor
from oflocal.web.state import services

Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
Upload = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.MULTI_PART)]
EDIT = {"roles": ADMIN, "csrf": "form"}
FORM = {"roles": MONEY, "csrf": "form"}
READ = {"roles": MONEY}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
TEXT_FIELDS = ("slug", "title", "story", *[f for f in LEGAL_FIELDS if f != "phone_on_request"])
REWARD_TEXT = ("title", "description", "price", "quantity_limit", "per_supporter_limit",
               "delivery_month", "shipping_fee", "tour_note", "goods_description",
               "voucher_programme_id", "voucher_count", "club_year")
ITEM_KINDS = ("sns_thanks", "wall_name", "tour_invite", "goods", "voucher_booklets",
              "club_membership")


def _actor(request: AnyRequest) -> Actor:
    actor = current_actor(request)
    assert actor is not None  # the roles guard let only a logged-in actor in, CSRF checked
    return actor


def _error(request: AnyRequest, refusal: Refusal) -> dict[str, str]:
    return refusal_texts(refusal, page_lang(request))


def _key(request: AnyRequest, form: Form, *parts: Any) -> IdempotencyKey | None:
    """The confirming form's key: the same form sent twice is one change."""
    key = (form.get("key") or "")[:100]
    if not key:
        return None
    return IdempotencyKey(_actor(request).scope, f"page-cf-{key}", request_hash(*parts))


def _int(value: str | None, what: str, *, empty: int | None = None) -> int | None:
    text = (value or "").strip().replace(",", "")
    if not text:
        return empty
    try:
        return int(text)
    except ValueError as error:
        raise Refusal("request.invalid", detail=f"{what}: a whole number") from error


def _need_int(value: str | None, what: str) -> int:
    number = _int(value, what)
    if number is None:
        raise Refusal("request.invalid", detail=f"{what}: a whole number")
    return number


def _tokyo_input(moment: datetime) -> str:
    return clock.as_tokyo(moment).strftime("%Y-%m-%dT%H:%M")


def _parse_tokyo(value: str | None, what: str) -> datetime:
    try:
        naive = datetime.fromisoformat((value or "").strip())
    except ValueError as error:
        raise Refusal("campaign.invalid", detail=f"{what}: a date and time") from error
    return naive.replace(tzinfo=clock.TOKYO) if naive.tzinfo is None else naive


def _parse_day(value: str | None) -> date:
    try:
        return date.fromisoformat((value or "").strip())
    except ValueError as error:
        raise Refusal("report.date_invalid") from error


# ------------------------------------------------------------------------ campaigns


def _event_choice(request: AnyRequest, chosen: int | None) -> tuple[list[tuple[int, str]],
                                                                    int | None]:
    with services(request.app.state).db.read() as session:
        events = [(e.id, e.name) for e in
                  events_by_relevance(session, clock.tokyo_date(clock.now()))]
    if chosen is not None and any(e == chosen for e, _ in events):
        return events, chosen
    return events, (events[0][0] if events else None)


def _campaign_list(request: AnyRequest, event_id: int | None, *, status: int = 200,
                   error: Refusal | None = None, form: Form | None = None) -> Response[Any]:
    events, event_id = _event_choice(request, event_id)
    rows: list[dict[str, Any]] = []
    event = None
    if event_id is not None:
        with services(request.app.state).db.read() as session:
            event = changes.event_or_404(session, event_id)
            rows = staff.campaign_rows(session, event_id)
    now = clock.now()
    typed = {"slug": "", "title": "", "goal": "", "starts_at": _tokyo_input(now),
             "ends_at": _tokyo_input(now + timedelta(days=30)), **(form or {})}
    return page(request, "cf_staff/campaigns.html", status=status, events=events,
                event_id=event_id, event=event, rows=rows, form=typed,
                state_names=staff.CAMPAIGN_STATE_NAMES,
                error=_error(request, error) if error else None)


@get("/admin/crowdfunding", opt=READ, sync_to_thread=True, include_in_schema=False)
def campaigns(request: AnyRequest,
              event: int | None = Parameter(query="event", default=None, ge=1)
              ) -> Response[Any]:
    """The event's campaigns with their figures, and a form for a new one."""
    return _campaign_list(request, event)


@post("/admin/events/{event_id:int}/campaigns", opt=EDIT, sync_to_thread=True,
      include_in_schema=False)
def new_campaign(request: AnyRequest, event_id: int, data: Form) -> Response[Any]:
    try:
        campaign = create_campaign(
            services(request.app.state).db, event_id=event_id,
            slug=data.get("slug", "").strip(), title=data.get("title", "").strip(),
            goal=_need_int(data.get("goal"), "goal"),
            starts_at=_parse_tokyo(data.get("starts_at"), "starts_at"),
            ends_at=_parse_tokyo(data.get("ends_at"), "ends_at"))
    except Refusal as refusal:
        return _campaign_list(request, event_id, status=refusal.status, error=refusal,
                              form=data)
    return Redirect(f"/admin/campaigns/{campaign.id}?created=1", status_code=303)


def _campaign_changes(data: Form, draft: bool) -> dict[str, Any]:
    fields: dict[str, Any] = {name: data.get(name, "").strip() for name in TEXT_FIELDS}
    fields["story"] = data.get("story", "").replace("\r\n", "\n")
    fields["phone_on_request"] = data.get("phone_on_request") == "yes"
    if draft:
        fields["goal"] = _need_int(data.get("goal"), "goal")
        fields["starts_at"] = _parse_tokyo(data.get("starts_at"), "starts_at")
        fields["ends_at"] = _parse_tokyo(data.get("ends_at"), "ends_at")
        fields["funding_model"] = data.get("funding_model", "all_or_nothing")
        fields["payment_days"] = _need_int(data.get("payment_days"), "payment_days")
        fields["payment_methods"] = [m for m in PAYMENT_METHODS
                                     if data.get(f"method_{m}") == "yes"]
    else:  # what supporters pledged on is fixed (campaigns.LOCKED_WHEN_LIVE): not sent
        for name in LOCKED_WHEN_LIVE:
            fields.pop(name, None)
    return fields


def _campaign_values(view: staff.CampaignView) -> dict[str, Any]:
    c = view.campaign
    values: dict[str, Any] = {name: getattr(c, name) for name in TEXT_FIELDS}
    values.update(goal=str(c.goal), starts_at=_tokyo_input(c.starts_at),
                  ends_at=_tokyo_input(c.ends_at), funding_model=c.funding_model,
                  payment_days=str(c.payment_days), phone_on_request=c.phone_on_request,
                  methods=list(c.payment_methods))
    return values


def _typed_values(form: Form) -> dict[str, Any]:
    blank = dict.fromkeys((*TEXT_FIELDS, "goal", "starts_at", "ends_at", "funding_model",
                           "payment_days"), "")
    return {**blank, **form, "phone_on_request": form.get("phone_on_request") == "yes",
            "methods": [m for m in PAYMENT_METHODS if form.get(f"method_{m}") == "yes"]}


def _reward_values(reward: Reward) -> dict[str, Any]:
    values: dict[str, Any] = {
        "title": reward.title, "description": reward.description, "price": str(reward.price),
        "free_amount": reward.free_amount,
        "quantity_limit": "" if reward.quantity_limit is None else str(reward.quantity_limit),
        "per_supporter_limit": "" if reward.per_supporter_limit is None
        else str(reward.per_supporter_limit),
        "delivery_month": reward.delivery_month, "shipping_fee": str(reward.shipping_fee),
        "tour_note": "", "goods_description": "", "voucher_programme_id": "",
        "voucher_count": "1", "club_year": "", "kinds": [i["kind"] for i in reward.items]}
    for item in reward.items:
        if item["kind"] == "tour_invite":
            values["tour_note"] = item.get("note", "")
        elif item["kind"] == "goods":
            values["goods_description"] = item["description"]
        elif item["kind"] == "voucher_booklets":
            values["voucher_programme_id"] = str(item["programme_id"])
            values["voucher_count"] = str(item["count"])
        elif item["kind"] == "club_membership":
            values["club_year"] = str(item["year"])
    return values


def _typed_reward(form: Form) -> dict[str, Any]:
    return {**dict.fromkeys(REWARD_TEXT, ""), **form,
            "free_amount": form.get("free_amount") == "yes",
            "kinds": [k for k in ITEM_KINDS if form.get(f"item_{k}") == "yes"]}


def _campaign_page(request: AnyRequest, campaign_id: int, *, status: int = 200,
                   error: Refusal | None = None, done: str | None = None,
                   form: Form | None = None, preview: str | None = None,
                   reward_form: Form | None = None, reward_error_for: int | None = None,
                   confirm_live: bool = False, confirm_close: bool = False,
                   alt_typed: str = "") -> Response[Any]:
    """The editor. ``form``: the campaign's fields as typed (a refusal or a preview);
    ``reward_form``: a return's fields as typed, for ``reward_error_for`` (0: new)."""
    with services(request.app.state).db.read() as session:
        view = staff.campaign_view(session, campaign_id)
        event = changes.event_or_404(session, view.campaign.event_id)
        programmes = [(p.id, p.name) for p in session.execute(
            select(Programme).where(Programme.event_id == event.id).order_by(Programme.id)
        ).scalars()]
        images = campaign_images.images_of(session, campaign_id)
        open_refunds = refunds_outstanding(session, campaign_id)
        story = preview if preview is not None else view.campaign.story
        pictures = lay_out(story, images, staff_url)
        gallery = [{"image": i, "url": staff_url(i)} for i in images]
    values = _typed_values(form) if form is not None else _campaign_values(view)
    rewards = [{"view": r, "values": _typed_reward(reward_form)
                if reward_form is not None and reward_error_for == r.reward.id
                else _reward_values(r.reward)} for r in view.rewards]
    new_reward = (_typed_reward(reward_form) if reward_form is not None
                  and reward_error_for == 0 else
                  {**dict.fromkeys(REWARD_TEXT, ""), "free_amount": False, "kinds": [],
                   "voucher_count": "1", "shipping_fee": "0"})
    actor = _actor(request)
    return page(request, "cf_staff/campaign.html", status=status, view=view, event=event,
                c=view.campaign, values=values, rewards=rewards, new_reward=new_reward,
                programmes=programmes, story_html=pictures.story, pictures=pictures,
                gallery=gallery, alt_typed=alt_typed, max_images=campaign_images.MAX_IMAGES,
                images_locked=view.campaign.state in DECIDED, open_refunds=open_refunds,
                confirm_close=confirm_close, can_close=actor.role in MONEY, key=uuid.uuid4().hex,
                previewing=preview is not None, legal_items=LEGAL_ITEMS,
                blockers=staff.going_live_blockers(view, clock.now()),
                can_edit=actor.role in ADMIN, methods=PAYMENT_METHODS,
                method_names=staff.METHOD_NAMES, state_names=staff.CAMPAIGN_STATE_NAMES,
                item_kinds=ITEM_KINDS, reward_error_for=reward_error_for,
                confirm_live=confirm_live, done=done, tokyo=tokyo_minute,
                error=_error(request, error) if error else None)


@get("/admin/campaigns/{campaign_id:int}", opt=READ, sync_to_thread=True,
     include_in_schema=False)
def campaign(request: AnyRequest, campaign_id: int,
             created: str | None = Parameter(query="created", default=None)) -> Response[Any]:
    """The campaign editor: fields, legal notice, story preview, returns, going live."""
    _ = gettext_for(page_lang(request))
    return _campaign_page(request, campaign_id,
                          done=_("The campaign was created as a draft.") if created else None)


@post("/admin/campaigns/{campaign_id:int}", opt=EDIT, sync_to_thread=True,
      include_in_schema=False)
def save_campaign(request: AnyRequest, campaign_id: int, data: Form) -> Response[Any]:
    """Save the fields, or (``action=preview``) show the typed story as supporters will
    see it, saving nothing."""
    _ = gettext_for(page_lang(request))
    if data.get("action") == "preview":
        return _campaign_page(request, campaign_id, form=data,
                              preview=data.get("story", "").replace("\r\n", "\n"),
                              done=_("Preview only: nothing is saved yet."))
    db = services(request.app.state).db
    try:
        with db.read() as session:
            draft = staff.campaign_or_refusal(session, campaign_id).state == "draft"
        edit_campaign(db, campaign_id, _campaign_changes(data, draft))
    except Refusal as refusal:
        return _campaign_page(request, campaign_id, status=refusal.status, error=refusal,
                              form=data)
    return _campaign_page(request, campaign_id, done=_("Saved."))


@post("/admin/campaigns/{campaign_id:int}/go-live", opt=EDIT, sync_to_thread=True,
      include_in_schema=False)
def campaign_go_live(request: AnyRequest, campaign_id: int, data: Form) -> Response[Any]:
    """Asks first (the goal, dates and payment rules are fixed from then on), then goes
    live; a refusal names every missing item."""
    _ = gettext_for(page_lang(request))
    if data.get("confirm") != "yes":
        return _campaign_page(request, campaign_id, confirm_live=True)
    try:
        go_live(services(request.app.state).db, campaign_id)
    except Refusal as refusal:
        return _campaign_page(request, campaign_id, status=refusal.status, error=refusal)
    return _campaign_page(request, campaign_id,
                          done=_("The campaign is live: supporters can pledge now."))


def _reward_fields(data: Form) -> dict[str, Any]:
    items: list[dict[str, Any]] = []
    for kind in ITEM_KINDS:
        if data.get(f"item_{kind}") != "yes":
            continue
        if kind == "tour_invite":
            items.append({"kind": kind, "note": data.get("tour_note", "").strip()})
        elif kind == "goods":
            items.append({"kind": kind, "description": data.get("goods_description", "").strip()})
        elif kind == "voucher_booklets":
            items.append({"kind": kind,
                          "programme_id": _need_int(data.get("voucher_programme_id"),
                                                    "voucher programme"),
                          "count": _need_int(data.get("voucher_count"), "voucher booklets")})
        elif kind == "club_membership":
            items.append({"kind": kind, "year": _need_int(data.get("club_year"), "club year")})
        else:
            items.append({"kind": kind})
    return {
        "title": data.get("title", "").strip(),
        "description": data.get("description", "").strip(),
        "price": _need_int(data.get("price"), "price"),
        "free_amount": data.get("free_amount") == "yes",
        "quantity_limit": _int(data.get("quantity_limit"), "quantity_limit"),
        "per_supporter_limit": _int(data.get("per_supporter_limit"), "per_supporter_limit"),
        "delivery_month": data.get("delivery_month", "").strip(),
        "shipping_fee": _int(data.get("shipping_fee"), "shipping_fee", empty=0),
        "items": items,
    }


@post("/admin/campaigns/{campaign_id:int}/rewards", opt=EDIT, sync_to_thread=True,
      include_in_schema=False)
def new_reward(request: AnyRequest, campaign_id: int, data: Form) -> Response[Any]:
    _ = gettext_for(page_lang(request))
    try:
        add_reward(services(request.app.state).db, campaign_id, **_reward_fields(data))
    except Refusal as refusal:
        return _campaign_page(request, campaign_id, status=refusal.status, error=refusal,
                              reward_form=data, reward_error_for=0)
    return _campaign_page(request, campaign_id, done=_("The return was added."))


@post("/admin/rewards/{reward_id:int}", opt=EDIT, sync_to_thread=True, include_in_schema=False)
def save_reward(request: AnyRequest, reward_id: int, data: Form) -> Response[Any]:
    _ = gettext_for(page_lang(request))
    db = services(request.app.state).db
    with db.read() as session:
        reward = session.get(Reward, reward_id)
        if reward is None:
            raise Refusal("reward.not_found")
        campaign_id = reward.campaign_id
    try:
        edit_reward(db, reward_id, _reward_fields(data))
    except Refusal as refusal:
        return _campaign_page(request, campaign_id, status=refusal.status, error=refusal,
                              reward_form=data, reward_error_for=reward_id)
    return _campaign_page(request, campaign_id, done=_("Saved."))


# ------------------------------------------------------------------------ pictures


@post("/admin/campaigns/{campaign_id:int}/images", opt=EDIT, sync_to_thread=True,
      include_in_schema=False)
def new_image(request: AnyRequest, campaign_id: int, data: Upload) -> Response[Any]:
    """A picture uploaded with its description: checked, re-encoded (no EXIF or GPS,
    at most 1600 px wide) and added last to the gallery (crowdfunding/images.py)."""
    _ = gettext_for(page_lang(request))
    upload = data.get("file")
    alt = str(data.get("alt") or "")
    try:
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise Refusal("request.invalid", detail="file")
        # One byte past the limit is enough to refuse: never read a huge upload whole.
        raw = upload.file.read(campaign_images.MAX_BYTES + 1)
        image = campaign_images.add_image(services(request.app.state).db, campaign_id, raw,
                                          alt=alt)
    except Refusal as refusal:
        return _campaign_page(request, campaign_id, status=refusal.status, error=refusal,
                              alt_typed=alt)
    return _campaign_page(request, campaign_id, done=_(
        "Picture {number} was added. Place it in the story with ![description](image:{number})."
    ).format(number=image.number))


@post("/admin/campaign-images/{image_id:int}", opt=EDIT, sync_to_thread=True,
      include_in_schema=False)
def change_image(request: AnyRequest, image_id: int, data: Form) -> Response[Any]:
    """``action``: ``save`` (the description), ``first``, ``up``, ``down``, ``delete``."""
    _ = gettext_for(page_lang(request))
    db = services(request.app.state).db
    with db.read() as session:
        image = session.get(CampaignImage, image_id)
        if image is None:
            raise Refusal("image.not_found")
        campaign_id, position = image.campaign_id, image.position
    action = data.get("action", "save")
    try:
        if action == "save":
            campaign_images.edit_image(db, image_id, alt=data.get("alt", ""))
            done = _("Saved.")
        elif action in ("first", "up", "down"):
            to = {"first": 1, "up": max(position - 1, 1), "down": position + 1}[action]
            campaign_images.edit_image(db, image_id, position=to)
            done = _("The pictures were reordered.")
        elif action == "delete":
            campaign_images.delete_image(db, image_id)
            done = _("The picture was removed.")
        else:
            raise Refusal("request.invalid", detail="action: save, first, up, down or delete")
    except Refusal as refusal:
        return _campaign_page(request, campaign_id, status=refusal.status, error=refusal)
    return _campaign_page(request, campaign_id, done=done)


# ------------------------------------------------------------------------ closing


@post("/admin/campaigns/{campaign_id:int}/close", opt=FORM, sync_to_thread=True,
      include_in_schema=False)
def campaign_close(request: AnyRequest, campaign_id: int, data: Form) -> Response[Any]:
    """Decided → closed, once every refund has gone out: asks first, then closes. The
    confirming form carries a key, so sending it twice closes once and says so again."""
    _ = gettext_for(page_lang(request))
    if data.get("confirm") != "yes":
        return _campaign_page(request, campaign_id, confirm_close=True)
    db = services(request.app.state).db

    def work(_session: Session) -> dict[str, Any]:
        return {"state": close_campaign(db, campaign_id).state}

    try:
        run_once(db, _key(request, data, "close", campaign_id), work, status=200)
    except Refusal as refusal:
        return _campaign_page(request, campaign_id, status=refusal.status, error=refusal)
    return _campaign_page(request, campaign_id, done=_(
        "The campaign is closed: its outcome and refunds are complete."))


# ------------------------------------------------------------------------ pledges


def _filter(state: str | None, reward: int | None, method: str | None,
            q: str | None) -> staff.PledgeFilter:
    return staff.PledgeFilter(state=state or None, reward_id=reward or None,
                              method=method or None, q=(q or "")[:100]).check()


def _filter_query(f: staff.PledgeFilter) -> str:
    from urllib.parse import urlencode

    return urlencode({k: v for k, v in (("state", f.state), ("reward", f.reward_id),
                                        ("method", f.method), ("q", f.q)) if v})


def _pledges_page(request: AnyRequest, campaign_id: int, f: staff.PledgeFilter, *,
                  status: int = 200, error: Refusal | None = None,
                  done: str | None = None) -> Response[Any]:
    with services(request.app.state).db.read() as session:
        view = staff.campaign_view(session, campaign_id)
        rows, total = staff.list_pledges(session, campaign_id, f)
    return page(request, "cf_staff/pledges.html", status=status, c=view.campaign, view=view,
                rows=rows, total=total, f=f, query=_filter_query(f), states=PLEDGE_STATES,
                methods=PAYMENT_METHODS, state_names=staff.PLEDGE_STATE_NAMES,
                method_names=staff.METHOD_NAMES,
                refund_names=refund_steps.STATE_NAMES, name=staff.name, tokyo=tokyo_minute,
                done=done, error=_error(request, error) if error else None)


@get("/admin/campaigns/{campaign_id:int}/pledges", opt=READ, sync_to_thread=True,
     include_in_schema=False)
def pledges(request: AnyRequest, campaign_id: int,
            pledge_state: str | None = Parameter(query="state", default=None, max_length=20),
            reward: int | None = Parameter(query="reward", default=None, ge=1),
            method: str | None = Parameter(query="method", default=None, max_length=20),
            q: str | None = Parameter(query="q", default=None, max_length=100)
            ) -> Response[Any]:
    """Pledges with filters (state, return, payment method, name / e-mail / reference)."""
    return _pledges_page(request, campaign_id, _filter(pledge_state, reward, method, q))


@get("/admin/campaigns/{campaign_id:int}/export/{fmt:str}", opt=READ, sync_to_thread=True,
     include_in_schema=False)
def pledges_export(request: AnyRequest, campaign_id: int, fmt: str,
                   pledge_state: str | None = Parameter(query="state", default=None, max_length=20),
                   reward: int | None = Parameter(query="reward", default=None, ge=1),
                   method: str | None = Parameter(query="method", default=None, max_length=20),
                   q: str | None = Parameter(query="q", default=None, max_length=100),
                   encoding: str | None = Parameter(query="encoding", default=None,
                                                     max_length=20)
                   ) -> Response[Any]:
    """The filtered pledges as CSV (UTF-8 with BOM, or Shift_JIS) or XLSX."""
    from litestar.response import Stream

    db = services(request.app.state).db
    f = _filter(pledge_state, reward, method, q)
    if fmt not in ("csv", "xlsx"):
        raise Refusal("request.invalid", detail="format: csv or xlsx")
    slug = staff.check_export(db, campaign_id, f)
    if fmt == "xlsx":
        return Stream(staff.pledges_xlsx(db, campaign_id, f),
                      headers=download_headers(XLSX, f"pledges-{slug}.xlsx"))
    try:
        codec = encoding_of(encoding)
    except ValueError as error:
        raise Refusal("request.invalid", detail=str(error)) from None
    return Stream(staff.pledges_csv(db, campaign_id, f, codec),
                  headers=download_headers(csv_media_type(codec), f"pledges-{slug}.csv"))


def _pledge(request: AnyRequest, pledge_id: int) -> tuple[Pledge, Reward]:
    with services(request.app.state).db.read() as session:
        pledge = session.get(Pledge, pledge_id)
        if pledge is None:
            raise Refusal("pledge.not_found")
        reward = session.get(Reward, pledge.reward_id)
        assert reward is not None
        session.expunge_all()
    return pledge, reward


@post("/admin/pledges/{pledge_id:int}/paid", opt=FORM, sync_to_thread=True,
      include_in_schema=False)
def pledge_paid(request: AnyRequest, pledge_id: int, data: Form) -> Response[Any]:
    """A bank transfer or cash received: first the confirmation (what will be recorded,
    and what happens to a reservation that expired), then the record."""
    _ = gettext_for(page_lang(request))
    pledge, reward = _pledge(request, pledge_id)
    source = data.get("source", "bank")
    back = staff.PledgeFilter(q=pledge.reference)
    try:
        if source not in ("bank", "cash"):
            raise Refusal("request.invalid", detail="source: bank or cash")
        if data.get("confirm") != "yes":
            return page(request, "cf_staff/paid_confirm.html", p=pledge, reward=reward,
                        source=source, key=uuid.uuid4().hex, today=clock.tokyo_date(
                            clock.now()).isoformat(), state_names=staff.PLEDGE_STATE_NAMES,
                        method_names=staff.METHOD_NAMES, name=staff.name, tokyo=tokyo_minute)
        amount = _need_int(data.get("amount"), "amount")
        day = _parse_day(data.get("received_on"))
        outcome = mark_paid(services(request.app.state).db, pledge_id, source=source,
                            amount=amount, actor=_actor(request).scope,
                            received_at=transfers.received_moment(day),
                            idem=_key(request, data, "paid", pledge_id, source, amount,
                                      day.isoformat()))
    except Refusal as refusal:
        return _pledges_page(request, pledge.campaign_id, back, status=refusal.status,
                             error=refusal)
    if outcome.body.get("accepted"):
        done = _("Payment recorded: the pledge {reference} is paid.").format(
            reference=pledge.reference)
    else:
        done = _("Payment recorded, but the pledge {reference} could not take it (its "
                 "return is gone or the campaign is decided): a refund was requested.").format(
            reference=pledge.reference)
    return _pledges_page(request, pledge.campaign_id, back, done=done)


# ------------------------------------------------------------------------ the outcome


@get("/admin/campaigns/{campaign_id:int}/outcome", opt=READ, sync_to_thread=True,
     include_in_schema=False)
def outcome(request: AnyRequest, campaign_id: int) -> Response[Any]:
    """What deciding the outcome now would do, and the button that does it."""
    return _outcome_page(request, campaign_id)


def _outcome_page(request: AnyRequest, campaign_id: int, *, status: int = 200,
                  error: Refusal | None = None, done: str | None = None) -> Response[Any]:
    with services(request.app.state).db.read() as session:
        view = staff.campaign_view(session, campaign_id)
        preview = staff.outcome_preview(session, campaign_id, clock.now())
    return page(request, "cf_staff/outcome.html", status=status, c=view.campaign, view=view,
                preview=preview, key=uuid.uuid4().hex, state_names=staff.CAMPAIGN_STATE_NAMES,
                name=staff.name, tokyo=tokyo_minute, done=done,
                error=_error(request, error) if error else None)


@post("/admin/campaigns/{campaign_id:int}/outcome", opt=FORM, sync_to_thread=True,
      include_in_schema=False)
def decide(request: AnyRequest, campaign_id: int, data: Form) -> Response[Any]:
    _ = gettext_for(page_lang(request))
    try:
        result: Outcome = decide_outcome(services(request.app.state).db, campaign_id,
                                         actor=_actor(request).scope,
                                         idem=_key(request, data, "outcome", campaign_id))
    except Refusal as refusal:
        return _outcome_page(request, campaign_id, status=refusal.status, error=refusal)
    body = result.body
    if body.get("waiting_until"):
        done = _("Not decided yet: pledges may still be paid until {when}. It will be "
                 "decided then, by itself.").format(
            when=tokyo_minute(datetime.fromisoformat(body["waiting_until"])))
    elif body["state"] == "succeeded":
        done = _("The campaign succeeded: the pledges were moved to income.")
    else:
        done = _("The campaign failed: a refund was requested for every paid pledge.")
    return _outcome_page(request, campaign_id, done=done)


# ------------------------------------------------------------------------ refunds


def _refunds_page(request: AnyRequest, campaign_id: int, state: str | None = None, *,
                  status: int = 200, error: Refusal | None = None,
                  done: str | None = None) -> Response[Any]:
    with services(request.app.state).db.read() as session:
        view = staff.campaign_view(session, campaign_id)
        rows = staff.list_refunds(session, campaign_id, state)
    return page(request, "cf_staff/refunds.html", status=status, c=view.campaign, rows=rows,
                state=state or "", states=REFUND_STATES, methods=REFUND_METHODS,
                refund_names=refund_steps.STATE_NAMES, name=staff.name, tokyo=tokyo_minute,
                key=uuid.uuid4().hex, done=done,
                error=_error(request, error) if error else None)


@get("/admin/campaigns/{campaign_id:int}/refunds", opt=READ, sync_to_thread=True,
     include_in_schema=False)
def refunds(request: AnyRequest, campaign_id: int,
            refund_state: str | None = Parameter(query="state", default=None, max_length=20)
            ) -> Response[Any]:
    """Refunds with their states, and the step each can take next."""
    return _refunds_page(request, campaign_id, refund_state or None)


@post("/admin/refunds/{refund_id:int}/{step:str}", opt=FORM, sync_to_thread=True,
      include_in_schema=False)
def refund_step(request: AnyRequest, refund_id: int, step: str, data: Form) -> Response[Any]:
    """sent (also a retry after a failure), confirmed, failed, by-hand."""
    _ = gettext_for(page_lang(request))
    db = services(request.app.state).db
    actor = _actor(request).scope
    from oflocal.crowdfunding.models import Refund

    with db.read() as session:
        refund = session.get(Refund, refund_id)
        if refund is None:
            raise Refusal("refund.not_found")
        campaign_id = refund.campaign_id
    reason, method, note = (data.get("reason", ""), data.get("method", ""),
                            data.get("note", ""))
    idem = _key(request, data, "refund", refund_id, step, reason, method, note)
    try:
        if step == "sent":
            refund_steps.mark_refund_sent(db, refund_id, actor=actor, idem=idem)
            done = _("Marked as sent: the money left the account.")
        elif step == "confirmed":
            refund_steps.mark_refund_confirmed(db, refund_id, idem=idem)
            done = _("Marked as confirmed.")
        elif step == "failed":
            refund_steps.mark_refund_failed(db, refund_id, reason=reason, actor=actor, idem=idem)
            done = _("Marked as failed: the money came back and can be sent again.")
        elif step == "by-hand":
            refund_steps.mark_refund_done_by_hand(db, refund_id, method=method, note=note,
                                                  actor=actor, idem=idem)
            done = _("Marked as refunded by hand.")
        else:
            raise Refusal("request.invalid", detail="step: sent, confirmed, failed or by-hand")
    except Refusal as refusal:
        return _refunds_page(request, campaign_id, status=refusal.status, error=refusal)
    return _refunds_page(request, campaign_id, done=done)


# ------------------------------------------------------------------------ bank statement


def _import_page(request: AnyRequest, campaign_id: int, *, status: int = 200,
                 error: Refusal | None = None, plan: list[transfers.TransferMatch] | None = None,
                 applied: list[transfers.TransferApplied] | None = None,
                 rows_json: str = "", filename: str = "") -> Response[Any]:
    with services(request.app.state).db.read() as session:
        c = staff.campaign_or_refusal(session, campaign_id)
        session.expunge(c)
    matched = [m for m in plan or [] if m.status == transfers.MATCHED]
    return page(request, "cf_staff/bank_import.html", status=status, c=c, plan=plan,
                matched=matched, unmatched=[m for m in plan or [] if m.status != "matched"],
                applied=applied, rows_json=rows_json, filename=filename,
                status_names=transfers.STATUS_NAMES, name=staff.name,
                error=_error(request, error) if error else None)


@get("/admin/campaigns/{campaign_id:int}/bank-import", opt=READ, sync_to_thread=True,
     include_in_schema=False)
def bank_import(request: AnyRequest, campaign_id: int) -> Response[Any]:
    """Upload the bank's statement: every credit is matched to a pledge by reference and
    amount, and shown before anything is recorded."""
    return _import_page(request, campaign_id)


def _rows_of(rows: list[transfers.TransferRow]) -> str:
    return json.dumps([{"reference": r.reference, "amount": r.amount,
                        "date": r.date.isoformat(), "sender": r.sender} for r in rows],
                      ensure_ascii=False)


@post("/admin/campaigns/{campaign_id:int}/bank-import", opt=FORM, sync_to_thread=True,
      include_in_schema=False)
def bank_import_check(request: AnyRequest, campaign_id: int, data: Upload) -> Response[Any]:
    """Step 1: read the file, show matched and unmatched transfers; nothing is saved."""
    upload = data.get("file")
    try:
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise Refusal("request.invalid", detail="file")
        rows = transfers.read_statement(upload.filename, upload.file.read())
        with services(request.app.state).db.read() as session:
            staff.campaign_or_refusal(session, campaign_id)
            plan = transfers.plan_transfers(session, campaign_id, rows)
    except Refusal as refusal:
        return _import_page(request, campaign_id, status=refusal.status, error=refusal)
    return _import_page(request, campaign_id, plan=plan, rows_json=_rows_of(rows),
                        filename=upload.filename)


@post("/admin/campaigns/{campaign_id:int}/bank-import/confirm", opt=FORM, sync_to_thread=True,
      include_in_schema=False)
def bank_import_apply(request: AnyRequest, campaign_id: int, data: Form) -> Response[Any]:
    """Step 2: record the matched transfers (checked again now: a pledge is never paid
    twice, whatever was shown)."""
    try:
        raw = json.loads(data.get("rows", "[]"))
        rows = [transfers.TransferRow(r.get("reference") or None, int(r["amount"]),
                                      date.fromisoformat(r["date"]), str(r.get("sender", "")))
                for r in raw]
    except (ValueError, TypeError, KeyError, AttributeError):
        return _import_page(request, campaign_id, status=422,
                            error=Refusal("request.invalid", detail="rows"))
    try:
        with services(request.app.state).db.read() as session:
            staff.campaign_or_refusal(session, campaign_id)
        applied = transfers.apply_matched_transfers(services(request.app.state).db,
                                                    campaign_id, rows,
                                                    actor=_actor(request).scope)
    except Refusal as refusal:
        return _import_page(request, campaign_id, status=refusal.status, error=refusal)
    return _import_page(request, campaign_id, applied=applied)


route_handlers = [campaigns, new_campaign, campaign, save_campaign, campaign_go_live,
                  new_reward, save_reward, new_image, change_image, campaign_close, pledges,
                  pledges_export, pledge_paid, outcome,
                  decide, refunds, refund_step, bank_import, bank_import_check,
                  bank_import_apply]
