"""``oflocal``: the command line for staff scripts and operations.

Each capability adds its own command group in its own module (see ``_GROUPS``); this
file only wires them together and holds the commands of the core.
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Iterable
from functools import cache
from typing import TYPE_CHECKING, Any, TypeVar, overload

import click

from oflocal.db.engine import Database
from oflocal.errors import Refusal
from oflocal.settings import Settings, get_settings
from oflocal.vouchers.codes import CodeSigner

if TYPE_CHECKING:
    from click._termui_impl import ProgressBar

V = TypeVar("V")

# module path → name of its click group; a module missing here is simply not installed.
_GROUPS: list[tuple[str, str]] = [
    ("oflocal.printing.cli", "print_group"),
    ("oflocal.settlement.cli", "settle"),
    ("oflocal.reports.cli", "report"),
]


@cache
def settings() -> Settings:
    return get_settings()


@cache
def database() -> Database:
    return Database(settings().database_url)


def signer() -> CodeSigner:
    return CodeSigner(settings().secret_key)


@overload
def progress_bar(iterable: Iterable[V], *, length: int, label: str) -> ProgressBar[V]: ...


@overload
def progress_bar(iterable: None = None, *, length: int, label: str) -> ProgressBar[int]: ...


def progress_bar(iterable: Iterable[Any] | None = None, *, length: int,
                 label: str) -> ProgressBar[Any]:
    """A progress bar on stderr for a person at a terminal, and nothing otherwise: when
    stderr is a pipe or a file, click would print the bare label there once (a stray
    "statements" after a successful ``oflocal settle statements``)."""
    return click.progressbar(iterable, length=length, label=label, file=sys.stderr,
                             show_pos=True, hidden=not sys.stderr.isatty())


def fail(refusal: Refusal) -> None:
    click.echo(f"✕ {refusal.message('ja')}\n  {refusal.message('en')} [{refusal.code}]", err=True)
    sys.exit(2)


class OflocalGroup(click.Group):
    """Turns a Refusal into its bilingual message and exit code 2 instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Refusal as refusal:
            fail(refusal)


@click.group(cls=OflocalGroup)
def main() -> None:
    """oflocal: vouchers, crowdfunding and settlement for open-factory events."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int)
def serve(host: str, port: int, workers: int) -> None:
    """Serve the web app and API (http://HOST:PORT, OpenAPI at /schema)."""
    import uvicorn

    click.echo(f"oflocal: http://{host}:{port}/  (API docs: http://{host}:{port}/schema)")
    uvicorn.run(
        "oflocal.web.asgi:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        proxy_headers=False,
    )


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply schema migrations (creates the SQLite file when needed)."""
    from oflocal.db import migrate

    if settings().is_sqlite:
        settings().data_dir.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(database().engine, revision)
    click.echo(f"schema at revision {migrate.current_revision(database().engine)}")


@main.command()
@click.option("--if-empty", is_flag=True, help="Do nothing when the database has data.")
@click.option("--print-logins", is_flag=True, help="Print staff and workshop logins.")
@click.option("--workshops", default=40, show_default=True)
@click.option("--booklets", default=200, show_default=True)
def demo(if_empty: bool, print_logins: bool, workshops: int, booklets: int) -> None:
    """Load a realistic demo event (40 workshops, ¥2,500 for ¥3,000 in 6 × ¥500)."""
    from oflocal.auth.service import create_staff_user, set_workshop_pin
    from oflocal.demo import (
        DEMO_PIN,
        STAFF_LOGINS,
        add_activity,
        build_event,
        database_is_empty,
        describe_demo_committee,
    )

    with database().read() as session:
        empty = database_is_empty(session)
    if empty:
        with database().write() as session:
            scenario = build_event(session, signer(), workshops=workshops, booklets=booklets)
        add_activity(database(), signer(), scenario, sold=min(30, booklets))
        with database().write() as session:
            describe_demo_committee(session, scenario.event_id)
        for username, name, role, password in STAFF_LOGINS:
            create_staff_user(database(), username=username, display_name=name, role=role,
                              password=password)
        for code in scenario.workshop_codes:
            set_workshop_pin(database(), event_slug="demo", workshop_code=code, pin=DEMO_PIN)
        click.echo(f"demo event loaded: {workshops} workshops, {booklets} printed booklets, "
                   f"{min(30, booklets)} sold, some tickets already used at workshops")
    elif not if_empty:
        click.echo("the database already has data; demo not loaded", err=True)
        sys.exit(1)
    if print_logins:
        click.echo("\nLogins (demo only: change them before real use)")
        for username, _name, role, password in STAFF_LOGINS:
            click.echo(f"  staff    {role:<9} http://127.0.0.1:8000/login  {username} / {password}")
        click.echo(f"  workshop W01..W{workshops:02d}  http://127.0.0.1:8000/booth/login "
                   f"event 'demo', code W01, PIN {DEMO_PIN}")
        click.echo("  API docs        http://127.0.0.1:8000/schema\n")


@main.group()
def user() -> None:
    """Staff accounts."""


@user.command("create")
@click.argument("username")
@click.option("--role", type=click.Choice(["admin", "desk", "treasurer"]), required=True)
@click.option("--name", "display_name", default=None, help="Name shown on screens.")
@click.password_option()
def user_create(username: str, role: str, display_name: str | None, password: str) -> None:
    """Create a staff account (argon2-hashed password)."""
    from oflocal.auth.service import create_staff_user

    user_id = create_staff_user(
        database(), username=username, display_name=display_name or username,
        role=role, password=password,
    )
    click.echo(f"created staff user {username} ({role}), id {user_id}")


@user.command("token")
@click.option("--staff", "staff_username", default=None, help="Staff username.")
@click.option("--workshop", "workshop_code", default=None, help="Workshop code (with --event).")
@click.option("--event", "event_slug", default="demo", show_default=True)
@click.option("--name", default="script", show_default=True)
def user_token(staff_username: str | None, workshop_code: str | None, event_slug: str,
               name: str) -> None:
    """Issue an API bearer token (printed once) for a staff user or a workshop."""
    from sqlalchemy import select

    from oflocal.auth.models import StaffUser
    from oflocal.auth.service import issue_api_token
    from oflocal.events.models import Event, Workshop

    with database().read() as session:
        staff_id = workshop_id = None
        if staff_username:
            staff_id = session.execute(
                select(StaffUser.id).where(StaffUser.username == staff_username)
            ).scalar_one_or_none()
        if workshop_code:
            workshop_id = session.execute(
                select(Workshop.id).join(Event, Event.id == Workshop.event_id)
                .where(Event.slug == event_slug, Workshop.code == workshop_code.upper())
            ).scalar_one_or_none()
    if staff_id is None and workshop_id is None:
        raise Refusal("request.invalid", detail="name an existing --staff or --workshop")
    click.echo(issue_api_token(database(), name=name, staff_user_id=staff_id,
                               workshop_id=workshop_id))


@main.group()
def workshop() -> None:
    """Workshops."""


@workshop.command("set-pin")
@click.argument("code")
@click.option("--event", "event_slug", default="demo", show_default=True)
@click.option("--pin", prompt=True, hide_input=True, confirmation_prompt=True)
def workshop_set_pin(code: str, event_slug: str, pin: str) -> None:
    """Set or reset a workshop's PIN (also clears a lock-out)."""
    from oflocal.auth.service import set_workshop_pin

    set_workshop_pin(database(), event_slug=event_slug, workshop_code=code, pin=pin)
    click.echo(f"PIN set for {code.upper()}")


@workshop.command("list")
@click.option("--event", "event_slug", default="demo", show_default=True)
def workshop_list(event_slug: str) -> None:
    """List workshops with their codes."""
    from sqlalchemy import select

    from oflocal.events.models import Event, Workshop

    with database().read() as session:
        rows = session.execute(
            select(Workshop.code, Workshop.name, Workshop.craft, Workshop.participating)
            .join(Event, Event.id == Workshop.event_id)
            .where(Event.slug == event_slug)
            .order_by(Workshop.code)
        ).all()
    for code, name, craft, participating in rows:
        click.echo(f"{code:<6} {name}  ({craft}){'' if participating else '  [not participating]'}")


@main.group()
def ledger() -> None:
    """The double-entry ledger."""


@ledger.command("verify")
def ledger_verify() -> None:
    """Check every ledger identity; exit 1 with a report when one fails."""
    from oflocal.ledger.verify import verify

    with database().read() as session:
        report = verify(session)
    for name, ok, detail in report.checks:
        click.echo(f"{'ok ' if ok else 'FAIL'} {name}" + ("" if ok else f"  ({detail})"))
    if not report.ok:
        click.echo(f"\n{len(report.failures)} identity check(s) failed.", err=True)
        sys.exit(1)
    click.echo(f"\nall {len(report.checks)} checks passed")


@ledger.command("balance")
@click.option("--event", "event_slug", default="demo", show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table")
def ledger_balance(event_slug: str, fmt: str) -> None:
    """Trial balance of an event (integer yen; debit positive)."""
    import csv

    from sqlalchemy import select

    from oflocal.events.models import Event
    from oflocal.format import yen
    from oflocal.ledger.verify import trial_balance

    with database().read() as session:
        event_id = session.execute(
            select(Event.id).where(Event.slug == event_slug)
        ).scalar_one_or_none()
        if event_id is None:
            raise Refusal("event.not_found")
        rows = trial_balance(session, event_id)
    if fmt == "json":
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
    elif fmt == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]) if rows else ["account"])
        writer.writeheader()
        writer.writerows(rows)
    else:
        for row in rows:
            click.echo(
                f"{row['account']:<28} {yen(row['debit']):>14} {yen(row['credit']):>14}"
                f"  {row['name']}"
            )
        debit = sum(r["debit"] for r in rows)
        credit = sum(r["credit"] for r in rows)
        click.echo(f"{'total':<28} {yen(debit):>14} {yen(credit):>14}")


@main.group()
def vouchers() -> None:
    """Voucher programmes: print batches and expiry."""


@vouchers.command("issue")
@click.option("--programme", "programme_id", type=int, required=True)
@click.option("--count", type=click.IntRange(1, 20000), required=True)
def vouchers_issue(programme_id: int, count: int) -> None:
    """Issue a numbered batch of (not yet valid) booklets."""
    from oflocal import clock
    from oflocal.vouchers.issue import add_booklets

    with database().write() as session:
        batch = add_booklets(session, signer(), programme_id, count, now=clock.now(), actor="cli")
    click.echo(f"batch {batch.number}: booklets {batch.first_booklet_serial}–"
               f"{batch.first_booklet_serial + count - 1}")


@vouchers.command("expire")
@click.option("--programme", "programme_id", type=int, required=True)
def vouchers_expire(programme_id: int) -> None:
    """After the last day of use: post breakage for every unredeemed sold ticket, once."""
    from oflocal.vouchers.expiry import expire_programme

    result = expire_programme(database(), programme_id=programme_id, actor="cli")
    click.echo(f"expired {result['tickets']} ticket(s), ¥{result['amount']:,}")


def _register_groups() -> None:
    for module_path, attribute in _GROUPS:
        module = importlib.import_module(module_path)
        main.add_command(getattr(module, attribute))


_register_groups()
