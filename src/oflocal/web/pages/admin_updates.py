"""Updates (活動報告) for the committee: write a draft with a preview, choose who reads it
(everyone, supporters, supporters of some returns) and whether it is e-mailed, publish it
once, and watch the mailing (queued, sent, failed of how many) with a progress bar that
``updates.js`` refreshes from ``…/progress``."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect
from sqlalchemy import select

from oflocal.crowdfunding import staff
from oflocal.crowdfunding.models import Reward
from oflocal.errors import Refusal
from oflocal.supporters import updates
from oflocal.supporters.models import CampaignUpdate
from oflocal.web.api.common import ADMIN, MONEY
from oflocal.web.pages.render import AnyRequest, page, page_lang, refusal_texts
from oflocal.web.security import current_actor
from oflocal.web.state import services
from oflocal.web.story import render_story

Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
READ = {"roles": MONEY}
EDIT = {"roles": ADMIN, "csrf": "form"}


def _fields(request: AnyRequest, data: Form) -> dict[str, Any]:
    chosen = [int(k.removeprefix("reward_")) for k in data if k.startswith("reward_")
              and k.removeprefix("reward_").isdigit()]
    audience = data.get("audience", "public")
    # Returns ticked and then another audience chosen: the audience decides.
    return {"title": data.get("title", ""), "body": data.get("body", ""),
            "audience": audience, "reward_ids": chosen if audience == "rewards" else [],
            "send_mail": data.get("send_mail") == "yes"}


def _page(request: AnyRequest, campaign_id: int, *, update_id: int | None = None,
          status: int = 200, error: Refusal | None = None,
          values: dict[str, Any] | None = None, preview: bool = False) -> Response[Any]:
    db = services(request.app.state).db
    with db.read() as session:
        view = staff.campaign_view(session, campaign_id)
        rewards = session.execute(select(Reward.id, Reward.number, Reward.title).where(
            Reward.campaign_id == campaign_id).order_by(Reward.number)).all()
        rows = session.execute(select(CampaignUpdate).where(
            CampaignUpdate.campaign_id == campaign_id).order_by(CampaignUpdate.number.desc())
        ).scalars().all()
        for row in rows:
            session.expunge(row)
    current = next((r for r in rows if r.id == update_id), None)
    if values is None:
        values = ({"title": current.title, "body": current.body, "audience": current.audience,
                   "reward_ids": current.reward_ids, "send_mail": current.send_mail}
                  if current else {"title": "", "body": "", "audience": "public",
                                   "reward_ids": [], "send_mail": True})
    progress = {r.id: updates.mailing_progress(db, r.id) for r in rows if r.published_at}
    lang = page_lang(request)
    return page(request, "cf_staff/updates.html", status=status, c=view.campaign,
                updates=rows, current=current, values=values, rewards=rewards,
                progress=progress, audiences=updates.AUDIENCE_NAMES,
                side=0 if lang == "ja" else 1,
                preview=render_story(values["body"]) if preview else None,
                shown=render_story(current.body) if current and current.published_at else None,
                error=refusal_texts(error, lang) if error else None, done=None)


@get("/admin/campaigns/{campaign_id:int}/updates", opt=READ, sync_to_thread=True,
     include_in_schema=False)
def updates_page(request: AnyRequest, campaign_id: int) -> Response[Any]:
    return _page(request, campaign_id)


@get("/admin/updates/{update_id:int}", opt=READ, sync_to_thread=True, include_in_schema=False)
def update_page(request: AnyRequest, update_id: int) -> Response[Any]:
    return _page(request, _campaign_of(request, update_id), update_id=update_id)


def _campaign_of(request: AnyRequest, update_id: int) -> int:
    with services(request.app.state).db.read() as session:
        campaign_id = session.execute(select(CampaignUpdate.campaign_id).where(
            CampaignUpdate.id == update_id)).scalar_one_or_none()
    if campaign_id is None:
        raise Refusal("update.not_found")
    return int(campaign_id)


@post("/admin/campaigns/{campaign_id:int}/updates", opt=EDIT, sync_to_thread=True,
      include_in_schema=False, status_code=200)
def new_update(request: AnyRequest, campaign_id: int, data: Form) -> Response[Any]:
    """``action=preview`` shows the story as supporters will read it; otherwise saves a
    draft."""
    fields = _fields(request, data)
    if data.get("action") == "preview":
        return _page(request, campaign_id, values=fields, preview=True)
    actor = current_actor(request)
    assert actor is not None
    try:
        made = updates.write_update(services(request.app.state).db, campaign_id,
                                    author=actor.scope, **fields)
    except Refusal as refusal:
        return _page(request, campaign_id, status=refusal.status, error=refusal, values=fields)
    return Redirect(f"/admin/updates/{made}", status_code=303)


@post("/admin/updates/{update_id:int}", opt=EDIT, sync_to_thread=True,
      include_in_schema=False, status_code=200)
def save_update(request: AnyRequest, update_id: int, data: Form) -> Response[Any]:
    campaign_id = _campaign_of(request, update_id)
    fields = _fields(request, data)
    if data.get("action") == "preview":
        return _page(request, campaign_id, update_id=update_id, values=fields, preview=True)
    try:
        updates.edit_update(services(request.app.state).db, update_id, **fields)
    except Refusal as refusal:
        return _page(request, campaign_id, update_id=update_id, status=refusal.status,
                     error=refusal, values=fields)
    return Redirect(f"/admin/updates/{update_id}", status_code=303)


@post("/admin/updates/{update_id:int}/publish", opt=EDIT, sync_to_thread=True,
      include_in_schema=False)
def publish(request: AnyRequest, update_id: int) -> Response[Any]:
    """Publish (once; a second press changes nothing) and start its mailing."""
    updates.publish_update(services(request.app.state).db, update_id)
    return Redirect(f"/admin/updates/{update_id}#mailing", status_code=303)


@get("/admin/updates/{update_id:int}/progress", opt=READ, sync_to_thread=True,
     include_in_schema=False)
def progress(request: AnyRequest, update_id: int) -> dict[str, Any]:
    p = updates.mailing_progress(services(request.app.state).db, update_id)
    return {"recipients": p.recipients, "queued": p.queued, "sent": p.sent,
            "failed": p.failed, "all_queued": p.all_queued, "percent": p.percent}


route_handlers = [updates_page, update_page, new_update, save_update, publish, progress]
