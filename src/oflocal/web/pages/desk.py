"""The sales desk page: scan booklets, take the money, hand over the receipt.

The page is drawn here; selling and voiding go through the JSON API
(``POST /api/v1/programmes/{id}/sales`` and ``POST /api/v1/booklets/void``) from
``static/js/desk.js``, so there is one way in for each change of money.
"""

from __future__ import annotations

from typing import Any

from litestar import get
from litestar.response import Template
from sqlalchemy import select

from oflocal import clock
from oflocal.events.models import Event
from oflocal.i18n import LANGS, gettext_for
from oflocal.vouchers.models import Programme
from oflocal.web.api.common import DESK
from oflocal.web.pages.render import AnyRequest, client_messages, page, page_lang
from oflocal.web.state import services

PAYMENT_METHODS = ("cash", "card", "qr", "bank")


def _programmes(request: AnyRequest) -> list[dict[str, Any]]:
    s = services(request.app.state)
    now = clock.now()
    with s.db.read() as session:
        rows = session.execute(
            select(Programme, Event.name)
            .join(Event, Event.id == Programme.event_id)
            .order_by(Programme.sales_ends_at.desc(), Programme.id.desc())
        ).all()
    programmes = [
        {
            "id": p.id,
            "name": p.name,
            "event": event_name,
            "price": p.price,
            "face_value": p.face_value,
            "max_per_sale": p.max_booklets_per_sale,
            "open": p.sales_starts_at <= now < p.sales_ends_at,
        }
        for p, event_name in rows
    ]
    # Programmes on sale now come first, so the usual one is already chosen.
    programmes.sort(key=lambda p: not p["open"])
    return programmes


def _labels(lang: str) -> dict[str, str]:
    _ = gettext_for(lang)
    return {
        "remove": _("Remove"),
        "booklets": _("{n} booklets"),
        "booklet_one": _("1 booklet"),
        "sending": _("Sending…"),
        "network": _("Could not reach the server. Nothing is lost: press Retry."),
        "sell": _("Sell"),
        "price": _("Price"),
        "face": _("Face value"),
        "voided": _("Voided"),
        "void_summary": _("Booklet No. {serial} of {programme}: {tickets} tickets worth "
                          "{face} in all."),
    }


@get("/desk", opt={"roles": DESK}, sync_to_thread=True, include_in_schema=False)
def desk(request: AnyRequest) -> Template:
    """Sell booklets: scan or type the code on each cover, take the money, press Sell."""
    lang = page_lang(request)
    _ = gettext_for(lang)
    programmes = _programmes(request)
    methods = [
        ("cash", _("Cash")),
        ("card", _("Card")),
        ("qr", _("QR payment")),
        ("bank", _("Bank transfer")),
    ]
    config = {
        "programmes": programmes,
        "messages": client_messages(
            "code.malformed", "code.checksum", "code.not_a_booklet", "sale.duplicate_code",
            "sale.limit_exceeded", "sale.empty", "void.reason_required",
            "booklet.not_voidable", "booklet.voided",
        ),
        "lang": lang,
        "labels": {code: _labels(code) for code in LANGS},
        "methods": dict(methods),
    }
    return page(request, "desk.html", programmes=programmes, methods=methods, config=config)


route_handlers = [desk]
