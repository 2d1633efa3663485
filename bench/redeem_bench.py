"""Redemption throughput: through the HTTP API, through the service function, and as the
bare transaction on the database driver, side by side in one run.

Runs alone (``python bench/redeem_bench.py --seconds 10``) or from ``make bench``.

For each backend (PostgreSQL database ``oflocal_bench`` on the 127.0.0.1 server, created
and dropped here; SQLite in a temporary folder) it

1. migrates and seeds an event (workshops, a programme, enough sold tickets);
2. runs one phase per mode of ``--modes``, one after the other: ``--clients`` clients
   (spread over the workshops) each redeem one distinct ticket per request, back to
   back, for ``--seconds`` after a short warm-up: redemptions/s, p50, p99, and the CPU
   each part (server processes, PostgreSQL backends, this process) spent per redemption;

   * ``http``: uvicorn (``--workers``, or one phase per count of ``--server-workers``
     on PostgreSQL) on a free 127.0.0.1 port; keep-alive clients, one bearer token and
     ``Idempotency-Key`` per request;
   * ``direct``: :func:`oflocal.vouchers.redeem.redeem_tickets` from threads of this
     process, without HTTP, with the same idempotency keys;
   * ``raw``: the same rows written by hand through the driver (psycopg, autocommit
     off, one connection per thread; or sqlite3 with the engine's pragmas and ``BEGIN
     IMMEDIATE``), one statement per round trip: the conditional ``UPDATE ticket …
     RETURNING``, ``INSERT journal_entry … RETURNING id``, two ``INSERT posting``,
     ``INSERT redemption``, ``INSERT idempotency_record``, ``COMMIT``;
   * ``raw1``: the same writes as one statement of data-modifying CTEs, then ``COMMIT``
     (PostgreSQL only: SQLite's WITH takes no INSERT or UPDATE);

3. with ``--via-pgbouncer URL`` (PostgreSQL): the http phases and the raw phases again,
   the server processes and raw connections going through PgBouncer (seeding,
   migration and checks connect directly); skipped, with the reason, when PgBouncer
   does not answer;
4. checks the books (the auditor, ``oflocal.audit.verify``), that every 201 is one live
   redemption with its stored key, and that one redemption of each mode wrote the same
   rows as the service (same tables, columns and values but ids and times).

Tickets come from one shared queue for the whole run; a phase that empties it ends
there and its rate is over the seconds it measured (printed in the ``s`` column).
The HTTP load generator is a minimal asyncio HTTP/1.1 client (a few dozen lines below)
rather than httpx, so that on a 2-core machine the measuring tool does not eat the CPU
the server needs. ``--client httpx`` uses httpx threads instead, for comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import math
import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

SECRET = "bench-secret-key-0123456789abcdef"
os.environ.setdefault("OFLOCAL_SECRET_KEY", SECRET)

import psycopg  # noqa: E402
from sqlalchemy import create_engine, func, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from oflocal import clock  # noqa: E402
from oflocal.audit import verify  # noqa: E402
from oflocal.auth.service import issue_api_token  # noqa: E402
from oflocal.db import migrate  # noqa: E402
from oflocal.db.engine import Database  # noqa: E402
from oflocal.demo import build_event  # noqa: E402
from oflocal.events.setup import ProgrammeTerms, create_programme  # noqa: E402
from oflocal.idempotency.store import IdempotencyKey, request_hash  # noqa: E402
from oflocal.ledger.accounts import liability_code, payable_code  # noqa: E402
from oflocal.settings import normalise_database_url  # noqa: E402
from oflocal.vouchers.codes import CodeSigner  # noqa: E402
from oflocal.vouchers.desk import sell_booklets  # noqa: E402
from oflocal.vouchers.issue import add_booklets  # noqa: E402
from oflocal.vouchers.models import Redemption, Ticket  # noqa: E402
from oflocal.vouchers.redeem import redeem_tickets  # noqa: E402

REDEEM_PATH = "/api/v1/redemptions"
TICKETS_PER_BOOKLET = 10
BOOKLETS_PER_SALE = 50
UNDO_WINDOW = 600  # the service's default (settings.undo_window_seconds)
MODES = ("http", "direct", "raw", "raw1")
RAW_MODES = ("raw", "raw1")
BENCH_DB = "oflocal_bench"


# --------------------------------------------------------------------------- set-up


@dataclass
class Seeded:
    event_id: int
    workshop_ids: list[int]
    tokens: list[tuple[int, str]]  # (workshop id, bearer token), one per client
    tickets: list[str]


def seed(db: Database, signer: CodeSigner, *, tickets: int, clients: int) -> Seeded:
    """An event with 8 workshops and ``tickets`` sold ¥500 tickets (sold at the desk)."""
    booklets = -(-tickets // TICKETS_PER_BOOKLET)
    now = clock.now()
    day = clock.tokyo_date(now)
    with db.write() as session:
        scenario = build_event(session, signer, slug="bench", workshops=8, booklets=0)
        programme, _ = create_programme(
            session,
            scenario.event_id,
            ProgrammeTerms(
                name="bench",
                price=4000,
                face_value=500 * TICKETS_PER_BOOKLET,
                denominations=[500] * TICKETS_PER_BOOKLET,
                sales_starts_at=now - timedelta(days=1),
                sales_ends_at=now + timedelta(days=3),
                issue_date=day - timedelta(days=1),
                valid_from=day - timedelta(days=1),
                valid_until=day + timedelta(days=3),
                premium_budget=10**12,
                max_booklets_per_sale=BOOKLETS_PER_SALE,
            ),
        )
        programme_id = programme.id
        first = 0
        for start in range(0, booklets, 20000):
            batch = add_booklets(
                session, signer, programme_id, min(20000, booklets - start), now=now, actor="bench"
            )
            if start == 0:
                first = batch.first_booklet_serial
    codes = [signer.make("B", programme_id, first + i) for i in range(booklets)]
    for i in range(0, len(codes), BOOKLETS_PER_SALE):
        sell_booklets(
            db,
            signer,
            programme_id=programme_id,
            codes=codes[i : i + BOOKLETS_PER_SALE],
            payment_method="cash",
            actor="bench",
        )
    with db.read() as session:
        ticket_codes = list(
            session.execute(
                select(Ticket.code).where(Ticket.programme_id == programme_id).order_by(Ticket.id)
            ).scalars()
        )
    ids = scenario.workshop_ids
    tokens = [
        (ids[i % len(ids)], issue_api_token(db, name=f"bench-{i}", workshop_id=ids[i % len(ids)]))
        for i in range(clients)
    ]
    random.Random(7).shuffle(ticket_codes)
    return Seeded(scenario.event_id, ids, tokens, ticket_codes)


def settle_after_seeding(db: Database) -> None:
    """Write the seed's pages out and refresh the planner's statistics before the first
    phase, so that no phase pays for the seeding (a checkpoint or autovacuum under it)."""
    if db.is_sqlite:
        with db.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        return
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE")
        conn.exec_driver_sql("CHECKPOINT")


def errors_in(log: Path, most: int = 3) -> list[str]:
    """The distinct exception lines of a server log (first ``most``), ids blanked."""
    found: list[str] = []
    for line in log.read_text(errors="replace").splitlines():
        match = re.match(r"^[\s|]*([\w.]+(Error|Exception)\b.*)", line)
        if match and not match.group(1).startswith("ExceptionGroup"):
            text = re.sub(r"\d+", "N", match.group(1))[:200]
            if text not in found:
                found.append(text)
    return found[:most]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    base: str
    pid: int
    log: Path


@contextlib.contextmanager
def uvicorn_server(db_url: str, data_dir: Path, workers: int) -> Iterator[Server]:
    port = free_port()
    env = {
        **os.environ,
        "OFLOCAL_DATABASE_URL": db_url,
        "OFLOCAL_SECRET_KEY": SECRET,
        "OFLOCAL_DATA_DIR": str(data_dir),
        "PYTHONPATH": str(ROOT / "src"),
    }
    log_path = data_dir / "uvicorn.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "uvicorn", "--factory", "oflocal.web.asgi:app_from_env",
            "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
            "--no-access-log", "--log-level", "warning",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                log.flush()
                lines = log_path.read_text(errors="replace").strip().splitlines()
                raise RuntimeError("uvicorn exited: " + (
                    "; ".join(errors_in(log_path)) or (lines[-1] if lines else "no output")))
            try:
                with urllib.request.urlopen(base + "/api/v1/health", timeout=1) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not answer within 30 s")
            time.sleep(0.1)
        yield Server(base, proc.pid, log_path)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


# --------------------------------------------------------------------------- measuring


@dataclass(frozen=True)
class Phase:
    mode: str  # http, direct, raw, raw1
    workers: int | str  # uvicorn processes (http) or "-"
    via: str  # "" (straight to the database) or "pgbouncer"
    tag: str  # first part of the phase's Idempotency-Keys: "<tag>-<client>-<n>"


@dataclass
class Result:
    backend: str
    mode: str
    clients: int
    workers: int | str
    seconds: float  # measured: shorter than asked when the tickets ran out
    via: str = ""
    ok: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    ran_out: bool = False
    cpu: dict[str, float] = field(default_factory=dict)  # CPU ms per redemption, by part
    busy: float = math.nan  # share of the machine's CPU time that was busy in the window
    connections: int | None = None  # PostgreSQL sessions opened during the window

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds > 0 else 0.0

    def pct(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    def merge(self, other: Result) -> None:
        self.ok += other.ok
        self.statuses.update(other.statuses)
        self.latencies.extend(other.latencies)
        self.ran_out |= other.ran_out


class Window:
    """Counts what completes between ``start`` and ``end`` (after the warm-up), wherever
    it began: completions in the window ÷ its length is the rate without the edge loss
    of counting only requests that also began inside it (a few per client, which
    mattered when a request took a sizeable part of the window). When the tickets run
    out the window closes there, for every client."""

    def __init__(self, warmup: float, seconds: float) -> None:
        self.start = time.perf_counter() + warmup
        self.end = self.start + seconds
        self.closed = threading.Event()

    def record(self, result: Result, began: float, status: int) -> bool:
        done = time.perf_counter()
        if self.start <= done <= self.end:
            result.statuses[status] += 1
            result.latencies.append(done - began)
            if status == 201:
                result.ok += 1
        return done < self.end

    def ran_out(self) -> None:
        self.end = min(self.end, time.perf_counter())
        self.closed.set()

    def measured(self) -> float:
        return max(0.0, self.end - self.start)


class _Pool:
    """One queue of tickets that every client of every phase draws from (thread-safe):
    a fast client is not left without tickets while a slow one still holds its share,
    and what a slow phase leaves is there for the next."""

    def __init__(self, tickets: list[str]) -> None:
        self._tickets = iter(tickets)
        self._lock = threading.Lock()

    def __iter__(self) -> _Pool:
        return self

    def __next__(self) -> str:
        with self._lock:
            return next(self._tickets)


def run_threads(target: Callable[..., None], args: Iterable[tuple[Any, ...]]) -> None:
    threads = [threading.Thread(target=target, args=a) for a in args]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


_first_errors: set[str] = set()


def report_error(where: str, error: BaseException) -> None:
    """Print each kind of failure once (a client's exception becomes status 599)."""
    kind = f"{where}: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
    if kind not in _first_errors:
        _first_errors.add(kind)
        print(f"  error in {kind}", file=sys.stderr, flush=True)


# --- CPU: who spent it, read from /proc when the window opens and when it closes (Linux)

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _proc_stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds) of a process, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICK


def process_tree(root: int) -> list[int]:
    parents: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and (stat := _proc_stat(int(entry.name))) is not None:
            parents.setdefault(stat[0], []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(parents.get(pid, []))
    return tree


def processes_named(name: str) -> list[int]:
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError), open(f"/proc/{entry.name}/comm") as comm:
                if comm.read().strip() == name:
                    found.append(int(entry.name))
    return found


def _machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, all CPUs."""
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:9]]
    idle = values[3] + values[4]
    return (sum(values) - idle) / _TICK, sum(values) / _TICK


class CpuMeter:
    """CPU spent during a phase's window by each part: ``parts()`` names the processes,
    looked up when the window opens and again when it closes (a process that appeared in
    between, e.g. a PostgreSQL backend for a new connection, counts whole; one that
    ended in between is lost); this process (load generator or driver threads) is always
    measured as "bench". ``connections()``, if given, counts the sessions the database
    has opened so far. Measures nothing where there is no /proc."""

    def __init__(self, window: Window, parts: Callable[[], dict[str, list[int]]],
                 connections: Callable[[], int] | None = None) -> None:
        self.window = window
        self.parts = parts
        self.connections = connections
        self.spent: dict[str, float] = {}
        self.opened: int | None = None
        self.busy = math.nan
        self.sampled = threading.Event()  # set once the window's end is sampled (or failed)
        self._thread = threading.Thread(target=self._run, daemon=True)
        if os.path.exists("/proc/stat"):
            self._thread.start()
        else:
            self.sampled.set()

    @staticmethod
    def _cpu(pids: list[int]) -> dict[int, float]:
        return {pid: stat[1] for pid in pids if (stat := _proc_stat(pid)) is not None}

    def _run(self) -> None:
        try:
            self._sample()
        finally:
            self.sampled.set()

    def _sample(self) -> None:
        try:
            time.sleep(max(0.0, self.window.start - time.perf_counter()))
            opened = self.connections() if self.connections else 0
            before = {name: self._cpu(pids) for name, pids in self.parts().items()}
            own, machine, began = os.times(), _machine_cpu(), time.perf_counter()
            self.window.closed.wait(max(0.0, self.window.end - time.perf_counter()))
            after = {name: self._cpu(pids) for name, pids in self.parts().items()}
            own_after, machine_after, ended = os.times(), _machine_cpu(), time.perf_counter()
            if self.connections:
                self.opened = self.connections() - opened
        except Exception as error:  # measuring must never break the phase
            report_error("CPU meter", error)
            return
        # This thread may get the interpreter lock late (32 busy driver threads), so its
        # samples need not fall on the window's edges: scale what it saw to the window.
        scale = self.window.measured() / (ended - began) if ended > began else 1.0
        for name, now in after.items():
            then = before.get(name, {})
            self.spent[name] = scale * sum(t - then.get(pid, 0.0) for pid, t in now.items())
        self.spent["bench"] = scale * (
            (own_after.user + own_after.system) - (own.user + own.system))
        total = machine_after[1] - machine[1]
        self.busy = (machine_after[0] - machine[0]) / total if total > 0 else math.nan

    def finish(self, result: Result) -> None:
        if self._thread.ident is not None:
            self._thread.join(timeout=10)
        result.busy = self.busy
        result.connections = self.opened
        if result.ok:
            result.cpu = {name: s * 1000 / result.ok for name, s in self.spent.items()}


# --------------------------------------------------------------------------- http and direct


async def _raw_client(
    host: str, port: int, token: str, key_tag: str, tickets: Iterable[str],
    window: Window, result: Result,
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    head = (
        f"POST {REDEEM_PATH} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
    )
    try:
        for n, code in enumerate(tickets):
            body = json.dumps({"codes": [code]}).encode()
            request = (
                f"{head}Idempotency-Key: {key_tag}-{n}\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode() + body
            began = time.perf_counter()
            writer.write(request)
            headers = await reader.readuntil(b"\r\n\r\n")
            status = int(headers[9:12])
            length = 0
            for line in headers.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            if not window.record(result, began, status):
                return
        result.ran_out = True
        window.ran_out()
    finally:
        writer.close()


def run_http_raw(base: str, seeded: Seeded, pool: _Pool, window: Window, result: Result,
                 tag: str) -> None:
    host, port = base.removeprefix("http://").split(":")

    async def main() -> None:
        await asyncio.gather(*(
            _raw_client(host, int(port), token, f"{tag}-{i}", pool, window, result)
            for i, (_, token) in enumerate(seeded.tokens)
        ))

    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.run(main())
        return
    asyncio.run(main())


def run_http_httpx(base: str, seeded: Seeded, pool: _Pool, window: Window, result: Result,
                   tag: str) -> None:
    import httpx

    lock = threading.Lock()

    def client(i: int, token: str) -> None:
        local = Result(result.backend, result.mode, 0, 0, 0)
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as http:
            for n, code in enumerate(pool):
                began = time.perf_counter()
                answer = http.post(REDEEM_PATH, json={"codes": [code]},
                                   headers={"Idempotency-Key": f"{tag}-{i}-{n}"})
                if not window.record(local, began, answer.status_code):
                    break
            else:
                local.ran_out = True
                window.ran_out()
        with lock:
            result.merge(local)

    run_threads(client, ((i, t) for i, (_, t) in enumerate(seeded.tokens)))


def run_direct(db: Database, signer: CodeSigner, seeded: Seeded, pool: _Pool,
               window: Window, result: Result, tag: str) -> None:
    """The same transaction as POST /redemptions, called in threads without HTTP."""
    from oflocal.errors import Refusal

    lock = threading.Lock()

    def client(i: int, workshop_id: int) -> None:
        local = Result(result.backend, result.mode, 0, 0, 0)
        for n, code in enumerate(pool):
            codes = [code]
            idem = IdempotencyKey(f"workshop:{workshop_id}", f"{tag}-{i}-{n}",
                                  request_hash(REDEEM_PATH, codes))
            began = time.perf_counter()
            try:
                status = redeem_tickets(db, signer, workshop_id=workshop_id, codes=codes,
                                        idem=idem).status
            except Refusal as refusal:
                status = refusal.status
            if not window.record(local, began, status):
                break
        else:
            local.ran_out = True
            window.ran_out()
        with lock:
            result.merge(local)

    run_threads(client, ((i, w) for i, (w, _) in enumerate(seeded.tokens)))


# --------------------------------------------------------------------------- raw and raw1
#
# What redeem_tickets writes for one ticket, by hand. Written once in SQLite's named
# style; for PostgreSQL ``:name`` becomes ``%(name)s`` and ``IS 1`` becomes ``IS true``
# (what SQLAlchemy renders on each). The database's own guards (triggers: posting balance
# and order, ticket state moves, the redemption's copy of the open period) check every row
# exactly as they check the service's.

# The service's _TAKE (vouchers/redeem.py) for one code.
_TAKE = """UPDATE ticket SET status = 'redeemed'
WHERE ticket.code IN (:code) AND ticket.status = 'active'
  AND ticket.programme_id IN (
    SELECT programme.id FROM programme JOIN workshop ON workshop.event_id = programme.event_id
    WHERE workshop.id = :workshop_id AND workshop.participating IS 1
      AND programme.valid_from <= :today AND programme.valid_until >= :today)
RETURNING id, code, denomination, programme_id,
  (SELECT w.event_id FROM workshop AS w WHERE w.id = :workshop_id) AS event_id,
  (SELECT w.name FROM workshop AS w WHERE w.id = :workshop_id) AS workshop_name,
  (SELECT w.code FROM workshop AS w WHERE w.id = :workshop_id) AS workshop_code"""

RAW_SQL = {
    "take": _TAKE,
    # ledger/journal.py post_entry
    "entry": """INSERT INTO journal_entry
  (event_id, kind, memo, occurred_at, once_key, reverses_entry_id, actor)
VALUES (:event_id, :kind, :memo, :occurred_at, :once_key, :reverses_entry_id, :actor)
RETURNING id""",
    "posting": """INSERT INTO posting (entry_id, account_id, amount, closes_entry)
VALUES (:entry_id, :account_id, :amount, :closes_entry)""",
    # vouchers/redeem.py _RECORD: the open period is read in the INSERT itself
    "redemption": """INSERT INTO redemption
  (ticket_id, workshop_id, programme_id, amount, entry_id, redeemed_at, open_period)
VALUES (:ticket_id, :workshop_id, :programme_id, :amount, :entry_id, :redeemed_at,
  (SELECT event.open_period FROM event WHERE event.id = :event_id))""",
    # idempotency/store.py _record
    "key": """INSERT INTO idempotency_record
  (scope, "key", request_hash, status_code, body, created_at)
VALUES (:scope, :key, :request_hash, :status_code, :body, :created_at)""",
    # All of the above in one statement (PostgreSQL). Liability accounts come as the
    # (programme, account) pairs the service remembers; postings are inserted in order,
    # so the closing one has the higher id, as the posting guard wants. The stored answer
    # is the service's JSON text: :body is it with %s where the database fills in the
    # entry id, workshop name, total, code and denomination.
    "one": "WITH taken AS (" + _TAKE + """),  -- the service's UPDATE, as above
entry AS (
  INSERT INTO journal_entry
    (event_id, kind, memo, occurred_at, once_key, reverses_entry_id, actor)
  SELECT taken.event_id, :kind, :memo_head || taken.workshop_code, :occurred_at,
    NULL, NULL, :actor
  FROM taken
  RETURNING id),
lines AS (
  INSERT INTO posting (entry_id, account_id, amount, closes_entry)
  SELECT entry.id, line.account_id, line.amount, line.closes_entry
  FROM entry CROSS JOIN taken
  JOIN unnest(CAST(:programme_ids AS integer[]), CAST(:liability_ids AS integer[]))
    AS liability (programme_id, account_id) ON liability.programme_id = taken.programme_id
  CROSS JOIN LATERAL (VALUES (1, liability.account_id, taken.denomination, false),
                             (2, CAST(:payable_id AS integer), -taken.denomination, true))
    AS line (n, account_id, amount, closes_entry)
  ORDER BY line.n),
recorded AS (
  INSERT INTO redemption
    (ticket_id, workshop_id, programme_id, amount, entry_id, redeemed_at, open_period)
  SELECT taken.id, :workshop_id, taken.programme_id, taken.denomination, entry.id,
    :redeemed_at, (SELECT event.open_period FROM event WHERE event.id = taken.event_id)
  FROM taken CROSS JOIN entry),
kept AS (
  INSERT INTO idempotency_record
    (scope, "key", request_hash, status_code, body, created_at)
  SELECT :scope, :key, :request_hash, :status_code,
    format(CAST(:body AS text), entry.id, to_json(taken.workshop_name), taken.denomination,
           to_json(taken.code), taken.denomination),
    :created_at
  FROM taken CROSS JOIN entry)
SELECT entry.id FROM entry""",  # noqa: S608 (constant text)
}


def _for_postgres(sql: str) -> str:
    assert "%" not in sql
    return re.sub(r"(?<![:\w]):(\w+)", r"%(\1)s", sql).replace(" IS 1", " IS true")


@dataclass(frozen=True)
class Accounts:
    """Account ids the service remembers per database (redeem._account_ids)."""

    liability: dict[int, int]  # programme id -> voucher liability account
    payable: dict[int, int]  # workshop id -> payable account


def load_accounts(db: Database, event_id: int) -> Accounts:
    with db.read() as session:
        ids: dict[str, int] = dict(session.execute(
            text("SELECT code, id FROM account WHERE event_id = :e"), {"e": event_id}).all())
        programmes = session.execute(
            text("SELECT id FROM programme WHERE event_id = :e"), {"e": event_id}).scalars()
        workshops = session.execute(
            text("SELECT id FROM workshop WHERE event_id = :e"), {"e": event_id}).scalars()
        return Accounts({p: ids[liability_code(p)] for p in programmes},
                        {w: ids[payable_code(w)] for w in workshops})


class RawPostgres:
    """One psycopg connection, autocommit off: psycopg sends BEGIN before the first
    statement, and prepares a statement on the server after 5 runs (as in the app),
    unless it goes through PgBouncer (``prepared=False``)."""

    def __init__(self, conninfo: str, *, prepared: bool = True) -> None:
        self.conn = psycopg.connect(conninfo, autocommit=False,
                                    prepare_threshold=5 if prepared else None)
        self.cur = self.conn.cursor()

    sql: ClassVar[dict[str, str]] = {name: _for_postgres(s) for name, s in RAW_SQL.items()}

    def begin(self) -> None:
        pass

    def run(self, name: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        self.cur.execute(self.sql[name], params)
        return self.cur.fetchall() if self.cur.description else []

    def commit(self) -> None:
        self.conn.commit()

    def rollback(self) -> None:
        self.conn.rollback()

    def close(self) -> None:
        self.conn.close()

    @staticmethod
    def when(moment: datetime) -> Any:
        return moment

    @staticmethod
    def day(value: date) -> Any:
        return value


class RawSqlite:
    """One sqlite3 connection with db/engine.py's pragmas; writes in BEGIN IMMEDIATE.
    Values are stored as SQLAlchemy stores them: naive UTC text with microseconds."""

    def __init__(self, path: str) -> None:
        self.conn = sqlite3.connect(path, timeout=30, isolation_level=None,
                                    check_same_thread=False)
        for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON",
                       "busy_timeout=30000"):
            self.conn.execute(f"PRAGMA {pragma}")

    sql: ClassVar[dict[str, str]] = RAW_SQL

    def begin(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def run(self, name: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        return self.conn.execute(self.sql[name], params).fetchall()

    def commit(self) -> None:
        self.conn.execute("COMMIT")

    def rollback(self) -> None:
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")

    def close(self) -> None:
        self.conn.close()

    @staticmethod
    def when(moment: datetime) -> Any:
        return moment.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")

    @staticmethod
    def day(value: date) -> Any:
        return value.isoformat()


RawConnection = RawPostgres | RawSqlite


def _answer(entry_id: int, workshop_id: int, workshop_name: str, code: str,
            denomination: int, at: datetime) -> dict[str, Any]:
    """The body redeem._redeem returns for one ticket (stored with the key)."""
    return {
        "redemption_id": entry_id,
        "workshop_id": workshop_id,
        "workshop_name": workshop_name,
        "total": denomination,
        "tickets": [{"code": code, "denomination": denomination}],
        "redeemed_at": at.isoformat(),
        "undo_until": (at + timedelta(seconds=UNDO_WINDOW)).isoformat(),
    }


def redeem_raw(db: RawConnection, accounts: Accounts, workshop_id: int, code: str,
               key: str, hash_: str) -> int:
    """One redemption, one statement per round trip; the status the service answers."""
    at = clock.now()
    db.begin()
    try:
        taken = db.run("take", {"code": code, "workshop_id": workshop_id,
                                "today": db.day(clock.tokyo_date(at))})
        if not taken:
            db.rollback()
            return 409  # not expected: every client has its own tickets
        ticket_id, code, denomination, programme_id, event_id, name, workshop_code = taken[0]
        entry_id = db.run("entry", {
            "event_id": event_id, "kind": "redemption",
            "memo": f"1 ticket(s) at {workshop_code}"[:300], "occurred_at": db.when(at),
            "once_key": None, "reverses_entry_id": None, "actor": f"workshop:{workshop_id}",
        })[0][0]
        db.run("posting", {"entry_id": entry_id, "account_id": accounts.liability[programme_id],
                           "amount": denomination, "closes_entry": False})
        db.run("posting", {"entry_id": entry_id, "account_id": accounts.payable[workshop_id],
                           "amount": -denomination, "closes_entry": True})
        db.run("redemption", {
            "ticket_id": ticket_id, "workshop_id": workshop_id, "programme_id": programme_id,
            "amount": denomination, "entry_id": entry_id, "redeemed_at": db.when(at),
            "event_id": event_id,
        })
        body = _answer(entry_id, workshop_id, name, code, denomination, at)
        db.run("key", {
            "scope": f"workshop:{workshop_id}", "key": key, "request_hash": hash_,
            "status_code": 201, "body": json.dumps(body, ensure_ascii=False),
            "created_at": db.when(clock.now()),
        })
        db.commit()
    except BaseException:
        db.rollback()
        raise
    return 201


def _json_format(value: str) -> str:
    return json.dumps(value, ensure_ascii=False).replace("%", "%%")


def redeem_raw1(db: RawConnection, accounts: Accounts, workshop_id: int, code: str,
                key: str, hash_: str) -> int:
    """One redemption as one statement (data-modifying CTEs), then COMMIT."""
    at = clock.now()
    body = (  # json.dumps(_answer(...), ensure_ascii=False) with %s for the database's part
        '{"redemption_id": %s, "workshop_id": ' + str(workshop_id)
        + ', "workshop_name": %s, "total": %s, "tickets": [{"code": %s, "denomination": %s}]'
        + ', "redeemed_at": ' + _json_format(at.isoformat())
        + ', "undo_until": '
        + _json_format((at + timedelta(seconds=UNDO_WINDOW)).isoformat()) + "}"
    )
    try:
        done = db.run("one", {
            "code": code, "workshop_id": workshop_id, "today": db.day(clock.tokyo_date(at)),
            "kind": "redemption", "memo_head": "1 ticket(s) at ", "occurred_at": db.when(at),
            "actor": f"workshop:{workshop_id}",
            "programme_ids": list(accounts.liability), "liability_ids": list(
                accounts.liability.values()),
            "payable_id": accounts.payable[workshop_id], "redeemed_at": db.when(at),
            "scope": f"workshop:{workshop_id}", "key": key, "request_hash": hash_,
            "status_code": 201, "body": body, "created_at": db.when(clock.now()),
        })
        if not done:
            db.rollback()
            return 409
        db.commit()
    except BaseException:
        db.rollback()
        raise
    return 201


def run_raw(connect: Callable[[], RawConnection], seeded: Seeded, accounts: Accounts,
            pool: _Pool, window: Window, result: Result, tag: str,
            one_statement: bool, hold: threading.Event | None = None) -> None:
    """``hold``: keep the connections open until it is set (the CPU meter reads the
    PostgreSQL backends at the window's end; a closed connection's backend is gone)."""
    redeem = redeem_raw1 if one_statement else redeem_raw
    lock = threading.Lock()

    def client(i: int, workshop_id: int) -> None:
        local = Result(result.backend, result.mode, 0, 0, 0)
        try:
            db = connect()
        except Exception as error:
            report_error(f"{result.mode} connect", error)
            return
        try:
            for n, code in enumerate(pool):
                key, hash_ = f"{tag}-{i}-{n}", request_hash(REDEEM_PATH, [code])
                began = time.perf_counter()
                try:
                    status = redeem(db, accounts, workshop_id, code, key, hash_)
                except Exception as error:
                    report_error(result.mode, error)
                    status = 599
                if not window.record(local, began, status):
                    break
            else:
                local.ran_out = True
                window.ran_out()
        finally:
            if hold is not None:
                hold.wait(timeout=30)
            db.close()
            with lock:
                result.merge(local)

    run_threads(client, ((i, w) for i, (w, _) in enumerate(seeded.tokens)))


# --------------------------------------------------------------------------- checks


def check_books(db: Database) -> str:
    """The auditor; every redemption live; one stored 201 answer per redemption."""
    with db.read() as session:
        report = verify(session)
        total, live = session.execute(
            select(func.count(), func.count().filter(Redemption.undone_at.is_(None)))
            .select_from(Redemption)
        ).one()
        answered = session.execute(
            text("SELECT count(*) FROM idempotency_record WHERE status_code = 201")
        ).scalar_one()
    problems = [f"{name}: {detail}" for name, detail in report.failures]
    if live != total:
        problems.append(f"{total - live} of {total} redemptions undone")
    if answered != total:
        problems.append(f"{answered} stored 201 answers for {total} redemptions")
    return "; ".join(problems) or "ok"


def _utc(value: Any) -> datetime:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    assert isinstance(moment, datetime)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _stored_as(value: Any) -> str:
    """How a time is stored: SQLite gets text from SQLAlchemy (length says the format)."""
    if isinstance(value, str):
        return f"text of {len(value)}"
    return f"{type(value).__name__}{' with zone' if getattr(value, 'tzinfo', None) else ''}"


def written_rows(db: Database, workshop_id: int, tag: str) -> dict[str, Any] | None:
    """What the first redemption of client 0 of a phase wrote, with ids and times
    replaced by how they relate (and how times are stored)."""
    with db.read() as session:
        conn = session.connection()
        key = conn.execute(text(
            'SELECT "key", request_hash, status_code, body, created_at FROM idempotency_record'
            ' WHERE scope = :scope AND "key" LIKE :prefix ORDER BY created_at LIMIT 1'),
            {"scope": f"workshop:{workshop_id}", "prefix": f"{tag}-0-%"}).first()
        if key is None:
            return None
        body = json.loads(key.body)
        entry = conn.execute(text(
            "SELECT event_id, kind, memo, occurred_at, once_key, reverses_entry_id, actor"
            " FROM journal_entry WHERE id = :id"), {"id": body["redemption_id"]}).one()
        postings = conn.execute(text(
            "SELECT account_id, amount, closes_entry FROM posting WHERE entry_id = :id"
            " ORDER BY id"), {"id": body["redemption_id"]}).all()
        redemptions = conn.execute(text(
            "SELECT r.workshop_id, r.programme_id, r.amount, r.redeemed_at, r.undone_at,"
            " r.undo_entry_id, r.open_period, t.code, t.status FROM redemption r"
            " JOIN ticket t ON t.id = r.ticket_id WHERE r.entry_id = :id"),
            {"id": body["redemption_id"]}).all()
    (redemption,) = redemptions
    at = _utc(entry.occurred_at)
    return {
        "key: status, hash length": (key.status_code, len(key.request_hash)),
        # The service's one-statement path stores PostgreSQL's JSON text, its other path
        # and the raw modes json.dumps's: the same object, compared key by key below.
        "key: body is a JSON object": isinstance(body, dict),
        "key: body keys": list(body),
        "key: body values": (body["workshop_id"], body["workshop_name"], body["total"],
                             [t["denomination"] for t in body["tickets"]]),
        "key: body code is the ticket's": [t["code"] for t in body["tickets"]]
            == [redemption.code],
        "key: redeemed_at, undo_until": (_utc(body["redeemed_at"]) == at,
                                         _utc(body["undo_until"]) - at),
        "key: created after, time stored as": (_utc(key.created_at) >= at,
                                               _stored_as(key.created_at)),
        "entry": (entry.event_id, entry.kind, entry.memo, entry.once_key,
                  entry.reverses_entry_id, entry.actor, _stored_as(entry.occurred_at)),
        "postings": [tuple(p) for p in postings],
        "redemption": (redemption.workshop_id, redemption.programme_id, redemption.amount,
                       _utc(redemption.redeemed_at) == at, redemption.undone_at,
                       redemption.undo_entry_id, redemption.open_period, redemption.status,
                       _stored_as(redemption.redeemed_at)),
    }


def same_rows_as_service(db: Database, seeded: Seeded, phases: list[Phase]) -> tuple[str, bool]:
    """Compare what each phase's first redemption at client 0's workshop wrote with what
    the service (direct, else http) wrote: the raw modes must write the same rows."""
    workshop = seeded.tokens[0][0]
    rows = {p.tag: written_rows(db, workshop, p.tag) for p in phases}
    reference = next((p for p in phases if p.mode == "direct" and rows[p.tag]), None) or next(
        (p for p in phases if p.mode == "http" and rows[p.tag]), None)
    if reference is None:
        return "not compared (no redemption by the service in this run)", True
    expected = rows[reference.tag]
    assert expected is not None
    problems = [f"{name} not {value!r}" for name, value in expected.items()
                if name.startswith("key: body is") and value is not True]
    for phase in phases:
        found = rows[phase.tag]
        label = f"{phase.mode}{' via ' + phase.via if phase.via else ''}"
        if found is None:
            problems.append(f"{label}: nothing written at workshop {workshop}")
            continue
        problems += [f"{label}: {name} {found[name]!r}, service {value!r}"
                     for name, value in expected.items() if found[name] != value]
    if problems:
        return "; ".join(problems), False
    return f"the same ({len(phases)} phases against {reference.mode})", True


# --------------------------------------------------------------------------- backends


@contextlib.contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    base, _, _ = normalise_database_url(admin_url).rpartition("/")
    admin = create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{BENCH_DB}"'))
    try:
        yield f"{base}/{BENCH_DB}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)'))
        admin.dispose()


def libpq_url(url: str, *, drop: tuple[str, ...] = ("pgbouncer",)) -> str:
    """A SQLAlchemy URL as psycopg takes it (no driver name, no flags of oflocal's)."""
    parsed = make_url(normalise_database_url(url)).set(drivername="postgresql")
    parsed = parsed.difference_update_query(list(drop))
    return parsed.render_as_string(hide_password=False)


def in_bench_database(url: str) -> str:
    """``url`` (e.g. PgBouncer's) naming the bench database instead of its own."""
    return make_url(url).set(database=BENCH_DB).render_as_string(hide_password=False)


def pgbouncer_problem(url: str) -> str | None:
    """None if PgBouncer answers a query on the bench database at ``url``; else why not."""
    parsed = make_url(url)
    host, port = parsed.host or "127.0.0.1", parsed.port or 6432
    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError as error:
        return (f"nothing answers on {host}:{port} ({error.strerror or error}); "
                "is pgbouncer running?")
    try:
        with psycopg.connect(libpq_url(url), autocommit=True, prepare_threshold=None,
                             connect_timeout=5) as conn:
            conn.execute("SELECT 1").fetchone()
    except psycopg.Error as error:
        return f"{host}:{port} answers but the query failed: {str(error).strip()}"
    return None


def plan(backend: str, args: argparse.Namespace, pgbouncer: bool) -> list[Phase]:
    sweep = args.server_workers if backend == "postgres" and args.server_workers else [
        args.workers]
    phases: list[Phase] = []
    for via in ("", "pgbouncer") if pgbouncer else ("",):
        for mode in args.modes:
            if mode == "raw1" and backend != "postgres":
                continue
            if via and mode == "direct":
                continue  # the service in this process: its engine has no PgBouncer switch
            letter = {"http": "h", "direct": "d", "raw": "r", "raw1": "o"}[mode]
            if via:
                letter = letter.upper()
            if mode == "http":
                phases += [Phase(mode, w, via, f"{letter}{w}") for w in sweep]
            else:
                phases.append(Phase(mode, "-", via, letter))
    return phases


def bench_backend(backend: str, url: str, data_dir: Path, args: argparse.Namespace,
                  notes: list[str], failures: list[str]) -> list[Result]:
    signer = CodeSigner(SECRET.encode())
    db = Database(url, pool_size=args.clients, max_overflow=4)
    migrate.upgrade(db.engine)
    pooled_url = None
    if backend == "postgres" and args.via_pgbouncer:
        pooled_url = in_bench_database(args.via_pgbouncer)
        problem = pgbouncer_problem(pooled_url)
        if problem:
            notes.append(f"{backend} via PgBouncer: skipped: {problem}")
            print(f"[{backend}] PgBouncer phases skipped: {problem}", file=sys.stderr, flush=True)
            pooled_url = None
        elif "pgbouncer" not in (make_url(pooled_url).query or {}):
            warning = ("the PgBouncer URL has no ?pgbouncer=1: the server will prepare "
                       "statements, which transaction pooling breaks (docs/deployment.md)")
            notes.append(f"{backend} via PgBouncer: {warning}")
            print(f"[{backend}] warning: {warning}", file=sys.stderr, flush=True)
    if backend != "postgres" and args.server_workers and "http" in args.modes:
        notes.append(f"{backend}: http ran with --workers {args.workers} only "
                     "(--server-workers is for PostgreSQL)")
    if backend != "postgres" and "raw1" in args.modes:
        notes.append(f"{backend}: raw1 skipped (one statement of data-modifying CTEs is "
                     "PostgreSQL's; SQLite's WITH takes only SELECT)")
    phases = plan(backend, args, pooled_url is not None)
    needed = sum(int(args.seconds_total * (args.raw_max_rate if p.mode in RAW_MODES
                                           else args.max_rate)) for p in phases)
    started = time.perf_counter()
    seeded = seed(db, signer, tickets=needed, clients=args.clients)
    settle_after_seeding(db)
    print(f"[{backend}] seeded {len(seeded.tickets)} sold tickets in "
          f"{time.perf_counter() - started:.1f}s for {len(phases)} phases",
          file=sys.stderr, flush=True)
    pool = _Pool(seeded.tickets)
    accounts = load_accounts(db, seeded.event_id)
    sqlite_path = make_url(url).database or ""
    watcher = (psycopg.connect(libpq_url(url), autocommit=True)
               if backend == "postgres" else None)

    def backends() -> list[int]:
        if watcher is None:
            return []
        return [row[0] for row in watcher.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid()")]

    def sessions() -> int:
        assert watcher is not None
        row = watcher.execute("SELECT sessions FROM pg_stat_database"
                              " WHERE datname = current_database()").fetchone()
        return int(row[0]) if row else 0

    def parts(server: int | None, via: str) -> Callable[[], dict[str, list[int]]]:
        def find() -> dict[str, list[int]]:
            found = {"server": process_tree(server) if server else [],
                     "postgres": backends()}
            if via:
                found["pooler"] = processes_named("pgbouncer")
            return found
        return find

    counter = sessions if watcher is not None else None
    results: list[Result] = []
    try:
        for phase in phases:
            server_errors: list[str] = []
            app_url = pooled_url if phase.via and pooled_url else url
            result = Result(backend, phase.mode, args.clients, phase.workers, args.seconds,
                            via=phase.via)
            window = Window(0, 0)
            try:
                if phase.mode == "http":
                    with uvicorn_server(app_url, data_dir, int(phase.workers)) as server:
                        window = Window(args.warmup, args.seconds)
                        meter = CpuMeter(window, parts(server.pid, phase.via), counter)
                        runner = run_http_raw if args.client == "raw" else run_http_httpx
                        runner(server.base, seeded, pool, window, result, phase.tag)
                        meter.finish(result)
                        server_errors = errors_in(server.log)
                elif phase.mode == "direct":
                    window = Window(args.warmup, args.seconds)
                    meter = CpuMeter(window, parts(None, ""), counter)
                    run_direct(db, signer, seeded, pool, window, result, phase.tag)
                    meter.finish(result)
                else:
                    connect: Callable[[], RawConnection] = (
                        functools.partial(RawSqlite, sqlite_path) if backend == "sqlite" else
                        functools.partial(RawPostgres, libpq_url(app_url), prepared=not phase.via))
                    window = Window(args.warmup, args.seconds)
                    meter = CpuMeter(window, parts(None, phase.via), counter)
                    run_raw(connect, seeded, accounts, pool, window, result, phase.tag,
                            one_statement=phase.mode == "raw1", hold=meter.sampled)
                    meter.finish(result)
            except Exception as error:  # one phase failing (e.g. the server) ends only it
                report_error(f"{phase.mode} phase", error)
                window.ran_out()
            result.seconds = window.measured()
            results.append(result)
            label = f"{phase.mode}{' via ' + phase.via if phase.via else ''}"
            workers = f", {phase.workers} worker(s)" if phase.mode == "http" else ""
            print(f"[{backend}] {label}{workers}: {result.rate:.0f}/s over "
                  f"{result.seconds:.1f}s, statuses {dict(result.statuses)}"
                  + (" (ran out of tickets)" if result.ran_out else ""),
                  file=sys.stderr, flush=True)
            for line in server_errors:
                print(f"  server log: {line}", file=sys.stderr, flush=True)
            if server_errors:
                notes.append(f"{backend} {label}{workers}: the server logged "
                             + "; ".join(server_errors))
    finally:
        if watcher is not None:
            watcher.close()
    books = check_books(db)
    done = {(r.mode, r.workers, r.via) for r in results if r.ok}
    rows, same = same_rows_as_service(
        db, seeded, [p for p in phases if (p.mode, p.workers, p.via) in done])
    db.dispose()
    print(f"[{backend}] books after the run: {books}", file=sys.stderr, flush=True)
    print(f"[{backend}] rows written by each mode, against the service's: {rows}",
          file=sys.stderr, flush=True)
    notes.append(f"{backend}: books after the run {books}; rows written by each mode, "
                 f"against the service's: {rows}")
    if books != "ok":
        failures.append(f"{backend}: the books do not check out: {books}")
    if not same:
        failures.append(f"{backend}: a mode wrote other rows than the service: {rows}")
    failures += [f"{backend} {r.mode} {r.via}: {r.ok} redemptions in {r.seconds:.1f} s"
                 for r in results if r.seconds < min(1.0, args.seconds) or not r.ok]
    return results


# --------------------------------------------------------------------------- report


def _ms(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.2f}"


def table(results: list[Result], cpus: int) -> str:
    lines = [
        "| backend | path | via | clients | workers | s | redemptions/s | p50 ms | p99 ms "
        "| non-201 | CPU ms/redemption: server | PostgreSQL | bench | PgBouncer "
        "| machine busy | CPU ceiling /s | PG connects/s |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
        "| ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        others = sum(n for status, n in r.statuses.items() if status != 201)
        spent = sum(r.cpu.values())
        ceiling = f"{cpus * 1000 / spent:,.0f}" if spent else "-"
        busy = "-" if math.isnan(r.busy) else f"{r.busy:.0%}"
        connects = ("-" if r.connections is None or not r.seconds
                    else f"{r.connections / r.seconds:,.0f}")
        server = r.cpu.get("server") if r.mode == "http" else None
        postgres = r.cpu.get("postgres") if r.backend == "postgres" else None
        lines.append(
            f"| {r.backend} | {r.mode} | {r.via or 'direct'} | {r.clients} | {r.workers} | "
            f"{r.seconds:.1f}{'*' if r.ran_out else ''} | {r.rate:,.0f} | {r.pct(0.50):.1f} | "
            f"{r.pct(0.99):.1f} | {others} | {_ms(server)} | {_ms(postgres)} | "
            f"{_ms(r.cpu.get('bench'))} | {_ms(r.cpu.get('pooler'))} | {busy} | {ceiling} | "
            f"{connects} |"
        )
    return "\n".join(lines)


def ratios(results: list[Result]) -> list[str]:
    lines = []
    groups: dict[tuple[str, str], list[Result]] = {}
    for r in results:
        groups.setdefault((r.backend, r.via), []).append(r)
    for (backend, via), group in groups.items():
        name = f"{backend}{' via ' + via if via else ''}"
        by_mode: dict[str, list[Result]] = {}
        for r in group:
            by_mode.setdefault(r.mode, []).append(r)
        raw = by_mode.get("raw", [None])[0]
        direct_raw = next((r for r in results if r.backend == backend and not r.via
                           and r.mode == "raw"), None)
        parts = []
        for http in by_mode.get("http", []):
            if not http.rate:
                parts.append(f"http with {http.workers} worker(s): no redemptions")
                continue
            if raw is not None and raw.rate:
                verdict = "met" if http.rate / raw.rate >= 0.5 else "not met"
                by_cpu = (f"; by CPU ceilings {sum(raw.cpu.values()) / sum(http.cpu.values()):.2f}"
                          if http.cpu and raw.cpu else "")
                parts.append(f"ratio http/raw = {http.rate / raw.rate:.2f} with {http.workers} "
                             f"worker(s) ({http.rate:,.0f}/s ÷ {raw.rate:,.0f}/s; target ≥ 0.5: "
                             f"{verdict}{by_cpu})")
            if via and direct_raw is not None and direct_raw.rate:
                parts.append(f"http/raw without PgBouncer = {http.rate / direct_raw.rate:.2f}")
        direct = by_mode.get("direct", [None])[0]
        if direct is not None and direct.rate:
            parts += [f"http/direct = {h.rate / direct.rate:.0%} ({h.workers} worker(s))"
                      for h in by_mode.get("http", [])]
        if direct is not None and raw is not None and raw.rate:
            parts.append(f"direct/raw = {direct.rate / raw.rate:.2f}")
        raw1 = by_mode.get("raw1", [None])[0]
        if raw1 is not None and raw is not None and raw.rate:
            parts.append(f"raw1/raw = {raw1.rate / raw.rate:.2f}")
        if parts:
            lines.append(f"{name}: " + "; ".join(parts))
    return lines


def cpu_notes(results: list[Result], cpus: int) -> list[str]:
    """How the CPUs limit the HTTP path, from what each part spent per redemption."""
    lines = []
    for r in results:
        if r.mode != "http" or not r.cpu:
            continue
        spent = sum(r.cpu.values())
        server = r.cpu.get("server", 0.0)
        workers = int(r.workers)
        ceiling = cpus * 1000 / spent
        alone = workers * 1000 / server if server else math.inf
        share = r.rate * spent / 1000 / cpus  # of the machine's CPU time, this run's
        parts = [f"server {server:.2f}"]
        if r.backend == "postgres":
            parts.append(f"PostgreSQL {r.cpu.get('postgres', 0.0):.2f}")
        if "pooler" in r.cpu:
            parts.append(f"PgBouncer {r.cpu['pooler']:.2f}")
        parts.append(f"load generator {r.cpu.get('bench', 0.0):.2f}")
        if not math.isnan(r.busy) and share < 0.8 * r.busy:
            bound = (f"other work on the machine (it was {r.busy:.0%} busy; this run had "
                     f"{share:.0%} of its CPU time)")
        elif alone < ceiling:
            bound = f"the {workers} server process(es), one CPU each at most"
        else:
            bound = f"the {cpus} CPUs ({share:.0%} of their time was this run's)"
        lines.append(
            f"{r.backend}{' via ' + r.via if r.via else ''} http, {workers} worker(s): "
            f"{r.rate:,.0f}/s. CPU ms per redemption: {', '.join(parts)} = {spent:.2f}; "
            f"{cpus} CPUs could carry {ceiling:,.0f}/s of that, {workers} server "
            f"process(es) {alone:,.0f}/s. Limited by {bound}."
        )
    return lines


def _load() -> str:
    return ", ".join(f"{value:.1f}" for value in os.getloadavg())


def _counts(value: str) -> list[int]:
    return [int(part) for part in value.split(",") if part.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per phase")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds first")
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--server-workers", type=_counts, default=None, metavar="N,N,...",
                        help="PostgreSQL: one http phase per count of uvicorn processes "
                             "(e.g. 1,2,4) instead of --workers")
    parser.add_argument("--backends", default="postgres,sqlite",
                        help="comma-separated: postgres, sqlite")
    parser.add_argument("--modes", default=",".join(MODES),
                        help="comma-separated: http, direct, raw, raw1 (raw1: PostgreSQL)")
    parser.add_argument("--client", choices=("raw", "httpx"), default="raw",
                        help="HTTP load generator")
    parser.add_argument("--pg-url", default=os.environ.get(
        "OFLOCAL_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
        help="any database on the server, connected to directly (admin, seeding, checks); "
             f"{BENCH_DB} is created beside it")
    parser.add_argument("--via-pgbouncer", metavar="URL", default=None,
                        help="PgBouncer in front of that server (e.g. "
                             "postgresql://postgres@127.0.0.1:6432/postgres; the database "
                             f"name is replaced by {BENCH_DB}): the http and raw phases "
                             "again, through it")
    parser.add_argument("--max-rate", type=float, default=1500.0,
                        help="tickets seeded per second of each http or direct phase")
    parser.add_argument("--raw-max-rate", type=float, default=4000.0,
                        help="tickets seeded per second of each raw or raw1 phase")
    args = parser.parse_args(argv)
    args.seconds_total = args.seconds + args.warmup + 1
    args.modes = [m for m in args.modes.split(",") if m]
    if unknown := set(args.modes) - set(MODES):
        parser.error(f"unknown modes {sorted(unknown)}")
    cpus = os.cpu_count() or 1
    load_at_start = _load()
    print(f"[start] {cpus} CPUs, load average {load_at_start}", file=sys.stderr, flush=True)
    results: list[Result] = []
    notes: list[str] = []
    failures: list[str] = []
    for backend in args.backends.split(","):
        data_dir = Path(tempfile.mkdtemp(prefix=f"oflocal-bench-{backend}-"))
        try:
            if backend == "postgres":
                with postgres_database(args.pg_url) as url:
                    results += bench_backend(backend, url, data_dir, args, notes, failures)
            elif backend == "sqlite":
                results += bench_backend(
                    backend, f"sqlite:///{data_dir / 'oflocal_bench.db'}", data_dir, args,
                    notes, failures,
                )
            else:
                parser.error(f"unknown backend {backend!r}")
        finally:
            shutil.rmtree(data_dir, ignore_errors=True)
    print(f"\nRedemption benchmark: {args.clients} clients, {args.seconds:g} s measured "
          f"after {args.warmup:g} s warm-up per phase; {cpus} CPUs (os.cpu_count()); "
          f"load average {load_at_start} at start, {_load()} at end (1, 5, 15 min)")
    print(table(results, cpus))
    print()
    for line in ratios(results) + cpu_notes(results, cpus) + notes:
        print(line)
    if any(r.ran_out for r in results):
        print("\n* the phase used up the seeded tickets and was measured until then "
              "(--max-rate / --raw-max-rate seed more)")
    if failures:
        print("\nWARNING: " + "; ".join(failures) + " (see the messages above)")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
