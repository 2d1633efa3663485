"""Refusals on pages: a friendly page with the bilingual message and the right status.

``web/errors.py`` calls :func:`render_refusal` for every refusal outside ``/api/``.
Someone who is not logged in is sent to the right login form instead, and comes back
to the page they wanted afterwards.
"""

from __future__ import annotations

import logging
from html import escape
from typing import Any

from litestar import MediaType, Response
from litestar.response import Redirect

from oflocal.errors import Refusal
from oflocal.web.pages.render import (
    SECURITY_HEADERS,
    AnyRequest,
    here,
    login_path_for,
    page_lang,
    refusal_texts,
    render_html,
)
from oflocal.web.security import current_actor

log = logging.getLogger("oflocal.web.pages")


def render_refusal(request: AnyRequest, refusal: Refusal) -> Response[Any]:
    if refusal.code == "auth.required" and current_actor(request) is None:
        login = login_path_for(request.url.path)
        # Staff come back to the page they asked for; a workshop always lands on /booth.
        if login == "/login" and request.method == "GET" and request.url.path != login:
            return Redirect(login, status_code=303, query_params={"next": here(request)})
        return Redirect(login, status_code=303)
    if refusal.code == "auth.password_change_required":
        return Redirect("/account/password", status_code=303)
    lang = page_lang(request)
    texts = refusal_texts(refusal, lang)
    try:
        html = render_html(request, "error.html", {"error": texts, "status": refusal.status})
    except Exception:  # the error page must never fail: fall back to plain words
        log.exception("error page failed to render for %s", refusal.code)
        html = (
            "<!doctype html><meta charset=utf-8><title>oflocal</title>"
            f"<h1>{refusal.status}</h1><p lang={texts['lang']}>{escape(texts['primary'])}</p>"
            f"<p lang={texts['other_lang']}>{escape(texts['secondary'])}</p>"
            "<p><a href=/>oflocal</a></p>"
        )
    return Response(html, status_code=refusal.status, media_type=MediaType.HTML,
                    headers=dict(SECURITY_HEADERS))
