"""A real server and Debian's chromium, driven by Playwright.

One uvicorn server per test session, in a thread on a free 127.0.0.1 port, over a fresh
SQLite database with the demo event, staff logins and workshop PINs. Tests take
different tickets and booklets, so they can share it.

Without ``/usr/bin/chromium`` the tests are skipped, unless ``OFLOCAL_REQUIRE_BROWSER=1``
(CI sets it): then they fail. Screenshots go to a temporary folder; with
``OFLOCAL_UPDATE_SCREENSHOTS=1`` they replace the ones in ``docs/img/``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

# The outbox tests' local SMTP server (tests/outbox/mail_helpers.py) receives the live
# server's mail, so a test reads a link the way a supporter would: from the message.
sys.path.insert(0, str(Path(__file__).parents[1] / "outbox"))

import pytest
from argon2 import PasswordHasher
from browser_live import DESKTOP, PHONE, LiveServer, serve, watched_page
from mail_helpers import Handler, LocalSMTP

from oflocal.auth import service as auth_service
from oflocal.auth.service import create_staff_user, set_workshop_pin
from oflocal.db import migrate
from oflocal.db.engine import Database
from oflocal.demo import DEMO_PIN, STAFF_LOGINS, WORKSHOPS, build_event
from oflocal.settings import Mail, Settings
from oflocal.vouchers.codes import CodeSigner
from oflocal.web.app import create_app

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    if not CHROMIUM.exists():
        message = f"browser tests need Debian's chromium at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("OFLOCAL_REQUIRE_BROWSER") == "1":
            pytest.fail(message + "; OFLOCAL_REQUIRE_BROWSER=1 makes this an error")
        pytest.skip(message)
    return CHROMIUM


@pytest.fixture(scope="session")
def live_server(
    chromium_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("live")
    url = f"sqlite:///{folder / 'oflocal.db'}"
    secret = os.environ["OFLOCAL_SECRET_KEY"].encode()
    signer = CodeSigner(secret)
    db = Database(url)
    migrate.upgrade(db.engine)
    with db.write() as session:
        scenario = build_event(session, signer, workshops=4, booklets=40)
    # Cheap argon2 parameters for the demo logins (verifying reads them from each hash).
    usual = auth_service._hasher
    auth_service._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    try:
        for username, name, role, password in STAFF_LOGINS:
            create_staff_user(db, username=username, display_name=name, role=role,
                              password=password)
        for code in scenario.workshop_codes:
            set_workshop_pin(db, event_slug="demo", workshop_code=code, pin=DEMO_PIN)
    finally:
        auth_service._hasher = usual
    mailbox = Handler()
    smtp = LocalSMTP(mailbox, hostname="127.0.0.1", port=0)
    smtp.start()
    settings = Settings(data_dir=folder, database_url=url, secret_key=secret,
                        mail=Mail(smtp_host="127.0.0.1", smtp_port=smtp.port,
                                  smtp_starttls=False,
                                  mail_from="オープンファクトリー <info@example.jp>"))
    try:
        with serve(create_app(settings, db)) as base_url:
            yield LiveServer(
                url=base_url,
                db=db,
                signer=signer,
                programme_id=scenario.programme_id,
                workshop_names=[w[0] for w in WORKSHOPS[: len(scenario.workshop_ids)]],
                booklets=scenario.booklet_codes,
                mailbox=mailbox,
            )
    finally:
        smtp.stop()
        db.dispose()


@pytest.fixture(scope="session")
def browser(chromium_path: Path) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium_path),
                                             args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def phone(browser: Any, live_server: LiveServer) -> Iterator[Any]:
    """A page in a fresh phone-sized context (390 × 844, touch), in Japanese."""
    yield from watched_page(browser.new_context(
        viewport=PHONE, device_scale_factor=1, is_mobile=True, has_touch=True, locale="ja-JP",
        base_url=live_server.url))


@pytest.fixture
def desktop(browser: Any, live_server: LiveServer) -> Iterator[Any]:
    """A page in a fresh desk-PC context (1024 × 860), in Japanese."""
    yield from watched_page(browser.new_context(
        viewport=DESKTOP, device_scale_factor=1, locale="ja-JP",
        base_url=live_server.url))


@pytest.fixture(scope="session")
def screenshot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if os.environ.get("OFLOCAL_UPDATE_SCREENSHOTS") == "1":
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        return DOCS_IMG
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture
def shoot(screenshot_dir: Path) -> Callable[[Any, str], Path]:
    """Save a small PNG (palette of 64 colours) of the page as it is now."""

    def _shoot(page: Any, name: str) -> Path:
        from PIL import Image

        path = screenshot_dir / name
        page.screenshot(path=str(path))
        with Image.open(path) as image:
            small = image.convert("RGB").quantize(colors=64, method=Image.Quantize.MEDIANCUT)
            small.save(path, optimize=True)
        return path

    return _shoot
