"""Every route of the app, called as every role and anonymously, on both databases.

The routes are read from ``app.routes`` when the test runs, so pages and API routes
added later are covered without editing this file. What each identity may do comes
from the handler's own ``opt["roles"]`` (what ``roles_guard`` enforces); a route with
no roles is public and must be named in :data:`PUBLIC` / :data:`PUBLIC_PREFIXES`, so a
new route that forgot its roles fails here instead of going live unguarded.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar

import pytest
from litestar import Litestar, get, post
from litestar.enums import RequestEncodingType
from litestar.handlers.base import BaseRouteHandler
from litestar.params import Body
from litestar.routes import HTTPRoute
from litestar.testing import TestClient
from sqlalchemy import text

from cf_staff_world import build as build_campaign
from oflocal import clock
from oflocal.auth.models import StaffUser
from oflocal.auth.service import Actor, issue_api_token, new_api_token, open_session
from oflocal.db.engine import Database
from oflocal.demo import build_event
from oflocal.settings import Settings
from oflocal.settlement.close import close_period
from oflocal.supporters.updates import write_update
from oflocal.vouchers.codes import CodeSigner
from oflocal.vouchers.desk import sell_booklets
from oflocal.vouchers.redeem import redeem_tickets
from oflocal.web.app import create_app
from oflocal.web.security import LOGIN_CSRF_COOKIE, SESSION_COOKIE

# Routes anyone may call. Adding a route here is a decision: say why in the comment.
PUBLIC: frozenset[tuple[str, str]] = frozenset({
    ("GET", "/api/v1/health"),  # monitoring
    ("POST", "/api/v1/session/staff"),  # logging in
    ("POST", "/api/v1/session/workshop"),
    ("GET", "/"),  # landing page: links to the two login forms
    ("GET", "/lang/{lang:str}"),  # language switch (a cookie)
    ("GET", "/login"),
    ("POST", "/login"),
    ("GET", "/booth/login"),
    ("POST", "/booth/login"),
    # Stripe's webhook: its Stripe-Signature over the raw body is the key
    ("POST", "/api/v1/payments/stripe/webhook"),
    # a supporter gives the account for a bank refund: the secret link is the key
    ("GET", "/refund-account/{token:str}"),
    ("POST", "/refund-account/{token:str}"),
    # Crowdfunding, the supporter's side (docs/supporters.md): no login by design.
    ("GET", "/api/v1/public/campaigns/{campaign_id:int}"),
    ("POST", "/api/v1/public/campaigns/{campaign_id:int}/pledges"),  # Idempotency-Key
    ("GET", "/c/{event_slug:str}/{campaign_slug:str}"),
    ("GET", "/c/{event_slug:str}/{campaign_slug:str}/legal"),
    ("GET", "/c/{event_slug:str}/{campaign_slug:str}/pledge"),
    ("POST", "/c/{event_slug:str}/{campaign_slug:str}/pledge"),  # double-submit CSRF
    ("GET", "/c/{event_slug:str}/{campaign_slug:str}/pledges/{pledge_id:int}/{token:str}"),
    # Try a card/konbini payment again; the MAC token and the double-submit CSRF.
    ("POST", "/c/{event_slug:str}/{campaign_slug:str}/pledges/{pledge_id:int}/{token:str}/pay"),
    # a public campaign's pictures (a draft's are not found)
    ("GET", "/c/{event_slug:str}/{campaign_slug:str}/images/{number:int}"),
    # The supporter's own page: an e-mailed link signs in (supporters/signin.py); the
    # pledge routes check that session themselves (signin.required).
    ("GET", "/my"),
    ("POST", "/my/signin"),
    ("GET", "/my/signin/{token:str}"),
    ("POST", "/my/signin/{token:str}"),
    ("POST", "/my/signout"),
    ("POST", "/my/pledges/{pledge_id:int}/answers"),
    ("POST", "/my/pledges/{pledge_id:int}/cancel"),
    ("GET", "/my/pledges/{pledge_id:int}/receipt.pdf"),
    ("POST", "/my/pledges/{pledge_id:int}/tour"),
    # Stop a campaign's updates: the link's MAC is the key (one-click, RFC 8058)
    ("GET", "/updates/unsubscribe/{campaign_id:int}/{token:str}"),
    ("POST", "/updates/unsubscribe/{campaign_id:int}/{token:str}"),
})
PUBLIC_PREFIXES = ("/schema", "/static")  # the OpenAPI document and its viewers; CSS/JS

IDENTITIES: dict[str, str | None] = {  # who → role (None: nobody logged in)
    "anonymous": None,
    "admin": "admin",
    "desk": "desk",
    "treasurer": "treasurer",
    "workshop": "workshop",
    "other_workshop": "workshop",  # a workshop of another event
}
GUARD_CODES = frozenset({"auth.required", "auth.forbidden", "csrf.failed"})
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class Endpoint:
    method: str
    route: HTTPRoute
    handler: BaseRouteHandler

    @property
    def path(self) -> str:
        return self.route.path

    @property
    def roles(self) -> tuple[str, ...] | None:
        roles: tuple[str, ...] | None = self.handler.opt.get("roles")
        return roles

    @property
    def is_api(self) -> bool:
        return self.path.startswith("/api/")

    @property
    def form_csrf(self) -> bool:
        return self.method in UNSAFE and self.handler.opt.get("csrf") == "form"

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def _is_auto_options(handler: BaseRouteHandler) -> bool:
    """Litestar adds an OPTIONS handler to every path (it answers the Allow header)."""
    fn = getattr(handler, "fn", None)
    return getattr(fn, "__name__", "") == "options_handler" and getattr(
        fn, "__module__", "").startswith("litestar.")


def endpoints(app: Litestar) -> list[Endpoint]:
    found = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue  # websockets and mounts are checked by test_every_route_is_guarded
        for method, (handler, _) in sorted(route.route_handler_map.items()):
            if method == "OPTIONS" and _is_auto_options(handler):
                continue
            found.append(Endpoint(method, route, handler))
    return found


def is_public(method: str, path: str) -> bool:
    return (method, path) in PUBLIC or any(
        path == prefix or path.startswith(prefix + "/") for prefix in PUBLIC_PREFIXES
    )


def _app(db: Database, secret: bytes, tmp_path: Path) -> Litestar:
    settings = Settings(data_dir=tmp_path, database_url=db.url, secret_key=secret)
    return create_app(settings, db)


def test_every_route_is_guarded_or_deliberately_public(db: Database, secret: bytes,
                                                       tmp_path: Path) -> None:
    app = _app(db, secret, tmp_path)
    problems = []
    for route in app.routes:
        handlers = route.route_handlers if isinstance(route, HTTPRoute) else [route.route_handler]
        for handler in handlers:
            methods = sorted(getattr(handler, "http_methods", None) or {"WEBSOCKET"})
            for method in methods:
                if method == "OPTIONS" and _is_auto_options(handler):
                    continue
                roles = handler.opt.get("roles")
                if roles is None and not is_public(method, route.path):
                    problems.append(f"{method} {route.path}: no opt roles and not in PUBLIC")
                elif roles is not None:
                    if not (isinstance(roles, tuple) and roles):
                        problems.append(f"{method} {route.path}: roles must be a non-empty tuple")
                    elif unknown := set(roles) - {"admin", "desk", "treasurer", "workshop"}:
                        problems.append(f"{method} {route.path}: unknown roles {unknown}")
    assert not problems, "\n".join(problems)
    # The allow-list must not name routes that no longer exist or are now guarded.
    live = {(e.method, e.path): e for e in endpoints(app)}
    for method, path in PUBLIC:
        if (method, path) in live:
            assert live[method, path].roles is None, f"{method} {path} is guarded; drop it"


def test_unguarded_route_would_be_caught(db: Database, secret: bytes, tmp_path: Path) -> None:
    """The check above can fail: an extra route without roles is reported."""

    @get("/api/v1/forgotten", sync_to_thread=False)
    def forgotten() -> dict[str, str]:
        return {}

    settings = Settings(data_dir=tmp_path, database_url=db.url, secret_key=secret)
    app = create_app(settings, db, extra_routes=[forgotten])
    unguarded = [e for e in endpoints(app) if e.roles is None and not is_public(e.method, e.path)]
    assert [str(e) for e in unguarded] == ["GET /api/v1/forgotten"]


# ----------------------------------------------------------------------- the matrix


@dataclass
class World:
    client: TestClient[Litestar]
    db: Database
    tokens: dict[str, str]
    actors: dict[str, Actor]
    path_values: dict[str, Any]


@pytest.fixture
def world(db: Database, signer: CodeSigner, secret: bytes, tmp_path: Path) -> Iterator[World]:
    with db.write() as session:
        main = build_event(session, signer, workshops=3, booklets=4)
        other = build_event(session, signer, slug="other", workshops=1, booklets=1)
        users = [StaffUser(username=f"m-{r}", display_name=r, role=r, password_hash="!",
                           created_at=clock.now()) for r in ("admin", "desk", "treasurer")]
        session.add_all(users)
        session.flush()
        staff = {u.role: u.id for u in users}
    sell_booklets(db, signer, programme_id=main.programme_id, codes=main.booklet_codes[:1],
                  payment_method="cash", actor="t")
    with db.read() as session:
        first, second = session.execute(text(
            "SELECT code FROM ticket WHERE status = 'active' ORDER BY id")).scalars().all()[:2]
    # One settled redemption (so a settlement period exists), one still open to undo.
    redeem_tickets(db, signer, workshop_id=main.workshop_ids[0], codes=[first])
    close_period(db, event_id=main.event_id, actor="t")
    redemption = redeem_tickets(db, signer, workshop_id=main.workshop_ids[0], codes=[second])
    with db.read() as session:
        ids = {table: session.execute(text(f"SELECT min(id) FROM {table}")).scalar_one()
               for table in ("print_batch", "booklet", "sale", "settlement_period")}
    actors = {
        **{r: Actor("staff", staff[r], r, r) for r in staff},
        "workshop": Actor("workshop", main.workshop_ids[0], "w", "workshop", main.event_id),
        "other_workshop": Actor("workshop", other.workshop_ids[0], "o", "workshop",
                                other.event_id),
    }
    tokens = {
        who: issue_api_token(db, name=who, **(
            {"staff_user_id": a.id} if a.kind == "staff" else {"workshop_id": a.id}))
        for who, a in actors.items()
    }
    # A token of its own for DELETE /tokens/{token_id}: revoking a caller's would log it out.
    spare_token, _ = new_api_token(db, name="spare", workshop_id=main.workshop_ids[1])
    cf = build_campaign(db, slug="cf-matrix")
    cf_pledge = cf.pledge()["pledge_id"]
    cf_update = write_update(db, cf.campaign_id, title="活動報告", body="本文です。",
                             audience="supporters", author="t")
    path_values: dict[str, Any] = {
        "campaign_id": cf.campaign_id,
        "reward_id": cf.limited,
        "pledge_id": cf_pledge,
        "update_id": cf_update,
        "fmt": "csv",
        "step": "confirmed",
        "token_id": spare_token,
        "event_id": main.event_id,
        "workshop_id": main.workshop_ids[0],
        "programme_id": main.programme_id,
        "redemption_id": redemption.body["redemption_id"],
        "batch_id": ids["print_batch"],
        "booklet_id": ids["booklet"],
        "sale_id": ids["sale"],
        "period_id": ids["settlement_period"],
        "chart": "per-day",
        "staff_user_id": staff["admin"],
        "event": "demo",
        "slug": "demo",
        "lang": "en",
    }
    with TestClient(_app(db, secret, tmp_path)) as client:
        yield World(client, db, tokens, actors, path_values)


def _url(world: World, endpoint: Endpoint) -> str:
    url = endpoint.route.path_format
    for param in endpoint.route.path_parameters.values():
        value = world.path_values.get(param.name)
        if value is None:  # a parameter this test does not know yet: a harmless guess
            value = 1 if param.type is int else "x"
        url = url.replace("{" + param.name + "}", str(value))
    return url


def call(world: World, endpoint: Endpoint, who: str) -> Any:
    client = world.client
    client.cookies.clear()  # nothing carried over from the previous call
    headers: dict[str, str] = {}
    kwargs: dict[str, Any] = {}
    if who != "anonymous":
        if endpoint.form_csrf:  # an HTML form: a browser session and its form token
            token, csrf = open_session(world.db, world.actors[who], hours=1)
            client.cookies.set(SESSION_COOKIE, token)
            headers["X-CSRF-Token"] = csrf
            kwargs["data"] = {"_csrf": csrf}
        else:
            headers["Authorization"] = f"Bearer {world.tokens[who]}"
    if endpoint.method in UNSAFE and "data" not in kwargs:
        if endpoint.is_api:
            kwargs["json"] = {}
            headers["Idempotency-Key"] = f"matrix-{who}-{endpoint.method}-{endpoint.path}"[:200]
        else:
            kwargs["data"] = {}
    return client.request(endpoint.method, _url(world, endpoint), headers=headers,
                          follow_redirects=False, **kwargs)


def _code(response: Any) -> str | None:
    if "json" not in response.headers.get("content-type", ""):
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("code") if isinstance(body, dict) else None


def _to_login(response: Any) -> bool:
    return response.status_code in (302, 303, 307) and "login" in response.headers.get(
        "location", "")


def judge(endpoint: Endpoint, who: str, response: Any) -> str | None:
    """What is wrong with this answer, or None."""
    status, code = response.status_code, _code(response)
    seen = f"{status} {code or ''}".strip()
    if status >= 500:
        return f"server error {seen}"
    roles, role = endpoint.roles, IDENTITIES[who]
    if roles is None:
        return None  # public: anything but a crash
    if role is None:
        if endpoint.is_api:
            ok = status == 401 and code == "auth.required"
        else:
            ok = status == 401 or _to_login(response)
        return None if ok else f"anonymous got {seen}, expected 401 / login"
    if role not in roles:
        ok = status == 403 and (code == "auth.forbidden" or not endpoint.is_api)
        return None if ok else f"role {role} got {seen}, expected 403 auth.forbidden"
    # Allowed: the guard let it through. A 403 can only be the domain's own refusal
    # (another workshop's redemption), never the guard's or CSRF's.
    if status == 401 or (status == 403 and (code in GUARD_CODES or code is None)):
        return f"role {role} is allowed but got {seen}"
    if endpoint.method == "GET" and _to_login(response):
        return f"role {role} is allowed but was sent to the login page"
    return None


def test_role_matrix(world: World) -> None:
    app = world.client.app
    found = endpoints(app)
    assert len(found) >= 20 and any(e.path == "/api/v1/events" for e in found)
    problems = []
    calls = 0
    for endpoint in found:
        for who in IDENTITIES:
            response = call(world, endpoint, who)
            calls += 1
            if problem := judge(endpoint, who, response):
                problems.append(f"{endpoint} as {who}: {problem}")
    assert not problems, f"{len(problems)} of {calls} calls went wrong:\n" + "\n".join(problems)


def test_judge_can_fail() -> None:
    """The matrix's verdicts are not a rubber stamp."""

    class Fake:
        def __init__(self, status: int, code: str | None = None, location: str = "") -> None:
            self.status_code = status
            self.headers = {"content-type": "application/json" if code else "text/html",
                            "location": location}
            self._code = code

        def json(self) -> dict[str, Any]:
            return {"code": self._code}

    class Handler:
        opt: ClassVar[dict[str, Any]] = {"roles": ("admin",)}

    class Route:
        path = "/api/v1/x"

    ep = Endpoint("POST", Route(), Handler())  # type: ignore[arg-type]
    assert judge(ep, "anonymous", Fake(200)) is not None
    assert judge(ep, "anonymous", Fake(401, "auth.required")) is None
    assert judge(ep, "desk", Fake(422, "request.invalid")) is not None
    assert judge(ep, "desk", Fake(403, "auth.forbidden")) is None
    assert judge(ep, "admin", Fake(403, "csrf.failed")) is not None
    assert judge(ep, "admin", Fake(403, "undo.other_workshop")) is None
    assert judge(ep, "admin", Fake(500, "server.error")) is not None
    assert judge(ep, "admin", Fake(422, "request.invalid")) is None


def test_cookie_session_needs_csrf_on_unsafe_routes(world: World) -> None:
    client = world.client
    token, csrf = open_session(world.db, world.actors["admin"], hours=1)
    body = {"slug": "csrf-test", "name": "n", "committee_name": "c",
            "starts_on": "2026-10-01", "ends_on": "2026-10-02"}
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, token)
    assert client.get("/api/v1/events").status_code == 200  # reading needs no token
    missing = client.post("/api/v1/events", json=body)
    assert missing.status_code == 403 and missing.json()["code"] == "csrf.failed"
    wrong = client.post("/api/v1/events", json=body, headers={"X-CSRF-Token": csrf + "x"})
    assert wrong.status_code == 403 and wrong.json()["code"] == "csrf.failed"
    with world.db.read() as session:
        made = session.execute(text("SELECT count(*) FROM event WHERE slug = 'csrf-test'"))
        assert made.scalar_one() == 0
    right = client.post("/api/v1/events", json=body, headers={"X-CSRF-Token": csrf})
    assert right.status_code == 201, right.text
    # the same for a workshop's session at the booth
    token, csrf = open_session(world.db, world.actors["workshop"], hours=1)
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, token)
    redeem = client.post("/api/v1/redemptions", json={"codes": ["x"]},
                         headers={"Idempotency-Key": "csrf-1"})
    assert redeem.status_code == 403 and redeem.json()["code"] == "csrf.failed"
    client.cookies.clear()


def test_every_form_route_refuses_a_post_without_its_csrf_field(world: World) -> None:
    """The roles guard checks every HTML form's ``_csrf``: a handler cannot forget it.
    Each form route is posted as a role it allows, with a live session, without the
    field and then with a wrong one; both are refused and nothing is written."""
    forms = [e for e in endpoints(world.client.app) if e.form_csrf]
    assert len(forms) >= 4 and any(e.path == "/login" for e in forms)
    before = world.db.engine.dialect.name, _table_counts(world.db)
    problems = []
    for endpoint in forms:
        who = next((w for w, role in IDENTITIES.items() if role in (endpoint.roles or ())),
                   "admin")
        for field in ({}, {"_csrf": "forged"}):
            client = world.client
            client.cookies.clear()
            token, _csrf = open_session(world.db, world.actors[who], hours=1)
            client.cookies.set(SESSION_COOKIE, token)
            client.cookies.set(LOGIN_CSRF_COOKIE, "a-login-form-token")
            response = client.request(endpoint.method, _url(world, endpoint),
                                      data={"username": "admin", "password": "x", **field},
                                      follow_redirects=False)
            if response.status_code != 403:
                problems.append(f"{endpoint} as {who} with {field}: {response.status_code}")
    assert not problems, "\n".join(problems)
    assert (world.db.engine.dialect.name, _table_counts(world.db)) == before


def _table_counts(db: Database) -> dict[str, int]:
    with db.read() as session:
        conn = session.connection()
        # Not counted: sessions (the test opens them) and job attempts (the app's own
        # background worker runs the crowdfunding sweep it was given meanwhile).
        names = [t for t in conn.dialect.get_table_names(conn)
                 if t not in ("web_session", "job_attempt")]
        return {t: session.execute(text(f'SELECT count(*) FROM "{t}"')).scalar_one()
                for t in names}


def test_a_new_form_route_is_protected_without_doing_anything(
        db: Database, secret: bytes, tmp_path: Path, world: World) -> None:
    """A form handler that never looks at ``_csrf`` is still refused without it."""
    posted: list[str] = []

    @post("/forgetful", opt={"roles": ("admin",), "csrf": "form"}, sync_to_thread=False)
    def forgetful(data: Annotated[dict[str, str], Body(
            media_type=RequestEncodingType.URL_ENCODED)]) -> dict[str, str]:
        posted.append(data.get("note", ""))
        return {}

    settings = Settings(data_dir=tmp_path, database_url=db.url, secret_key=secret)
    token, csrf = open_session(db, world.actors["admin"], hours=1)
    with TestClient(create_app(settings, db, extra_routes=[forgetful])) as client:
        client.cookies.set(SESSION_COOKIE, token)
        assert client.post("/forgetful", data={"note": "no"}).status_code == 403
        assert client.post("/forgetful", data={"note": "ok", "_csrf": csrf}).status_code == 201
    assert posted == ["ok"]
