"""The landing page (where to go, per role) and the language switch."""

from __future__ import annotations

from typing import Any

from litestar import Response, get
from litestar.datastructures import Cookie
from litestar.params import Parameter
from litestar.response import Redirect

from oflocal.errors import Refusal
from oflocal.i18n import LANG_COOKIE, LANGS
from oflocal.web.pages.render import AnyRequest, page, safe_next
from oflocal.web.security import current_actor


def _has_route(request: AnyRequest, path: str) -> bool:
    return any(route.path == path for route in request.app.routes)


@get("/", sync_to_thread=False, include_in_schema=False)
def landing(request: AnyRequest) -> Response[Any]:
    """Big links to the right place: the booth for workshops, the desk for staff."""
    actor = current_actor(request)
    links: list[tuple[str, str, str]] = []  # (path, msgid key, css class)
    if actor is None:
        links = [("/booth/login", "booth", "primary"), ("/login", "staff", "secondary")]
    elif actor.role == "workshop":
        links = [("/booth", "booth", "primary")]
    else:
        if actor.role in ("admin", "desk"):
            links.append(("/desk", "desk", "primary"))
            links.append(("/printing", "printing", "secondary"))
        if actor.role in ("admin", "treasurer") and _has_route(request, "/treasurer"):
            links.append(("/treasurer", "treasurer", "secondary"))
    return page(request, "home.html", links=links)


@get("/lang/{lang:str}", sync_to_thread=False, include_in_schema=False)
def switch_language(
    request: AnyRequest, lang: str, next_path: str | None = Parameter(query="next", default=None)
) -> Redirect:
    """Remember the chosen language for a year and go back where the person was."""
    if lang not in LANGS:
        raise Refusal("request.not_found")
    cookie = Cookie(key=LANG_COOKIE, value=lang, max_age=365 * 24 * 3600, path="/",
                    samesite="lax", httponly=False)
    return Redirect(safe_next(next_path), status_code=303, cookies=[cookie])


route_handlers = [landing, switch_language]
