"""The desk hands over a crowdfunding return's voucher booklets (``supporters/pickup.py``).

``/desk/pickup`` takes what the scanner reads from the supporter's pickup QR code (the
whole link) and opens ``/desk/pickup/{pledge}/{mac}``; a phone's camera opens that link
directly. The page says who it is and how many booklets of which programme they are
owed; staff scan the covers of that many printed booklets and press the button. A code
already collected is refused with when, where and by whom. The form carries a key made
when the page was drawn, so a double tap or a resent form hands over once.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any
from urllib.parse import quote, unquote

from litestar import Response, get, post
from litestar.datastructures import Cookie
from litestar.enums import RequestEncodingType
from litestar.params import Body, Parameter
from litestar.response import Redirect

from oflocal.errors import Refusal
from oflocal.idempotency.store import IdempotencyKey, request_hash
from oflocal.supporters import pickup
from oflocal.web.api.common import DESK
from oflocal.web.pages.render import AnyRequest, page, page_lang, refusal_texts
from oflocal.web.security import current_actor
from oflocal.web.state import services

Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
PLACE_COOKIE = "oflocal_desk_place"  # the desk's name, remembered on this device


def _scan_page(request: AnyRequest, *, status: int = 200, error: Refusal | None = None,
               code: str = "") -> Response[Any]:
    return page(request, "desk_pickup_scan.html", status=status, code=code[:300],
                error=refusal_texts(error, page_lang(request)) if error else None)


@get("/desk/pickup", opt={"roles": DESK}, sync_to_thread=True, include_in_schema=False)
def scan(request: AnyRequest,
         code: str = Parameter(query="code", default="", max_length=300)) -> Response[Any]:
    """Scan the supporter's pickup code; a readable one opens its page."""
    if not code.strip():
        return _scan_page(request)
    found = pickup.read_scan(code)
    if found is None:
        return _scan_page(request, status=404, error=Refusal("pickup.code_invalid"), code=code)
    return Redirect(f"/desk/pickup/{found[0]}/{found[1]}", status_code=303)


def _pickup_page(request: AnyRequest, pledge_id: int, token: str, *, status: int = 200,
                 error: Refusal | None = None, done: dict[str, Any] | None = None,
                 values: dict[str, str] | None = None,
                 cookies: list[Cookie] | None = None) -> Response[Any]:
    s = services(request.app.state)
    view = pickup.look_up(s.db, s.settings.secret_key, pledge_id, token)
    lang = page_lang(request)
    shown = error or (view.blocker if not done else None)
    return page(request, "desk_pickup.html", status=status, cookies=cookies or [], v=view,
                done=done, action=pickup.pickup_path(s.settings.secret_key, pledge_id),
                form_key=secrets.token_urlsafe(16),
                values=values or {"booklets": "",
                                  "place": unquote(request.cookies.get(PLACE_COOKIE, ""))[:100]},
                error=refusal_texts(shown, lang) if shown else None)


@get("/desk/pickup/{pledge_id:int}/{token:str}", opt={"roles": DESK}, sync_to_thread=True,
     include_in_schema=False)
def pickup_page(request: AnyRequest, pledge_id: int, token: str) -> Response[Any]:
    """Who the scanned code is, what they are owed, and the form that hands it over."""
    return _pickup_page(request, pledge_id, token)


@post("/desk/pickup/{pledge_id:int}/{token:str}", opt={"roles": DESK, "csrf": "form"},
      sync_to_thread=True, include_in_schema=False, status_code=200)
def hand_over(request: AnyRequest, pledge_id: int, token: str, data: Form) -> Response[Any]:
    s = services(request.app.state)
    actor = current_actor(request)
    assert actor is not None
    values = {"booklets": data.get("booklets", "")[:5000], "place": data.get("place", "")}
    codes = [line.strip() for line in values["booklets"].splitlines() if line.strip()]
    key = data.get("form_key", "")[:64] or secrets.token_urlsafe(16)
    idem = IdempotencyKey(actor.scope, f"pickup-page-{key}",
                          request_hash("pickup", pledge_id, codes, values["place"].strip()))
    try:
        outcome = pickup.collect(s.db, s.signer, s.settings.secret_key, pledge_id, token,
                                 codes=codes, place=values["place"], actor=actor.scope,
                                 idem=idem)
    except Refusal as refusal:
        if refusal.code == "pickup.code_invalid":
            raise
        return _pickup_page(request, pledge_id, token, status=refusal.status, error=refusal,
                            values=values)
    place = Cookie(key=PLACE_COOKIE, value=quote(outcome.body["place"]), path="/desk",
                   max_age=60 * 60 * 24 * 30, httponly=True, samesite="strict",
                   secure=request.url.scheme == "https")
    return _pickup_page(request, pledge_id, token, done=outcome.body, cookies=[place])


route_handlers = [scan, pickup_page, hand_over]
