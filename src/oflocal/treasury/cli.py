"""``oflocal books``: the treasurer's own entries and the bank reconciliation.

    oflocal books list --event demo
    oflocal books entry --event demo --kind subsidy --amount 300000 --date 2026-12-01 \\
        --description "プレミアム分補助金" --counterparty 高岡市 --credit premium_fund \\
        [--voucher-no R-1] [--receipt scan.pdf] [--key subsidy-2026-12-01]
    oflocal books reverse 12 --reason "金額の誤り" [--key ...]
    oflocal books bank --event demo --as-of 2026-12-01 [--passbook 1234567]
    oflocal books tick --event demo 101 102 [--unseen]
    oflocal books reconcile --event demo --as-of 2026-12-01 --passbook 1234567 [--note ...]

``--key`` makes a command safe to run again (a script retried after a lost connection):
the same key answers the first outcome and posts nothing more.
"""

from __future__ import annotations

import getpass
import hashlib
import json
from datetime import date
from pathlib import Path
from typing import Any

import click

from oflocal.cli_base import database
from oflocal.format import yen
from oflocal.idempotency.store import IdempotencyKey, request_hash, run_once
from oflocal.settlement.cli import _event_id
from oflocal.treasury import bank, entries
from oflocal.treasury.receipts import MAX_BYTES, Receipt


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"[:60]
    except (KeyError, OSError):
        return "cli"


def _idem(key: str | None, *parts: Any) -> IdempotencyKey | None:
    return IdempotencyKey("cli", f"books-{key}", request_hash(*parts)) if key else None


def _line(v: dict[str, Any]) -> str:
    receipt = f"  [receipt {v['attachment']['filename']}]" if v["attachment"] else ""
    reversed_by = f"  (reversed by {v['reversed_by_voucher_no']})" \
        if v["reversed_by_voucher_no"] else ""
    return (f"{v['voucher_no']:<8} {v['business_date']}  {v['kind_ja']:<10} "
            f"{yen(v['amount']):>12}  {v['debit_account']} / {v['credit_account']}  "
            f"{v['description']}{receipt}{reversed_by}  [id {v['id']}]")


@click.group("books")
def books() -> None:
    """The treasurer's own vouchers and the bank reconciliation."""


@books.command("list")
@click.option("--event", "event_slug", default="demo", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON array instead of lines.")
def list_cmd(event_slug: str, as_json: bool) -> None:
    """The event's vouchers, the latest business day first."""
    with database().read() as session:
        rows = entries.list_entries(session, _event_id(event_slug))
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=1))
        return
    for v in rows:
        click.echo(_line(v))
    if not rows:
        click.echo("no vouchers yet")


@books.command("entry")
@click.option("--event", "event_slug", default="demo", show_default=True)
@click.option("--kind", required=True, type=click.Choice(sorted(entries.KINDS)))
@click.option("--amount", required=True, type=int, help="Integer yen.")
@click.option("--date", "day", required=True, type=click.DateTime(["%Y-%m-%d"]),
              help="The day it happened (Tokyo).")
@click.option("--description", required=True)
@click.option("--counterparty", default="")
@click.option("--voucher-no", default=None, help="Left out: the next number.")
@click.option("--debit", default=None, help="Account code; left out: the kind's default.")
@click.option("--credit", default=None, help="Account code; left out: the kind's default.")
@click.option("--receipt", "receipt_path", type=click.Path(exists=True, dir_okay=False,
                                                           path_type=Path), default=None)
@click.option("--key", default=None, help="Idempotency key: a rerun posts nothing more.")
def entry_cmd(event_slug: str, kind: str, amount: int, day: Any, description: str,
              counterparty: str, voucher_no: str | None, debit: str | None,
              credit: str | None, receipt_path: Path | None, key: str | None) -> None:
    """Post one voucher (one balanced journal entry)."""
    event_id = _event_id(event_slug)
    receipt = None
    if receipt_path is not None:
        with receipt_path.open("rb") as handle:
            receipt = Receipt(receipt_path.name, handle.read(MAX_BYTES + 1))
    req = entries.EntryRequest(
        event_id=event_id, kind=kind, amount=amount, business_date=date(day.year, day.month,
                                                                         day.day),
        description=description, counterparty=counterparty, voucher_no=voucher_no,
        debit=debit, credit=credit)
    db = database()
    outcome = run_once(db, _idem(key, "entry", event_slug, kind, amount, str(req.business_date),
                                 description, counterparty, voucher_no, debit, credit,
                                 hashlib.sha256(receipt.data).hexdigest() if receipt else None),
                       lambda _s: entries.record_entry(db, req, actor=_actor(),
                                                       receipt=receipt))
    click.echo(_line(outcome.body) + ("  (already posted)" if outcome.replayed else ""))


@books.command("reverse")
@click.argument("voucher_id", type=int)
@click.option("--reason", required=True)
@click.option("--date", "day", type=click.DateTime(["%Y-%m-%d"]), default=None)
@click.option("--key", default=None, help="Idempotency key: a rerun posts nothing more.")
def reverse_cmd(voucher_id: int, reason: str, day: Any, key: str | None) -> None:
    """Reverse a voucher by a new one with the mirror entry (once)."""
    db = database()
    business_date = date(day.year, day.month, day.day) if day else None
    outcome = run_once(db, _idem(key, "reverse", voucher_id, reason, str(business_date)),
                       lambda _s: entries.reverse_voucher(db, voucher_id, reason=reason,
                                                          actor=_actor(),
                                                          business_date=business_date))
    click.echo(_line(outcome.body))


@books.command("bank")
@click.option("--event", "event_slug", default="demo", show_default=True)
@click.option("--as-of", required=True, type=click.DateTime(["%Y-%m-%d"]))
@click.option("--passbook", type=int, default=None, help="The passbook's balance that day.")
def bank_cmd(event_slug: str, as_of: Any, passbook: int | None) -> None:
    """The bank account by the ledger against the passbook; the unmatched lines."""
    with database().read() as session:
        r = bank.reconciliation(session, _event_id(event_slug),
                                date(as_of.year, as_of.month, as_of.day), passbook)
    click.echo(f"as of {r['as_of']}: ledger {yen(r['ledger_balance'])}")
    if r["passbook_balance"] is not None:
        click.echo(f"passbook {yen(r['passbook_balance'])}  difference {yen(r['difference'])}")
    click.echo(f"unmatched ({r['unmatched_count']}): {yen(r['unmatched_total'])}")
    for ln in r["unmatched"]:
        click.echo(f"  posting {ln['posting_id']:<8} {ln['day']}  {yen(ln['amount']):>12}  "
                   f"{ln['description']}")
    if r["unexplained"] is not None:
        click.echo(f"unexplained: {yen(r['unexplained'])}")


@books.command("tick")
@click.option("--event", "event_slug", default="demo", show_default=True)
@click.option("--unseen", is_flag=True, help="Take the ticks back.")
@click.argument("posting_ids", nargs=-1, type=int, required=True)
def tick_cmd(event_slug: str, unseen: bool, posting_ids: tuple[int, ...]) -> None:
    """Mark bank lines (posting ids, as `books bank` lists them) as seen in the passbook."""
    done = bank.set_ticks(database(), _event_id(event_slug), list(posting_ids),
                          seen=not unseen, actor=_actor())
    click.echo(f"{len(done['posting_ids'])} line(s) {'un' if unseen else ''}ticked; "
               f"{done['ticked_count']} ticked in all")


@books.command("reconcile")
@click.option("--event", "event_slug", default="demo", show_default=True)
@click.option("--as-of", required=True, type=click.DateTime(["%Y-%m-%d"]))
@click.option("--passbook", required=True, type=int)
@click.option("--note", default="")
def reconcile_cmd(event_slug: str, as_of: Any, passbook: int, note: str) -> None:
    """Keep the comparison as of a day as a record."""
    r = bank.record_reconciliation(database(), _event_id(event_slug),
                                   as_of=date(as_of.year, as_of.month, as_of.day),
                                   passbook_balance=passbook, actor=_actor(), note=note)
    click.echo(f"kept #{r['id']}: ledger {yen(r['ledger_balance'])} passbook "
               f"{yen(r['passbook_balance'])} difference {yen(r['difference'])} "
               f"unmatched {yen(r['unmatched_total'])} unexplained {yen(r['unexplained'])}")


__all__ = ["books"]
