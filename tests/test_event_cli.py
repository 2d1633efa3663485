"""`oflocal event create|edit|show`, `programme create|edit` and `vouchers issue`: the same
domain functions as the pages and the API, on both databases. In process (click's runner,
``run_cli``) to stay fast; the first command and a refusal run in a real process, as a
staff script runs them (exit codes, stdout and stderr as a script sees them)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select

from oflocal.db.engine import Database
from oflocal.demo import build_event
from oflocal.events.models import Event
from oflocal.vouchers.codes import CodeSigner

pytestmark = pytest.mark.slow  # subprocesses: scheduled first (conftest.py)


def _process(db_url: str, data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OFLOCAL_DATABASE_URL": db_url, "OFLOCAL_DATA_DIR": str(data_dir)}
    return subprocess.run([sys.executable, "-c", "from oflocal.cli import main; main()", *args],
                          env=env, capture_output=True, text=True, timeout=120, check=False)


def test_create_edit_show_an_event(db: Database, db_url: str, tmp_path: Path,
                                   run_cli) -> None:  # type: ignore[no-untyped-def]
    slipped = _process(db_url, tmp_path, "event", "create", "tk-2026", "--name", "高岡クラフト",
                "--committee", "高岡オープンファクトリー実行委員会", "--starts", "2026-10-10",
                "--ends", "2026-10-12", "--invoice-number", "T1180301018772")
    assert slipped.returncode == 2 and "invoice_number.check_digit" in slipped.stderr
    assert "チェックディジット" in slipped.stderr and "check digit" in slipped.stderr
    with db.read() as session:
        assert session.execute(select(Event)).first() is None  # refused: nothing written
    made = _process(db_url, tmp_path, "event", "create", "tk-2026", "--name", "高岡クラフト",
                "--committee", "高岡オープンファクトリー実行委員会", "--starts", "2026-10-10",
                "--ends", "2026-10-12")
    assert made.returncode == 0, made.stderr
    edited = run_cli("event", "edit", "tk-2026", "--venue", "高岡市御旅屋町",
                  "--email", "jimu@example.jp", "--invoice-number", "T1180301018771",
                  "--representative", "山田太郎")
    assert edited.exit_code == 0 and edited.stderr == "", edited.stderr
    with db.read() as session:
        event = session.execute(select(Event)).scalar_one()
        assert (event.venue, event.committee_email, event.invoice_number,
                event.representative) == ("高岡市御旅屋町", "jimu@example.jp",
                                          "T1180301018771", "山田太郎")
    shown = run_cli("event", "show", "tk-2026")
    assert shown.exit_code == 0 and "高岡市御旅屋町" in shown.stdout and "山田太郎" in shown.stdout

    for bad, code in ((["--ends", "2026-10-01"], "programme.dates_invalid"),
                      (["--email", "not-an-address"], "request.invalid"),
                      (["--invoice-number", "T123"], "workshop.invoice_number_invalid"),
                      (["--invoice-number", "T2180301018771"], "invoice_number.check_digit")):
        refused = run_cli("event", "edit", "tk-2026", *bad)
        assert refused.exit_code == 2 and code in refused.stderr, refused.stderr
    with db.read() as session:
        event = session.execute(select(Event)).scalar_one()
        assert str(event.ends_on) == "2026-10-12" and event.committee_email == "jimu@example.jp"
    # A voluntary body's number that fails the corporate check: stored once confirmed,
    # with the warning printed (DOMAIN-JAPAN.md: a warning to confirm, not a refusal).
    confirmed = run_cli("event", "edit", "tk-2026", "--invoice-number", "T2180301018771",
                        "--confirm-invoice-number")
    assert confirmed.exit_code == 0 and "チェックディジット" in confirmed.stderr
    with db.read() as session:
        assert session.execute(select(Event.invoice_number)).scalar_one() == "T2180301018771"
    taken = _process(db_url, tmp_path, "event", "create", "tk-2026", "--name", "x", "--committee",
                 "y", "--starts", "2026-10-10", "--ends", "2026-10-12")
    assert taken.returncode == 2 and "event.slug_taken" in taken.stderr


def test_a_programme_from_the_command_line(db: Database, tmp_path: Path,
                                          run_cli) -> None:  # type: ignore[no-untyped-def]
    made = run_cli("event", "create", "tk-2026", "--name", "高岡クラフト",
                "--committee", "委員会", "--starts", "2026-10-10", "--ends", "2026-10-12")
    assert made.exit_code == 0, made.stderr
    common = ["programme", "create", "--event", "tk-2026", "--name", "工房めぐり券",
              "--price", "2500", "--face", "3000", "--denominations", "500,500,500,500,500,500",
              "--sales-start", "2026-10-10T09:00", "--sales-end", "2026-10-12T17:00",
              "--issue-date", "2026-10-10", "--valid-from", "2026-10-10", "--budget", "500000"]
    long = run_cli(*common, "--valid-until", "2027-06-30")
    assert long.exit_code == 2 and "programme.validity_too_long" in long.stderr
    allowed = run_cli(*common, "--valid-until", "2027-06-30",
                   "--allow-long-validity")
    assert allowed.exit_code == 0 and "資金決済法" in allowed.stderr  # a warning
    short = run_cli(*common, "--valid-until", "2026-10-12")
    assert short.exit_code == 0 and "¥2,500 for ¥3,000" in short.stdout, short.stderr
    with db.read() as session:
        from oflocal.vouchers.models import Programme

        validity = sorted(str(v) for v in session.execute(
            select(Programme.valid_until)).scalars())
        assert validity == ["2026-10-12", "2027-06-30"]
        programme_id = session.execute(
            select(Programme.id).where(Programme.valid_until == date(2026, 10, 12))
        ).scalar_one()

    for n, count, serials in ((1, "3", "1–3"), (2, "2", "4–5")):  # issue_batch, as the API
        issued = run_cli("vouchers", "issue", "--programme", str(programme_id),
                      "--count", count)
        assert issued.exit_code == 0, issued.stderr
        assert issued.stdout.strip() == f"batch {n}: booklets {serials}"
    with db.read() as session:
        from oflocal.vouchers.models import Booklet, PrintBatch

        assert session.execute(select(func.count()).select_from(Booklet)).scalar_one() == 5
        assert [(b.number, b.created_by) for b in session.execute(
            select(PrintBatch).order_by(PrintBatch.number)).scalars()] == [(1, "cli"), (2, "cli")]


def test_a_programme_is_edited_from_the_command_line(
        db: Database, signer: CodeSigner, tmp_path: Path,
        run_cli) -> None:  # type: ignore[no-untyped-def]
    with db.write() as session:
        scenario = build_event(session, signer, slug="cli-edit", workshops=2, booklets=1)
    pid = str(scenario.programme_id)
    nothing = run_cli("programme", "edit", pid)
    assert nothing.exit_code == 2 and "nothing to change" in nothing.stderr
    saved = run_cli("programme", "edit", pid, "--budget", "600000",
                 "--per-sale", "2", "--sales-end", "2030-10-13T17:00")
    assert saved.exit_code == 0, saved.stderr
    printed = run_cli("programme", "edit", pid, "--price", "2000")
    assert printed.exit_code == 2 and "programme.terms_printed" in printed.stderr
    assert "販売価格" in printed.stderr

    layout = tmp_path / "layout.json"
    layout.write_text('{"paper": "A4", "columns": 5}', encoding="utf-8")
    too_wide = run_cli("programme", "edit", pid, "--layout", str(layout))
    assert too_wide.exit_code == 2 and "print.layout_invalid" in too_wide.stderr
    layout.write_text('{"paper": "A3", "columns": 4, "rows": 6, "duplex": true}',
                      encoding="utf-8")
    proof = tmp_path / "proof.png"
    done = run_cli("programme", "edit", pid, "--layout", str(layout),
                "--proof", str(proof))
    assert done.exit_code == 0 and "A3 4×6, office, duplex" in done.stdout, done.stderr
    assert proof.read_bytes().startswith(b"\x89PNG")
    with db.read() as session:
        from oflocal.vouchers.models import Programme

        programme = session.get(Programme, scenario.programme_id)
        assert programme is not None
        assert (programme.premium_budget, programme.max_booklets_per_sale, programme.price) == (
            600_000, 2, 2500)
        assert programme.print_layout is not None and programme.print_layout["paper"] == "A3"
