"""ASGI entry point for servers: ``uvicorn --factory oflocal.web.asgi:app_from_env``.

Each worker process builds its own engine from the ``OFLOCAL_*`` environment."""

from __future__ import annotations

from litestar import Litestar

from oflocal.web.app import create_app


def app_from_env() -> Litestar:
    return create_app()
