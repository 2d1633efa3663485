"""A backup taken while 16 booths redeem over HTTP, restored, audited, and put back to
work, on SQLite and on PostgreSQL.

One world per database, made once for the module: an event whose installation has its
own signing secret (not the tests' usual one, so the restored installation can only
check tickets with the secret the backup carried), 500 sold tickets, one uvicorn
server, 16 clients (4 per workshop, each with its own bearer token) redeeming their own
tickets one by one. When a third have been acknowledged, the test takes an encrypted
backup in its own process while the clients go on; at two thirds the clients wait for
the backup to end, then redeem the rest. The tests then restore it with ``oflocal
restore`` into a new installation (a folder; on PostgreSQL an empty database too) and
check that it holds every redemption acknowledged before the backup began and nothing
the clients did not send, that the auditor passes and the books equal the manifest,
that the restored installation accepts the tickets printed before the backup (and the
bearer tokens issued before it) and refuses forged ones, and that a restore refuses an
altered file, a wrong passphrase and an installation already in place.
"""

from __future__ import annotations

import os
import shlex
import stat
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from litestar.testing import TestClient
from sqlalchemy import create_engine, make_url, select, text

from oflocal import clock
from oflocal.auth.service import issue_api_token
from oflocal.backup import archive, status
from oflocal.backup.create import create_backup
from oflocal.backup.restore import restore
from oflocal.cli import main
from oflocal.db.engine import Database
from oflocal.demo import build_event
from oflocal.errors import Refusal
from oflocal.events.setup import ProgrammeTerms, create_programme
from oflocal.settings import Backup, Settings, from_env, normalise_database_url
from oflocal.vouchers.codes import CodeSigner
from oflocal.vouchers.desk import sell_booklets
from oflocal.vouchers.issue import add_booklets
from oflocal.vouchers.models import Redemption, Ticket
from serverutil import running_server, server_log
from test_race import KeepAlive

pytestmark = [pytest.mark.slow]

SECRET = b"backup-world-secret-0123456789abcdef"
PASSPHRASE = "a long passphrase for the usb stick"
CLIENTS = 16
WORKSHOPS = 4
PER_BOOKLET = 5
BOOKLETS, SOLD = 110, 100  # 500 sold tickets; 10 booklets stay in the drawer
PER_CLIENT = 28  # 448 redeemed by the clients; 52 sold tickets left for later
FACE = 500


@dataclass
class World:
    kind: str
    url: str
    data_dir: Path
    backups: Path
    backup: Path
    programme_id: int
    tokens: list[str]
    before: set[str]  # acknowledged before the backup began
    during: int  # acknowledged while it ran
    sent: set[str]  # every code a client sent
    left: list[str]  # sold, never sent
    scratch: Path
    databases: list[str] = field(default_factory=list)  # PostgreSQL ones to drop


def _seed(db: Database) -> tuple[int, list[str], list[str]]:
    signer = CodeSigner(SECRET)
    now = clock.now()
    day = clock.tokyo_date(now)
    with db.write() as session:
        scenario = build_event(session, signer, slug="backup", workshops=WORKSHOPS, booklets=0)
        programme, _ = create_programme(session, scenario.event_id, ProgrammeTerms(
            name="backup", price=2000, face_value=FACE * PER_BOOKLET,
            denominations=[FACE] * PER_BOOKLET, sales_starts_at=now - timedelta(days=1),
            sales_ends_at=now + timedelta(days=3), issue_date=day - timedelta(days=1),
            valid_from=day - timedelta(days=1), valid_until=day + timedelta(days=3),
            premium_budget=10_000_000, max_booklets_per_sale=50))
        batch = add_booklets(session, signer, programme.id, BOOKLETS, now=now, actor="test")
        programme_id = programme.id
    covers = [signer.make("B", programme_id, batch.first_booklet_serial + i)
              for i in range(BOOKLETS)]
    for i in range(0, SOLD, 50):
        sell_booklets(db, signer, programme_id=programme_id, codes=covers[i:i + 50],
                      payment_method="cash", actor="staff:test")
    with db.read() as session:
        tickets = list(session.execute(select(Ticket.code).where(
            Ticket.status == "active").order_by(Ticket.serial)).scalars())
    tokens = [issue_api_token(db, name=f"booth-{i}",
                              workshop_id=scenario.workshop_ids[i % WORKSHOPS])
              for i in range(CLIENTS)]
    return programme_id, tickets, tokens


def _source_settings(url: str, data_dir: Path, backups: Path) -> Settings:
    return Settings(data_dir=data_dir, database_url=url, secret_key=SECRET,
                    backup=Backup(dir=backups))


def _redeem_during_backup(world_url: str, data_dir: Path, backups: Path, port: int,
                          tokens: list[str], tickets: list[str]) -> tuple[Path, set[str], int]:
    """16 clients redeem their tickets; the backup starts at a third acknowledged."""
    acks: list[tuple[float, str]] = []  # (when acknowledged, code): list.append is atomic
    third, two_thirds = threading.Event(), threading.Event()
    backed_up = threading.Event()
    total = CLIENTS * PER_CLIENT

    def client(index: int) -> None:
        http = KeepAlive(port, tokens[index])
        mine = tickets[index * PER_CLIENT:(index + 1) * PER_CLIENT]
        try:
            for n, code in enumerate(mine):
                if n == 2 * PER_CLIENT // 3:
                    backed_up.wait(120)  # the last third only once the backup is done
                status_, body = http.post("/api/v1/redemptions", {"codes": [code]},
                                          f"booth-{index}-{code}")
                assert status_ == 201, body
                acks.append((time.monotonic(), code))
                if len(acks) >= total // 3:
                    third.set()
                if len(acks) >= 2 * total // 3:
                    two_thirds.set()
        finally:
            http.close()

    with ThreadPoolExecutor(CLIENTS) as pool:
        futures = [pool.submit(client, i) for i in range(CLIENTS)]
        try:
            assert third.wait(120), "the clients did not get going"
            began = time.monotonic()
            result = create_backup(_source_settings(world_url, data_dir, backups),
                                   target=backups, passphrase=PASSPHRASE)
            ended = time.monotonic()
        finally:
            backed_up.set()
        for future in futures:
            future.result()
    before = {code for at, code in acks if at < began}
    during = sum(1 for at, _ in acks if began <= at <= ended)
    return result.path, before, during


def _admin(url: str) -> Any:
    return create_engine(normalise_database_url(url).rsplit("/", 1)[0] + "/postgres",
                         isolation_level="AUTOCOMMIT")


def fresh_postgres(world: World) -> str:
    """An empty database on the world's server, dropped with the world."""
    name = f"oflocal_restore_{uuid.uuid4().hex[:10]}"
    admin = _admin(world.url)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    world.databases.append(name)
    return str(make_url(normalise_database_url(world.url)).set(database=name)
               .render_as_string(hide_password=False))


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def world(request: pytest.FixtureRequest, templates: Any,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    url = templates.sqlite_url() if request.param == "sqlite" else templates.postgres_url()
    root = tmp_path_factory.mktemp(f"backup-{request.param}")
    data_dir, backups, scratch = root / "var", root / "usb", root / "scratch"
    for folder in (data_dir, backups, scratch):
        folder.mkdir()
    db = Database(url)
    try:
        programme_id, tickets, tokens = _seed(db)
    finally:
        db.dispose()
    assert len(tickets) == SOLD * PER_BOOKLET
    sent = tickets[:CLIENTS * PER_CLIENT]
    with running_server(url, data_dir, secret=SECRET.decode(),
                        env={"OFLOCAL_WORKERS_IN_PROCESS": "0"}) as base:
        try:
            backup, before, during = _redeem_during_backup(
                url, data_dir, backups, int(base.rsplit(":", 1)[1]), tokens, sent)
        except BaseException:
            print(server_log(data_dir)[-3000:])
            raise
    the_world = World(request.param, url, data_dir, backups, backup, programme_id, tokens,
                      before, during, set(sent), tickets[len(sent):], scratch)
    yield the_world
    if the_world.databases:
        admin = _admin(url)
        with admin.connect() as conn:
            for name in the_world.databases:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@dataclass
class Restored:
    data_dir: Path
    database_url: str
    output: str


@pytest.fixture(scope="module")
def restored(world: World) -> Restored:
    """``oflocal restore`` into a new installation, as a committee would run it."""
    into = world.scratch / "restored"
    passphrase = world.scratch / "passphrase"
    passphrase.write_text(PASSPHRASE + "\n")
    args = ["restore", str(world.backup), "--into", str(into), "--passphrase-file",
            str(passphrase)]
    url = f"sqlite:///{into / 'oflocal.db'}"
    if world.kind == "postgres":
        url = fresh_postgres(world)
        args += ["--database-url", url]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return Restored(into, url, result.output)


def test_the_backup_ran_while_the_booths_redeemed(world: World) -> None:
    assert world.backup.name.endswith(".ofbak") and world.backup.parent == world.backups
    assert len(world.before) >= CLIENTS * PER_CLIENT // 3
    assert world.during > 0, "no redemption was acknowledged while the backup ran"
    assert stat.S_IMODE(world.backup.stat().st_mode) == 0o600  # it holds the secret
    assert archive.read_header(world.backup)[0].encrypted
    shown = status.read_status(world.data_dir)
    assert shown is not None and shown.last_ok and shown.last_good_file == world.backup.name


def test_restored_books_hold_every_acknowledged_redemption(world: World,
                                                           restored: Restored) -> None:
    out = restored.output
    assert "✓ the same books as the manifest" in out, out
    assert "✓ auditor" in out and "✕" not in out, out
    assert "signing secret: " in out
    assert (restored.data_dir / "secret_key").read_bytes() == SECRET
    db = Database(restored.database_url)
    try:
        with db.read() as session:
            codes = set(session.execute(
                select(Ticket.code).join(Redemption, Redemption.ticket_id == Ticket.id)
            ).scalars())
    finally:
        db.dispose()
    assert world.before <= codes, f"{len(world.before - codes)} acknowledged ones lost"
    assert codes <= world.sent
    assert codes != world.sent, "the backup was taken after the last redemption"


def _restored_env(restored: Restored) -> dict[str, str]:
    env = {}
    for line in (restored.data_dir / "oflocal.env").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            env[name] = shlex.split(value)[0]
    return env


def test_restored_installation_checks_the_tickets_printed_before(
        world: World, restored: Restored, monkeypatch: pytest.MonkeyPatch) -> None:
    """The restored installation, from its own oflocal.env and secret_key file only."""
    env = _restored_env(restored)
    assert env["OFLOCAL_DATA_DIR"] == str(restored.data_dir)
    monkeypatch.delenv("OFLOCAL_SECRET_KEY", raising=False)
    monkeypatch.delenv("OFLOCAL_DATABASE_URL", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("OFLOCAL_WORKERS_IN_PROCESS", "0")
    settings = from_env()
    assert settings.secret_key == SECRET
    assert make_url(settings.database_url).database == make_url(
        normalise_database_url(restored.database_url)).database
    from oflocal.web.app import create_app

    forged = CodeSigner(b"somebody else's secret").make("T", world.programme_id, 3)
    redeemed = sorted(world.before)[0]
    with TestClient(app=create_app(settings)) as client:
        headers = {"Authorization": f"Bearer {world.tokens[0]}"}  # issued before the backup

        def redeem(code: str) -> Any:
            return client.post("/api/v1/redemptions", json={"codes": [code]},
                               headers={**headers, "Idempotency-Key": f"after-{code}"})

        accepted = redeem(world.left[0])
        assert accepted.status_code == 201, accepted.text
        assert accepted.json()["total"] == FACE
        refused = redeem(forged)
        assert refused.status_code == 404 and refused.json()["code"] == "code.unknown"
        again = redeem(redeemed)
        assert again.status_code == 409
        assert again.json()["code"] == "ticket.already_redeemed"


def test_restore_refuses_an_altered_file_a_wrong_passphrase_and_a_live_installation(
        world: World, restored: Restored) -> None:
    altered = world.scratch / "altered.ofbak"
    data = bytearray(world.backup.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit, in the middle of the sealed body
    altered.write_bytes(bytes(data))
    target = world.scratch / "never"
    database = fresh_postgres(world) if world.kind == "postgres" else None
    with pytest.raises(Refusal) as checksum:
        restore(altered, target, passphrase=PASSPHRASE, database_url=database)
    assert checksum.value.code == "backup.checksum_mismatch"
    with pytest.raises(Refusal) as wrong:
        restore(world.backup, target, passphrase="not the passphrase at all",
                database_url=database)
    assert wrong.value.code == "backup.wrong_passphrase"
    with pytest.raises(Refusal) as missing:
        restore(world.backup, target, database_url=database)
    assert missing.value.code == "backup.passphrase_needed"
    # Nothing was built: no database, no secret, and an empty PostgreSQL database.
    assert (sorted(p.name for p in target.iterdir()) if target.exists() else []) == []
    if database is not None:
        engine = create_engine(normalise_database_url(database))
        with engine.connect() as conn:
            assert conn.execute(text(
                "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")).scalar_one() == 0
        engine.dispose()
    # The installation restored before is not overwritten without --force.
    with pytest.raises(Refusal) as live:
        restore(world.backup, restored.data_dir, passphrase=PASSPHRASE,
                database_url=restored.database_url if world.kind == "postgres" else None)
    assert live.value.code == "restore.target_not_empty"
    assert (restored.data_dir / "secret_key").read_bytes() == SECRET


@pytest.mark.parametrize("world", ["postgres"], indirect=True)  # pg_dump is PostgreSQL's
def test_pg_dump_older_than_the_server_is_refused_by_name(world: World, tmp_path: Path) -> None:
    fake = tmp_path / "bin"
    fake.mkdir()
    script = fake / "pg_dump"
    script.write_text("#!/bin/sh\necho 'pg_dump (PostgreSQL) 9.6.24'\n")
    script.chmod(0o755)
    target = tmp_path / "usb"
    target.mkdir()
    settings = Settings(data_dir=tmp_path / "var", database_url=world.url, secret_key=SECRET,
                        backup=Backup(dir=target, pg_bin_dir=str(fake)))
    with pytest.raises(Refusal) as refused:
        create_backup(settings, target=target)
    assert refused.value.code == "backup.pg_dump_too_old"
    assert refused.value.facts["client"] == "9.6"
    assert int(str(refused.value.facts["server"]).split(".")[0]) >= 10
    assert "9.6" in refused.value.message("en") and "older than" in refused.value.message("en")
    assert list(target.iterdir()) == []
    recorded = status.read_status(settings.data_dir)
    assert recorded is not None and recorded.error_code == "backup.pg_dump_too_old"
    assert not os.path.exists(settings.data_dir / "backup-work")
