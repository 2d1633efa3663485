"""A campaign's pictures on the web: the routes that serve them.

``/c/{event}/{campaign}/images/{number}``: public, for a campaign the public can see
(never a draft: ``campaign.not_found``, 404). ``/admin/campaigns/{id}/images/{number}``:
for staff, any state, so the editor's preview shows a draft's pictures. The bytes of a
picture never change under its number (never given to another), and its URLs carry
``?v=<sha256 prefix>``: with that version the answer may be kept a year (``immutable``);
without it, an hour. The ETag is the picture's SHA-256, so a browser that asks again
gets ``304 Not Modified``. Pictures are not gzipped (they are compressed already).

The URLs and the layout of a page's pictures are in ``web/pictures.py``.
"""

from __future__ import annotations

from typing import Any

from litestar import Response, get
from litestar.params import Parameter

from oflocal.crowdfunding import images as campaign_images
from oflocal.crowdfunding import public
from oflocal.crowdfunding.models import CampaignImage
from oflocal.crowdfunding.staff import campaign_or_refusal
from oflocal.errors import Refusal
from oflocal.web.api.common import MONEY
from oflocal.web.pages.render import AnyRequest
from oflocal.web.pictures import version
from oflocal.web.state import services

YEAR = 365 * 24 * 3600
SERVE = {"no_compression": True}


def _serve(request: AnyRequest, image: CampaignImage, v: str | None, *,
           public_cache: bool) -> Response[Any]:
    if v is not None and v != version(image):
        raise Refusal("image.not_found")  # not this picture's version: never cached as it
    scope = "public" if public_cache else "private"
    headers = {
        "ETag": f'"{image.sha256}"',
        "Cache-Control": f"{scope}, max-age={YEAR}, immutable" if v else
        f"{scope}, max-age=3600",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
    }
    sent = request.headers.get("if-none-match", "")
    if f'"{image.sha256}"' in sent or sent.strip() == "*":
        return Response(content=b"", status_code=304, headers=headers)
    return Response(content=image.data, media_type=image.content_type, headers=headers)


@get("/c/{event_slug:str}/{campaign_slug:str}/images/{number:int}", sync_to_thread=True,
     include_in_schema=False, opt=SERVE)
def public_image(request: AnyRequest, event_slug: str, campaign_slug: str, number: int,
                 v: str | None = Parameter(query="v", default=None, max_length=64)
                 ) -> Response[Any]:
    """A picture of a public campaign (a draft's are not found)."""
    with services(request.app.state).db.read() as session:
        _event, campaign = public.find_campaign(session, event_slug, campaign_slug)
        image = campaign_images.image_by_number(session, campaign.id, number)
        session.expunge(image)
    return _serve(request, image, v, public_cache=True)


@get("/admin/campaigns/{campaign_id:int}/images/{number:int}", sync_to_thread=True,
     include_in_schema=False, opt={**SERVE, "roles": MONEY})
def staff_image(request: AnyRequest, campaign_id: int, number: int,
                v: str | None = Parameter(query="v", default=None, max_length=64)
                ) -> Response[Any]:
    """A picture of any campaign, drafts included (the editor's preview)."""
    with services(request.app.state).db.read() as session:
        campaign_or_refusal(session, campaign_id)
        image = campaign_images.image_by_number(session, campaign_id, number)
        session.expunge(image)
    return _serve(request, image, v, public_cache=False)


route_handlers = [public_image, staff_image]
