"""The supporter's own page (``/my``): sign in by an e-mailed link, then every pledge
made with that address, across campaigns and years (``supporters/``).

No password and no staff session: the supporter's session cookie is its own
(:data:`COOKIE`, HttpOnly, SameSite=Lax so the e-mailed link works). The link opens a
page with a button; only pressing it spends the link, so a mail scanner that fetches
links does not sign anyone in or use the link up. Forms double-submit the login
forms' CSRF cookie.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Response, get, post
from litestar.datastructures import Cookie
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Stream

from oflocal import clock
from oflocal.crowdfunding import links
from oflocal.errors import Refusal
from oflocal.idempotency.store import IdempotencyKey, request_hash
from oflocal.supporters import changes, fulfilment, overview, pickup, signin, tours
from oflocal.supporters.receipt import receipt_for
from oflocal.supporters.receipt_pdf import receipt_pdf
from oflocal.web.api.common import download_headers
from oflocal.web.pages.render import (
    AnyRequest,
    login_csrf_cookie,
    page,
    page_lang,
    refusal_texts,
)
from oflocal.web.pages.supporters import PREFECTURES, form_answers, result_path
from oflocal.web.pages.tours import door_url, qr_image
from oflocal.web.state import services

Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
PUBLIC = {"csrf": "form"}
COOKIE = signin.COOKIE
SCOPE = "supporter"


def _who(request: AnyRequest) -> signin.SignedIn | None:
    return signin.signed_in(services(request.app.state).db, request.cookies.get(COOKIE))


def _signin_page(request: AnyRequest, *, status: int = 200, error: Refusal | None = None,
                 email: str = "", sent: bool = False) -> Response[Any]:
    csrf, cookie = login_csrf_cookie(request)
    return page(request, "my/signin.html", status=status, cookies=[cookie], form_csrf=csrf,
                email=email, sent=sent,
                error=refusal_texts(error, page_lang(request)) if error else None)


def _mine_page(request: AnyRequest, who: signin.SignedIn, *, status: int = 200,
               error: Refusal | None = None, error_pledge: int | None = None,
               values: dict[str, str] | None = None, saved: int | None = None) -> Response[Any]:
    s = services(request.app.state)
    lang = page_lang(request)
    csrf, cookie = login_csrf_cookie(request)
    pledges = overview.my_pledges(s.db, who.email, lang)
    result_links = {p.id: result_path(s, p.event_slug, p.campaign_slug, p.id)
                    for p in pledges}
    tour_dates = {p.campaign_id: tours.slots(s.db, p.campaign_id)
                  for p in pledges if p.invited}
    booked = {p.id: tours.booking_of(s.db, p.id) for p in pledges if p.invited}
    codes = {pid: qr_image(door_url(s.settings.secret_key, b.booking_id))
             for pid, b in booked.items() if b is not None}
    collectors = [p.id for p in pledges if p.booklets]
    collected = pickup.collected_of(s.db, collectors)
    pickup_codes = {pid: qr_image(links.public_url()
                                  + pickup.pickup_path(s.settings.secret_key, pid))
                    for pid in collectors if pid not in collected}
    return page(request, "my/pledges.html", status=status, cookies=[cookie], form_csrf=csrf,
                email=who.email, pledges=pledges, result_links=result_links,
                tour_dates=tour_dates, booked=booked, codes=codes, now=clock.now(),
                collected=collected, pickup_codes=pickup_codes,
                delivered=fulfilment.deliveries_of(s.db, [p.id for p in pledges]),
                prefectures=PREFECTURES, saved=saved, error_pledge=error_pledge,
                error=refusal_texts(error, lang) if error else None, posted=values or {})


@get("/my", sync_to_thread=True, include_in_schema=False)
def my_page(request: AnyRequest) -> Response[Any]:
    """Signed in: the pledges; otherwise the form that asks for a sign-in link."""
    who = _who(request)
    return _mine_page(request, who) if who else _signin_page(request)


@post("/my/signin", opt=PUBLIC, sync_to_thread=True, include_in_schema=False, status_code=200)
def ask_for_link(request: AnyRequest, data: Form) -> Response[Any]:
    """Mail a link if the address has pledged; the same page either way."""
    email = data.get("email", "").strip()
    client = request.client.host if request.client else "unknown"
    try:
        signin.request_link(services(request.app.state).db, email, client=client,
                            lang=page_lang(request))
    except Refusal as refusal:
        return _signin_page(request, status=refusal.status, error=refusal, email=email[:254])
    return _signin_page(request, email=email[:254], sent=True)


@get("/my/signin/{token:str}", sync_to_thread=True, include_in_schema=False)
def link_page(request: AnyRequest, token: str) -> Response[Any]:
    """The e-mailed link: a button that signs in (fetching the link spends nothing)."""
    if not signin.link_is_usable(services(request.app.state).db, token):
        raise Refusal("signin.link_invalid")
    csrf, cookie = login_csrf_cookie(request)
    return page(request, "my/confirm.html", cookies=[cookie], form_csrf=csrf, token=token)


@post("/my/signin/{token:str}", opt=PUBLIC, sync_to_thread=True, include_in_schema=False)
def use_link(request: AnyRequest, token: str) -> Response[Any]:
    s = services(request.app.state)
    opened = signin.use_link(s.db, token)
    cookie = Cookie(key=COOKIE, value=opened.token, httponly=True, samesite="lax",
                    secure=s.settings.secure_cookies, path="/",
                    max_age=int(signin.SESSION_LIFETIME.total_seconds()))
    return Redirect("/my", status_code=303, cookies=[cookie])


@post("/my/signout", opt=PUBLIC, sync_to_thread=True, include_in_schema=False)
def sign_out(request: AnyRequest) -> Response[Any]:
    token = request.cookies.get(COOKIE)
    if token:
        signin.sign_out(services(request.app.state).db, token)
    gone = Cookie(key=COOKIE, value="", max_age=0, path="/", httponly=True)
    return Redirect("/my", status_code=303, cookies=[gone])


def _signed_in(request: AnyRequest) -> signin.SignedIn:
    who = _who(request)
    if who is None:
        raise Refusal("signin.required")
    return who


@post("/my/pledges/{pledge_id:int}/answers", opt=PUBLIC, sync_to_thread=True,
      include_in_schema=False, status_code=200)
def correct_answers(request: AnyRequest, pledge_id: int, data: Form) -> Response[Any]:
    """Correct the handle, wall name or postal address (until fulfilment is locked)."""
    who = _signed_in(request)
    try:
        changes.correct_answers(services(request.app.state).db, who.email, pledge_id,
                                form_answers(data))
    except Refusal as refusal:
        return _mine_page(request, who, status=refusal.status, error=refusal,
                          error_pledge=pledge_id, values=dict(data))
    return _mine_page(request, who, saved=pledge_id)


@post("/my/pledges/{pledge_id:int}/cancel", opt=PUBLIC, sync_to_thread=True,
      include_in_schema=False)
def cancel(request: AnyRequest, pledge_id: int, data: Form) -> Response[Any]:
    """Withdraw an unpaid pledge (a double tap cancels once: the form's key)."""
    who = _signed_in(request)
    key = data.get("key", "")
    idem = None
    if key:
        body = {"pledge_id": pledge_id, "email": who.email}
        idem = IdempotencyKey(SCOPE, f"cancel:{key}"[:200], request_hash(body))
    try:
        changes.cancel_mine(services(request.app.state).db, who.email, pledge_id, idem=idem)
    except Refusal as refusal:
        return _mine_page(request, who, status=refusal.status, error=refusal,
                          error_pledge=pledge_id)
    return Redirect(f"/my#pledge-{pledge_id}", status_code=303)


@post("/my/pledges/{pledge_id:int}/tour", opt=PUBLIC, sync_to_thread=True,
      include_in_schema=False)
def pick_tour_date(request: AnyRequest, pledge_id: int, data: Form) -> Response[Any]:
    """Book (or move) the tour invitation to the date chosen."""
    who = _signed_in(request)
    try:
        slot = int(data.get("slot", ""))
    except ValueError:
        slot = 0
    try:
        tours.book(services(request.app.state).db, who.email, pledge_id, slot)
    except Refusal as refusal:
        return _mine_page(request, who, status=refusal.status, error=refusal,
                          error_pledge=pledge_id)
    return Redirect(f"/my#pledge-{pledge_id}", status_code=303)


@get("/my/pledges/{pledge_id:int}/receipt.pdf", sync_to_thread=True, include_in_schema=False)
def receipt(request: AnyRequest, pledge_id: int) -> Stream:
    """The receipt (領収書) of a paid pledge, as a PDF."""
    who = _signed_in(request)
    facts = receipt_for(services(request.app.state).db, who.email, pledge_id)
    name = f"receipt-{facts.number}.pdf"
    return Stream(receipt_pdf(facts), media_type="application/pdf",
                  headers=download_headers("application/pdf", name))


route_handlers = [my_page, ask_for_link, link_page, use_link, sign_out, correct_answers,
                  cancel, pick_tour_date, receipt]
