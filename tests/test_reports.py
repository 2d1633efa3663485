"""Treasurer reports on both databases: programme summary, unused balance, ledger
exports (CSV in UTF-8 with BOM or Shift_JIS, XLSX), the API around them, and the
``oflocal settle`` / ``oflocal report`` commands end to end (in process, click's runner;
the first command in a real process, as a treasurer's script runs it)."""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import func, select

from apps import client_for
from oflocal import clock
from oflocal.auth.models import StaffUser
from oflocal.auth.service import issue_api_token
from oflocal.db.engine import Database
from oflocal.ledger.models import JournalEntry, Posting
from oflocal.reports.exports import journal_csv, journal_xlsx, trial_balance_csv
from oflocal.reports.summary import programme_summary
from oflocal.reports.unused import Balance, record_dates, unused_balance
from oflocal.settings import Settings
from oflocal.settlement.bank_days import next_bank_day
from oflocal.vouchers.codes import CodeSigner, grouped
from oflocal.vouchers.desk import void_booklet
from oflocal.vouchers.expiry import expire_programme
from oflocal.vouchers.models import Redemption, Ticket
from oflocal.vouchers.redeem import undo_redemption
from test_settlement import World, make_world


@pytest.fixture
def world(db: Database, signer: CodeSigner) -> World:
    """6 booklets printed, 5 sold two days ago (30 tickets, ¥15,000 face for ¥12,500), 1
    voided; redemptions on two Tokyo days (the day before yesterday and yesterday) at
    three workshops, one of them undone."""
    now = clock.now()
    # Two whole past days in Tokyo, whatever the hour now (a run just after midnight
    # has no room for "today"): day one in the afternoon, day two just after midnight.
    midnight = clock.start_of_tokyo_day(clock.tokyo_date(now))
    sold_at = midnight - timedelta(hours=34)
    w = make_world(db, signer, booklets=6, sold=5, sold_at=sold_at,
                   programme_day=clock.tokyo_date(sold_at))
    void_booklet(db, signer, code=w.sc.booklet_codes[5], reason="汚損", actor="t")
    w.base = sold_at + timedelta(minutes=10)  # day one, the day before yesterday
    day_two = midnight - timedelta(days=1) + timedelta(minutes=5)  # yesterday
    w.redeem(0, 10, minutes=0)
    w.redeem(1, 8, minutes=10)
    step = (day_two - w.base) / timedelta(minutes=1)
    w.redeem(2, 5, minutes=step)
    undone = w.redeem(2, 1, minutes=step + 0.1)
    undo_redemption(db, workshop_id=w.sc.workshop_ids[2], redemption_id=undone["redemption_id"],
                    now=w.at(step + 0.2))
    w.redeem(0, 4, minutes=step + 0.3)
    assert clock.tokyo_date(w.at(0)) < clock.tokyo_date(w.at(step)) < clock.tokyo_date(now)
    return w  # 27 tickets redeemed live (¥13,500); 3 tickets (¥1,500) outstanding


def test_programme_summary(world: World) -> None:
    w = world
    with w.db.read() as s:
        data = programme_summary(s, w.sc.programme_id)
    assert (data.booklets_printed, data.booklets_sold, data.booklets_voided,
            data.booklets_in_stock) == (6, 5, 1, 0)
    assert (data.face_sold, data.cash_received, data.cash_by_method) == (
        15000, 12500, {"cash": 12500})
    assert (data.premium_printed, data.premium_sold) == (3000, 2500)
    # The premium fund's share of what was redeemed: every ¥3,000 booklet was sold for
    # ¥2,500, so ¥500 of each ¥3,000 redeemed (not redeemed − cash received, which
    # counts what buyers paid for tickets still unused as if it had been spent).
    assert data.premium_used == 13500 * 500 // 3000 == 2250
    assert (data.redeemed_tickets, data.redeemed_face) == (27, 13500)
    assert (data.outstanding_tickets, data.outstanding_liability) == (3, 1500)
    assert (data.expired_tickets, data.expired_face, data.expiry_posted) == (0, 0, False)
    ids, codes = w.sc.workshop_ids, w.sc.workshop_codes
    assert [(r.workshop_id, r.code, r.tickets, r.face) for r in data.per_workshop] == [
        (ids[0], codes[0], 14, 7000), (ids[1], codes[1], 8, 4000), (ids[2], codes[2], 5, 2500)]
    day1, day2 = clock.tokyo_date(w.at(0)), clock.tokyo_date(clock.now()) - timedelta(days=1)
    assert [(d.day, d.tickets, d.face) for d in data.per_day] == [
        (day1, 18, 9000), (day2, 9, 4500)]

    later = clock.now() + timedelta(days=10)
    expired = expire_programme(w.db, programme_id=w.sc.programme_id, actor="t", now=later)
    assert (expired["tickets"], expired["amount"]) == (3, 1500)
    again = expire_programme(w.db, programme_id=w.sc.programme_id, actor="t", now=later)
    assert again["tickets"] == 0 and again["entry_id"] is None
    with w.db.read() as s:
        data = programme_summary(s, w.sc.programme_id)
        expiries = s.execute(select(func.count()).where(JournalEntry.kind == "expiry")).scalar()
    assert expiries == 1
    assert (data.expired_tickets, data.expired_face, data.expiry_posted) == (3, 1500, True)
    assert data.outstanding_liability == 0 and data.outstanding_tickets == 0
    w.assert_verified()


def test_unused_balance_as_of_any_day(world: World) -> None:
    w = world
    event = w.sc.event_id
    day1 = clock.tokyo_date(w.at(0))
    with w.db.read() as s:
        before = unused_balance(s, event, day1 - timedelta(days=5))
        end_of_day1 = unused_balance(s, event, day1)
        today = unused_balance(s, event, clock.tokyo_date(clock.now()))
    assert before.total == 0 and before.by_programme[0][2] == 0
    assert end_of_day1.total == 15000 - 9000  # sold ¥15,000; ¥9,000 redeemed on day one
    assert today.total == 1500 and today.by_programme[0][2] == 1500
    assert not today.is_record_date


def test_record_dates_and_deposit() -> None:
    assert record_dates(date(2026, 3, 1), date(2027, 4, 1)) == [
        date(2026, 3, 31), date(2026, 9, 30), date(2027, 3, 31)]
    assert record_dates(date(2026, 4, 1), date(2026, 9, 29)) == []
    over = Balance(date(2027, 3, 31), 12_000_001, [(1, "P", 12_000_001, True)], True)
    assert over.deposit_required == 6_000_001
    outside = Balance(date(2027, 3, 31), 12_000_001, [(1, "P", 12_000_001, False)], True)
    assert outside.deposit_required == 0


def _csv_rows(data: bytes, encoding: str = "utf-8-sig") -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode(encoding))))


def test_journal_and_trial_balance_exports(world: World) -> None:
    w = world
    event = w.sc.event_id
    seen: list[int] = []
    data = b"".join(journal_csv(w.db, event, progress=seen.append))
    assert data.startswith(b"\xef\xbb\xbf") and data.count(b"\xef\xbb\xbf") == 1
    rows = _csv_rows(data)
    with w.db.read() as s:
        postings = s.execute(select(func.count()).select_from(Posting)).scalar_one()
        entries = s.execute(select(func.count()).select_from(JournalEntry)).scalar_one()
    assert len(rows) == postings + 1 and sum(seen) == postings
    assert len({r[0] for r in rows[1:]}) == entries
    debit = sum(int(r[7]) for r in rows[1:] if r[7])
    credit = sum(int(r[8]) for r in rows[1:] if r[8])
    assert debit == credit > 0
    assert {r[2] for r in rows[1:]} == {"販売", "利用", "利用取消"}
    sjis = _csv_rows(b"".join(journal_csv(w.db, event, "cp932")), "cp932")
    assert sjis == rows

    xlsx = b"".join(journal_xlsx(w.db, event))
    with zipfile.ZipFile(io.BytesIO(xlsx)) as book:
        sheet = book.read("xl/worksheets/sheet1.xml").decode()
    assert len(re.findall(r"<row ", sheet)) == postings + 1
    assert "仕訳番号" in sheet

    tb = _csv_rows(b"".join(trial_balance_csv(w.db, event)))
    assert tb[0][:3] == ["勘定コード", "勘定科目", "区分"]
    total, debit_side, credit_side = tb[-3:]
    assert total[0].startswith("合計") and total[4] == total[5] == str(debit)
    assert debit_side[6] == credit_side[6]  # closing balances: debit side = credit side
    liability = next(r for r in tb if r[0].startswith("voucher_liability"))
    assert int(liability[6]) == 1500  # on the liability's normal (credit) side


# ------------------------------------------------------------------------------ API


@pytest.fixture
def client(db: Database, world: World, secret: bytes,
           tmp_path: Path) -> Iterator[tuple[TestClient[Litestar], dict[str, str]]]:
    with db.write() as session:
        users = [StaffUser(username=f"r-{r}", display_name=r, role=r, password_hash="!",
                           created_at=clock.now()) for r in ("treasurer", "desk")]
        session.add_all(users)
        session.flush()
        ids = {u.role: u.id for u in users}
    tokens = {r: issue_api_token(db, name=r, staff_user_id=i) for r, i in ids.items()}
    tokens["workshop"] = issue_api_token(db, name="w", workshop_id=world.sc.workshop_ids[0])
    settings = Settings(data_dir=tmp_path, database_url=db.url, secret_key=secret)
    with client_for(settings, db) as c:
        yield c, tokens


def _get(client: Any, token: str, path: str, **kw: Any) -> Any:
    return client.get("/api/v1" + path, headers={"Authorization": f"Bearer {token}"}, **kw)


def test_reports_api(world: World, client: tuple[TestClient[Litestar], dict[str, str]]) -> None:
    c, tokens = client
    pid, event = world.sc.programme_id, world.sc.event_id
    for who in ("desk", "workshop"):
        for path in (f"/programmes/{pid}/summary", f"/events/{event}/unused-balance",
                     f"/events/{event}/exports/journal", f"/programmes/{pid}/summary.pdf"):
            assert _get(c, tokens[who], path).status_code == 403, (who, path)
    summary = _get(c, tokens["treasurer"], f"/programmes/{pid}/summary").json()
    assert summary["redeemed_face"] == 13500 and summary["premium_used"] == 2250
    pdf = _get(c, tokens["treasurer"], f"/programmes/{pid}/summary.pdf")
    assert pdf.headers["content-type"] == "application/pdf"
    doc = pdfium.PdfDocument(pdf.content)
    text = "\n".join(doc[i].get_textpage().get_text_range() for i in range(len(doc)))
    doc.close()
    for expected in ("¥13,500", "¥12,500", "¥2,250", "¥1,500", "大野木工所", "日別の利用"):
        assert expected in text, expected
    svg = _get(c, tokens["treasurer"], f"/programmes/{pid}/charts/per-workshop")
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert svg.text.count("<rect") == 3 and "¥7,000" in svg.text
    per_day = _get(c, tokens["treasurer"], f"/programmes/{pid}/charts/per-day").text
    assert per_day.count("<rect") == 2
    unused = _get(c, tokens["treasurer"], f"/events/{event}/unused-balance").json()
    assert unused["as_of"]["total"] == 1500 and unused["next_record_date"][5:] in ("03-31",
                                                                                  "09-30")
    journal = _get(c, tokens["treasurer"], f"/events/{event}/exports/journal",
                   params={"encoding": "shift_jis"})
    assert journal.headers["content-type"] == "text/csv; charset=Shift_JIS"
    assert journal.content.decode("cp932").startswith("仕訳番号")
    xlsx = _get(c, tokens["treasurer"], f"/events/{event}/exports/trial-balance",
                params={"format": "xlsx"})
    assert xlsx.content[:2] == b"PK" and "spreadsheetml" in xlsx.headers["content-type"]
    assert _get(c, tokens["treasurer"], "/events/9999/exports/journal").status_code == 404


# ------------------------------------------------------------------------------ CLI


def _process(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OFLOCAL_DATABASE_URL": db_url}
    return subprocess.run([sys.executable, "-c", "from oflocal.cli import main; main()", *args],
                          env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow  # PDF statements and a subprocess: scheduled first (conftest.py)
def test_settle_and_report_commands(world: World, db_url: str, tmp_path: Path,
                                    run_cli) -> None:  # type: ignore[no-untyped-def]
    w = world
    cutoff = (clock.now() - timedelta(seconds=1)).isoformat()
    closed = _process(db_url, "settle", "close", "--event", "demo", "--cutoff", cutoff)
    assert closed.returncode == 0, closed.stderr
    assert "closed: #1" in closed.stdout and "¥13,500" in closed.stdout
    again = run_cli("settle", "close", "--event", "demo", "--cutoff", cutoff)
    assert "already closed: #1" in again.stdout
    with w.db.read() as s:
        from oflocal.settlement.models import SettlementPeriod

        period = s.execute(select(SettlementPeriod.id)).scalar_one()
    out = tmp_path / "st.csv"
    as_csv = run_cli("settle", "statements", "--period", str(period), "--format", "csv",
                  "-o", str(out))
    # Success says one line on stdout and nothing on stderr (it said "statements").
    assert (as_csv.exit_code, as_csv.stderr) == (0, "")
    assert as_csv.stdout == f"3 statement(s) → {out}\n"
    nets = [int(r[8]) for r in _csv_rows(out.read_bytes())[1:] if r[5] == "支払額"]
    assert sum(nets) == 13500
    pdf = tmp_path / "st.pdf"
    made = run_cli("settle", "statements", "--period", str(period), "--workshop", "W02",
                "-o", str(pdf))
    assert made.exit_code == 0 and "1 statement(s)" in made.stdout
    assert made.stderr == ""
    blocked = run_cli("settle", "zengin", "--period", str(period), "--transfer-date",
                   (clock.tokyo_date(clock.now()) + timedelta(days=30)).isoformat(),
                   "-o", str(tmp_path / "z.txt"))
    assert blocked.exit_code == 2 and "委託者コード" in blocked.stderr
    assert not (tmp_path / "z.txt").exists()
    paid = run_cli("settle", "paid", "--period", str(period), "--transfer-date",
                next_bank_day(clock.tokyo_date(clock.now())).isoformat())
    assert paid.exit_code == 0 and "3 payout entries" in paid.stdout
    twice = run_cli("settle", "paid", "--period", str(period), "--transfer-date",
                 next_bank_day(clock.tokyo_date(clock.now())).isoformat())
    assert twice.exit_code == 2 and "settlement.already_paid" in twice.stderr
    journal = tmp_path / "j.xlsx"
    exported = run_cli("report", "journal", "--event", "demo", "--format", "xlsx",
                    "-o", str(journal))
    assert exported.exit_code == 0 and journal.read_bytes()[:2] == b"PK"
    assert exported.stderr == ""
    summary = run_cli("report", "summary", "--programme", str(w.sc.programme_id))
    assert "¥13,500" in summary.stdout
    w.assert_verified()


def test_settle_correct_names_the_ticket_by_its_code(
        world: World, run_cli) -> None:  # type: ignore[no-untyped-def]
    """A treasurer corrects a settled redemption by the code printed on the ticket
    (issue 8 item 7c: ``--redemption`` took a row id shown nowhere)."""
    w = world
    cutoff = (clock.now() - timedelta(seconds=1)).isoformat()
    assert run_cli("settle", "close", "--event", "demo", "--cutoff", cutoff).exit_code == 0
    with w.db.read() as s:
        code, entry_id = s.execute(
            select(Ticket.code, Redemption.entry_id)
            .join(Redemption, Redemption.ticket_id == Ticket.id)
            .where(Redemption.workshop_id == w.sc.workshop_ids[0],
                   Redemption.undone_at.is_(None))
            .order_by(Redemption.id).limit(1)
        ).one()
    w.redeem(0, 1, minutes=(clock.now() - w.base) / timedelta(minutes=1))  # W01 has ¥500 due
    old = run_cli("settle", "correct", "--redemption", "1", "--reason", "x")
    assert old.exit_code == 2 and "--redemption" in old.stderr  # the old option is gone
    done = run_cli("settle", "correct", "--ticket", grouped(code), "--reason",
                "wrong booth", "--to", "W02")
    assert done.exit_code == 0, done.stderr
    assert done.stderr == ""
    assert "¥500 → payable:W" in done.stdout
    with w.db.read() as s:
        memo = s.execute(select(JournalEntry.memo).where(JournalEntry.kind == "correction")
                         ).scalar_one()
    assert memo == f"訂正 券{code}（仕訳{entry_id}の利用）: wrong booth"
    again = run_cli("settle", "correct", "--ticket", code, "--reason", "again")
    assert again.exit_code == 2 and "settlement.already_corrected" in again.stderr
    w.assert_verified()
