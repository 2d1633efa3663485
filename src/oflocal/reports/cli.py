"""``oflocal report``: the treasurer's reports and ledger exports.

    oflocal report summary --programme 1 [--pdf summary.pdf] [--json]
    oflocal report unused --event demo [--as-of 2027-03-31]
    oflocal report journal --event demo --format csv|xlsx [--encoding shift_jis] -o journal.csv
    oflocal report trial-balance --event demo --format xlsx -o tb.xlsx
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


@report.command("trial-balance")
@click.option("--event", "event_slug", default="demo", show_default=True)
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx"]), default="csv",
              show_default=True)
@click.option("--encoding", type=click.Choice(["utf-8", "shift_jis"]), default="utf-8",
              show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
def trial_cmd(event_slug: str, fmt: str, encoding: str, output: Path) -> None:
    """The trial balance of the event as CSV or XLSX."""
    from oflocal.reports.csvout import encoding_of
    from oflocal.reports.exports import trial_balance_csv, trial_balance_xlsx

    event_id = _event_id(event_slug)
    chunks = (trial_balance_xlsx(_db(), event_id) if fmt == "xlsx"
              else trial_balance_csv(_db(), event_id, encoding_of(encoding)))
    click.echo(f"trial balance → {output} ({_write(chunks, output):,} bytes)")


@report.command("expire")
@click.option("--programme", "programme_id", type=int, required=True)
def expire_cmd(programme_id: int) -> None:
    """After the last day of use: post breakage for every unredeemed sold ticket, once."""
    from oflocal.vouchers.expiry import expire_programme

    result = expire_programme(_db(), programme_id=programme_id, actor="cli")
    when = datetime.now().astimezone().isoformat(timespec="seconds")
    click.echo(f"expired {result['tickets']} ticket(s), {yen(result['amount'])} ({when})")
