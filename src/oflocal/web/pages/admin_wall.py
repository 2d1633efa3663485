"""The supporters' wall for the committee (``supporters/wall.py``): every name with its
return, hide or show an abusive one, and the wall as a poster (PDF: A4 sheets, A2 or A1)
or a CSV for the committee's website."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, Parameter
from litestar.response import Redirect, Stream
from sqlalchemy import select

from oflocal.crowdfunding import staff
from oflocal.crowdfunding.models import Pledge
from oflocal.errors import Refusal
from oflocal.reports.csvout import encoding_of
from oflocal.supporters.wall import hide_name, wall, wall_csv, wall_heading
from oflocal.supporters.wall_pdf import SIZES, wall_pdf
from oflocal.web.api.common import ADMIN, MONEY, csv_media_type, download_headers
from oflocal.web.pages.render import AnyRequest, page
from oflocal.web.state import services

Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
READ = {"roles": MONEY}
EDIT = {"roles": ADMIN, "csrf": "form"}


@get("/admin/campaigns/{campaign_id:int}/wall", opt=READ, sync_to_thread=True,
     include_in_schema=False)
def wall_page(request: AnyRequest, campaign_id: int) -> Response[Any]:
    db = services(request.app.state).db
    with db.read() as session:
        view = staff.campaign_view(session, campaign_id)
    return page(request, "cf_staff/wall.html", c=view.campaign, groups=wall(db, campaign_id),
                sizes=list(SIZES), error=None, done=None)


@post("/admin/pledges/{pledge_id:int}/wall", opt=EDIT, sync_to_thread=True,
      include_in_schema=False)
def wall_hide(request: AnyRequest, pledge_id: int, data: Form) -> Response[Any]:
    """``hidden=1`` hides the name (it counts as anonymous), ``hidden=0`` shows it."""
    db = services(request.app.state).db
    hide_name(db, pledge_id, hidden=data.get("hidden") == "1")
    with db.read() as session:
        campaign_id = session.execute(
            select(Pledge.campaign_id).where(Pledge.id == pledge_id)).scalar_one()
    return Redirect(f"/admin/campaigns/{campaign_id}/wall#p{pledge_id}", status_code=303)


@get("/admin/campaigns/{campaign_id:int}/wall.pdf", opt=READ, sync_to_thread=True,
     include_in_schema=False)
def wall_poster(request: AnyRequest, campaign_id: int,
                size: str = Parameter(query="size", default="a4", max_length=2)) -> Stream:
    if size not in SIZES:
        raise Refusal("request.invalid", detail=f"size: one of {', '.join(SIZES)}")
    db = services(request.app.state).db
    title, committee = wall_heading(db, campaign_id)
    name = f"wall-{campaign_id}-{size}.pdf"
    return Stream(wall_pdf(title, committee, wall(db, campaign_id), size),
                  media_type="application/pdf",
                  headers=download_headers("application/pdf", name))


@get("/admin/campaigns/{campaign_id:int}/wall.csv", opt=READ, sync_to_thread=True,
     include_in_schema=False)
def wall_export(request: AnyRequest, campaign_id: int,
                encoding: str = Parameter(query="encoding", default="utf-8",
                                          max_length=20)) -> Stream:
    wall_heading(services(request.app.state).db, campaign_id)  # 404 for no campaign
    try:
        codec = encoding_of(encoding)
    except ValueError as error:
        raise Refusal("request.invalid", detail=str(error)) from None
    media = csv_media_type(codec)
    groups = wall(services(request.app.state).db, campaign_id)
    return Stream(wall_csv(groups, codec), media_type=media,
                  headers=download_headers(media, f"wall-{campaign_id}.csv"))


route_handlers = [wall_page, wall_hide, wall_poster, wall_export]
