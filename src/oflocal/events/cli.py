"""``oflocal event``: set up and look at an event from a shell, through the same domain
functions as the admin console and the API (``events.changes``).

    oflocal event create takaoka-2026 --name "…" --committee "…" \
        --starts 2026-10-10 --ends 2026-10-12
    oflocal event edit takaoka-2026 --venue "高岡市御旅屋町" --invoice-number T1234567890123
    oflocal event show takaoka-2026
    oflocal programme create --event takaoka-2026 --name "…" --price 2500 --face 3000 \
        --denominations 500,500,500,500,500,500 --sales-start 2026-10-10T09:00 … --budget 500000
    oflocal programme edit 3 --budget 600000 --sales-end 2026-10-13T17:00 \
        --layout layout.json --proof proof.png
"""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

import click
from sqlalchemy import func, select

from oflocal import clock
from oflocal.cli_base import database
from oflocal.errors import Refusal
from oflocal.events import changes
from oflocal.events.models import Event, Workshop
from oflocal.events.setup import ProgrammeTerms
from oflocal.format import tokyo_minute
from oflocal.printing.layout import read_layout
from oflocal.printing.source import proof_png
from oflocal.vouchers.models import Programme

# CLI option → event field (the rest of events.setup.EVENT_FIELDS), one place for both.
PROFILE_OPTIONS = {
    "venue": "venue",
    "representative": "representative",
    "address": "committee_address",
    "phone": "committee_phone",
    "email": "committee_email",
    "invoice_number": "invoice_number",
}


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as error:
        raise Refusal("request.invalid", detail=f"not a date (YYYY-MM-DD): {value}") from error


def _day(value: str | None) -> date | None:
    return None if value is None else _date(value)


def _event_id(slug: str) -> int:
    with database().read() as session:
        found = session.execute(select(Event.id).where(Event.slug == slug)).scalar_one_or_none()
    if found is None:
        raise Refusal("event.not_found")
    return found


def _profile_options(command: Any) -> Any:
    for option in reversed(list(PROFILE_OPTIONS)):
        command = click.option(f"--{option.replace('_', '-')}", option, default=None)(command)
    return click.option(
        "--confirm-invoice-number", "confirm_invoice_number", is_flag=True,
        help="The registration number was checked against the registration notice: store "
             "it even though it fails the corporate number check digit (sole proprietors, "
             "voluntary bodies).")(command)


def _warn(event: Event) -> None:
    for warning in changes.event_warnings(event):
        click.echo(f"! {warning}", err=True)


@click.group("event")
def event_group() -> None:
    """Events: create, edit, show."""


@event_group.command("create")
@click.argument("slug")
@click.option("--name", required=True, help="The event's name, as visitors see it.")
@click.option("--committee", required=True, help="The committee's legal name.")
@click.option("--starts", required=True, help="First day, YYYY-MM-DD (Japan).")
@click.option("--ends", required=True, help="Last day, YYYY-MM-DD (Japan).")
@_profile_options
def create(slug: str, name: str, committee: str, starts: str, ends: str,
           confirm_invoice_number: bool, **profile: Any) -> None:
    """Create an event and its chart of accounts."""
    fields = {PROFILE_OPTIONS[k]: v for k, v in profile.items() if v is not None}
    event = changes.new_event(database(), slug=slug, name=name, committee_name=committee,
                              starts_on=_date(starts), ends_on=_date(ends),
                              confirm_invoice_number=confirm_invoice_number, **fields)
    click.echo(f"event {event.slug} created (id {event.id}): {event.name}, "
               f"{event.starts_on} – {event.ends_on}")
    _warn(event)


@event_group.command("edit")
@click.argument("slug")
@click.option("--name", default=None)
@click.option("--committee", default=None)
@click.option("--starts", default=None)
@click.option("--ends", default=None)
@_profile_options
def edit(slug: str, name: str | None, committee: str | None, starts: str | None,
         ends: str | None, confirm_invoice_number: bool, **profile: Any) -> None:
    """Change what is given; the slug stays (it is in every workshop's login)."""
    changed: dict[str, Any] = {PROFILE_OPTIONS[k]: v for k, v in profile.items() if v is not None}
    for field_name, value in (("name", name), ("committee_name", committee),
                              ("starts_on", _day(starts)), ("ends_on", _day(ends))):
        if value is not None:
            changed[field_name] = value
    if "invoice_number" in changed and changed["invoice_number"] == "":
        changed["invoice_number"] = None  # --invoice-number "" clears it
    event = changes.edit_event(database(), _event_id(slug), changed,
                               confirm_invoice_number=confirm_invoice_number)
    click.echo(f"event {event.slug} changed: {', '.join(sorted(changed)) or 'nothing'}")
    _warn(event)


@event_group.command("show")
@click.argument("slug")
def show(slug: str) -> None:
    """The event, its committee and its workshops and programmes at a glance."""
    event_id = _event_id(slug)
    with database().read() as session:
        event = session.get(Event, event_id)
        assert event is not None
        workshops = session.execute(select(func.count()).select_from(Workshop).where(
            Workshop.event_id == event_id)).scalar_one()
        programmes = session.execute(select(Programme.id, Programme.name).where(
            Programme.event_id == event_id).order_by(Programme.id)).all()
        lines = [
            f"{event.slug}  {event.name}",
            f"  dates           {event.starts_on} – {event.ends_on}",
            f"  venue           {event.venue}",
            f"  committee       {event.committee_name}",
            f"  representative  {event.representative or '-'}",
            f"  address, phone  {event.committee_address}  {event.committee_phone}",
            f"  e-mail          {event.committee_email}",
            f"  invoice number  {event.invoice_number or '-'}",
            f"  workshops       {workshops}",
            *(f"  programme {pid:<5} {pname}" for pid, pname in programmes),
            f"  created         {tokyo_minute(event.created_at)}",
        ]
    click.echo("\n".join(lines))
    _warn(event)


@click.group("programme")
def programme_group() -> None:
    """Voucher programmes: create, edit (rules and print layout)."""


def _moment(value: str) -> datetime:
    """``2026-10-10T09:00``, read as Japan time unless it carries an offset."""
    try:
        naive = datetime.fromisoformat(value)
    except ValueError as error:
        raise Refusal("report.date_invalid") from error
    return naive.replace(tzinfo=clock.TOKYO) if naive.tzinfo is None else naive


def _denominations(text: str) -> list[int]:
    parts = [p.strip() for p in text.split(",")]
    if not all(p.isdigit() for p in parts):
        raise Refusal("request.invalid", detail="denominations: yen, separated by commas")
    return [int(p) for p in parts]


@programme_group.command("create")
@click.option("--event", "event_slug", required=True)
@click.option("--name", required=True)
@click.option("--price", type=int, required=True, help="Yen a buyer pays for one booklet.")
@click.option("--face", type=int, required=True, help="Yen one booklet is worth.")
@click.option("--denominations", required=True, help="Tickets' face values: 500,500,…")
@click.option("--sales-start", required=True, help="YYYY-MM-DDTHH:MM, Japan time.")
@click.option("--sales-end", required=True, help="YYYY-MM-DDTHH:MM, Japan time.")
@click.option("--issue-date", required=True)
@click.option("--valid-from", required=True)
@click.option("--valid-until", required=True, help="The last day of use (printed).")
@click.option("--budget", type=int, required=True, help="The premium budget in yen.")
@click.option("--per-sale", type=int, default=5, show_default=True)
@click.option("--unused-to", type=click.Choice(["breakage", "premium_fund"]),
              default="breakage", show_default=True)
@click.option("--allow-long-validity", is_flag=True,
              help="Allow 6 months or more (the Payment Services Act then applies).")
def programme_create(event_slug: str, name: str, price: int, face: int, denominations: str,
                     sales_start: str, sales_end: str, issue_date: str, valid_from: str,
                     valid_until: str, budget: int, per_sale: int, unused_to: str,
                     allow_long_validity: bool) -> None:
    """Set up a voucher programme with the same rules as the admin console."""
    terms = ProgrammeTerms(
        name=name, price=price, face_value=face, denominations=_denominations(denominations),
        sales_starts_at=_moment(sales_start), sales_ends_at=_moment(sales_end),
        issue_date=_date(issue_date), valid_from=_date(valid_from),
        valid_until=_date(valid_until), premium_budget=budget,
        max_booklets_per_sale=per_sale, validity_override=allow_long_validity,
        breakage_rule=unused_to)
    programme, warnings = changes.new_programme(database(), _event_id(event_slug), terms)
    click.echo(f"programme {programme.id} set up: {programme.name}, ¥{programme.price:,} for "
               f"¥{programme.face_value:,}, valid until {programme.valid_until}")
    for warning in warnings:
        click.echo(f"! {warning}", err=True)


# Option → (programme term, how the text is read); unset options change nothing.
EDIT_OPTIONS: dict[str, tuple[str, Any]] = {
    "name": ("name", str), "price": ("price", int), "face": ("face_value", int),
    "denominations": ("denominations", _denominations),
    "sales_start": ("sales_starts_at", _moment), "sales_end": ("sales_ends_at", _moment),
    "issue_date": ("issue_date", _date), "valid_from": ("valid_from", _date),
    "valid_until": ("valid_until", _date), "budget": ("premium_budget", int),
    "per_sale": ("max_booklets_per_sale", int), "unused_to": ("breakage_rule", str),
    "allow_long_validity": ("validity_override", bool),
}


@programme_group.command("edit")
@click.argument("programme_id", type=int)
@click.option("--name")
@click.option("--price", type=int)
@click.option("--face", type=int)
@click.option("--denominations")
@click.option("--sales-start", help="YYYY-MM-DDTHH:MM, Japan time.")
@click.option("--sales-end", help="YYYY-MM-DDTHH:MM, Japan time.")
@click.option("--issue-date")
@click.option("--valid-from")
@click.option("--valid-until")
@click.option("--budget", type=int, help="The premium budget in yen.")
@click.option("--per-sale", type=int)
@click.option("--unused-to", type=click.Choice(["breakage", "premium_fund"]))
@click.option("--allow-long-validity/--no-long-validity", default=None)
@click.option("--layout", "layout_file", type=click.Path(exists=True, dir_okay=False,
                                                          path_type=Path),
              help="A JSON print layout: paper, mode, columns, rows, duplex, rules…")
@click.option("--proof", "proof_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the proof (cover and first sheet) to this PNG afterwards.")
def programme_edit(programme_id: int, layout_file: Path | None, proof_file: Path | None,
                   **options: Any) -> None:
    """Change a programme's rules or print layout, with the console's rules: what printed
    booklets show stays fixed; the budget never below what sales have spent."""
    db = database()
    terms = {term: read(options[option]) for option, (term, read) in EDIT_OPTIONS.items()
             if options[option] is not None}
    if terms:
        programme, warnings = changes.edit_programme(db, programme_id, terms)
        click.echo(f"programme {programme.id} saved: {', '.join(sorted(terms))}")
        for warning in warnings:
            click.echo(f"! {warning}", err=True)
    if layout_file is not None:
        try:
            fields = json.loads(layout_file.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise Refusal("request.invalid", detail=f"{layout_file.name}: {error}") from error
        layout = read_layout(fields)
        changes.change_print_layout(db, programme_id, layout)
        click.echo(f"print layout saved: {layout.paper} {layout.columns}×{layout.rows}, "
                   f"{layout.mode}{', duplex' if layout.duplex else ''}")
    if proof_file is not None:
        proof_file.write_bytes(proof_png(db, programme_id))
        click.echo(f"proof written to {proof_file}")
    if not (terms or layout_file or proof_file):
        raise click.UsageError("nothing to change: give an option (see --help)")
