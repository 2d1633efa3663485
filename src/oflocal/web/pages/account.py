"""Your own account: change your password.

A generated password (``oflocal init``, an admin's reset) leads here right after the
login, and the roles guard keeps every other staff page closed until it is changed.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect

from oflocal.auth.accounts import change_own_password
from oflocal.errors import Refusal
from oflocal.web.api.common import STAFF
from oflocal.web.pages.render import AnyRequest, home_for, page, page_lang, refusal_texts
from oflocal.web.security import SESSION_COOKIE, current_actor
from oflocal.web.state import services

Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
OPEN = {"roles": STAFF, "before_password_change": True}


def _form(request: AnyRequest, *, status: int = 200, error: Refusal | None = None) -> Response[Any]:
    actor = current_actor(request)
    assert actor is not None  # the roles guard let only a logged-in actor in
    return page(request, "account_password.html", status=status,
                error=refusal_texts(error, page_lang(request)) if error else None,
                forced=actor.must_change_password)


@get("/account/password", opt=OPEN, sync_to_thread=False, include_in_schema=False)
def password_form(request: AnyRequest) -> Response[Any]:
    return _form(request)


@post("/account/password", opt={**OPEN, "csrf": "form"}, sync_to_thread=True,
      include_in_schema=False)
def change_password(request: AnyRequest, data: Form) -> Response[Any]:
    actor = current_actor(request)
    assert actor is not None
    new = data.get("new_password", "")
    try:
        if new != data.get("new_password_again", ""):
            raise Refusal("auth.password_mismatch")
        change_own_password(services(request.app.state).db, actor.id,
                            data.get("current_password", ""), new,
                            this_session=request.cookies.get(SESSION_COOKIE))
    except Refusal as refusal:
        return _form(request, status=refusal.status, error=refusal)
    return Redirect(home_for(actor), status_code=303)


route_handlers = [password_form, change_password]
