"""``oflocal settle``: the treasurer's settlement commands.

    oflocal settle list --event demo
    oflocal settle close --event demo [--cutoff 2026-11-28T18:00+09:00]
    oflocal settle show --period 3
    oflocal settle statements --period 3 [--workshop W01] [--format pdf|csv] -o out.pdf
    oflocal settle zengin --period 3 --transfer-date 2026-12-01 -o zengin.txt
    oflocal settle paid --period 3 --transfer-date 2026-12-01
    oflocal settle correct --ticket T01K-0003-Q7ZD-X2M9-4F8H [--to W03] --reason ...
    oflocal settle fee --event demo --rule rate --rate-bp 250 --rounding floor
    oflocal settle requester --event demo --code 1234567890 --name-kana ... --bank 0001 ...
    oflocal settle invoice issue --event demo --workshop W03 [--due-date 2027-01-31]
    oflocal settle invoice list --event demo
    oflocal settle invoice pdf --id 1 -o 請求書.pdf
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path

import click
from sqlalchemy import select

from oflocal.cli_base import database, progress_bar
from oflocal.db.engine import Database
from oflocal.errors import Refusal
from oflocal.events.models import Event, Workshop
from oflocal.format import tokyo_minute, yen


def _db() -> Database:
    return database()


def _event_id(slug: str) -> int:
    with _db().read() as session:
        event_id = session.execute(select(Event.id).where(Event.slug == slug)).scalar_one_or_none()
    if event_id is None:
        raise Refusal("event.not_found")
    return int(event_id)


def _workshop_id(event_id: int, code: str) -> int:
    with _db().read() as session:
        wid = session.execute(
            select(Workshop.id).where(Workshop.event_id == event_id,
                                      Workshop.code == code.strip().upper())
        ).scalar_one_or_none()
    if wid is None:
        raise Refusal("workshop.not_found")
    return int(wid)


def _summary_line(p: dict[str, object]) -> str:
    cut = datetime.fromisoformat(str(p["cutoff_at"]))
    if p["status"] == "paid":
        paid = f"paid {p['transfer_date']}"
    elif p.get("planned_transfer_date"):  # a Zengin file was made for this date
        paid = f"planned {p['planned_transfer_date']}"
    else:
        paid = "closed"
    return (f"#{p['number']:<3} cut-off {tokyo_minute(cut)}  {paid:<16} "
            f"{p['workshops']:>3} workshops {p['ticket_count']:>8,} tickets  "
            f"face {yen(int(str(p['face_total']))):>12}  fee {yen(int(str(p['fee_total']))):>9}  "
            f"net {yen(int(str(p['net_total']))):>12}  [period id {p['period_id']}]")


@click.group("settle")
def settle() -> None:
    """Settlement periods, statements, the Zengin file and payouts (treasurer)."""


@settle.command("list")
@click.option("--event", "event_slug", default="demo", show_default=True)
def list_cmd(event_slug: str) -> None:
    """List the event's settlement periods, newest first."""
    from oflocal.settlement.queries import list_periods

    with _db().read() as session:
        rows = list_periods(session, _event_id(event_slug))
    for p in rows:
        click.echo(_summary_line(p))
    if not rows:
        click.echo("no settlement periods yet")


@settle.command("close")
@click.option("--event", "event_slug", default="demo", show_default=True)
@click.option("--cutoff", default=None,
              help="ISO time with offset, e.g. 2026-11-28T18:00+09:00 (default: now).")
def close_cmd(event_slug: str, cutoff: str | None) -> None:
    """Close the next period: freeze every unsettled redemption up to the cut-off."""
    from oflocal.settlement.close import close_period

    cut = None
    if cutoff:
        cut = datetime.fromisoformat(cutoff)
        if cut.tzinfo is None:
            raise click.BadParameter("give the time zone, e.g. +09:00", param_hint="--cutoff")
    outcome = close_period(_db(), event_id=_event_id(event_slug), cutoff=cut, actor="cli")
    body = outcome.body
    click.echo(("already closed: " if body["replayed"] else "closed: ") + _summary_line(body))


@settle.command("show")
@click.option("--period", "period_id", type=int, required=True)
@click.option("--json", "as_json", is_flag=True)
def show_cmd(period_id: int, as_json: bool) -> None:
    """One period with its lines per workshop."""
    from oflocal.settlement.queries import period_detail

    with _db().read() as session:
        detail = period_detail(session, period_id)
    if as_json:
        click.echo(json.dumps(detail, ensure_ascii=False, indent=2))
        return
    click.echo(_summary_line(detail))
    for line in detail["lines"]:
        click.echo(f"  {line['workshop_code']:<6} {line['ticket_count']:>7,} tickets "
                   f"face {yen(line['face_total']):>11} adj {yen(line['adjustment']):>8} "
                   f"fee {yen(line['fee']):>8} net {yen(line['net']):>11}  {line['workshop_name']}")


@settle.command("statements")
@click.option("--period", "period_id", type=int, required=True)
@click.option("--workshop", "workshop_code", default=None, help="One workshop's code.")
@click.option("--format", "fmt", type=click.Choice(["pdf", "csv"]), default="pdf",
              show_default=True)
@click.option("--encoding", type=click.Choice(["utf-8", "shift_jis"]), default="utf-8",
              show_default=True, help="CSV only; utf-8 has a BOM for Excel.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
def statements_cmd(period_id: int, workshop_code: str | None, fmt: str, encoding: str,
                   output: Path) -> None:
    """Write the statements (支払通知書) of a period: one PDF or CSV for all workshops,
    or for one. The first PDF of a statement records its issue date; later ones are
    marked 再発行 (reprint) and keep that date."""
    from oflocal.reports.csvout import encoding_of
    from oflocal.settlement.queries import get_period, iter_statements, period_lines
    from oflocal.settlement.statements import (
        record_issues,
        statements_csv,
        write_statements_pdf,
    )

    with _db().read() as session:
        event_id = get_period(session, period_id).event_id
    workshop_id = _workshop_id(event_id, workshop_code) if workshop_code else None
    fresh = record_issues(_db(), period_id, workshop_id, actor="cli") if fmt == "pdf" else None
    with _db().read() as session:
        lines = 1 if workshop_id else len(period_lines(session, period_id))
        with output.open("wb") as out, progress_bar(
            iter_statements(session, period_id, workshop_id, fresh=fresh), length=max(lines, 1),
            label="statements",
        ) as statements:
            if fmt == "pdf":
                written = write_statements_pdf(out, statements)
            else:
                for chunk in statements_csv(statements, encoding_of(encoding)):
                    out.write(chunk)
                written = lines
    click.echo(f"{written} statement(s) → {output}")


@settle.command("zengin")
@click.option("--period", "period_id", type=int, required=True)
@click.option("--transfer-date", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="YYYY-MM-DD (default: the paid period's own).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
def zengin_cmd(period_id: int, transfer_date: datetime | None, output: Path) -> None:
    """Write the Zengin 総合振込 file, or list what blocks it (exit 2)."""
    from oflocal.settlement.transfer import make_period_file

    day = transfer_date.date() if transfer_date else None
    try:
        made = make_period_file(_db(), period_id, day, actor="cli")
        data, payees, total = made.data, made.payees, made.total
    except Refusal as refusal:
        if refusal.code == "zengin.blocked":
            click.echo(f"✕ {refusal.message('ja')}\n  {refusal.message('en')}", err=True)
            for problem in refusal.facts["problems"]:
                click.echo(f"  - {problem['message_ja']}\n    {problem['message_en']}", err=True)
            sys.exit(2)
        raise
    output.write_bytes(data)
    click.echo(f"{payees} transfer(s), total {yen(total)} → {output} ({len(data)} bytes)")


@settle.command("paid")
@click.option("--period", "period_id", type=int, required=True)
@click.option("--transfer-date", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="YYYY-MM-DD (default: the date the period's Zengin file was made for).")
def paid_cmd(period_id: int, transfer_date: datetime | None) -> None:
    """Mark a period paid (the bank transferred) and post the payouts; once only. The
    payouts' business date is the transfer date."""
    from oflocal.settlement.pay import mark_period_paid

    outcome = mark_period_paid(_db(), period_id=period_id,
                               transfer_date=transfer_date.date() if transfer_date else None,
                               actor="cli")
    click.echo(f"paid: {_summary_line(outcome.body)}; {outcome.body['payout_entries']} "
               "payout entries posted")


@settle.command("fee")
@click.option("--event", "event_slug", default="demo", show_default=True)
@click.option("--rule", type=click.Choice(["none", "rate", "fixed"]), required=True)
@click.option("--rate-bp", type=int, default=0, help="Basis points: 250 = 2.5 %.")
@click.option("--fixed-yen", type=int, default=0, help="Yen per ticket.")
@click.option("--rounding", type=click.Choice(["floor", "round", "ceil"]), default="floor",
              show_default=True)
def fee_cmd(event_slug: str, rule: str, rate_bp: int, fixed_yen: int, rounding: str) -> None:
    """Set the redemption fee rule for periods closed from now on."""
    from oflocal.settlement.rules import FeeRule
    from oflocal.settlement.settings import set_fee_rule

    out = set_fee_rule(_db(), event_id=_event_id(event_slug),
                       rule=FeeRule(rule, rate_bp, fixed_yen, rounding))
    click.echo(f"fee rule: {out['description_ja']} / {out['description_en']}")


@settle.command("requester")
@click.option("--event", "event_slug", default="demo", show_default=True)
@click.option("--code", required=True, help="委託者コード (10 digits, from the bank).")
@click.option("--name-kana", required=True, help="振込依頼人名 in kana.")
@click.option("--bank", "bank_code", required=True)
@click.option("--branch", "branch_code", required=True)
@click.option("--account-type", type=click.Choice(["1", "2", "9"]), default="1",
              show_default=True)
@click.option("--account-number", required=True)
def requester_cmd(event_slug: str, code: str, name_kana: str, bank_code: str, branch_code: str,
                  account_type: str, account_number: str) -> None:
    """Set the committee's bank data for the Zengin file."""
    from oflocal.settlement.settings import RequesterData, set_requester

    set_requester(_db(), event_id=_event_id(event_slug), data=RequesterData(
        code, name_kana, bank_code, branch_code, int(account_type), account_number))
    click.echo("requester saved")


@settle.command("correct")
@click.option("--ticket", "ticket_code", required=True,
              help="The code printed on the ticket (one ticket).")
@click.option("--reason", required=True)
@click.option("--to", "to_workshop", default=None,
              help="Workshop code to give it to (default: breakage).")
@click.option("--settle", type=click.Choice(["next_payout", "repayment"]),
              default="next_payout", show_default=True,
              help="If the workshop was paid already and has not enough pending: offset it "
                   "against its next payout, or ask it to pay back.")
def correct_cmd(ticket_code: str, reason: str, to_workshop: str | None, settle: str) -> None:
    """Take a ticket's settled redemption back from its workshop; the next period settles it."""
    from oflocal.settlement.corrections import correct_redemption, ticket_event

    to_id = None
    if to_workshop:
        with _db().read() as session:
            to_id = _workshop_id(ticket_event(session, ticket_code), to_workshop)
    out = correct_redemption(_db(), ticket_code=ticket_code, reason=reason, actor="cli",
                             to_workshop_id=to_id, settle=settle)
    click.echo(f"correction entry {out['entry_id']}: {yen(out['amount'])} → "
               f"{out['counter_account']}"
               + (f" (fee {yen(out['fee'])} moved too)" if out["fee"] else "")
               + ("" if out["settle_by"] == "payout" else f" [{out['settle_by']}]"))


@settle.command("adjust")
@click.option("--event", "event_slug", default="demo", show_default=True)
@click.option("--workshop", "workshop_code", required=True)
@click.option("--amount", type=int, required=True, help="+ owed more, - owed less (yen).")
@click.option("--account", "counter_account",
              type=click.Choice(["premium_fund", "fee_income", "breakage"]), required=True)
@click.option("--reason", required=True)
@click.option("--settle", type=click.Choice(["next_payout", "repayment"]),
              default="next_payout", show_default=True,
              help="A minus amount beyond what the workshop has pending: offset it against "
                   "its next payout, or ask it to pay back.")
def adjust_cmd(event_slug: str, workshop_code: str, amount: int, counter_account: str,
               reason: str, settle: str) -> None:
    """Owe a workshop more or less in the next period, with a reason."""
    from oflocal.settlement.corrections import adjust_workshop

    wid = _workshop_id(_event_id(event_slug), workshop_code)
    out = adjust_workshop(_db(), workshop_id=wid, amount=amount, counter_account=counter_account,
                          reason=reason, actor="cli", settle=settle)
    click.echo(f"correction entry {out['entry_id']}: {yen(out['amount'])} for {workshop_code}"
               + ("" if out["settle_by"] == "payout" else f" [{out['settle_by']}]"))


@settle.group("invoice")
def invoice() -> None:
    """Repayment invoices (請求書) to workshops asked to pay back after a correction."""


def _invoice_line(v: dict[str, object]) -> str:
    printed = f"printed {v['first_printed_on']}" if v["first_printed_on"] else "not printed"
    return (f"{v['number']:<12} {v['workshop_code']:<6} issued {v['issued_on']}  due "
            f"{v['due_date']}  {yen(int(str(v['amount']))):>10}  outstanding "
            f"{yen(int(str(v['outstanding']))):>10}  {printed}  [id {v['id']}]")


@invoice.command("issue")
@click.option("--event", "event_slug", default="demo", show_default=True)
@click.option("--workshop", "workshop_code", required=True)
@click.option("--due-date", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="お支払期限 YYYY-MM-DD (default: the end of the next month).")
@click.option("--key", default=None, help="Idempotency key: a rerun issues nothing more.")
def invoice_issue_cmd(event_slug: str, workshop_code: str, due_date: datetime | None,
                      key: str | None) -> None:
    """Issue an invoice for what the workshop was asked to pay back and no invoice bills."""
    from oflocal.idempotency.store import IdempotencyKey, request_hash
    from oflocal.settlement.repayment_invoice import issue_invoice

    wid = _workshop_id(_event_id(event_slug), workshop_code)
    due = due_date.date() if due_date else None
    idem = IdempotencyKey("cli", f"invoice-{key}", request_hash(
        "invoice", wid, due.isoformat() if due else None)) if key else None
    outcome = issue_invoice(_db(), workshop_id=wid, actor="cli", due_date=due, idem=idem)
    click.echo(_invoice_line(outcome.body) + ("  (already issued)" if outcome.replayed else ""))


@invoice.command("list")
@click.option("--event", "event_slug", default="demo", show_default=True)
def invoice_list_cmd(event_slug: str) -> None:
    """The event's repayment invoices, the latest first."""
    from oflocal.settlement.repayment_invoice import list_invoices

    with _db().read() as session:
        rows = list_invoices(session, _event_id(event_slug))
    for v in rows:
        click.echo(_invoice_line(v))
    if not rows:
        click.echo("no repayment invoices yet")


@invoice.command("pdf")
@click.option("--id", "invoice_id", type=int, required=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
def invoice_pdf_cmd(invoice_id: int, output: Path) -> None:
    """Write the invoice as PDF. The first PDF is the original; later ones are marked
    再発行 (reprint) and keep the issue date."""
    from oflocal.settlement.repayment_invoice import (
        invoice_document,
        record_print,
        write_invoice_pdf,
    )

    with _db().read() as session:
        doc = invoice_document(session, invoice_id)  # refuses if there is none
    fresh = record_print(_db(), invoice_id, actor="cli")
    with output.open("wb") as out:
        write_invoice_pdf(out, doc, reprint=not fresh)
    click.echo(f"{doc.view['number']}{'' if fresh else ' (再発行 reprint)'} → {output}")
