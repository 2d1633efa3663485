"""Server-rendered pages: login, the sales desk, printing, the workshop booth, errors.

Jinja templates live in ``templates/`` at the repository root, CSS and JavaScript in
``web/static/`` (no build step, nothing fetched from elsewhere). Pages only draw; every
change of money is made by the page's JavaScript through the JSON API.
"""

from __future__ import annotations

from litestar import Router
from litestar.datastructures import CacheControlHeader
from litestar.static_files import create_static_files_router

from oflocal.i18n import load_all
from oflocal.web.pages import (
    account,
    admin,
    admin_crowdfunding,
    admin_programmes,
    admin_updates,
    admin_wall,
    admin_workshops,
    auth,
    booth,
    cf_images,
    cf_report,
    desk,
    fulfilment,
    home,
    my_pledges,
    pickup,
    printing,
    refund_account,
    supporters,
    tours,
    treasurer,
    treasurer_books,
    treasury,
    unsubscribe,
)
from oflocal.web.pages.errors import render_refusal
from oflocal.web.pages.render import STATIC_DIR, STATIC_PATH, template_config

__all__ = ["render_refusal", "routers", "template_config"]


def routers() -> list[Router]:
    """The page routes and the static files. Compiles the catalogs now, to fail early."""
    load_all()
    pages = Router(
        path="/",
        route_handlers=[*home.route_handlers, *auth.route_handlers, *account.route_handlers,
                        *admin.route_handlers, *admin_workshops.route_handlers,
                        *admin_programmes.route_handlers,
                        *admin_crowdfunding.route_handlers,
                        *cf_images.route_handlers, *admin_wall.route_handlers,
                        *admin_updates.route_handlers, *unsubscribe.route_handlers,
                        *desk.route_handlers, *pickup.route_handlers,
                        *booth.route_handlers, *printing.route_handlers,
                        *refund_account.route_handlers,
                        *treasurer.route_handlers, *treasurer_books.route_handlers,
                        *treasury.route_handlers,
                        *supporters.route_handlers,
                        *my_pledges.route_handlers, *tours.route_handlers,
                        *fulfilment.route_handlers, *cf_report.route_handlers],
        include_in_schema=False,
    )
    static = create_static_files_router(
        path=STATIC_PATH,
        directories=[STATIC_DIR],
        # URLs carry ?v=<content hash>, so a day of caching is safe and saves phone data.
        cache_control=CacheControlHeader(max_age=86400, public=True),
        opt={"exclude_from_auth": True},
        name="static",
    )
    return [pages, static]
