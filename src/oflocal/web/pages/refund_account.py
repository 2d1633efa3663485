"""The secret page where a supporter gives the bank account for a refund
(``crowdfunding/refund_account.py``). Public, reached only by the link in the refund's
e-mail; the form double-submits a cookie for CSRF like the login forms."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body

from oflocal.crowdfunding.refund_account import (
    RefundForAccount,
    give_refund_account,
    refund_for_link,
)
from oflocal.errors import Refusal
from oflocal.web.pages.render import AnyRequest, login_csrf_cookie, page, page_lang, refusal_texts
from oflocal.web.state import services

Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
FIELDS = ("bank_code", "branch_code", "account_type", "account_number", "holder_kana")


def _form(request: AnyRequest, token: str, view: RefundForAccount, *, status: int = 200,
          error: Refusal | None = None, values: dict[str, str] | None = None,
          saved: bool = False) -> Response[Any]:
    csrf, cookie = login_csrf_cookie(request)
    return page(request, "refund_account.html", status=status, cookies=[cookie],
                form_csrf=csrf, token=token, refund=view, saved=saved,
                error=refusal_texts(error, page_lang(request)) if error else None,
                values={name: "" for name in FIELDS} | {"account_type": "1"} | (values or {}))


@get("/refund-account/{token:str}", sync_to_thread=True, include_in_schema=False)
def refund_account_form(request: AnyRequest, token: str) -> Response[Any]:
    """The form, with what the refund is (never the whole account once given)."""
    return _form(request, token, refund_for_link(services(request.app.state).db, token))


@post("/refund-account/{token:str}", sync_to_thread=True, opt={"csrf": "form"},
      include_in_schema=False, status_code=200)
def refund_account_save(request: AnyRequest, token: str, data: Form) -> Response[Any]:
    db = services(request.app.state).db
    values = {name: data.get(name, "").strip() for name in FIELDS}
    try:
        kind = int(values["account_type"]) if values["account_type"].isdigit() else 0
        view = give_refund_account(db, token, bank_code=values["bank_code"],
                                   branch_code=values["branch_code"], account_type=kind,
                                   account_number=values["account_number"],
                                   holder_kana=values["holder_kana"])
    except Refusal as refusal:
        if refusal.code == "refund.link_unknown":
            raise
        return _form(request, token, refund_for_link(db, token), status=refusal.status,
                     error=refusal, values=values)
    return _form(request, token, view, saved=True)


route_handlers = [refund_account_form, refund_account_save]
