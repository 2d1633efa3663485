"""``oflocal``: the command line for staff scripts and operations.

Each capability adds its own command group in its own module (printing, settlement,
reports, mail); this file wires them together and holds the commands of the core.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from oflocal import clock
from oflocal.backup.cli import backup_command, restore_command
from oflocal.cli_base import OflocalGroup, database, settings, signer
from oflocal.crowdfunding.cli import campaign_group, pledges_group, refunds_group
from oflocal.crowdfunding.provider_cli import payments_group
from oflocal.errors import Refusal
from oflocal.events.cli import event_group, programme_group
from oflocal.jobs.cli import worker_command
from oflocal.outbox.cli import mail_group
from oflocal.printing.cli import print_group
from oflocal.reports.cli import report
from oflocal.settlement.cli import settle
from oflocal.treasury.cli import books


@click.group(cls=OflocalGroup)
def main() -> None:
    """oflocal: vouchers, crowdfunding and settlement for open-factory events."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int)
@click.option("--forwarded-allow-ips", envvar="OFLOCAL_FORWARDED_ALLOW_IPS", default="",
              help="Addresses of the reverse proxy in front (e.g. 127.0.0.1): its "
                   "X-Forwarded-For then names the client (sign-in limits per client).")
def serve(host: str, port: int, workers: int, forwarded_allow_ips: str) -> None:
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
        # Only a proxy we were told of may say who the client is.
        proxy_headers=bool(forwarded_allow_ips),
        forwarded_allow_ips=forwarded_allow_ips or None,
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
@click.option("--admin", "username", default="admin", show_default=True,
              help="Login name of the first admin.")
@click.option("--password-file", type=click.File(), default=None,
              help="Read the admin's password from this file (else a one-time one is printed).")
def init(username: str, password_file: Any) -> None:
    """Start your own installation: an empty database and its first admin."""
    from sqlalchemy import select

    from oflocal.auth.accounts import generate_password
    from oflocal.auth.models import StaffUser
    from oflocal.auth.service import create_staff_user
    from oflocal.db import migrate
    from oflocal.demo import database_is_empty

    if settings().is_sqlite:
        settings().data_dir.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(database().engine)
    with database().read() as session:
        if not database_is_empty(session) or session.execute(select(StaffUser.id)).first():
            raise Refusal("request.invalid", detail="this database already has data; "
                          "init only starts an empty installation")
    given = password_file.read().strip() if password_file is not None else None
    password = given or generate_password()
    create_staff_user(database(), username=username, display_name=username, role="admin",
                      password=password, must_change_password=given is None)
    click.echo(f"empty installation ready; first admin: {username}")
    if given is None:
        click.echo(f"one-time password (shown once, changed at the first login): {password}")
    click.echo("next: oflocal serve, log in at /login, then set up your event at /admin")


@main.command()
@click.option("--if-empty", is_flag=True, help="Do nothing when the database has data.")
@click.option("--print-logins", is_flag=True, help="Print staff and workshop logins.")
@click.option("--workshops", default=40, show_default=True)
@click.option("--booklets", default=200, show_default=True)
@click.option("--url", "base_url", default="http://127.0.0.1:8000", show_default=True,
              help="Where the server will answer, for the printed logins.")
def demo(if_empty: bool, print_logins: bool, workshops: int, booklets: int,
         base_url: str) -> None:
    """Load a realistic demo event (40 workshops, ¥2,500 for ¥3,000 in 6 × ¥500)."""
    from oflocal.auth.service import create_staff_user, set_workshop_pin
    from oflocal.demo import (
        DEMO_PIN,
        STAFF_LOGINS,
        add_activity,
        add_campaign,
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
        add_campaign(database(), scenario)
        for username, name, role, password in STAFF_LOGINS:
            create_staff_user(database(), username=username, display_name=name, role=role,
                              password=password)
        for code in scenario.workshop_codes:
            set_workshop_pin(database(), event_slug="demo", workshop_code=code, pin=DEMO_PIN)
        click.echo(f"demo event loaded: {workshops} workshops, {booklets} printed booklets, "
                   f"{min(30, booklets)} sold, some tickets already used at workshops; "
                   "a live crowdfunding campaign with pledges, and a finished one whose "
                   "supporters collect voucher booklets at /desk/pickup")
    elif not if_empty:
        click.echo("the database already has data; demo not loaded", err=True)
        sys.exit(1)
    if print_logins:
        click.echo("\nLogins (demo only: change them before real use)")
        base = base_url.rstrip("/")
        for username, _name, role, password in STAFF_LOGINS:
            click.echo(f"  staff    {role:<9} {base}/login  {username} / {password}")
        click.echo(f"  workshop W01..W{workshops:02d}  {base}/booth/login "
                   f"event 'demo', code W01, PIN {DEMO_PIN}")
        click.echo(f"  campaign        {base}/c/demo/hitsuji-2026")
        click.echo(f"  supporter       {base}/my  supporter3@example.jp "
                   "(the sign-in link arrives as a file in the data folder's outbox/)")
        click.echo(f"  API docs        {base}/schema\n")


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


@user.command("passwd")
@click.argument("username")
@click.option("--generate", is_flag=True,
              help="Make a one-time password (printed once, changed at the next login).")
@click.option("--password", default=None, hide_input=True, confirmation_prompt=True,
              prompt="New password", prompt_required=False, help="Prompted for when omitted.")
def user_passwd(username: str, generate: bool, password: str | None) -> None:
    """Set a staff user's password (ends their sessions and lifts a lock-out)."""
    from oflocal.auth.accounts import reset_password, set_password, user_id

    if generate:
        click.echo(f"one-time password for {username}: {reset_password(database(), username)}")
        click.echo("it must be changed at the first login")
        return
    if password is None:
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    set_password(database(), user_id(database(), username), password, must_change=False)
    click.echo(f"password of {username} changed")


@user.command("disable")
@click.argument("username")
def user_disable(username: str) -> None:
    """Switch a staff login off: its sessions and tokens stop at once."""
    from oflocal.auth.accounts import set_active

    set_active(database(), username, False)
    click.echo(f"{username} can no longer log in")


@user.command("enable")
@click.argument("username")
def user_enable(username: str) -> None:
    """Switch a staff login on again."""
    from oflocal.auth.accounts import set_active

    set_active(database(), username, True)
    click.echo(f"{username} may log in again")


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


@user.command("tokens")
def user_tokens() -> None:
    """List API tokens: id, holder, name, issued, revoked (never the token itself)."""
    from oflocal.auth.service import list_api_tokens

    for t in list_api_tokens(database()):
        revoked = f"revoked {clock.as_tokyo(t.revoked_at):%Y-%m-%d %H:%M}" if t.revoked_at \
            else "live"
        click.echo(f"{t.id:>5}  {t.holder:<28} {t.name:<24} "
                   f"{clock.as_tokyo(t.created_at):%Y-%m-%d %H:%M}  {revoked}")


@user.command("revoke-token")
@click.argument("token_id", type=int)
def user_revoke_token(token_id: int) -> None:
    """Revoke an API token by id: every server process refuses it from now on."""
    from oflocal.auth.service import revoke_api_token

    token = revoke_api_token(database(), token_id)
    assert token.revoked_at is not None
    click.echo(f"token {token.id} ({token.holder}, {token.name}) revoked "
               f"{clock.as_tokyo(token.revoked_at):%Y-%m-%d %H:%M}")


@user.command("unlock")
@click.argument("username")
def user_unlock(username: str) -> None:
    """Let a staff user locked out by wrong passwords log in again."""
    from oflocal.auth.service import unlock_staff_user

    unlock_staff_user(database(), username)
    click.echo(f"{username} may log in again")


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


@workshop.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--event", "event_slug", required=True, help="The event's short name.")
@click.option("--dry-run", is_flag=True, help="Check and show what would change; save nothing.")
def workshop_import(path: str, event_slug: str, dry_run: bool) -> None:
    """Add or update the event's workshops from a CSV or XLSX file, all or nothing."""
    from pathlib import Path

    from sqlalchemy import select

    from oflocal.events.models import Event
    from oflocal.events.workshop_import import apply_import, plan_import, read_rows

    file = Path(path)
    rows = list(read_rows(file.name, file.read_bytes()))
    with database().read() as session:
        event_id = session.execute(
            select(Event.id).where(Event.slug == event_slug)).scalar_one_or_none()
        if event_id is None:
            raise Refusal("event.not_found")
        plan = plan_import(session, event_id, rows)
    for problem in plan.problems:
        click.echo(f"✕ row {problem.row} {problem.field}: {problem.message_ja}\n"
                   f"  {problem.message_en}", err=True)
    for warning in plan.warnings:
        click.echo(f"! row {warning.row}: {warning.message_ja}", err=True)
    if plan.problems:
        raise Refusal("workshop.import_invalid", count=len(plan.problems))
    click.echo(f"{plan.adds} to add, {plan.updates} to update")
    if not dry_run:
        apply_import(database(), event_id, rows)
        click.echo("saved")


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
    from oflocal.audit import verify

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
    from oflocal.vouchers.issue import issue_batch

    batch = issue_batch(database(), signer(), programme_id, count, actor="cli")
    click.echo(f"batch {batch.number}: booklets {batch.first_booklet_serial}–"
               f"{batch.last_booklet_serial}")


@vouchers.command("expire")
@click.option("--programme", "programme_id", type=int, required=True)
def vouchers_expire(programme_id: int) -> None:
    """After the last day of use: post breakage for every unredeemed sold ticket, once."""
    from oflocal.vouchers.expiry import expire_programme

    result = expire_programme(database(), programme_id=programme_id, actor="cli")
    click.echo(f"expired {result['tickets']} ticket(s), ¥{result['amount']:,}")


for group in (event_group, programme_group, print_group, settle, report, worker_command,
              mail_group, payments_group, campaign_group, pledges_group, refunds_group, books,
              backup_command, restore_command):
    main.add_command(group)
