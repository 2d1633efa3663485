"""Wrong passwords and PINs lock a login, however many arrive at once.

A black-box attack sent 30 wrong PINs in parallel: 16–20 were checked, and a right PIN
in the burst logged in after up to 17 wrong ones; staff passwords had no lock at all.
Now each attempt is counted by one conditional UPDATE before the secret is checked.
The service tests pin the rules down on both databases; the server tests send the
burst from many threads to two uvicorn processes, as the attacker did.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update

from backends import through_pgbouncer
from oflocal import clock
from oflocal.auth.models import StaffUser
from oflocal.auth.service import (
    create_staff_user,
    login_staff,
    login_workshop,
    set_workshop_pin,
    unlock_staff_user,
)
from oflocal.db.engine import Database
from oflocal.demo import build_event
from oflocal.errors import Refusal
from oflocal.events.models import Workshop
from oflocal.settings import Lockout
from oflocal.vouchers.codes import CodeSigner
from serverutil import running_server

PIN = "4821"
PASSWORD = "correct horse battery"
LOCK = Lockout(attempts=5, minutes=15)


@pytest.fixture
def world(db: Database, signer: CodeSigner) -> Database:
    with db.write() as session:
        build_event(session, signer, slug="lock", workshops=2, booklets=0)
    set_workshop_pin(db, event_slug="lock", workshop_code="W01", pin=PIN)
    create_staff_user(db, username="treasurer", display_name="会計", role="treasurer",
                      password=PASSWORD)
    return db


def _workshop(db: Database, pin: str) -> str:
    try:
        login_workshop(db, event_slug="lock", workshop_code="W01", pin=pin, lockout=LOCK)
    except Refusal as refusal:
        return refusal.code
    return "ok"


def _staff(db: Database, password: str) -> str:
    try:
        login_staff(db, "treasurer", password, LOCK)
    except Refusal as refusal:
        return refusal.code
    return "ok"


def test_fifth_wrong_pin_locks_and_the_right_one_waits(world: Database) -> None:
    answers = [_workshop(world, "0000") for _ in range(5)]
    assert answers == ["auth.bad_login"] * 4 + ["auth.locked"]
    assert _workshop(world, PIN) == "auth.locked"  # right, but locked


def test_right_pin_clears_the_count(world: Database) -> None:
    assert [_workshop(world, "0000") for _ in range(4)] == ["auth.bad_login"] * 4
    assert _workshop(world, PIN) == "ok"
    assert [_workshop(world, "0000") for _ in range(4)] == ["auth.bad_login"] * 4


def test_an_expired_lock_starts_a_new_count(world: Database) -> None:
    for _ in range(5):
        _workshop(world, "0000")
    with world.write() as session:  # fifteen minutes later
        session.execute(update(Workshop).where(Workshop.code == "W01")
                        .values(locked_until=clock.now() - timedelta(seconds=1)))
    assert _workshop(world, "0000") == "auth.bad_login"
    with world.read() as session:
        row = session.execute(select(Workshop).where(Workshop.code == "W01")).scalar_one()
        assert (row.failed_pins, row.locked_until) == (1, None)
    assert _workshop(world, PIN) == "ok"


def test_staff_passwords_lock_too_and_an_admin_unlocks(world: Database) -> None:
    answers = [_staff(world, "wrong password!") for _ in range(5)]
    assert answers == ["auth.bad_login"] * 4 + ["auth.locked"]
    assert _staff(world, PASSWORD) == "auth.locked"
    unlock_staff_user(world, "treasurer")
    assert _staff(world, PASSWORD) == "ok"
    with world.read() as session:
        user = session.execute(select(StaffUser)).scalar_one()
        assert (user.failed_logins, user.locked_until) == (0, None)


def test_a_new_pin_unlocks_the_workshop(world: Database) -> None:
    for _ in range(5):
        _workshop(world, "0000")
    set_workshop_pin(world, event_slug="lock", workshop_code="W01", pin="5555")
    assert _workshop(world, "5555") == "ok"


# ----------------------------------------------------------------- through the server

BURST = 30


def _burst(base: str, path: str, bodies: list[dict[str, str]]) -> Counter[int]:
    def send(body: dict[str, str]) -> int:
        # Plain HTTP: verify=False spares each client the 30 ms of loading the CA bundle
        # (which also spread the burst out).
        with httpx.Client(base_url=base, timeout=60, verify=False) as client:
            return client.post(path, json=body).status_code

    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        return Counter(pool.map(send, bodies))


@pytest.mark.slow
@through_pgbouncer
def test_parallel_wrong_pins_and_passwords_get_five_checks(
    world: Database, db_url: str, tmp_path: Path
) -> None:
    with running_server(db_url, tmp_path, workers=2) as base:
        wrong_pins = [{"event": "lock", "workshop_code": "W01", "pin": f"{9000 + i}"}
                      for i in range(BURST)]
        statuses = _burst(base, "/api/v1/session/workshop", wrong_pins)
        # Four answered "wrong", the fifth checked one locked, the rest never checked.
        assert statuses == Counter({401: 4, 429: BURST - 4})
        right = {"event": "lock", "workshop_code": "W01", "pin": PIN}
        assert httpx.post(base + "/api/v1/session/workshop", json=right).status_code == 429

        wrong_passwords = [{"username": "treasurer", "password": f"guess number {i}"}
                           for i in range(BURST)]
        statuses = _burst(base, "/api/v1/session/staff", wrong_passwords)
        assert statuses == Counter({401: 4, 429: BURST - 4})
        right = {"username": "treasurer", "password": PASSWORD}
        assert httpx.post(base + "/api/v1/session/staff", json=right).status_code == 429
