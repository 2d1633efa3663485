"""The workshop's point of sale: the page a craftsperson keeps open on a phone.

Drawn here; redemptions, undo and today's list go through the JSON API from
``static/js/booth.js``. Typos are caught on the phone (the check character) before the
server is asked; every answer the server gives is shown full-screen, green or red.
"""

from __future__ import annotations

from typing import Any

from litestar import get
from litestar.response import Template
from sqlalchemy import select

from oflocal import clock
from oflocal.auth.service import Actor
from oflocal.i18n import LANGS, gettext_for
from oflocal.vouchers.models import Programme
from oflocal.web.api.common import WORKSHOP
from oflocal.web.pages.render import AnyRequest, client_messages, page, page_lang
from oflocal.web.state import services


def _programmes(request: AnyRequest, event_id: int | None) -> list[dict[str, Any]]:
    """Denominations per programme, so the queue can show its running sum."""
    with services(request.app.state).db.read() as session:
        rows = session.execute(
            select(Programme.id, Programme.denominations).where(Programme.event_id == event_id)
        ).all()
    return [{"id": pid, "denominations": list(denominations)} for pid, denominations in rows]


def _labels(lang: str) -> dict[str, str]:
    _ = gettext_for(lang)
    return {
        "ok_title": _("Accepted"),
        "ng_title": _("Not accepted"),
        "retype_title": _("Check the code"),
        "tickets": _("{n} tickets"),
        "ticket_one": _("1 ticket"),
        "checking": _("Checking…"),
        "network": _("No answer from the server. Press Retry: the same request is sent "
                     "again and no ticket is taken twice."),
        "pending": _("The last send was not confirmed. Press Retry to find out."),
        "undone": _("Undone"),
        "give_back": _("Give the tickets back to the customer."),
        "undo_question": _("Undo the last accept?"),
        "undo_last": _("Undo last"),
        "today_empty": _("Nothing taken yet today."),
        "remove": _("Remove"),
        "camera_error": _("The camera could not be started. Type the code instead."),
        "undone_line": _("undone"),
        "add": _("Add"),
        "accept": _("Accept"),
        "next": _("Next"),
        "give_up": _("Cancel"),
        "kept_missing": _("{n} accepted on this phone are not on the server."),
        "kept_not_on_server": _("not on the server"),
        "kept_resent": _("sent again"),
        "kept_empty": _("Nothing kept on this phone yet."),
    }


@get("/booth", opt={"roles": WORKSHOP}, sync_to_thread=True, include_in_schema=False)
def booth(request: AnyRequest) -> Template:
    """Take tickets: scan or type, see a huge green tick or red cross, undo the last."""
    s = services(request.app.state)
    actor = request.scope["user"]
    assert isinstance(actor, Actor)
    lang = page_lang(request)
    config = {
        "workshop": actor.name,
        "workshop_id": actor.id,
        "programmes": _programmes(request, actor.event_id),
        "undo_window_seconds": s.settings.undo_window_seconds,
        "max_codes": s.settings.max_codes_per_redemption,
        "server_now": clock.now().isoformat(),
        "messages": client_messages(
            "code.malformed", "code.checksum", "code.not_a_ticket", "redemption.duplicate_code",
            "redemption.too_many",
        ),
        "lang": lang,
        "labels": {code: _labels(code) for code in LANGS},
    }
    return page(request, "booth.html", config=config)


route_handlers = [booth]
