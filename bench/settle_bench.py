"""Settlement at scale on PostgreSQL: close a period over N redemptions at 120
workshops, then write the Zengin file and every statement (CSV and PDF).

Runs alone (``python bench/settle_bench.py``; ``--sizes 100000`` for a quick one) or
from ``make bench``.

For each size it

1. creates a fresh database ``oflocal_settle_bench`` on the 127.0.0.1 server and
   migrates it;
2. seeds it with set-based SQL (``INSERT ... SELECT generate_series``), not through
   the services: an event with ``--workshops`` workshops (valid bank data), a
   programme of ¥3,000 booklets in six tickets (¥1,000, 3 × ¥500, ¥300, ¥200), one
   sale entry for all booklets, N redeemed tickets spread over ``--days`` days and the
   workshops, and one redemption journal entry per workshop and day, so the books
   balance exactly as the services would have left them;
3. runs ``ledger verify`` (every identity) before;
4. in a fresh child process (so its peak memory is its own): closes the period
   (``close_period``), writes the Zengin file, all statements as one CSV and as one
   CSV per workshop, then all statements as one PDF and as one PDF per workshop;
   then marks the period paid (payout entries and account copies) and makes the Zengin
   file again from the copies (it must be byte for byte the same); the child reports
   its times and its peak RSS (``ru_maxrss``);
5. runs ``ledger verify`` after (lines = tallies = redemptions, payable = ledger);
6. baseline, same run and data: the close as migration 0002 made it (stamping every
   redemption with its period in one UPDATE, then counting), on a copy of the table.

Other engineers' test suites may be running on the same 2-core machine: the load
average at start and end is printed with the results.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("OFLOCAL_SECRET_KEY", "bench-secret-key-0123456789abcdef")

from sqlalchemy import bindparam, create_engine, text  # noqa: E402

from oflocal import clock  # noqa: E402
from oflocal.audit import verify  # noqa: E402
from oflocal.db import migrate  # noqa: E402
from oflocal.db.engine import Database  # noqa: E402
from oflocal.demo import build_event  # noqa: E402
from oflocal.events.setup import ProgrammeTerms, create_programme  # noqa: E402
from oflocal.ledger.accounts import account_ids, liability_code, payable_code  # noqa: E402
from oflocal.ledger.journal import post_entry  # noqa: E402
from oflocal.settings import normalise_database_url  # noqa: E402
from oflocal.settlement.settings import RequesterData, set_requester  # noqa: E402
from oflocal.vouchers.codes import CodeSigner  # noqa: E402

DB_NAME = "oflocal_settle_bench"
DENOMINATIONS = [1000, 500, 500, 500, 300, 200]
PRICE, FACE = 2500, 3000


def _admin_url(url: str, database: str) -> str:
    base, _, _ = normalise_database_url(url).rpartition("/")
    return f"{base}/{database}"


def fresh_database(server: str) -> str:
    admin = create_engine(_admin_url(server, "postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{DB_NAME}"'))
    admin.dispose()
    return _admin_url(server, DB_NAME)


def drop_database(server: str) -> None:
    admin = create_engine(_admin_url(server, "postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)'))
    admin.dispose()


# ------------------------------------------------------------------------------ seed


def seed(db: Database, *, redemptions: int, workshops: int, days: int) -> dict[str, Any]:
    """Set-based seeding; returns the event id and what was made."""
    now = clock.now()
    today = clock.tokyo_date(now)
    start = clock.start_of_tokyo_day(today - timedelta(days=days)) + timedelta(hours=1)
    booklets = -(-redemptions // len(DENOMINATIONS))
    signer = CodeSigner(os.environ["OFLOCAL_SECRET_KEY"].encode())
    with db.write() as s:
        sc = build_event(s, signer, slug="settle-bench", workshops=workshops, booklets=0,
                         now=now - timedelta(days=days + 1))
        programme, _ = create_programme(s, sc.event_id, ProgrammeTerms(
            name="ベンチマーク商品券", price=PRICE, face_value=FACE, denominations=DENOMINATIONS,
            sales_starts_at=now - timedelta(days=days + 2), sales_ends_at=now,
            issue_date=today - timedelta(days=days + 2), valid_from=today - timedelta(days=days),
            valid_until=today, premium_budget=10**13, max_booklets_per_sale=5))
        pid, event_id = programme.id, sc.event_id
        accounts = account_ids(s, event_id, "cash", "premium_fund", liability_code(pid),
                               *(payable_code(w) for w in sc.workshop_ids))
        sale_entry = post_entry(s, event_id=event_id, kind="sale", occurred_at=start,
                                memo="bench: all booklets", actor="bench", lines=[
                                    (accounts["cash"], booklets * PRICE),
                                    (accounts["premium_fund"], booklets * (FACE - PRICE)),
                                    (accounts[liability_code(pid)], -booklets * FACE)])
        params = {"p": pid, "n": booklets, "r": redemptions, "at": start, "e": sale_entry,
                  "price": PRICE, "face": FACE, "k": len(DENOMINATIONS), "days": days}
        s.execute(text(
            "INSERT INTO print_batch (programme_id, number, booklet_count, first_booklet_serial,"
            " created_at, created_by, reason) VALUES (:p, 1, :n, 1, :at, 'bench', '')"), params)
        sale_id = s.execute(text(
            "INSERT INTO sale (programme_id, receipt_number, booklet_count, amount_paid,"
            " face_total, premium_total, payment_method, entry_id, sold_by, sold_at)"
            " VALUES (:p, 'BENCH-1', :n, CAST(:n AS bigint) * :price, CAST(:n AS bigint) * :face,"
            " CAST(:n AS bigint) * (:face - :price),"
            " 'cash', :e, 'bench', :at) RETURNING id"), params).scalar_one()
        s.execute(text(
            "INSERT INTO booklet (programme_id, batch_id, serial, code, status, sale_id)"
            " SELECT :p, (SELECT id FROM print_batch WHERE programme_id = :p), g,"
            " 'BB' || g, 'sold', :sale FROM generate_series(1, :n) g"), {**params, "sale": sale_id})
        s.execute(text(
            "UPDATE programme SET booklets_sold = :n, next_booklet_serial = :n + 1,"
            " next_ticket_serial = CAST(:n AS int) * :k + 1 WHERE id = :p"), params)
        s.execute(text(
            "INSERT INTO ticket (programme_id, booklet_id, serial, code, denomination, status)"
            " SELECT :p, b.id, (b.serial - 1) * CAST(:k AS int) + i,"
            " 'BT' || ((b.serial - 1) * CAST(:k AS int) + i), (:denominations)[i],"
            " CASE WHEN (b.serial - 1) * CAST(:k AS int) + i <= :r"
            " THEN 'redeemed' ELSE 'active' END"
            " FROM booklet b CROSS JOIN generate_series(1, CAST(:k AS int)) i"
            " WHERE b.programme_id = :p"
        ).bindparams(bindparam("denominations", value=DENOMINATIONS)), params)
        # Each redeemed ticket: a workshop (skewed: low numbers busier), a day, a time.
        s.execute(text(
            "CREATE TEMP TABLE bench_r ON COMMIT DROP AS"
            " SELECT t.id AS ticket_id,"
            "  (:ws)[1 + floor(:w * power(((t.serial::bigint * 7919) % 10007) / 10007.0,"
            "   1.6))::int] AS workshop_id,"
            "  t.serial % CAST(:days AS int) AS day, t.denomination AS amount,"
            "  :at + (t.serial % CAST(:days AS int)) * interval '1 day'"
            "      + ((t.serial::bigint * 37) % 36000) * interval '1 second' AS redeemed_at"
            " FROM ticket t WHERE t.programme_id = :p AND t.status = 'redeemed'"
        ).bindparams(bindparam("ws", value=sc.workshop_ids)), {**params, "w": workshops})
        groups = s.execute(text(
            "SELECT workshop_id, day, sum(amount) FROM bench_r GROUP BY workshop_id, day"
            " ORDER BY day, workshop_id")).all()
        s.execute(text("CREATE TEMP TABLE bench_e (workshop_id int, day int, entry_id bigint)"
                       " ON COMMIT DROP"))
        entries = []
        for workshop_id, day, total in groups:
            entry = post_entry(
                s, event_id=event_id, kind="redemption", actor=f"workshop:{workshop_id}",
                occurred_at=start + timedelta(days=day, hours=10),
                memo=f"bench: day {day} at W{workshop_id}",
                lines=[(accounts[liability_code(pid)], int(total)),
                       (accounts[payable_code(workshop_id)], -int(total))])
            entries.append({"w": workshop_id, "d": day, "e": entry})
        s.execute(text("INSERT INTO bench_e VALUES (:w, :d, :e)"), entries)
        s.execute(text(
            "INSERT INTO redemption (ticket_id, workshop_id, programme_id, amount, entry_id,"
            " redeemed_at, open_period) SELECT r.ticket_id, r.workshop_id, :p, r.amount,"
            " e.entry_id, r.redeemed_at, 1 FROM bench_r r JOIN bench_e e USING (workshop_id, day)"
            " ORDER BY r.redeemed_at"), params)
    set_requester(db, event_id=event_id, data=RequesterData(
        "1234567890", "ｵ-ﾌﾟﾝﾌｱｸﾄﾘ-ｼﾞﾂｺｳｲｲﾝｶｲ", "0001", "001", 1, "7654321"))
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    return {"event_id": event_id, "booklets": booklets, "journal_entries": len(entries) + 1}


def run_verify(db: Database) -> tuple[bool, float, int]:
    t = time.perf_counter()
    with db.read() as s:
        # verify's "ticket states agree" check uses NOT IN (subquery): PostgreSQL hashes
        # it only while it fits work_mem; beyond about 500k tickets the default 4 MB
        # turns it into a rescan per ticket (hours). This session gets room to hash.
        s.execute(text("SET LOCAL work_mem = '256MB'"))
        report = verify(s)
    return report.ok, time.perf_counter() - t, len(report.checks)


def baseline_close(db: Database, event_id: int) -> float:
    """The close as migration 0002 made it, timed on a copy of the redemptions: one
    conditional UPDATE stamping every redemption taken with the period (pages kept half
    empty and no index on the column, so each update is HOT), then the same count."""
    with db.write() as s:
        s.execute(text("DROP TABLE IF EXISTS bench_old_close"))
        s.execute(text("CREATE TABLE bench_old_close (LIKE redemption INCLUDING INDEXES)"
                       " WITH (fillfactor = 50)"))
        s.execute(text("ALTER TABLE bench_old_close ADD COLUMN settlement_period_id integer"))
        s.execute(text("INSERT INTO bench_old_close SELECT * FROM redemption"))
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE bench_old_close"))
    t = time.perf_counter()
    with db.write() as s:
        s.execute(text(
            "UPDATE bench_old_close SET settlement_period_id = 1"
            " WHERE programme_id IN (SELECT id FROM programme WHERE event_id = :e)"
            " AND settlement_period_id IS NULL AND undone_at IS NULL AND redeemed_at <= :at"),
            {"e": event_id, "at": clock.now()})
        s.execute(text(
            "SELECT workshop_id, CAST(timezone('Asia/Tokyo', redeemed_at) AS date), amount,"
            " count(*), sum(amount) FROM bench_old_close"
            " WHERE programme_id IN (SELECT id FROM programme WHERE event_id = :e)"
            " AND settlement_period_id = 1 GROUP BY 1, 2, 3"), {"e": event_id}).all()
    spent = time.perf_counter() - t
    with db.write() as s:
        s.execute(text("DROP TABLE bench_old_close"))
    return spent


# --------------------------------------------------------------------------- measure


def measure(url: str, event_id: int, out_dir: Path) -> dict[str, Any]:
    """Runs in the child process: close, Zengin, CSVs, PDFs."""
    from oflocal.settlement.bank_days import next_bank_day
    from oflocal.settlement.close import close_period
    from oflocal.settlement.pay import mark_period_paid
    from oflocal.settlement.queries import iter_statements, period_lines
    from oflocal.settlement.statements import statements_csv, write_statements_pdf
    from oflocal.settlement.transfer import period_zengin_file

    db = Database(url)
    result: dict[str, Any] = {}
    t = time.perf_counter()
    period = close_period(db, event_id=event_id, actor="bench").body
    result["close_s"] = time.perf_counter() - t
    result["period"] = {k: period[k] for k in ("number", "workshops", "ticket_count",
                                               "face_total", "net_total")}
    pid = period["period_id"]
    t = time.perf_counter()
    transfer_day = next_bank_day(clock.tokyo_date(clock.now()) + timedelta(days=2))
    with db.read() as s:
        data, payees, total = period_zengin_file(s, pid, transfer_day)
    (out_dir / "zengin.txt").write_bytes(data)
    result["zengin_s"] = time.perf_counter() - t
    result["zengin"] = {"payees": payees, "total": total, "bytes": len(data)}
    assert total == period["net_total"]

    t = time.perf_counter()
    with db.read() as s, (out_dir / "statements.csv").open("wb") as f:
        for chunk in statements_csv(iter_statements(s, pid)):
            f.write(chunk)
    with db.read() as s:
        workshops = [line["workshop_id"] for line in period_lines(s, pid)]
    for wid in workshops:
        with db.read() as s, (out_dir / f"statement-W{wid}.csv").open("wb") as f:
            for chunk in statements_csv(iter_statements(s, pid, wid)):
                f.write(chunk)
    result["csv_s"] = time.perf_counter() - t

    t = time.perf_counter()
    with db.read() as s, (out_dir / "statements.pdf").open("wb") as f:
        result["pdf_pages_statements"] = write_statements_pdf(f, iter_statements(s, pid))
    result["pdf_all_s"] = time.perf_counter() - t
    t = time.perf_counter()
    for wid in workshops:
        with db.read() as s, (out_dir / f"statement-W{wid}.pdf").open("wb") as f:
            write_statements_pdf(f, iter_statements(s, pid, wid))
    result["pdf_each_s"] = time.perf_counter() - t

    # Mark it paid (one payout entry per workshop and the account copies), then the
    # Zengin file again, now from the copies.
    t = time.perf_counter()
    paid = mark_period_paid(db, period_id=pid, transfer_date=transfer_day, actor="bench").body
    result["pay_s"] = time.perf_counter() - t
    assert paid["payout_entries"] == period["workshops"]
    with db.read() as s:
        again, _, _ = period_zengin_file(s, pid)
    assert again == data, "the paid period's file differs from the file that was paid"
    result["files"] = len(list(out_dir.iterdir()))
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    db.dispose()
    return result


def run_size(server: str, size: int, workshops: int, days: int, keep: bool) -> dict[str, Any]:
    url = fresh_database(server)
    db = Database(url)
    migrate.upgrade(db.engine)
    t = time.perf_counter()
    seeded = seed(db, redemptions=size, workshops=workshops, days=days)
    seed_s = time.perf_counter() - t
    ok_before, verify_before_s, checks = run_verify(db)
    with tempfile.TemporaryDirectory(prefix="settle-bench-") as tmp:
        child = subprocess.run(
            [sys.executable, __file__, "--child", url, str(seeded["event_id"]), tmp],
            capture_output=True, text=True, check=False)
        if child.returncode != 0:
            raise RuntimeError(child.stderr)
        measured = json.loads(child.stdout.strip().splitlines()[-1])
    ok_after, verify_after_s, _ = run_verify(db)
    measured["baseline_close_s"] = baseline_close(db, seeded["event_id"])
    db.dispose()
    if not keep:
        drop_database(server)
    return {"size": size, "seed_s": seed_s, "verify_before": ok_before,
            "verify_before_s": verify_before_s, "verify_after": ok_after,
            "verify_after_s": verify_after_s, "checks": checks, **seeded, **measured}


def _calibrate(server: str) -> float:
    """How fast this PostgreSQL is at plain work, to compare results across machines."""
    engine = create_engine(_admin_url(server, "postgres"))
    with engine.connect() as conn:
        t = time.perf_counter()
        conn.execute(text("SELECT count(*) FROM generate_series(1, 10000000)"))
        spent = time.perf_counter() - t
    engine.dispose()
    return spent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,1000000", help="redemption counts")
    parser.add_argument("--workshops", type=int, default=120)
    parser.add_argument("--days", type=int, default=5)
    parser.add_argument("--postgres", default=os.environ.get(
        "OFLOCAL_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--keep", action="store_true", help="keep the last database")
    parser.add_argument("--child", nargs=3, metavar=("URL", "EVENT", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        url, event, directory = args.child
        print(json.dumps(measure(url, int(event), Path(directory))))
        return 0
    load_start = os.getloadavg()[0]
    calibration = _calibrate(args.postgres)
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        print(f"-- {size:,} redemptions, {args.workshops} workshops, {args.days} days", flush=True)
        row = run_size(args.postgres, size, args.workshops, args.days, args.keep)
        print(json.dumps(row, ensure_ascii=False), flush=True)
        rows.append(row)
    load_end = os.getloadavg()[0]
    print(f"\nload average (1 min) at start {load_start:.1f}, at end {load_end:.1f}; "
          f"machine speed: PostgreSQL counts generate_series(1, 10^7) in {calibration:.2f} s\n")
    print("| redemptions | seed s | close s | baseline close s (0002) | Zengin s "
          "| CSV s (all + per workshop) "
          "| Zengin + CSV s | PDF s (all) | PDF s (per workshop) | mark paid s | peak RSS MB "
          "| verify before/after |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|")
    for r in rows:
        print(f"| {r['size']:,} | {r['seed_s']:.1f} | {r['close_s']:.2f} "
              f"| {r['baseline_close_s']:.2f} | {r['zengin_s']:.2f} "
              f"| {r['csv_s']:.2f} | {r['zengin_s'] + r['csv_s']:.2f} | {r['pdf_all_s']:.2f} "
              f"| {r['pdf_each_s']:.2f} | {r['pay_s']:.2f} | {r['peak_rss_mb']:.0f} "
              f"| {'ok' if r['verify_before'] else 'FAIL'}/"
              f"{'ok' if r['verify_after'] else 'FAIL'} |")
    failed = [r for r in rows if not (r["verify_before"] and r["verify_after"])]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
