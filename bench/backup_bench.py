"""Backups of a fair-sized installation: how long a backup and a restore take, beside a
plain copy of the database file (SQLite) or a bare ``pg_dump`` (PostgreSQL).

Runs alone (``python bench/backup_bench.py``) or from ``make bench``. For each backend
(SQLite in a temporary folder; PostgreSQL database ``oflocal_backup_bench`` on the
127.0.0.1 server, created and dropped here, unless ``--no-postgres``) it

1. migrates and seeds an event as a busy fair leaves it: 40 workshops, ``--booklets``
   booklets of six ¥500 tickets all sold at the desk (50 per sale), and
   ``--redeemed`` tickets redeemed three at a time (one redemption per call of the
   service, as a booth sends them);
2. times, ``--repeat`` times each (the median is shown), with nothing else running:

   * ``copy``: the baseline. SQLite: ``shutil.copyfile`` of the database file (what a
     person would do, and wrong while the server runs: see ``backup/snapshot.py``);
     PostgreSQL: ``pg_dump --format=custom`` to a file, nothing else;
   * ``snapshot``: SQLite's online backup API to a file (PostgreSQL: the same as copy);
   * ``vacuum into``: ``VACUUM INTO`` (SQLite only), the other online way;
   * ``backup``: ``oflocal.backup.create.create_backup``: snapshot, integrity check,
     counts for the manifest, gzip, SHA-256, fsync, read back and checked, renamed;
   * ``backup, encrypted``: the same with a passphrase (scrypt once, AES-256-GCM);
   * ``restore``: ``oflocal.backup.restore.restore`` of the plain backup into a new
     installation: checksum, unpack, ``integrity_check`` (PostgreSQL: ``pg_restore``),
     counted and compared with the manifest, the auditor, the printed codes checked;

3. prints the sizes: the database, the archive, the encrypted archive.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

SECRET = b"bench-secret-key-0123456789abcdef"
PASSPHRASE = "a passphrase for the bench run"
BENCH_DB = "oflocal_backup_bench"
PER_BOOKLET, PER_REDEMPTION, PER_SALE = 6, 3, 50

from sqlalchemy import create_engine, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from oflocal import clock  # noqa: E402
from oflocal.backup.create import create_backup  # noqa: E402
from oflocal.backup.restore import restore  # noqa: E402
from oflocal.backup.snapshot import libpq  # noqa: E402
from oflocal.db import migrate  # noqa: E402
from oflocal.db.engine import Database  # noqa: E402
from oflocal.demo import build_event  # noqa: E402
from oflocal.events.setup import ProgrammeTerms, create_programme  # noqa: E402
from oflocal.settings import Backup, Settings, normalise_database_url  # noqa: E402
from oflocal.vouchers.codes import CodeSigner  # noqa: E402
from oflocal.vouchers.desk import sell_booklets  # noqa: E402
from oflocal.vouchers.issue import add_booklets  # noqa: E402
from oflocal.vouchers.models import Ticket  # noqa: E402
from oflocal.vouchers.redeem import redeem_tickets  # noqa: E402


def seed(db: Database, *, booklets: int, redeemed: int) -> None:
    signer = CodeSigner(SECRET)
    now = clock.now()
    day = clock.tokyo_date(now)
    with db.write() as session:
        scenario = build_event(session, signer, slug="bench", workshops=40, booklets=0)
        programme, _ = create_programme(session, scenario.event_id, ProgrammeTerms(
            name="bench", price=2500, face_value=500 * PER_BOOKLET,
            denominations=[500] * PER_BOOKLET, sales_starts_at=now - timedelta(days=1),
            sales_ends_at=now + timedelta(days=3), issue_date=day - timedelta(days=1),
            valid_from=day - timedelta(days=1), valid_until=day + timedelta(days=3),
            premium_budget=10**12, max_booklets_per_sale=PER_SALE))
        batch = add_booklets(session, signer, programme.id, booklets, now=now, actor="bench")
        programme_id = programme.id
    covers = [signer.make("B", programme_id, batch.first_booklet_serial + i)
              for i in range(booklets)]
    for i in range(0, booklets, PER_SALE):
        sell_booklets(db, signer, programme_id=programme_id, codes=covers[i:i + PER_SALE],
                      payment_method="cash", actor="bench")
    with db.read() as session:
        tickets = list(session.execute(select(Ticket.code).where(Ticket.status == "active")
                                       .order_by(Ticket.serial).limit(redeemed)).scalars())
    workshops = scenario.workshop_ids
    for n, i in enumerate(range(0, len(tickets), PER_REDEMPTION)):
        redeem_tickets(db, signer, workshop_id=workshops[n % len(workshops)],
                       codes=tickets[i:i + PER_REDEMPTION])


def timed(repeat: int, run: Callable[[int], object]) -> tuple[float, float, float]:
    """Median, fastest and slowest of ``repeat`` runs."""
    times = []
    for n in range(repeat):
        began = time.perf_counter()
        run(n)
        times.append(time.perf_counter() - began)
    return statistics.median(times), min(times), max(times)


Row = tuple[str, tuple[float, float, float], str]


def measure(kind: str, url: str, work: Path, repeat: int,
            pg_restore_url: Callable[[int], str] | None) -> list[Row]:
    data_dir, target = work / "var", work / "usb"
    data_dir.mkdir()
    target.mkdir()
    settings = Settings(data_dir=data_dir, database_url=url, secret_key=SECRET,
                        backup=Backup(dir=target))
    rows: list[Row] = []
    scratch = work / "scratch"
    scratch.mkdir()
    if kind == "sqlite":
        path = Path(make_url(url).database or "")
        size = path.stat().st_size

        def copy(n: int) -> None:
            shutil.copyfile(path, scratch / f"copy-{n}.db")

        def snapshot(n: int) -> None:
            source, dest = sqlite3.connect(path), sqlite3.connect(scratch / f"snap-{n}.db")
            source.backup(dest, pages=-1)
            dest.close()
            source.close()

        def vacuum(n: int) -> None:
            source = sqlite3.connect(path)
            source.execute("VACUUM INTO ?", (str(scratch / f"vacuum-{n}.db"),))
            source.close()

        rows.append(("copy (file, baseline)", timed(repeat, copy), f"{size / 1e6:.1f} MB"))
        rows.append(("snapshot (backup API)", timed(repeat, snapshot), ""))
        rows.append(("vacuum into", timed(repeat, vacuum), ""))
    else:
        dsn, env = libpq(url)

        def dump(n: int) -> None:
            subprocess.run(["pg_dump", "--format=custom", f"--file={scratch / f'd-{n}'}",
                            f"--dbname={dsn}"], env=env, check=True)

        engine = create_engine(normalise_database_url(url))
        with engine.connect() as conn:
            size = int(conn.execute(text("SELECT pg_database_size(current_database())"))
                       .scalar_one())
        engine.dispose()
        rows.append(("pg_dump (baseline)", timed(repeat, dump),
                     f"{size / 1e6:.1f} MB database, dump "
                     f"{(scratch / 'd-0').stat().st_size / 1e6:.1f} MB"))
    shutil.rmtree(scratch)
    made: list[Path] = []
    sealed: list[Path] = []
    rows.append(("backup", timed(repeat, lambda n: made.append(
        create_backup(settings, target=target, rotate=False).path)),
        f"archive {made[0].stat().st_size / 1e6:.1f} MB"))
    rows.append(("backup, encrypted", timed(repeat, lambda n: sealed.append(
        create_backup(settings, target=target, passphrase=PASSPHRASE, rotate=False).path)),
        f"archive {sealed[0].stat().st_size / 1e6:.1f} MB"))

    def back(n: int) -> None:
        report = restore(made[0], work / f"restored-{n}",
                         database_url=pg_restore_url(n) if pg_restore_url else None)
        assert report.ok, (report.differences, report.audit.failures)

    rows.append(("restore (+ compare, audit)", timed(repeat, back), ""))
    return rows


def _admin(server: str) -> object:
    return create_engine(normalise_database_url(server).rsplit("/", 1)[0] + "/postgres",
                         isolation_level="AUTOCOMMIT")


def _fresh(server: str, name: str) -> str:
    admin = _admin(server)
    with admin.connect() as conn:  # type: ignore[attr-defined]
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()  # type: ignore[attr-defined]
    return str(make_url(normalise_database_url(server)).set(database=name)
               .render_as_string(hide_password=False))


def _drop(server: str, names: list[str]) -> None:
    admin = _admin(server)
    with admin.connect() as conn:  # type: ignore[attr-defined]
        for name in names:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()  # type: ignore[attr-defined]


def run(kind: str, args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="oflocal-backup-bench-") as folder:
        work = Path(folder)
        created: list[str] = []
        if kind == "sqlite":
            url = f"sqlite:///{work / 'oflocal.db'}"
            restore_url = None
        else:
            url = _fresh(args.postgres, BENCH_DB)
            created.append(BENCH_DB)

            def restore_url(n: int) -> str:
                name = f"{BENCH_DB}_restored_{n}"
                created.append(name)
                return _fresh(args.postgres, name)
        try:
            db = Database(url)
            migrate.upgrade(db.engine)
            began = time.perf_counter()
            seed(db, booklets=args.booklets, redeemed=args.redeemed)
            seeded = time.perf_counter() - began
            if kind == "sqlite":
                with db.engine.connect() as conn:
                    conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            db.dispose()
            print(f"\n{kind}: {args.booklets:,} booklets ({args.booklets * PER_BOOKLET:,} "
                  f"tickets) sold, {args.redeemed:,} redeemed; seeded in {seeded:.0f} s",
                  flush=True)
            print(f"| step | median s (of {args.repeat}) | fastest–slowest | |\n"
                  "|---|---:|---:|---|")
            for name, (median, low, high), note in measure(kind, url, work, args.repeat,
                                                           restore_url):
                print(f"| {name} | {median:.2f} | {low:.2f}–{high:.2f} | {note} |", flush=True)
        finally:
            if created:
                _drop(args.postgres, created)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--booklets", type=int, default=5000)
    parser.add_argument("--redeemed", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--postgres", default=os.environ.get(
        "OFLOCAL_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.1f}")
    run("sqlite", args)
    if not args.no_postgres:
        run("postgresql", args)
    print(f"\nload average at end: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
