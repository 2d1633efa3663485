"""A mailing of 5,000: an update (活動報告) mailed to every supporter, messages per second.

Runs alone (``python bench/mailing_bench.py``) or from ``make bench``.

For each backend (PostgreSQL database ``oflocal_bench_mail`` on the 127.0.0.1 server,
created and dropped here; SQLite in a temporary folder) it migrates, seeds a live
campaign with ``--messages`` paid supporters (rows written in bulk), starts an SMTP
server in a process of its own (aiosmtpd on 127.0.0.1; ``--fail-rate`` of the
deliveries refused with ``451``, so the sender retries) and ``--workers`` ``oflocal
worker`` processes of ``--threads`` threads, then publishes the update and times it
from the publish to the moment every message is recorded ``sent``: the mailing job
that queues one outbox message per address, and the ``mail.send`` jobs that deliver
them (batches, kept SMTP connections, retries). Retries wait
``OFLOCAL_JOB_RETRY_SECONDS=0.05`` (5 s by default: the run's tail would be the back-off,
not the work); workers poll every 0.2 s. It checks that the server accepted every
address exactly once and prints messages/s, the time to queue them all, the CPU
seconds of the workers and of the SMTP server, and the refusals retried.

Baselines, in the same run and on the same database:

* ``smtplib``: the same messages (read back from the outbox, composed the same way),
  sent by as many threads as the workers have, each over one connection kept open,
  with no queue and no database write: the upper bound of SMTP and composing on this
  machine.
* ``--old-src DIR`` (optional): the same mailing by workers running another source
  tree (``git worktree add /tmp/mail-old <commit>``; e.g. the commit before batching,
  one job and one SMTP connection per message), on a fresh copy of the same seed.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import resource
import signal
import smtplib
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src")]
os.environ.setdefault("OFLOCAL_SECRET_KEY", "bench-secret-key-0123456789abcdef")

import psycopg  # noqa: E402
from sqlalchemy import func, insert, select  # noqa: E402

from oflocal import clock  # noqa: E402
from oflocal.crowdfunding.campaigns import add_reward, create_campaign, go_live  # noqa: E402
from oflocal.crowdfunding.models import Pledge  # noqa: E402
from oflocal.db import migrate  # noqa: E402
from oflocal.db.engine import Database  # noqa: E402
from oflocal.demo import build_event, describe_demo_committee  # noqa: E402
from oflocal.outbox.compose import Letter, compose  # noqa: E402
from oflocal.outbox.models import MailMessage  # noqa: E402
from oflocal.supporters.updates import mailing_progress, publish_update, write_update  # noqa: E402
from oflocal.vouchers.codes import CodeSigner  # noqa: E402

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_DB = "oflocal_bench_mail"
MAIL_FROM = "ひつじ団事務局 <info@hitsuji.example.jp>"
LEGAL = {"representative": "山田太郎", "phone": "0766-00-0000", "price_note": "税込",
         "extra_charges": "なし", "payment_terms": "7日以内", "delivery_terms": "10月",
         "cancellation_terms": "入金前は取消可"}


# ----------------------------------------------------------------------------- SMTP server

def _serve(fail_rate: float, ready: Connection, done: Connection) -> None:
    """The SMTP server's process: accept, or refuse ``fail_rate`` of deliveries (451);
    on SIGTERM, send back the accepted addresses, the refusals and the CPU seconds."""
    from aiosmtpd.controller import Controller

    class Handler:
        def __init__(self) -> None:
            self.rng = random.Random(20261207)
            self.accepted: Counter[str] = Counter()
            self.refused = 0

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            if self.rng.random() < fail_rate:
                self.refused += 1
                return "451 4.3.0 Try again later"
            for address in envelope.rcpt_tos:
                self.accepted[address] += 1
            return "250 Message accepted for delivery"

    class Server(Controller):
        def _trigger_server(self) -> None:
            assert self.server is not None
            self.port = self.server.sockets[0].getsockname()[1]
            super()._trigger_server()

    handler = Handler()
    server = Server(handler, hostname="127.0.0.1", port=0)
    server.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    ready.send(server.port)
    while not stop.wait(0.5):
        pass
    server.stop()
    done.send((dict(handler.accepted), handler.refused, _cpu_self()))


def _cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class SMTPServer:
    def __init__(self, fail_rate: float) -> None:
        context = multiprocessing.get_context("fork")
        ready_r, ready_w = context.Pipe(duplex=False)
        self.talk, there = context.Pipe()
        self.process = context.Process(target=_serve, args=(fail_rate, ready_w, there),
                                       daemon=True)
        self.process.start()
        self.port = int(ready_r.recv())

    def stop(self) -> tuple[dict[str, int], int, float]:
        assert self.process.pid is not None
        os.kill(self.process.pid, signal.SIGTERM)
        result: tuple[dict[str, int], int, float] = self.talk.recv()
        self.process.join(10)
        return result


# ----------------------------------------------------------------------------- seeding

def seed(db: Database, supporters: int) -> int:
    """A live campaign and its paid supporters; answers the campaign's id."""
    now = clock.now()
    with db.write() as session:
        scenario = build_event(session, CodeSigner(b"k" * 32), slug="bench", workshops=1,
                               booklets=0)
        describe_demo_committee(session, scenario.event_id)
    campaign = create_campaign(db, event_id=scenario.event_id, slug="hitsuji", title="ひつじ団",
                               goal=100_000, starts_at=now - timedelta(days=1),
                               ends_at=now + timedelta(days=10), story="支援を。",
                               payment_methods=["bank_transfer"], now=now, **LEGAL)
    reward = add_reward(db, campaign.id, title="応援", price=3000, delivery_month="2026-10",
                        items=[{"kind": "tour_invite"}])
    go_live(db, campaign.id, now=now)
    rows = [{"campaign_id": campaign.id, "reward_id": reward.id, "reference": f"S{i:07d}",
             "supporter_name": f"支援者{i}", "supporter_email": f"s{i}@example.jp",
             "supporter_phone": "+819012345678", "lang": "ja" if i % 5 else "en",
             "quantity": 1, "amount": 3000, "shipping": 0, "total": 3000, "answers": {},
             "payment_method": "bank_transfer", "state": "paid",
             "payment_deadline": now + timedelta(days=7), "created_at": now, "paid_at": now}
            for i in range(supporters)]
    with db.write() as session:
        for start in range(0, len(rows), 1000):
            session.execute(insert(Pledge), rows[start:start + 1000])
    return campaign.id


# ----------------------------------------------------------------------------- runs

def _children_cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def mailing(url: str, data_dir: Path, args: argparse.Namespace, src: Path,
            label: str) -> None:
    db = Database(url)
    migrate.upgrade(db.engine)
    campaign_id = seed(db, args.messages)
    server = SMTPServer(args.fail_rate)
    env = {**os.environ, "PYTHONPATH": str(src), "OFLOCAL_DATABASE_URL": url,
           "OFLOCAL_DATA_DIR": str(data_dir), "OFLOCAL_SMTP_HOST": "127.0.0.1",
           "OFLOCAL_SMTP_PORT": str(server.port), "OFLOCAL_SMTP_STARTTLS": "0",
           "OFLOCAL_WORKER_THREADS": str(args.threads), "OFLOCAL_JOB_POLL_SECONDS": "0.2",
           "OFLOCAL_JOB_RETRY_SECONDS": "0.05", "OFLOCAL_JOB_LEASE_SECONDS": "30",
           "OFLOCAL_JOB_HEARTBEAT_SECONDS": "5"}
    workers = [subprocess.Popen([sys.executable, "-m", "oflocal", "worker"], env=env,
                                stdout=(data_dir / f"{label}-{n}.log").open("wb"),
                                stderr=subprocess.STDOUT)
               for n in range(args.workers)]
    try:
        time.sleep(3)  # the workers import and start; not part of the mailing
        update_id = write_update(db, campaign_id, title="工場見学の日程", body="10月12日です。",
                                 audience="supporters", author="staff:1")
        began = time.perf_counter()
        publish_update(db, update_id)
        queued_at = None
        deadline = began + args.timeout
        while True:
            progress = mailing_progress(db, update_id)
            if queued_at is None and progress.all_queued:
                queued_at = time.perf_counter()
            if progress.sent + progress.failed >= args.messages:
                break
            if time.perf_counter() > deadline:
                raise SystemExit(f"{label}: not done in {args.timeout} s: {progress}")
            time.sleep(0.05)
        took = time.perf_counter() - began
        cpu = _children_cpu([w.pid for w in workers])
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
        for w in workers:
            w.wait(60)
        accepted, refused, server_cpu = server.stop()
    twice = sum(1 for n in accepted.values() if n > 1)
    missing = args.messages - len(accepted)
    print(f"{label:10} {args.messages / took:7.0f} messages/s  {took:6.1f} s  "
          f"all queued after {(queued_at or began) - began:5.1f} s  "
          f"CPU s: workers {cpu:5.1f}, SMTP server {server_cpu:5.1f}  "
          f"refused and retried {refused}  sent {progress.sent} failed {progress.failed}  "
          f"missing {missing}  twice {twice}", flush=True)
    db.dispose()


def plain_smtplib(url: str, args: argparse.Namespace) -> None:
    """The upper bound: the outbox's messages composed and sent by threads over kept
    connections, with no queue and no database write."""
    db = Database(url)
    with db.read() as session:
        letters = [Letter(**row._asdict()) for row in session.execute(select(
            MailMessage.id, MailMessage.to_address, MailMessage.to_name, MailMessage.kind,
            MailMessage.language, MailMessage.subject, MailMessage.text_body,
            MailMessage.html_body, MailMessage.dedupe_key, MailMessage.created_at,
            MailMessage.unsubscribe_url).order_by(MailMessage.id))]
        assert session.execute(select(func.count()).select_from(MailMessage)).scalar_one() \
            == len(letters)
    db.dispose()
    server = SMTPServer(args.fail_rate)
    threads = args.workers * args.threads
    retried = [0] * threads

    def send(index: int) -> None:
        smtp = smtplib.SMTP("127.0.0.1", server.port, timeout=30)
        smtp.ehlo()
        for letter in letters[index::threads]:
            message = compose(letter, MAIL_FROM)
            while True:
                try:
                    smtp.send_message(message, from_addr="info@hitsuji.example.jp",
                                      to_addrs=[letter.to_address])
                    break
                except smtplib.SMTPDataError:
                    retried[index] += 1
        smtp.quit()

    began = time.perf_counter()
    cpu_before = _cpu_self()
    pool = [threading.Thread(target=send, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    took = time.perf_counter() - began
    cpu = _cpu_self() - cpu_before
    accepted, _, server_cpu = server.stop()
    print(f"{'smtplib':10} {len(letters) / took:7.0f} messages/s  {took:6.1f} s  "
          f"(no queue, {threads} threads, one connection each)  CPU s: sender {cpu:5.1f}, "
          f"SMTP server {server_cpu:5.1f}  refused and retried {sum(retried)}  "
          f"missing {len(letters) - len(accepted)}  "
          f"twice {sum(1 for n in accepted.values() if n > 1)}", flush=True)


def run(backend: str, args: argparse.Namespace) -> None:
    runs = [("oflocal", ROOT / "src")]
    if args.old_src:
        runs.append(("old", Path(args.old_src).resolve() / "src"))
    for label, src in runs:
        with tempfile.TemporaryDirectory() as folder:
            if backend == "sqlite":
                url = f"sqlite:///{folder}/bench.db"
            else:
                with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
                    admin.execute(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
                    admin.execute(f"CREATE DATABASE {PG_DB}")
                url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{PG_DB}"
            try:
                print(f"{backend:8} ", end="", flush=True)
                mailing(url, Path(folder), args, src, label)
                if label == "oflocal":
                    print(f"{backend:8} ", end="", flush=True)
                    plain_smtplib(url, args)
            finally:
                if backend != "sqlite":
                    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
                        admin.execute(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=2, help="oflocal worker processes")
    parser.add_argument("--threads", type=int, default=3, help="threads per worker")
    parser.add_argument("--fail-rate", type=float, default=0.1,
                        help="share of deliveries the server refuses with 451")
    parser.add_argument("--backends", default="postgres,sqlite")
    parser.add_argument("--old-src", help="a source tree to run as a second mailing")
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}; "
          f"{os.cpu_count()} CPUs; {args.messages} messages, {args.workers} workers x "
          f"{args.threads} threads, {args.fail_rate:.0%} refused", flush=True)
    for backend in args.backends.split(","):
        run(backend, args)
    print(f"load average after {os.getloadavg()[0]:.2f}", flush=True)


if __name__ == "__main__":
    main()
