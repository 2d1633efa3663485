"""The app factory. Settings and the database are chosen before the app is built, so
tests set the environment (or pass them in) and every process builds its own engine.

The web process keeps nothing another process needs: background jobs are rows any
worker may claim. Unless ``OFLOCAL_WORKERS_IN_PROCESS=0`` (separate ``oflocal worker``
processes), the app runs a worker of its own from start-up to shutdown."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar import Litestar, Router, get
from litestar.config.compression import CompressionConfig
from litestar.datastructures import State
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin, SwaggerRenderPlugin

from oflocal.db.engine import Database
from oflocal.job_kinds import TASKS
from oflocal.jobs.worker import Worker
from oflocal.settings import Settings, get_settings
from oflocal.vouchers.codes import CodeSigner
from oflocal.web import api, pages
from oflocal.web.api import backup as backup_api
from oflocal.web.api import cf_images as cf_images_api
from oflocal.web.api import cf_staff as cf_staff_api
from oflocal.web.api import cf_updates as cf_updates_api
from oflocal.web.api import events as events_api
from oflocal.web.api import ledger as ledger_api
from oflocal.web.api import payments as payments_api
from oflocal.web.api import pledges as pledges_api
from oflocal.web.api import printing as printing_api
from oflocal.web.api import programmes as programmes_api
from oflocal.web.api import reports as reports_api
from oflocal.web.api import session as session_api
from oflocal.web.api import settlement as settlement_api
from oflocal.web.api import staff as staff_api
from oflocal.web.api import treasury as treasury_api
from oflocal.web.api import vouchers as vouchers_api
from oflocal.web.body import BodyTimeoutMiddleware
from oflocal.web.errors import EXCEPTION_HANDLERS, allow_every_method, require_json_body
from oflocal.web.openapi import ApiContract, RequestSchemas
from oflocal.web.security import ActorMiddleware, roles_guard
from oflocal.web.state import Services

TEMPLATES = Path(__file__).resolve().parents[3] / "templates"
STOP_SECONDS = 20.0  # at shutdown, how long running jobs get to stop or finish


@get("/health", sync_to_thread=False, tags=["system"])
def health() -> dict[str, str]:
    """Liveness check for monitoring."""
    return {"status": "ok"}


def api_routers() -> list[Router]:
    return [session_api.router, vouchers_api.router, events_api.router, programmes_api.router,
            staff_api.router, ledger_api.router, settlement_api.router, reports_api.router,
            printing_api.router, payments_api.router, pledges_api.router,
            cf_staff_api.router, cf_images_api.router, cf_updates_api.router,
            treasury_api.router, backup_api.router]


def create_app(settings: Settings | None = None, db: Database | None = None,
               extra_routes: list[Any] | None = None) -> Litestar:
    settings = settings or get_settings()
    database = db or Database(settings.database_url, pool_size=settings.db_pool_size)
    app = build_app(body_timeout=settings.body_timeout_seconds, extra_routes=extra_routes)
    install(app, settings, database)
    return app


def install(app: Litestar, settings: Settings, database: Database) -> None:
    """Point a built app at one installation: its settings, database, ticket signer and
    (unless workers run apart) a job worker of its own, started and stopped with the app.
    Everything a request reads about the installation comes from here."""
    app.state.services = Services(settings=settings, db=database,
                                  signer=CodeSigner(settings.secret_key))
    app.state.job_worker = (Worker(database, settings, TASKS, name="web")
                            if settings.jobs.in_process else None)


def _start(app: Litestar) -> None:
    if app.state.job_worker is not None:
        app.state.job_worker.start()


def _stop(app: Litestar) -> None:
    # A job still running is asked to stop (a print job is given back to the queue).
    if app.state.job_worker is not None:
        app.state.job_worker.stop(timeout=STOP_SECONDS)
    app.state.services.db.dispose()


def build_app(*, body_timeout: float, extra_routes: list[Any] | None = None) -> Litestar:
    """The routes, pages, middleware and API document, the same for every installation
    (``install`` gives the app its own): building them is most of an app's start-up
    time (Litestar copies and inspects every handler), which the tests pay once per
    worker rather than once per test."""
    v1 = Router(path="/api/v1", route_handlers=[health, *api_routers()],
                before_request=require_json_body)
    assert api.__doc__  # the package documents the API's shape
    return Litestar(
        route_handlers=[v1, *pages.routers(), *(extra_routes or [])],
        state=State({"page_error_renderer": pages.render_refusal}),
        template_config=pages.template_config(TEMPLATES),
        middleware=[
            DefineMiddleware(BodyTimeoutMiddleware, timeout=body_timeout),
            DefineMiddleware(ActorMiddleware, exclude=["/schema"]),
        ],
        guards=[roles_guard],
        plugins=[RequestSchemas(), ApiContract()],  # the document says what the server does
        exception_handlers=EXCEPTION_HANDLERS,
        before_send=[allow_every_method],
        # Pictures (opt no_compression) are compressed already: gzip would only cost CPU.
        compression_config=CompressionConfig(backend="gzip", minimum_size=2048,
                                             exclude_opt_key="no_compression"),
        openapi_config=OpenAPIConfig(
            title="oflocal API",
            version="1.0.0",
            description=(
                "Premium vouchers, desk sales, redemptions and settlement for open-factory "
                "events. Errors always have the shape "
                "`{code, message, message_ja, message_en, detail}`; codes are stable."
            ),
            path="/schema",
            render_plugins=[ScalarRenderPlugin(), SwaggerRenderPlugin(path="/swagger")],
        ),
        on_startup=[_start],
        on_shutdown=[_stop],
        debug=False,
    )
