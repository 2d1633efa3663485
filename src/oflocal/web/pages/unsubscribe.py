"""Stop a campaign's updates from reaching an address: the link in every update e-mail
(``supporters/updates.py``), no sign-in. Opening it shows a button; the mail program's
one-click unsubscribe (RFC 8058) POSTs to the same address without a form, so the POST
takes no CSRF token: the link's MAC is the key, and all it can do is stop updates."""

from __future__ import annotations

from typing import Any

from litestar import Response, get, post
from sqlalchemy import select

from oflocal.crowdfunding.models import Campaign
from oflocal.errors import Refusal
from oflocal.supporters import updates
from oflocal.web.pages.render import AnyRequest, page
from oflocal.web.state import services

PATH = "/updates/unsubscribe/{campaign_id:int}/{token:str}"


def _campaign_title(request: AnyRequest, campaign_id: int) -> str:
    with services(request.app.state).db.read() as session:
        title = session.execute(select(Campaign.title).where(
            Campaign.id == campaign_id)).scalar_one_or_none()
    if title is None:
        raise Refusal("update.link_invalid")
    return str(title)


@get(PATH, sync_to_thread=True, include_in_schema=False)
def unsubscribe_page(request: AnyRequest, campaign_id: int, token: str) -> Response[Any]:
    s = services(request.app.state)
    email = updates.address_of(s.settings.secret_key, campaign_id, token)
    return page(request, "unsubscribe.html", title=_campaign_title(request, campaign_id),
                email=email, done=False, action=updates.unsubscribe_path(campaign_id, token))


@post(PATH, opt={"csrf": "none"}, sync_to_thread=True, include_in_schema=False,
      status_code=200)
def unsubscribe(request: AnyRequest, campaign_id: int, token: str) -> Response[Any]:
    s = services(request.app.state)
    title = _campaign_title(request, campaign_id)
    email = updates.unsubscribe(s.db, s.settings.secret_key, campaign_id, token)
    return page(request, "unsubscribe.html", title=title, email=email, done=True, action="")


route_handlers = [unsubscribe_page, unsubscribe]
