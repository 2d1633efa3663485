"""Tour invitations on the pages (``supporters/tours.py``): the committee's dates
(``/admin/campaigns/{id}/tours``), a supporter picking one on their page, and the door:
the QR code on the supporter's page opens ``/door/tour/{booking}/{mac}`` on a staff
member's phone (logged in as desk or admin), which records the arrival once."""

from __future__ import annotations

import base64
import io
from datetime import datetime
from typing import Annotated, Any

import segno
from litestar import Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect
from sqlalchemy import select

from oflocal import clock
from oflocal.crowdfunding import links, staff
from oflocal.crowdfunding.models import Pledge
from oflocal.errors import Refusal
from oflocal.supporters import tours
from oflocal.supporters.models import TourBooking, TourSlot
from oflocal.web.api.common import ADMIN, MONEY
from oflocal.web.pages.render import AnyRequest, page, page_lang, refusal_texts
from oflocal.web.security import current_actor
from oflocal.web.state import services

Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
READ = {"roles": MONEY}
EDIT = {"roles": ADMIN, "csrf": "form"}
DOOR = ("admin", "desk")


def qr_image(url: str) -> str:
    """The invitation's QR code as a PNG data URI (the page's CSP allows data: images)."""
    out = io.BytesIO()
    segno.make(url, error="m", micro=False).save(out, kind="png", scale=5, border=4)
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()


def door_url(secret: bytes, booking_id: int) -> str:
    return links.public_url() + tours.door_path(secret, booking_id)


# --------------------------------------------------------------------------- committee


def _tours_page(request: AnyRequest, campaign_id: int, *, status: int = 200,
                error: Refusal | None = None, values: dict[str, str] | None = None
                ) -> Response[Any]:
    db = services(request.app.state).db
    with db.read() as session:
        view = staff.campaign_view(session, campaign_id)
        booked = session.execute(
            select(TourBooking, Pledge.supporter_name, Pledge.reference)
            .join(TourSlot, TourSlot.id == TourBooking.slot_id)
            .join(Pledge, Pledge.id == TourBooking.pledge_id)
            .where(TourSlot.campaign_id == campaign_id)
            .order_by(TourBooking.slot_id, TourBooking.id)).all()
    by_slot: dict[int, list[Any]] = {}
    for booking, name, reference in booked:
        by_slot.setdefault(booking.slot_id, []).append((booking, name, reference))
    return page(request, "cf_staff/tours.html", status=status, c=view.campaign,
                slots=tours.slots(db, campaign_id), bookings=by_slot,
                values=values or {"title": "", "place": "", "starts_at": "", "capacity": ""},
                error=refusal_texts(error, page_lang(request)) if error else None, done=None)


@get("/admin/campaigns/{campaign_id:int}/tours", opt=READ, sync_to_thread=True,
     include_in_schema=False)
def tours_page(request: AnyRequest, campaign_id: int) -> Response[Any]:
    return _tours_page(request, campaign_id)


@post("/admin/campaigns/{campaign_id:int}/tours", opt=EDIT, sync_to_thread=True,
      include_in_schema=False, status_code=200)
def add_tour_date(request: AnyRequest, campaign_id: int, data: Form) -> Response[Any]:
    values = {k: data.get(k, "").strip() for k in ("title", "place", "starts_at", "capacity")}
    try:
        try:
            when = datetime.fromisoformat(values["starts_at"]).replace(tzinfo=clock.TOKYO)
            capacity = int(values["capacity"])
        except ValueError:
            raise Refusal("tour.invalid", detail="date and time, and a number of people") \
                from None
        tours.add_slot(services(request.app.state).db, campaign_id, title=values["title"],
                       place=values["place"], starts_at=when, capacity=capacity)
    except Refusal as refusal:
        return _tours_page(request, campaign_id, status=refusal.status, error=refusal,
                           values=values)
    return Redirect(f"/admin/campaigns/{campaign_id}/tours", status_code=303)


# --------------------------------------------------------------------------- at the door


def _door(request: AnyRequest, booking_id: int, token: str, *, status: int = 200,
          error: Refusal | None = None, done: bool = False) -> Response[Any]:
    s = services(request.app.state)
    seen = tours.arrival(s.db, s.settings.secret_key, booking_id, token)
    return page(request, "door.html", status=status, a=seen, done=done,
                action=tours.door_path(s.settings.secret_key, booking_id),
                error=refusal_texts(error, page_lang(request)) if error else None)


@get("/door/tour/{booking_id:int}/{token:str}", opt={"roles": DOOR}, sync_to_thread=True,
     include_in_schema=False)
def door(request: AnyRequest, booking_id: int, token: str) -> Response[Any]:
    """What the scanned invitation is, and the button that lets them in."""
    return _door(request, booking_id, token)


@post("/door/tour/{booking_id:int}/{token:str}", opt={"roles": DOOR, "csrf": "form"},
      sync_to_thread=True, include_in_schema=False, status_code=200)
def door_check_in(request: AnyRequest, booking_id: int, token: str) -> Response[Any]:
    s = services(request.app.state)
    actor = current_actor(request)
    assert actor is not None
    try:
        tours.check_in(s.db, s.settings.secret_key, booking_id, token, actor=actor.scope)
    except Refusal as refusal:
        if refusal.code == "tour.code_invalid":
            raise
        return _door(request, booking_id, token, status=refusal.status, error=refusal)
    return _door(request, booking_id, token, done=True)


route_handlers = [tours_page, add_tour_date, door, door_check_in]
