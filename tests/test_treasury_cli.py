"""``oflocal books``: vouchers, reversal and the bank reconciliation from the command
line, on both databases; a rerun with the same --key posts nothing more."""

from __future__ import annotations

from typing import Any

import pytest

from oflocal import clock
from oflocal.audit import verify
from oflocal.db.engine import Database
from oflocal.vouchers.codes import CodeSigner
from treasury_world import PDF, balance, make_treasury_world


@pytest.mark.usefixtures("db_url")
def test_books_commands(db: Database, signer: CodeSigner, run_cli: Any, tmp_path: Any) -> None:
    world = make_treasury_world(db, signer, slug="cli")
    today = clock.tokyo_date(clock.now()).isoformat()
    scan = tmp_path / "scan.pdf"
    scan.write_bytes(PDF)
    cash, bank = balance(db, world.event_id, "cash"), balance(db, world.event_id, "bank")
    args = ["books", "entry", "--event", "cli", "--kind", "cash_deposit", "--amount", "3000",
            "--date", today, "--description", "売上金の預け入れ", "--receipt", str(scan),
            "--key", "dep-1"]
    first = run_cli(*args)
    assert first.exit_code == 0, first.output
    assert first.output.startswith("0001 ") and "[receipt scan.pdf]" in first.output
    again = run_cli(*args)
    assert again.exit_code == 0 and "(already posted)" in again.output
    assert (balance(db, world.event_id, "cash"), balance(db, world.event_id, "bank")) == \
        (cash - 3000, bank + 3000)
    refused = run_cli("books", "entry", "--event", "cli", "--kind", "subsidy", "--amount",
                      "100", "--date", today, "--description", "補助金", "--credit",
                      "fee_income")
    assert refused.exit_code == 2 and "treasury.account_not_allowed" in refused.output
    listed = run_cli("books", "list", "--event", "cli")
    assert listed.output.count("\n") == 1
    voucher_id = listed.output.rsplit("[id ", 1)[1].split("]")[0]
    shown = run_cli("books", "bank", "--event", "cli", "--as-of", today, "--passbook", "0")
    assert shown.exit_code == 0 and f"ledger ¥{bank + 3000:,}" in shown.output
    postings = [line.split()[1] for line in shown.output.splitlines()
                if line.strip().startswith("posting ")]
    ticked = run_cli("books", "tick", "--event", "cli", *postings)
    assert ticked.exit_code == 0 and f"{len(postings)} ticked in all" in ticked.output
    kept = run_cli("books", "reconcile", "--event", "cli", "--as-of", today, "--passbook",
                   str(bank + 3000))
    assert kept.exit_code == 0 and "unexplained ¥0" in kept.output
    reversed_ = run_cli("books", "reverse", voucher_id, "--reason", "入力誤り")
    assert reversed_.exit_code == 0 and reversed_.output.startswith("0002 ")
    twice = run_cli("books", "reverse", voucher_id, "--reason", "再度")
    assert twice.exit_code == 2 and "treasury.already_reversed" in twice.output
    assert balance(db, world.event_id, "cash") == cash
    with db.read() as session:
        assert verify(session).ok
