"""``oflocal report``: the treasurer's reports and ledger exports.

    oflocal report summary --programme 1 [--pdf summary.pdf] [--json]
    oflocal report unused --event demo [--as-of 2027-03-31]
    oflocal report journal --event demo --format csv|xlsx [--encoding shift_jis] -o journal.csv
    oflocal report trial-balance --event demo [--from 2026-04-01 --to 2027-03-31]
                                 [--format xlsx -o tb.xlsx]
    oflocal report annual --event demo [--from … --to …] [--pdf a.pdf] [--xlsx a.xlsx]
    oflocal report expire --programme 1
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import date, datetime
from pathlib import Path

import click
from sqlalchemy import select

from oflocal.cli_base import database, progress_bar
from oflocal.db.engine import Database
from oflocal.errors import Refusal
from oflocal.events.models import Event
from oflocal.format import ja_date, yen


def _db() -> Database:
    return database()


def _event_id(slug: str) -> int:
    with _db().read() as session:
        event_id = session.execute(select(Event.id).where(Event.slug == slug)).scalar_one_or_none()
    if event_id is None:
        raise Refusal("event.not_found")
    return int(event_id)


def _write(chunks: Iterator[bytes], output: Path) -> int:
    size = 0
    with output.open("wb") as out:
        for chunk in chunks:
            out.write(chunk)
            size += len(chunk)
    return size


@click.group("report")
def report() -> None:
    """Programme summary, unused balance, journal and trial balance exports, expiry."""


@report.command("summary")
@click.option("--programme", "programme_id", type=int, required=True)
@click.option("--pdf", "pdf_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the summary with charts as a PDF.")
@click.option("--json", "as_json", is_flag=True)
def summary_cmd(programme_id: int, pdf_path: Path | None, as_json: bool) -> None:
    """Booklets printed/sold/voided, money in, premium used, redemptions, liability."""
    from oflocal.reports.pdf import summary_figures, summary_pdf
    from oflocal.reports.summary import programme_summary

    with _db().read() as session:
        data = programme_summary(session, programme_id)
    if as_json:
        click.echo(json.dumps(data.as_dict(), ensure_ascii=False, indent=2))
    else:
        click.echo(f"{data.event_name} / {data.programme_name}")
        for label, value in summary_figures(data):
            click.echo(f"  {label:<44} {value:>18}")
        click.echo("  per day:")
        for d in data.per_day:
            click.echo(f"    {d.day.isoformat()}  {d.tickets:>8,}  {yen(d.face):>12}")
    if pdf_path:
        size = _write(summary_pdf(data), pdf_path)
        click.echo(f"PDF → {pdf_path} ({size:,} bytes)")


@report.command("unused")
@click.option("--event", "event_slug", default="demo", show_default=True)
@click.option("--as-of", default=None, help="YYYY-MM-DD (default: today, Asia/Tokyo).")
def unused_cmd(event_slug: str, as_of: str | None) -> None:
    """Unused voucher balance at the end of a day; and on each 31 March / 30 September."""
    from oflocal import clock
    from oflocal.reports.unused import next_record_date, record_date_balances, unused_balance

    today = clock.tokyo_date(clock.now())
    try:
        day = date.fromisoformat(as_of) if as_of else today
    except ValueError as error:
        raise Refusal("report.date_invalid") from error
    event_id = _event_id(event_slug)
    with _db().read() as session:
        current = unused_balance(session, event_id, day)
        records = record_date_balances(session, event_id, today)
    click.echo(f"未使用残高 {ja_date(day)} 終了時点: {yen(current.total)}"
               + ("  (基準日 record date)" if current.is_record_date else ""))
    for pid, name, balance, act in current.by_programme:
        click.echo(f"  P{pid} {name}: {yen(balance)}" + ("  [資金決済法の対象]" if act else ""))
    click.echo("基準日 (31 March / 30 September):")
    for b in records:
        deposit = f"  供託等 {yen(b.deposit_required)}" if b.deposit_required else ""
        click.echo(f"  {ja_date(b.as_of)}: {yen(b.total)}{deposit}")
    if not records:
        click.echo("  (none since the first issue date)")
    click.echo(f"次の基準日 next record date: {ja_date(next_record_date(today))}")


def _progress_export(
    make: Callable[[Callable[[int], None] | None], Iterator[bytes]], total: int, output: Path,
    label: str,
) -> int:

    with progress_bar(length=max(total, 1), label=label) as bar:
        def advance(n: int) -> None:
            bar.update(n)

        return _write(make(advance), output)


@report.command("journal")
@click.option("--event", "event_slug", default="demo", show_default=True)
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx"]), default="csv",
              show_default=True)
@click.option("--encoding", type=click.Choice(["utf-8", "shift_jis"]), default="utf-8",
              show_default=True, help="CSV only; utf-8 has a BOM for Excel.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
def journal_cmd(event_slug: str, fmt: str, encoding: str, output: Path) -> None:
    """Every journal entry with its postings, streamed to a file with a progress bar."""
    from oflocal.reports.csvout import encoding_of
    from oflocal.reports.exports import count_postings, journal_csv, journal_xlsx

    event_id = _event_id(event_slug)
    total = count_postings(_db(), event_id)
    codec = encoding_of(encoding)

    def make(progress: Callable[[int], None] | None) -> Iterator[bytes]:
        if fmt == "xlsx":
            return journal_xlsx(_db(), event_id, progress)
        return journal_csv(_db(), event_id, codec, progress)

    size = _progress_export(make, total, output, "journal")
    click.echo(f"{total:,} postings → {output} ({size:,} bytes)")


def _day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError as error:
        raise Refusal("report.date_invalid") from error


def _period(start: str | None, end: str | None) -> tuple[date | None, date | None]:
    first, last = _day(start), _day(end)
    if first is not None and last is not None and last < first:
        raise Refusal("report.period_invalid", start=first.isoformat(), end=last.isoformat())
    return first, last


@report.command("trial-balance")
@click.option("--event", "event_slug", default="demo", show_default=True)
@click.option("--from", "start", default=None,
              help="First day, YYYY-MM-DD (Asia/Tokyo; default: the first entry).")
@click.option("--to", "end", default=None, help="Last day, included (default: up to now).")
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx"]), default="csv",
              show_default=True)
@click.option("--encoding", type=click.Choice(["utf-8", "shift_jis"]), default="utf-8",
              show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write CSV/XLSX here; without it, print the table.")
def trial_cmd(event_slug: str, start: str | None, end: str | None, fmt: str, encoding: str,
              output: Path | None) -> None:
    """The trial balance (試算表) for a period: per account the balance brought forward,
    the debit and credit totals and the closing balance (on the class's normal side)."""
    from oflocal.ledger.verify import normal_balance, trial_balance
    from oflocal.reports.csvout import encoding_of
    from oflocal.reports.exports import trial_balance_csv, trial_balance_xlsx

    first, last = _period(start, end)
    event_id = _event_id(event_slug)
    if output is not None:
        chunks = (trial_balance_xlsx(_db(), event_id, first, last) if fmt == "xlsx"
                  else trial_balance_csv(_db(), event_id, encoding_of(encoding), first, last))
        click.echo(f"trial balance → {output} ({_write(chunks, output):,} bytes)")
        return
    with _db().read() as session:
        rows = trial_balance(session, event_id, first, last)
    click.echo(f"試算表 Trial balance  {first or '…'} – {last or '…'}")
    click.echo(f"{'勘定コード':<24} {'区分':<14} {'期首残高':>12} {'借方合計':>12} "
               f"{'貸方合計':>12} {'期末残高':>12}")
    for r in rows:
        click.echo(f"{r['account']:<28} {r['kind_label']:<14} "
                   f"{yen(normal_balance(r, 'opening')):>14} {yen(r['debit']):>14} "
                   f"{yen(r['credit']):>14} {yen(normal_balance(r)):>14}  {r['name']}")
    debit, credit = sum(r["debit"] for r in rows), sum(r["credit"] for r in rows)
    click.echo(f"{'合計 total':<43} {'':>14} {yen(debit):>14} {yen(credit):>14}"
               + ("" if debit == credit else "  UNBALANCED"))


@report.command("annual")
@click.option("--event", "event_slug", default="demo", show_default=True)
@click.option("--from", "start", default=None,
              help="First day, YYYY-MM-DD (default: 1 April of the fiscal year holding today).")
@click.option("--to", "end", default=None, help="Last day, included (default: 31 March).")
@click.option("--pdf", "pdf_path", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--xlsx", "xlsx_path", type=click.Path(dir_okay=False, path_type=Path),
              default=None)
@click.option("--json", "as_json", is_flag=True)
def annual_cmd(event_slug: str, start: str | None, end: str | None, pdf_path: Path | None,
               xlsx_path: Path | None, as_json: bool) -> None:
    """The annual report for the general meeting (収支報告書), from the ledger."""
    from oflocal import clock
    from oflocal.reports.annual import annual_pdf, annual_report, annual_xlsx, fiscal_year

    first, last = _period(start, end)
    default_first, default_last = fiscal_year(clock.tokyo_date(clock.now()))
    first, last = first or default_first, last or default_last
    if last < first:
        raise Refusal("report.period_invalid", start=first.isoformat(), end=last.isoformat())
    event_id = _event_id(event_slug)
    with _db().read() as session:
        data = annual_report(session, event_id, first, last)
    if as_json:
        click.echo(json.dumps(data.as_dict(), ensure_ascii=False, indent=2))
    else:
        click.echo(f"収支報告書 {data.committee_name}  {ja_date(first)} – {ja_date(last)}")
        click.echo(f"  前期繰越金 brought forward {yen(data.brought_forward):>16}")
        for title, lines, total in (("収入の部 receipts", data.income, data.income_total),
                                    ("支出の部 payments", data.expenditure,
                                     data.expenditure_total)):
            click.echo(f"  {title}")
            for line in lines:
                click.echo(f"    {line.label:<50} {yen(line.amount):>16}")
            click.echo(f"    {'計 total':<50} {yen(total):>16}")
        click.echo(f"  当期収支差額 difference {yen(data.difference):>16}")
        if data.held:  # money held for others: not receipts or payments
            click.echo("  預り金の増減 money held for others")
            for line in data.held:
                click.echo(f"    {line.label:<50} {yen(line.amount):>16}")
        click.echo(f"  次期繰越金 carried forward {yen(data.carried_forward):>16}")
    if pdf_path:
        click.echo(f"PDF → {pdf_path} ({_write(annual_pdf(data), pdf_path):,} bytes)")
    if xlsx_path:
        click.echo(f"XLSX → {xlsx_path} ({_write(annual_xlsx(data), xlsx_path):,} bytes)")


@report.command("expire")
@click.option("--programme", "programme_id", type=int, required=True)
def expire_cmd(programme_id: int) -> None:
    """After the last day of use: post breakage for every unredeemed sold ticket, once."""
    from oflocal.vouchers.expiry import expire_programme

    result = expire_programme(_db(), programme_id=programme_id, actor="cli")
    when = datetime.now().astimezone().isoformat(timespec="seconds")
    click.echo(f"expired {result['tickets']} ticket(s), {yen(result['amount'])} ({when})")
