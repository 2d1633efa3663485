"""How a page is drawn: the Jinja environment, the per-request context, static URLs and
the security headers every HTML answer carries."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from litestar import Request
from litestar.contrib.jinja import JinjaTemplateEngine
from litestar.datastructures import Cookie
from litestar.response import Template
from litestar.template.config import TemplateConfig

from oflocal.auth.service import Actor
from oflocal.backup.status import notice, read_status
from oflocal.errors import MESSAGES, Refusal
from oflocal.format import tokyo_minute, yen
from oflocal.i18n import LANG_COOKIE, choose_lang, gettext_for
from oflocal.vouchers.codes import grouped
from oflocal.web.security import LOGIN_CSRF_COOKIE, current_actor
from oflocal.web.state import services

AnyRequest = Request[Any, Any, Any]

STATIC_DIR = Path(__file__).resolve().parents[1] / "static"
STATIC_PATH = "/static"

# Scripts and styles come only from /static: no inline code, nothing from elsewhere.
SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "media-src 'self' blob: mediastream:; connect-src 'self'; object-src 'none'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": "camera=(self), microphone=(), geolocation=()",
    "Cache-Control": "no-store",
}


@cache
def _static_version(name: str) -> str:
    path = (STATIC_DIR / name).resolve()
    if STATIC_DIR not in path.parents or not path.is_file():
        raise FileNotFoundError(f"no static file {name!r}")
    return hashlib.sha256(path.read_bytes()).hexdigest()[:10]


def static_url(name: str) -> str:
    """``/static/<name>?v=<content hash>``: phones cache it, a new release replaces it."""
    return f"{STATIC_PATH}/{name}?v={_static_version(name)}"


def make_environment(directory: Path) -> Environment:
    env = Environment(
        loader=FileSystemLoader(directory),
        autoescape=select_autoescape(["html", "htm", "xml"], default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["yen"] = yen
    env.filters["grouped"] = grouped
    env.filters["minute"] = tokyo_minute
    env.globals["static"] = static_url
    # |tojson stays HTML-safe (it escapes < > & '); Japanese stays readable and small.
    env.policies["json.dumps_kwargs"] = {"ensure_ascii": False, "sort_keys": True}
    return env


def template_config(directory: Path) -> TemplateConfig[JinjaTemplateEngine]:
    engine = JinjaTemplateEngine.from_environment(make_environment(directory))
    return TemplateConfig(instance=engine)


def page_lang(request: AnyRequest) -> str:
    return choose_lang(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"))


def safe_next(target: str | None, default: str = "/") -> str:
    """Only a path on this site: never ``//other.host`` or ``https://…`` (open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target


def here(request: AnyRequest) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def home_for(actor: Actor | None) -> str:
    if actor is None:
        return "/"
    if actor.role == "workshop":
        return "/booth"
    if actor.role in ("admin", "desk"):
        return "/desk"
    return "/"


def login_path_for(path: str) -> str:
    return "/booth/login" if path == "/booth" or path.startswith("/booth/") else "/login"


def refusal_texts(refusal: Refusal, lang: str) -> dict[str, str]:
    """The refusal in the page's language first and the other language second."""
    other = "en" if lang == "ja" else "ja"
    return {"code": refusal.code, "primary": refusal.message(lang),
            "secondary": refusal.message(other), "lang": lang, "other_lang": other}


def client_messages(*codes: str) -> dict[str, dict[str, str]]:
    """Refusal texts the page's JavaScript shows itself (typos caught on the phone)."""
    return {code: {"ja": MESSAGES[code].ja, "en": MESSAGES[code].en} for code in codes}


def _page_roles(request: AnyRequest) -> dict[str, tuple[str, ...]]:
    """GET page path → roles, from the app's routes (once per app)."""
    state = request.app.state
    known: dict[str, tuple[str, ...]] | None = state.get("nav_roles")
    if known is None:
        known = {}
        for route in request.app.routes:
            handler = getattr(route, "route_handler_map", {}).get("GET")
            if handler is not None:
                known[route.path] = tuple(handler[0].opt.get("roles") or ())
        state["nav_roles"] = known
    return known


def nav_links(request: AnyRequest, actor: Actor | None, lang: str) -> list[dict[str, Any]]:
    """The bar at the top of every page: the pages this person may open, in order. Who
    may open a page is read from its route (``opt["roles"]``, what the roles guard
    enforces), so the bar never offers a page that would refuse them."""
    if actor is None or actor.must_change_password:
        return []
    _ = gettext_for(lang)
    pages = (
        ("/desk", _("Sales desk")),
        ("/printing", _("Printing")),
        ("/treasurer", _("Treasurer")),
        ("/admin/crowdfunding", _("Crowdfunding")),
        ("/admin/events", _("Events")),
        ("/admin/staff", _("Staff")),
        ("/booth", _("Take tickets")),
        ("/statements", _("Payment statements")),
        ("/account/password", _("Password")),
    )
    roles, path = _page_roles(request), request.url.path
    shown = [(href, label) for href, label in pages if actor.role in roles.get(href, ())]
    here = max((href for href, _label in shown if path == href or path.startswith(href + "/")),
               key=len, default=None)  # /booth/statements, not also /booth
    return [{"href": href, "label": label, "current": href == here} for href, label in shown]


STAFF_ROLES = frozenset({"admin", "desk", "treasurer"})


def backup_notice(request: AnyRequest, actor: Actor | None, lang: str) -> dict[str, Any] | None:
    """How the automatic backups are going, at the top of every staff page
    (``backup/status.py``): a quiet line when all is well, a banner when not."""
    if actor is None or actor.role not in STAFF_ROLES:
        return None
    settings = services(request.app.state).settings
    shown = notice(settings, read_status(settings.data_dir))
    if shown.level == "none":
        return None
    reason = ""
    if shown.error_code:
        try:
            reason = Refusal(shown.error_code, **shown.error_facts).message(lang)
        except KeyError:  # a code this version does not know (a newer worker wrote it)
            reason = shown.error_code
    return {"level": shown.level, "kind": shown.kind, "last_good": shown.last_good,
            "target": shown.target, "reason": reason, "minutes": shown.minutes}


def page_context(request: AnyRequest) -> dict[str, Any]:
    lang = page_lang(request)
    actor = current_actor(request)
    return {
        "_": gettext_for(lang),
        "lang": lang,
        "other_lang": "en" if lang == "ja" else "ja",
        "actor": actor,
        "csrf": actor.csrf_token if actor is not None and actor.via == "session" else "",
        "here": here(request),
        "home": home_for(actor),
        # Staff have several pages (desk, printing, treasurer): the brand leads to the list.
        "brand_home": "/booth" if actor is not None and actor.role == "workshop" else "/",
        "nav": nav_links(request, actor, lang),
        "backup": backup_notice(request, actor, lang),
    }


def page(
    request: AnyRequest,
    template_name: str,
    *,
    status: int = 200,
    cookies: Iterable[Cookie] = (),
    **context: Any,
) -> Template:
    return Template(
        template_name,
        context={**page_context(request), **context},
        status_code=status,
        headers=dict(SECURITY_HEADERS),
        cookies=list(cookies),
    )


def render_html(request: AnyRequest, template_name: str, context: Mapping[str, Any]) -> str:
    """Render outside a handler (the error page), with the same context as :func:`page`."""
    engine = request.app.template_engine
    if engine is None:
        raise RuntimeError("the template engine is not configured")
    template = engine.get_template(template_name)
    return str(template.render(**{**page_context(request), **context}))


def login_csrf_cookie(request: AnyRequest) -> tuple[str, Cookie]:
    """The double-submit token for a login form: kept if the browser has one, else new."""
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)
    cookie = Cookie(
        key=LOGIN_CSRF_COOKIE,
        value=token,
        httponly=True,
        samesite="strict",
        secure=services(request.app.state).settings.secure_cookies,
        max_age=24 * 3600,
        path="/",
    )
    return token, cookie
