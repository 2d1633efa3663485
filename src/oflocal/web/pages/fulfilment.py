"""The returns, delivered (``supporters/fulfilment.py``): per campaign, who is owed
thanks on social media and goods, what is done, bulk marking, the carriers' shipping
lists (Yamato B2 Cloud, Japan Post click post) and everything owed as CSV or XLSX; and
the supporters' club member list by year (CSV or XLSX)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from litestar import Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, Parameter
from litestar.response import Redirect, Stream

from oflocal import clock
from oflocal.crowdfunding import staff
from oflocal.errors import Refusal
from oflocal.events.models import Event
from oflocal.supporters import fulfilment
from oflocal.web.api.common import ADMIN, MONEY, csv_media_type, download_headers
from oflocal.web.openapi import XLSX
from oflocal.web.pages.render import AnyRequest, page, page_lang, refusal_texts
from oflocal.web.security import current_actor
from oflocal.web.state import services

Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
READ = {"roles": MONEY}
EDIT = {"roles": ADMIN, "csrf": "form"}
SJIS = csv_media_type("cp932")


def _page(request: AnyRequest, campaign_id: int, *, status: int = 200,
          error: Refusal | None = None, done: str | None = None) -> Response[Any]:
    db = services(request.app.state).db
    with db.read() as session:
        view = staff.campaign_view(session, campaign_id)
        event = session.get(Event, view.campaign.event_id)
    assert event is not None
    return page(request, "cf_staff/fulfilment.html", status=status, c=view.campaign,
                sns=fulfilment.owed(db, campaign_id, "sns_thanks"),
                goods=fulfilment.owed(db, campaign_id, "goods"),
                booklets=fulfilment.booklets_to_collect(db, campaign_id),
                unshippable=fulfilment.clickpost(db, campaign_id).refused,
                carriers=fulfilment.CARRIERS, event=event,
                today=clock.tokyo_date(clock.now()).isoformat(),
                year=clock.tokyo_date(clock.now()).year,
                error=refusal_texts(error, page_lang(request)) if error else None, done=done)


@get("/admin/campaigns/{campaign_id:int}/fulfilment", opt=READ, sync_to_thread=True,
     include_in_schema=False)
def fulfilment_page(request: AnyRequest, campaign_id: int) -> Response[Any]:
    return _page(request, campaign_id)


@post("/admin/campaigns/{campaign_id:int}/fulfilment/{item:str}", opt=EDIT,
      sync_to_thread=True, include_in_schema=False, status_code=200)
def mark(request: AnyRequest, campaign_id: int, item: str, data: Form) -> Response[Any]:
    """Mark the pledges ticked (``p_<id>``) as posted (``url``) or one pledge shipped
    (``pledge``, ``tracking``, ``carrier``)."""
    actor = current_actor(request)
    assert actor is not None
    if item == "goods":
        ids = [int(data["pledge"])] if data.get("pledge", "").isdigit() else []
        detail, carrier = data.get("tracking", ""), data.get("carrier")
    else:
        ids = [int(k[2:]) for k in data if k.startswith("p_") and k[2:].isdigit()]
        detail, carrier = data.get("url", ""), None
    try:
        count = fulfilment.mark_done(services(request.app.state).db, campaign_id, ids, item,
                                     detail=detail, carrier=carrier, actor=actor.scope)
    except Refusal as refusal:
        return _page(request, campaign_id, status=refusal.status, error=refusal)
    return Redirect(f"/admin/campaigns/{campaign_id}/fulfilment?marked={count}#{item}",
                    status_code=303)


@get("/admin/campaigns/{campaign_id:int}/shipping/{carrier:str}", opt=READ,
     sync_to_thread=True, include_in_schema=False)
def shipping_list(request: AnyRequest, campaign_id: int, carrier: str,
                  customer_code: str = Parameter(query="customer_code", default="",
                                                 max_length=12),
                  freight_number: str = Parameter(query="freight_number", default="01",
                                                  max_length=2),
                  ship_on: date | None = Parameter(query="ship_on", default=None),
                  sender_postal_code: str = Parameter(query="sender_postal_code", default="",
                                                      max_length=8)) -> Stream:
    """Goods not shipped yet, for the carrier's label software (Shift_JIS)."""
    db = services(request.app.state).db
    if carrier == "yamato-b2":
        with db.read() as session:
            view = staff.campaign_view(session, campaign_id)
            event = session.get(Event, view.campaign.event_id)
        assert event is not None
        if not sender_postal_code.replace("-", "").isdigit():
            raise Refusal("fulfilment.invalid", detail="ご依頼主郵便番号: 7 digits")
        sender = fulfilment.Sender(
            name=view.campaign.seller or event.committee_name,
            postal_code=sender_postal_code.replace("-", ""),
            address=view.campaign.address or event.committee_address,
            phone=view.campaign.phone or event.committee_phone,
            customer_code=customer_code, freight_number=freight_number)
        sheet = fulfilment.yamato_b2(db, campaign_id, sender,
                                     ship_on or clock.tokyo_date(clock.now()))
    elif carrier == "clickpost":
        sheet = fulfilment.clickpost(db, campaign_id)
    else:
        raise Refusal("request.invalid", detail="carrier: yamato-b2 or clickpost")
    return Stream(fulfilment.shipping_csv(sheet), media_type=SJIS,
                  headers=download_headers(SJIS, f"{carrier}-{campaign_id}.csv"))


def _owed_file(request: AnyRequest, campaign_id: int, fmt: str) -> Stream:
    db = services(request.app.state).db
    with db.read() as session:
        staff.campaign_view(session, campaign_id)  # 404 for no campaign
    name = f"fulfilment-{campaign_id}.{fmt}"
    if fmt == "xlsx":
        return Stream(fulfilment.owed_xlsx(db, campaign_id), media_type=XLSX,
                      headers=download_headers(XLSX, name))
    media = csv_media_type("utf-8-sig")
    return Stream(fulfilment.owed_csv(db, campaign_id), media_type=media,
                  headers=download_headers(media, name))


@get("/admin/campaigns/{campaign_id:int}/fulfilment.csv", opt=READ, sync_to_thread=True,
     include_in_schema=False)
def owed_export(request: AnyRequest, campaign_id: int) -> Stream:
    """Everything owed with its state (UTF-8 with BOM)."""
    return _owed_file(request, campaign_id, "csv")


@get("/admin/campaigns/{campaign_id:int}/fulfilment.xlsx", opt=READ, sync_to_thread=True,
     include_in_schema=False)
def owed_export_xlsx(request: AnyRequest, campaign_id: int) -> Stream:
    """The same rows as ``fulfilment.csv``, as a spreadsheet."""
    return _owed_file(request, campaign_id, "xlsx")


def _club_file(request: AnyRequest, year: int, fmt: str) -> Stream:
    if not 2000 <= year <= 2100:
        raise Refusal("request.invalid", detail="year: 2000–2100")
    members = fulfilment.club_members(services(request.app.state).db, year)
    name = f"club-{year}.{fmt}"
    if fmt == "xlsx":
        return Stream(fulfilment.members_xlsx(members), media_type=XLSX,
                      headers=download_headers(XLSX, name))
    media = csv_media_type("utf-8-sig")
    return Stream(fulfilment.members_csv(members), media_type=media,
                  headers=download_headers(media, name))


@get("/admin/club/{year:int}/members.csv", opt=READ, sync_to_thread=True, include_in_schema=False)
def club_export(request: AnyRequest, year: int) -> Stream:
    """The supporters' club of ``year``, returning supporters marked."""
    return _club_file(request, year, "csv")


@get("/admin/club/{year:int}/members.xlsx", opt=READ, sync_to_thread=True,
     include_in_schema=False)
def club_export_xlsx(request: AnyRequest, year: int) -> Stream:
    """The same rows as ``members.csv``, as a spreadsheet."""
    return _club_file(request, year, "xlsx")


route_handlers = [fulfilment_page, mark, shipping_list, owed_export, owed_export_xlsx,
                  club_export, club_export_xlsx]
