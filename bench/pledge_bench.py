"""The pledge spike: N supporters pledge at once over HTTP for a return limited to 100.

Runs alone (``python bench/pledge_bench.py``) or from ``make bench``.

For each backend (PostgreSQL database ``oflocal_bench_pledge`` on the 127.0.0.1 server,
created and dropped here; SQLite in a temporary folder) it migrates, seeds a live
campaign with one return limited to ``--limit`` (tests/crowdfunding/pledge_spike.py),
starts uvicorn with ``--workers`` processes and sends ``--pledges`` pledges from
``--clients`` keep-alive threads that start together
(``POST /api/v1/public/campaigns/{id}/pledges``, one Idempotency-Key each). It prints
pledges/s (all answers: the 201s and the 409 sold-outs), p50 and p99 latency, how many
were reserved and the return's counter: 100 of 100 and never more.

The baseline, in the same run and on the same database: the same pledges done the way
Catarse, Open Collective and Goteo did it, count the return's holding pledges and then
insert if the count is below the limit, without a lock, from the same number of
threads (through the domain's tables, no HTTP). It must show oversold pledges; the
guarded service never does.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests"), str(ROOT / "tests" / "crowdfunding")]
os.environ.setdefault("OFLOCAL_SECRET_KEY", "bench-secret-key-0123456789abcdef")

import psycopg  # noqa: E402
from pledge_spike import PRICE, seed_campaign, stock, storm  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from oflocal import clock  # noqa: E402
from oflocal.audit import verify  # noqa: E402
from oflocal.crowdfunding.models import Pledge  # noqa: E402
from oflocal.db import migrate  # noqa: E402
from oflocal.db.engine import Database  # noqa: E402
from oflocal.idempotency.models import IdempotencyRecord  # noqa: E402
from oflocal.outbox.models import MailMessage  # noqa: E402
from serverutil import running_server  # noqa: E402

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_DB = "oflocal_bench_pledge"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def check_then_insert(db: Database, spike: object, pledges: int, clients: int,
                      limit: int) -> int:
    """The naive pledge: count, then insert. Returns how many pledges it let in."""
    from oflocal.crowdfunding.models import Reward

    reward_id = spike.reward_id  # type: ignore[attr-defined]
    campaign_id = spike.campaign_id  # type: ignore[attr-defined]
    start = threading.Barrier(clients)
    made = [0] * clients

    def client(index: int) -> None:
        start.wait()
        for n in range(index, pledges, clients):
            with db.read() as session:  # check ...
                held = session.execute(select(func.coalesce(func.sum(Pledge.quantity), 0))
                                       .where(Pledge.reward_id == reward_id,
                                              Pledge.state.in_(("reserved", "paid")))
                                       ).scalar_one()
            if held >= limit:
                continue
            now = clock.now()
            with db.write() as session:  # ... then insert (no guard, no lock)
                session.add(Pledge(
                    campaign_id=campaign_id, reward_id=reward_id, reference=f"N{n:07d}",
                    supporter_name="naive", supporter_email=f"n{n}@example.jp",
                    supporter_phone="+819012345678", lang="ja", quantity=1, amount=PRICE,
                    shipping=0, total=PRICE, answers={}, payment_method="bank_transfer",
                    state="reserved", payment_deadline=now + timedelta(days=7),
                    created_at=now))
            made[index] += 1

    with ThreadPoolExecutor(clients) as pool:
        for f in [pool.submit(client, i) for i in range(clients)]:
            f.result()
    del Reward
    return sum(made)


def warm_up(db: Database, base: str, pledges: int) -> None:
    """A few pledges for another campaign (unlimited return) before the clock starts, as
    a server that has been up a while would be: connections open, statements prepared,
    the bank list loaded. Then wait until their notices are sent, so the spike does not
    share the server with them."""
    if pledges <= 0:
        return
    warm = seed_campaign(db, limit=100_000, slug="warm")
    answers, _ = storm(base, warm, pledges, min(pledges, 8), tag="warm")
    assert all(status == 201 for status, _, _ in answers), answers
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with db.read() as session:
            queued = session.execute(select(func.count()).select_from(MailMessage).where(
                MailMessage.state == "queued")).scalar_one()
        if not queued:
            return
        time.sleep(0.2)


def timeline(db: Database, began: datetime) -> tuple[float, float]:
    """Seconds from the start of the spike to the last reservation (the idempotency
    record of the last 201) and to the last answer stored."""
    with db.read() as session:
        last_201 = session.execute(select(func.max(IdempotencyRecord.created_at)).where(
            IdempotencyRecord.key.like("bench-%"), IdempotencyRecord.status_code == 201)
        ).scalar_one()
        last = session.execute(select(func.max(IdempotencyRecord.created_at)).where(
            IdempotencyRecord.key.like("bench-%"))).scalar_one()
    return (last_201 - began).total_seconds(), (last - began).total_seconds()


def run(backend: str, url: str, data_dir: Path, args: argparse.Namespace) -> None:
    db = Database(url)
    migrate.upgrade(db.engine)
    spike = seed_campaign(db, limit=args.limit, slug="bench")
    with running_server(url, data_dir, workers=args.workers) as base:
        warm_up(db, base, args.warmup)
        began = clock.now()
        answers, seconds = storm(base, spike, args.pledges, args.clients, tag="bench")
    reserved_in, answered_in = timeline(db, began)
    times = [t for _, _, t in answers]
    reserved = sum(1 for s, _, _ in answers if s == 201)
    sold_out = sum(1 for _, c, _ in answers if c == "reward.sold_out")
    other = len(answers) - reserved - sold_out
    claimed, states = stock(db, spike)
    with db.read() as session:
        ok = verify(session).ok
    print(f"{backend:8} guarded  {len(answers) / seconds:7.0f} pledges/s  "
          f"p50 {pct(times, .5):6.1f} ms  p99 {pct(times, .99):7.1f} ms  "
          f"reserved {reserved}/{args.limit}  sold out {sold_out}  other {other}  "
          f"claimed {claimed}  pledges {states}  auditor {'ok' if ok else 'FAILED'}  "
          f"({seconds:.1f} s; the {reserved} reservations committed within "
          f"{reserved_in:.1f} s, the last answer stored at {answered_in:.1f} s)", flush=True)
    naive = seed_campaign(db, limit=args.limit, slug="naive")
    began = time.perf_counter()
    let_in = check_then_insert(db, naive, args.baseline, args.clients, args.limit)
    took = time.perf_counter() - began
    print(f"{backend:8} baseline {args.baseline / took:7.0f} pledges/s  check-then-insert let in "
          f"{let_in} for a limit of {args.limit}: "
          f"{'OVERSOLD by ' + str(let_in - args.limit) if let_in > args.limit else 'not oversold'}"
          , flush=True)
    db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pledges", type=int, default=2000)
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--clients", type=int, default=40)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--baseline", type=int, default=2000, help="naive pledges")
    parser.add_argument("--warmup", type=int, default=16,
                        help="pledges for another campaign before the clock starts")
    parser.add_argument("--backends", default="postgres,sqlite")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}; "
          f"{os.cpu_count()} CPUs; {args.pledges} pledges for {args.limit}, "
          f"{args.clients} clients, {args.workers} server workers", flush=True)
    for backend in args.backends.split(","):
        with tempfile.TemporaryDirectory() as folder:
            if backend == "sqlite":
                run(backend, f"sqlite:///{folder}/bench.db", Path(folder), args)
                continue
            with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
                admin.execute(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
                admin.execute(f"CREATE DATABASE {PG_DB}")
            try:
                run(backend, f"postgresql+psycopg://postgres@127.0.0.1:5432/{PG_DB}",
                    Path(folder), args)
            finally:
                with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
                    admin.execute(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
    print(f"load average after {os.getloadavg()[0]:.2f}", flush=True)


if __name__ == "__main__":
    main()
