"""The printing page for committee staff: check the proof, print booklets, reprint.

Drawn here; everything else goes through the JSON API from ``static/js/printing.js``:
the proof image (``GET /api/v1/programmes/{id}/proof.png``), the programme's batches
(``GET /api/v1/programmes/{id}``), starting a job (``POST …/print-jobs``, rendered on
the server's background thread), its progress (``GET /api/v1/print-jobs/{id}``, polled)
and the finished PDF, which the browser downloads straight from the server's file.
"""

from __future__ import annotations

from typing import Any

from litestar import get
from litestar.response import Template
from sqlalchemy import select

from oflocal.events.models import Event
from oflocal.i18n import LANGS, gettext_for
from oflocal.vouchers.models import Programme
from oflocal.web.api.common import DESK
from oflocal.web.pages.render import AnyRequest, client_messages, page, page_lang
from oflocal.web.state import services

MAX_BOOKLETS = 20000  # as PrintRequest in web/api/printing.py
POLL_MS = 700


def _programmes(request: AnyRequest) -> list[dict[str, Any]]:
    """Every programme, the latest first (the one being printed for is usually new)."""
    with services(request.app.state).db.read() as session:
        rows = session.execute(
            select(Programme.id, Programme.name, Event.name)
            .join(Event, Event.id == Programme.event_id)
            .order_by(Programme.sales_ends_at.desc(), Programme.id.desc())
        ).all()
    return [{"id": pid, "name": name, "event": event} for pid, name, event in rows]


def _labels(lang: str) -> dict[str, str]:
    _ = gettext_for(lang)
    return {
        "queued": _("Waiting to start {done} / {total} booklets ({percent}%)"),
        "running": _("Rendering {done} / {total} booklets ({percent}%)"),
        "done": _("Done {done} / {total} booklets ({percent}%)"),
        "failed": _("The PDF could not be made."),
        "download": _("Download the PDF ({size})"),
        "print_confirm": _("Issue {n} new booklets with new codes and make their PDF?"),
        "reprint_summary": _("{n} booklets of {programme} (No. {serials}) are voided for "
                             "good: {tickets} tickets worth {face}. {n} new booklets with new "
                             "codes go to print."),
        "line_facts": _("No. {serial} · {tickets} tickets · {face}"),
        "network": _("Could not reach the server. Look at the list of print jobs below "
                     "before you try again."),
        "sending": _("Sending…"),
        "remove": _("Remove"),
        "batch": _("Batch {n}"),
        "reprint": _("Reprint"),
        "booklets": _("{n} booklets"),
        "booklet_one": _("1 booklet"),
        "counts": _("Issued {printed} · in stock {in_stock} · sold {sold} · voided {voided}"),
        "no_batches": _("Nothing printed yet."),
        "no_jobs": _("No print jobs yet."),
        "proof_failed": _("The proof could not be made."),
    }


@get("/printing", opt={"roles": DESK}, sync_to_thread=True, include_in_schema=False)
def printing(request: AnyRequest) -> Template:
    """Check the proof, print new booklets in the background, download the PDF, reprint."""
    lang = page_lang(request)
    programmes = _programmes(request)
    config = {
        "programmes": programmes,
        "max_count": MAX_BOOKLETS,
        "poll_ms": POLL_MS,
        "messages": client_messages(
            "code.malformed", "code.checksum", "code.not_a_booklet", "sale.duplicate_code",
            "sale.empty", "void.reason_required", "booklet.not_voidable", "booklet.voided",
        ),
        "lang": lang,
        "labels": {code: _labels(code) for code in LANGS},
    }
    return page(request, "printing.html", programmes=programmes, max_count=MAX_BOOKLETS,
                config=config)


route_handlers = [printing]
