"""Redemption throughput: through the HTTP API and directly through the service function.

Runs alone (``python bench/redeem_bench.py --seconds 10``) or from ``make bench``.

For each backend (PostgreSQL database ``oflocal_bench`` on the 127.0.0.1 server, created
and dropped here; SQLite in a temporary folder) it

1. migrates and seeds an event (workshops, a programme, enough sold tickets);
2. starts uvicorn (``--workers``) on a free 127.0.0.1 port and has ``--clients``
   keep-alive clients (one bearer token each, spread over the workshops) redeem one
   distinct ticket per request with an ``Idempotency-Key``, for ``--seconds`` after a
   short warm-up: redemptions/s, p50, p99;
3. calls :func:`oflocal.vouchers.redeem.redeem_tickets` from ``--clients`` threads in
   this process, without HTTP, with the same idempotency keys: the same transaction
   issued directly through the database driver;
4. checks the books (``verify``) and that every 201 is one live redemption.

The HTTP load generator is a minimal asyncio HTTP/1.1 client (a few dozen lines below)
rather than httpx, so that on a 2-core machine the measuring tool does not eat the CPU
the server needs. ``--client httpx`` uses httpx threads instead, for comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

SECRET = "bench-secret-key-0123456789abcdef"
os.environ.setdefault("OFLOCAL_SECRET_KEY", SECRET)

from sqlalchemy import create_engine, func, select, text  # noqa: E402

from oflocal import clock  # noqa: E402
from oflocal.audit import verify  # noqa: E402
from oflocal.auth.service import issue_api_token  # noqa: E402
from oflocal.db import migrate  # noqa: E402
from oflocal.db.engine import Database  # noqa: E402
from oflocal.demo import build_event  # noqa: E402
from oflocal.events.setup import ProgrammeTerms, create_programme  # noqa: E402
from oflocal.idempotency.store import IdempotencyKey, request_hash  # noqa: E402
from oflocal.settings import normalise_database_url  # noqa: E402
from oflocal.vouchers.codes import CodeSigner  # noqa: E402
from oflocal.vouchers.desk import sell_booklets  # noqa: E402
from oflocal.vouchers.issue import add_booklets  # noqa: E402
from oflocal.vouchers.models import Redemption, Ticket  # noqa: E402
from oflocal.vouchers.redeem import redeem_tickets  # noqa: E402

REDEEM_PATH = "/api/v1/redemptions"
TICKETS_PER_BOOKLET = 10
BOOKLETS_PER_SALE = 50


# --------------------------------------------------------------------------- set-up


@dataclass
class Seeded:
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
    return Seeded(ids, tokens, ticket_codes)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def uvicorn_server(db_url: str, data_dir: Path, workers: int) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "OFLOCAL_DATABASE_URL": db_url,
        "OFLOCAL_SECRET_KEY": SECRET,
        "OFLOCAL_DATA_DIR": str(data_dir),
        "PYTHONPATH": str(ROOT / "src"),
    }
    log = (data_dir / "uvicorn.log").open("wb")
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
                raise RuntimeError(f"uvicorn exited: {(data_dir / 'uvicorn.log').read_text()}")
            try:
                with urllib.request.urlopen(base + "/api/v1/health", timeout=1) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not answer within 30 s")
            time.sleep(0.1)
        yield base
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


# --------------------------------------------------------------------------- measuring


@dataclass
class Result:
    backend: str
    mode: str
    clients: int
    workers: int | str
    seconds: float
    ok: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    ran_out: bool = False

    @property
    def rate(self) -> float:
        return self.ok / self.seconds

    def pct(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


class Window:
    """Counts what completes between ``start`` and ``end`` (after the warm-up)."""

    def __init__(self, warmup: float, seconds: float) -> None:
        self.start = time.perf_counter() + warmup
        self.end = self.start + seconds

    def record(self, result: Result, began: float, status: int) -> bool:
        done = time.perf_counter()
        if self.start <= began and done <= self.end:
            result.statuses[status] += 1
            result.latencies.append(done - began)
            if status == 201:
                result.ok += 1
        return done < self.end


class _Pool:
    """One queue of tickets that every client draws from (thread-safe): a fast client is
    not left without tickets while a slow one still holds its share."""

    def __init__(self, tickets: list[str]) -> None:
        self._tickets = iter(tickets)
        self._lock = threading.Lock()

    def __iter__(self) -> _Pool:
        return self

    def __next__(self) -> str:
        with self._lock:
            return next(self._tickets)


def split(tickets: list[str], parts: int) -> list[_Pool]:
    """The same pool for each of ``parts`` clients; it runs out only when all are used."""
    pool = _Pool(tickets)
    return [pool] * parts


async def _raw_client(
    host: str, port: int, token: str, scope_tag: str, tickets: Iterable[str],
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
                f"{head}Idempotency-Key: {scope_tag}-{n}\r\nContent-Length: {len(body)}\r\n\r\n"
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
    finally:
        writer.close()


def run_http_raw(base: str, seeded: Seeded, tickets: list[str], window: Window,
                 result: Result) -> None:
    host, port = base.removeprefix("http://").split(":")
    work = split(tickets, len(seeded.tokens))

    async def main() -> None:
        await asyncio.gather(*(
            _raw_client(host, int(port), token, f"c{i}", work[i], window, result)
            for i, (_, token) in enumerate(seeded.tokens)
        ))

    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.run(main())
        return
    asyncio.run(main())


def run_http_httpx(base: str, seeded: Seeded, tickets: list[str], window: Window,
                   result: Result) -> None:
    import httpx

    work = split(tickets, len(seeded.tokens))
    lock = threading.Lock()

    def client(i: int, token: str) -> None:
        local = Result(result.backend, result.mode, 0, 0, result.seconds)
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as http:
            for n, code in enumerate(work[i]):
                began = time.perf_counter()
                answer = http.post(REDEEM_PATH, json={"codes": [code]},
                                   headers={"Idempotency-Key": f"c{i}-{n}"})
                if not window.record(local, began, answer.status_code):
                    break
            else:
                local.ran_out = True
        with lock:
            result.ok += local.ok
            result.statuses.update(local.statuses)
            result.latencies.extend(local.latencies)
            result.ran_out |= local.ran_out

    threads = [threading.Thread(target=client, args=(i, t))
               for i, (_, t) in enumerate(seeded.tokens)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def run_direct(db: Database, signer: CodeSigner, seeded: Seeded, tickets: list[str],
               window: Window, result: Result) -> None:
    """The same transaction as POST /redemptions, called in threads without HTTP."""
    from oflocal.errors import Refusal

    work = split(tickets, len(seeded.tokens))
    lock = threading.Lock()

    def client(i: int, workshop_id: int) -> None:
        local = Result(result.backend, result.mode, 0, 0, result.seconds)
        for n, code in enumerate(work[i]):
            codes = [code]
            idem = IdempotencyKey(f"workshop:{workshop_id}", f"d{i}-{n}",
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
        with lock:
            result.ok += local.ok
            result.statuses.update(local.statuses)
            result.latencies.extend(local.latencies)
            result.ran_out |= local.ran_out

    threads = [threading.Thread(target=client, args=(i, w))
               for i, (w, _) in enumerate(seeded.tokens)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def check_books(db: Database, expected_live: int) -> str:
    with db.read() as session:
        report = verify(session)
        live = session.execute(
            select(func.count()).select_from(Redemption).where(Redemption.undone_at.is_(None))
        ).scalar_one()
    problems = [f"{name}: {detail}" for name, detail in report.failures]
    if live != expected_live:
        problems.append(f"{live} live redemptions, {expected_live} answered 201")
    return "; ".join(problems) or "ok"


# --------------------------------------------------------------------------- backends


@contextlib.contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    base, _, _ = normalise_database_url(admin_url).rpartition("/")
    admin = create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text('DROP DATABASE IF EXISTS "oflocal_bench" WITH (FORCE)'))
        conn.execute(text('CREATE DATABASE "oflocal_bench"'))
    try:
        yield f"{base}/oflocal_bench"
    finally:
        with admin.connect() as conn:
            conn.execute(text('DROP DATABASE IF EXISTS "oflocal_bench" WITH (FORCE)'))
        admin.dispose()


def bench_backend(backend: str, url: str, data_dir: Path, args: argparse.Namespace) -> list[Result]:
    signer = CodeSigner(SECRET.encode())
    db = Database(url, pool_size=args.clients, max_overflow=4)
    migrate.upgrade(db.engine)
    per_phase = int(args.seconds_total * args.max_rate)
    modes = [m for m in ("http", "direct") if m in args.modes]
    started = time.perf_counter()
    seeded = seed(db, signer, tickets=per_phase * len(modes), clients=args.clients)
    print(f"[{backend}] seeded {len(seeded.tickets)} sold tickets in "
          f"{time.perf_counter() - started:.1f}s", file=sys.stderr, flush=True)
    results: list[Result] = []
    total_ok = 0
    for index, mode in enumerate(modes):
        tickets = seeded.tickets[index * per_phase : (index + 1) * per_phase]
        result = Result(backend, mode, args.clients,
                        args.workers if mode == "http" else "-", args.seconds)
        if mode == "http":
            with uvicorn_server(url, data_dir, args.workers) as base:
                window = Window(args.warmup, args.seconds)
                runner = run_http_raw if args.client == "raw" else run_http_httpx
                runner(base, seeded, tickets, window, result)
        else:
            window = Window(args.warmup, args.seconds)
            run_direct(db, signer, seeded, tickets, window, result)
        results.append(result)
        with db.read() as session:
            total_ok = session.execute(
                select(func.count()).select_from(Redemption)
            ).scalar_one()
        print(f"[{backend}] {mode}: {result.rate:.0f}/s, statuses {dict(result.statuses)}",
              file=sys.stderr, flush=True)
    books = check_books(db, total_ok)
    print(f"[{backend}] books after the run: {books}", file=sys.stderr, flush=True)
    db.dispose()
    for result in results:
        result.ran_out |= books != "ok"
    return results


def table(results: list[Result]) -> str:
    lines = [
        "| backend | path | clients | workers | s | redemptions/s | p50 ms | p99 ms | non-201 |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        others = sum(n for status, n in r.statuses.items() if status != 201)
        lines.append(
            f"| {r.backend} | {r.mode} | {r.clients} | {r.workers} | {r.seconds:g} | "
            f"{r.rate:,.0f} | {r.pct(0.50):.1f} | {r.pct(0.99):.1f} | {others} |"
        )
    by_backend: dict[str, dict[str, Result]] = {}
    for r in results:
        by_backend.setdefault(r.backend, {})[r.mode] = r
    for backend, modes in by_backend.items():
        if "http" in modes and "direct" in modes and modes["direct"].rate:
            ratio = modes["http"].rate / modes["direct"].rate
            lines.append(f"\n{backend}: HTTP / direct = {ratio:.0%}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per phase")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds first")
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--backends", default="postgres,sqlite",
                        help="comma-separated: postgres, sqlite")
    parser.add_argument("--modes", default="http,direct", help="comma-separated: http, direct")
    parser.add_argument("--client", choices=("raw", "httpx"), default="raw",
                        help="HTTP load generator")
    parser.add_argument("--pg-url", default=os.environ.get(
        "OFLOCAL_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
        help="any database on the server; oflocal_bench is created beside it")
    parser.add_argument("--max-rate", type=float, default=1500.0,
                        help="tickets seeded per second of each phase")
    args = parser.parse_args(argv)
    args.seconds_total = args.seconds + args.warmup + 1
    args.modes = args.modes.split(",")
    results: list[Result] = []
    for backend in args.backends.split(","):
        data_dir = Path(tempfile.mkdtemp(prefix=f"oflocal-bench-{backend}-"))
        try:
            if backend == "postgres":
                with postgres_database(args.pg_url) as url:
                    results += bench_backend(backend, url, data_dir, args)
            elif backend == "sqlite":
                results += bench_backend(
                    backend, f"sqlite:///{data_dir / 'oflocal_bench.db'}", data_dir, args
                )
            else:
                parser.error(f"unknown backend {backend!r}")
        finally:
            shutil.rmtree(data_dir, ignore_errors=True)
    print(f"\nRedemption benchmark: {args.clients} clients, {args.seconds:g} s measured "
          f"after {args.warmup:g} s warm-up, {os.cpu_count()} CPUs, "
          f"load {os.getloadavg()[0]:.1f}")
    print(table(results))
    if any(r.ran_out for r in results):
        print("\nWARNING: a phase ran out of tickets or the books did not check out; "
              "see messages above")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
