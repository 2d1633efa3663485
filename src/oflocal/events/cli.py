"""``oflocal event``: set up and look at an event from a shell, through the same domain
functions as the admin console and the API (``events.changes``).

    oflocal event create takaoka-2026 --name "…" --committee "…" \
        --starts 2026-10-10 --ends 2026-10-12
    oflocal event edit takaoka-2026 --venue "高岡市御旅屋町" --invoice-number T1234567890123
    oflocal event show takaoka-2026
"""

from __future__ import annotations

from datetime import date
from typing import Any

import click
from sqlalchemy import func, select

from oflocal.cli_base import database
from oflocal.errors import Refusal
from oflocal.events import changes
from oflocal.events.models import Event, Workshop
from oflocal.format import tokyo_minute
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


def _day(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as error:
        raise Refusal("request.invalid", detail=f"not a date (YYYY-MM-DD): {value}") from error


def _event_id(slug: str) -> int:
    with database().read() as session:
        found = session.execute(select(Event.id).where(Event.slug == slug)).scalar_one_or_none()
    if found is None:
        raise Refusal("event.not_found")
    return found


def _profile_options(command: Any) -> Any:
    for option in reversed(list(PROFILE_OPTIONS)):
        command = click.option(f"--{option.replace('_', '-')}", option, default=None)(command)
    return command


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
def create(slug: str, name: str, committee: str, starts: str, ends: str, **profile: Any) -> None:
    """Create an event and its chart of accounts."""
    fields = {PROFILE_OPTIONS[k]: v for k, v in profile.items() if v is not None}
    event = changes.new_event(database(), slug=slug, name=name, committee_name=committee,
                              starts_on=_day(starts), ends_on=_day(ends), **fields)
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
         ends: str | None, **profile: Any) -> None:
    """Change what is given; the slug stays (it is in every workshop's login)."""
    changed: dict[str, Any] = {PROFILE_OPTIONS[k]: v for k, v in profile.items() if v is not None}
    for field_name, value in (("name", name), ("committee_name", committee),
                              ("starts_on", _day(starts)), ("ends_on", _day(ends))):
        if value is not None:
            changed[field_name] = value
    if "invoice_number" in changed and changed["invoice_number"] == "":
        changed["invoice_number"] = None  # --invoice-number "" clears it
    event = changes.edit_event(database(), _event_id(slug), changed)
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
