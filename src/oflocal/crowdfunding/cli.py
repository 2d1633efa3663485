"""``oflocal campaign …``, ``oflocal pledges …``, ``oflocal refunds …``: the committee's
and the treasurer's crowdfunding from a terminal. Each command calls the same domain
function as the pages and the API; a refusal prints its bilingual message (exit 2).

Importing a bank statement (``oflocal pledges import-bank FILE``) and reconciling a
payment provider (``oflocal payments reconcile``) come with the payments package.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from oflocal import clock
from oflocal.cli_base import OflocalGroup, database
from oflocal.crowdfunding import staff
from oflocal.crowdfunding.models import PAYMENT_METHODS, PLEDGE_STATES, REFUND_STATES, Campaign
from oflocal.errors import Refusal
from oflocal.events.models import Event
from oflocal.format import tokyo_minute, yen

ACTOR = "cli"


def _event_id(slug: str) -> int:
    with database().read() as session:
        event_id = session.execute(select(Event.id).where(Event.slug == slug)).scalar_one_or_none()
    if event_id is None:
        raise Refusal("event.not_found")
    return event_id


def _campaign_id(event_slug: str, campaign: str) -> int:
    """A campaign named by its id or by its slug within the event."""
    if campaign.isdigit():
        return int(campaign)
    with database().read() as session:
        found = session.execute(select(Campaign.id).where(
            Campaign.event_id == _event_id(event_slug), Campaign.slug == campaign)
        ).scalar_one_or_none()
    if found is None:
        raise Refusal("campaign.not_found")
    return found


def _moment(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as error:
        raise Refusal("campaign.invalid", detail=f"{value!r}: 2026-06-01T10:00") from error
    return moment.replace(tzinfo=clock.TOKYO) if moment.tzinfo is None else moment


def _show(body: dict[str, Any]) -> None:
    click.echo(json.dumps(body, ensure_ascii=False, indent=2, default=str))


campaign_opt = click.argument("campaign")
event_opt = click.option("--event", "event_slug", default="demo", show_default=True,
                         help="The event's short name (for a campaign named by its slug).")


@click.group("campaign", cls=OflocalGroup)
def campaign_group() -> None:
    """Crowdfunding campaigns: list, show, create, edit, pictures, updates, go live,
    decide, close."""


@campaign_group.command("list")
@event_opt
def campaign_list(event_slug: str) -> None:
    """The event's campaigns with their figures."""
    with database().read() as session:
        for row in staff.campaign_rows(session, _event_id(event_slug)):
            c, f = row["campaign"], row["figures"]
            click.echo(f"{c.id:>4}  {c.slug:<20} {c.state:<17} {yen(f.raised):>12} / "
                       f"{yen(c.goal):<12} {f.supporters:>4} paid  {f.reserved:>4} waiting  "
                       f"ends {tokyo_minute(c.ends_at)}  {c.title}")


@campaign_group.command("show")
@campaign_opt
@event_opt
def campaign_show(campaign: str, event_slug: str) -> None:
    """One campaign: figures, returns, what is missing before going live."""
    with database().read() as session:
        view = staff.campaign_view(session, _campaign_id(event_slug, campaign))
        c, f = view.campaign, view.figures
        click.echo(f"{c.title} ({c.slug}) — {c.state}, {c.funding_model}")
        click.echo(f"runs {tokyo_minute(c.starts_at)} – {tokyo_minute(c.ends_at)}")
        click.echo(f"raised {yen(f.raised)} of {yen(c.goal)} ({f.percent(c.goal)}%), "
                   f"{f.supporters} paid, {f.reserved} waiting ({yen(f.reserved_total)})")
        for r in view.rewards:
            left = "unlimited" if r.left is None else f"{r.left} of {r.reward.quantity_limit} left"
            click.echo(f"  #{r.reward.number} {r.reward.title}  {yen(r.reward.price)}  "
                       f"paid {r.paid}, reserved {r.reserved}, {left}  "
                       f"({', '.join(r.items_en)})")
        for blocker_ja, blocker_en in staff.going_live_blockers(view, clock.now()) \
                if c.state == "draft" else []:
            click.echo(f"  missing: {blocker_ja} / {blocker_en}")


@campaign_group.command("create")
@click.option("--event", "event_slug", default="demo", show_default=True)
@click.option("--slug", required=True)
@click.option("--title", required=True)
@click.option("--goal", type=int, required=True, help="Yen.")
@click.option("--starts", required=True, help="Japan time, e.g. 2026-06-01T10:00.")
@click.option("--ends", required=True, help="Japan time.")
@click.option("--model", "funding_model", type=click.Choice(["all_or_nothing", "all_in"]),
              default="all_or_nothing", show_default=True)
@click.option("--method", "methods", multiple=True, type=click.Choice(PAYMENT_METHODS),
              default=("bank_transfer",), show_default=True)
def campaign_create(event_slug: str, slug: str, title: str, goal: int, starts: str, ends: str,
                    funding_model: str, methods: tuple[str, ...]) -> None:
    """A draft campaign (the legal notice starts from the committee's profile)."""
    from oflocal.crowdfunding.campaigns import create_campaign

    made = create_campaign(database(), event_id=_event_id(event_slug), slug=slug, title=title,
                           goal=goal, starts_at=_moment(starts), ends_at=_moment(ends),
                           funding_model=funding_model, payment_methods=list(methods))
    click.echo(f"campaign {made.id} ({made.slug}) created as a draft")


@campaign_group.command("edit")
@campaign_opt
@event_opt
@click.option("--set", "pairs", multiple=True, metavar="FIELD=VALUE", required=True,
              help="A field to change (title, story, goal, seller, price_note, …); "
                   "--set story=@file.md reads a file.")
def campaign_edit(campaign: str, event_slug: str, pairs: tuple[str, ...]) -> None:
    """Change fields of a campaign (once live: the story and the legal notice)."""
    from oflocal.crowdfunding.campaigns import CAMPAIGN_FIELDS, edit_campaign

    changes: dict[str, Any] = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        if name not in CAMPAIGN_FIELDS:
            raise Refusal("request.invalid", detail=f"unknown field {name!r}")
        if value.startswith("@"):
            value = Path(value[1:]).read_text(encoding="utf-8")
        if name in ("goal", "payment_days"):
            changes[name] = int(value)
        elif name in ("starts_at", "ends_at"):
            changes[name] = _moment(value)
        elif name == "phone_on_request":
            changes[name] = value.lower() in ("1", "yes", "true")
        elif name == "payment_methods":
            changes[name] = [m.strip() for m in value.split(",") if m.strip()]
        else:
            changes[name] = value
    edit_campaign(database(), _campaign_id(event_slug, campaign), changes)
    click.echo("saved")


@campaign_group.command("go-live")
@campaign_opt
@event_opt
def campaign_go_live(campaign: str, event_slug: str) -> None:
    """Draft → live (refused, naming what is missing, until the legal notice is whole)."""
    from oflocal.crowdfunding.campaigns import go_live

    made = go_live(database(), _campaign_id(event_slug, campaign))
    click.echo(f"campaign {made.slug} is live until {tokyo_minute(made.ends_at)}")


@campaign_group.command("lock-fulfilment")
@campaign_opt
@event_opt
@click.option("--unlock", is_flag=True, help="Let supporters correct their answers again.")
def campaign_lock_fulfilment(campaign: str, event_slug: str, unlock: bool) -> None:
    """Freeze supporters' addresses, handles and wall names: the returns are prepared."""
    from oflocal.crowdfunding.fulfilment import lock_fulfilment, unlock_fulfilment

    campaign_id = _campaign_id(event_slug, campaign)
    if unlock:
        unlock_fulfilment(database(), campaign_id)
        click.echo(f"campaign {campaign}: supporters can correct their answers again")
        return
    when = lock_fulfilment(database(), campaign_id)
    click.echo(f"campaign {campaign}: answers frozen since {tokyo_minute(when)}")


@campaign_group.command("wall")
@campaign_opt
@event_opt
@click.option("--format", "fmt", type=click.Choice(["pdf", "csv"]), default="pdf",
              show_default=True)
@click.option("--size", type=click.Choice(["a4", "a2", "a1"]), default="a4", show_default=True,
              help="Paper of the PDF: A4 sheets, or an A2/A1 poster for the venue.")
@click.option("--out", type=click.Path(dir_okay=False, writable=True), required=True)
def campaign_wall(campaign: str, event_slug: str, fmt: str, size: str, out: str) -> None:
    """The supporters' wall: a printable poster (PDF) or a CSV for the website."""
    from oflocal.supporters.wall import wall, wall_csv, wall_heading
    from oflocal.supporters.wall_pdf import wall_pdf

    campaign_id = _campaign_id(event_slug, campaign)
    groups = wall(database(), campaign_id)
    chunks = (wall_csv(groups) if fmt == "csv"
              else wall_pdf(*wall_heading(database(), campaign_id), groups, size))
    with open(out, "wb") as handle:
        for chunk in chunks:
            handle.write(chunk)
    names = sum(len(g.names) for g in groups)
    anonymous = sum(g.anonymous for g in groups)
    click.echo(f"{out}: {names} name(s), {anonymous} anonymous")


@campaign_group.command("decide")
@campaign_opt
@event_opt
def campaign_decide(campaign: str, event_slug: str) -> None:
    """Decide the outcome after the end, once (again: the first decision)."""
    from oflocal.crowdfunding.outcome import decide_outcome

    _show(decide_outcome(database(), _campaign_id(event_slug, campaign), actor=ACTOR).body)


@campaign_group.command("close")
@campaign_opt
@event_opt
def campaign_close(campaign: str, event_slug: str) -> None:
    """Decided → closed, once every refund has gone out (refused, with the count, while
    a refund is still to be sent)."""
    from oflocal.crowdfunding.campaigns import close_campaign

    closed = close_campaign(database(), _campaign_id(event_slug, campaign))
    click.echo(f"campaign {closed.slug} is closed")


@campaign_group.group("image", cls=OflocalGroup)
def image_group() -> None:
    """A campaign's pictures: list, add, describe, move, remove."""


@image_group.command("list")
@campaign_opt
@event_opt
def image_list(campaign: str, event_slug: str) -> None:
    """The pictures in gallery order (the first is the main picture)."""
    from oflocal.crowdfunding.images import images_of

    with database().read() as session:
        for i in images_of(session, _campaign_id(event_slug, campaign)):
            click.echo(f"{i.id:>5}  image:{i.number:<3} #{i.position:<3} {i.content_type:<10} "
                       f"{i.width}x{i.height} {i.byte_size // 1024:>5} KB  {i.alt}")


@image_group.command("add")
@campaign_opt
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@event_opt
@click.option("--alt", required=True, help="What the picture shows (read by screen readers).")
def image_add(campaign: str, file: Path, event_slug: str, alt: str) -> None:
    """Add a picture (JPEG, PNG or WebP, at most 5 MB): re-encoded without metadata
    (no EXIF or GPS), at most 1600 px wide, last in the gallery."""
    from oflocal.crowdfunding.images import MAX_BYTES, add_image

    with file.open("rb") as handle:
        raw = handle.read(MAX_BYTES + 1)  # one byte past the limit is enough to refuse
    image = add_image(database(), _campaign_id(event_slug, campaign), raw, alt=alt)
    click.echo(f"picture {image.id} added as image:{image.number} ({image.width}x"
               f"{image.height}, {image.byte_size // 1024} KB): place it in the story "
               f"with ![{image.alt}](image:{image.number})")


@image_group.command("edit")
@click.argument("image_id", type=int)
@click.option("--alt", default=None, help="A new description.")
@click.option("--position", type=click.IntRange(min=1), default=None,
              help="A new place in the gallery (1: the main picture).")
def image_edit(image_id: int, alt: str | None, position: int | None) -> None:
    """Change a picture's description or its place in the gallery."""
    from oflocal.crowdfunding.images import edit_image

    if alt is None and position is None:
        raise Refusal("request.invalid", detail="--alt or --position")
    image = edit_image(database(), image_id, alt=alt, position=position)
    click.echo(f"image:{image.number} is #{image.position}: {image.alt}")


@image_group.command("remove")
@click.argument("image_id", type=int)
def image_remove(image_id: int) -> None:
    """Remove a picture."""
    from oflocal.crowdfunding.images import delete_image

    delete_image(database(), image_id)
    click.echo(f"picture {image_id} removed")


@campaign_group.group("update", cls=OflocalGroup)
def update_group() -> None:
    """A campaign's updates (活動報告): list, add a draft, edit it, publish, follow the
    mailing."""


def _body_of(file: Path) -> str:
    try:
        return file.read_text(encoding="utf-8-sig")  # a BOM (Windows editors) is dropped
    except UnicodeDecodeError:
        raise Refusal("request.invalid", detail=f"{file.name}: not UTF-8 text") from None


def _mailing_line(facts: dict[str, Any]) -> str:
    """One line of ``updates.mailing_facts``."""
    if facts["published_at"] is None:
        return "draft" + ("" if facts["send_mail"] else ", not to be e-mailed")
    if not facts["send_mail"]:
        return "not e-mailed"
    if facts["total"] is None:
        return "mailing: counting the addresses"
    return (f"mailing: sent {facts['sent']}, failed {facts['failed']} of {facts['total']} "
            f"({facts['percent']}%)" + ("" if facts["finished"] else ", going on"))


def _facts(session: Session, update_id: int) -> dict[str, Any]:
    from oflocal.supporters.models import CampaignUpdate
    from oflocal.supporters.updates import mailing_facts, progress_of

    row = session.get(CampaignUpdate, update_id)
    if row is None:
        raise Refusal("update.not_found")
    return mailing_facts(row, progress_of(session, row))


AUDIENCES = click.Choice(["public", "supporters", "rewards"])
body_help = "The text, in Markdown (the campaign's pictures: ![説明](image:N))."
reward_opt = click.option("--reward", "rewards", type=click.IntRange(min=1), multiple=True,
                          help="With --audience rewards: the number of a return (#N in "
                               "`campaign show`) whose paid supporters read it; repeat for "
                               "more.")


def _reward_ids(campaign_id: int, numbers: tuple[int, ...]) -> list[int]:
    """The returns' ids from their numbers within the campaign."""
    from oflocal.crowdfunding.models import Reward

    with database().read() as session:
        ids = {number: reward_id for number, reward_id in session.execute(
            select(Reward.number, Reward.id).where(Reward.campaign_id == campaign_id,
                                                   Reward.number.in_(numbers)))}
    if unknown := sorted(set(numbers) - set(ids)):
        raise Refusal("update.invalid", detail="returns: no "
                      + ", ".join(f"#{n}" for n in unknown) + " in this campaign")
    return [ids[n] for n in numbers]


@update_group.command("list")
@campaign_opt
@event_opt
def update_list(campaign: str, event_slug: str) -> None:
    """The updates, newest first: drafts, and how far each mailing is."""
    from oflocal.supporters.updates import AUDIENCE_NAMES, updates_of

    with database().read() as session:
        for row in updates_of(session, _campaign_id(event_slug, campaign)):
            when = (f"published {tokyo_minute(row.published_at)}" if row.published_at
                    else "draft")
            click.echo(f"{row.id:>5}  #{row.number:<3} {when:<27} "
                       f"{AUDIENCE_NAMES[row.audience][1]:<26} {row.title}  "
                       f"[{_mailing_line(_facts(session, row.id))}]")


@update_group.command("add")
@campaign_opt
@event_opt
@click.option("--title", required=True)
@click.option("--body-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              required=True, help=body_help)
@click.option("--audience", type=AUDIENCES, required=True,
              help="Who reads it: everyone, paid supporters, or the paid supporters of "
                   "the returns given with --reward.")
@reward_opt
@click.option("--mail/--no-mail", "send_mail", default=True, show_default=True,
              help="E-mail it to its readers when published.")
def update_add(campaign: str, event_slug: str, title: str, body_file: Path, audience: str,
               rewards: tuple[int, ...], send_mail: bool) -> None:
    """Write a draft update (then `update publish`)."""
    from oflocal.supporters.models import CampaignUpdate
    from oflocal.supporters.updates import write_update

    campaign_id = _campaign_id(event_slug, campaign)
    made = write_update(database(), campaign_id, title=title, body=_body_of(body_file),
                        audience=audience, reward_ids=_reward_ids(campaign_id, rewards),
                        send_mail=send_mail, author=ACTOR)
    with database().read() as session:
        number = session.execute(select(CampaignUpdate.number).where(
            CampaignUpdate.id == made)).scalar_one()
    click.echo(f"update {made} (#{number}) saved as a draft; publish it with: "
               f"oflocal campaign update publish {made}")


@update_group.command("edit")
@click.argument("update_id", type=int)
@click.option("--title", default=None)
@click.option("--body-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help=body_help)
@click.option("--audience", type=AUDIENCES, default=None,
              help="Another audience than rewards drops the returns chosen.")
@reward_opt
@click.option("--mail/--no-mail", "send_mail", default=None,
              help="Whether it is e-mailed when published.")
def update_edit(update_id: int, title: str | None, body_file: Path | None,
                audience: str | None, rewards: tuple[int, ...],
                send_mail: bool | None) -> None:
    """Change a draft: only what is given (a published update stays as it is)."""
    from oflocal.supporters.models import CampaignUpdate
    from oflocal.supporters.updates import edit_update

    if (title, body_file, audience, send_mail) == (None, None, None, None) and not rewards:
        raise Refusal("request.invalid",
                      detail="--title, --body-file, --audience, --reward or --mail/--no-mail")
    with database().read() as session:
        campaign_id = session.execute(select(CampaignUpdate.campaign_id).where(
            CampaignUpdate.id == update_id)).scalar_one_or_none()
    if campaign_id is None:
        raise Refusal("update.not_found")
    edit_update(database(), update_id, title=title,
                body=None if body_file is None else _body_of(body_file), audience=audience,
                reward_ids=_reward_ids(campaign_id, rewards) if rewards else None,
                send_mail=send_mail)
    click.echo(f"update {update_id} saved")


@update_group.command("publish")
@click.argument("update_id", type=int)
def update_publish(update_id: int) -> None:
    """Publish, once (again: nothing more). The mailing goes out in the background, sent
    by the workers (`oflocal worker`, or the web server's own)."""
    from oflocal.supporters.updates import publish_update

    at = publish_update(database(), update_id)
    with database().read() as session:
        facts = _facts(session, update_id)
    click.echo(f"update {update_id} published {tokyo_minute(at)} [{_mailing_line(facts)}]")
    if facts["send_mail"]:
        click.echo(f"follow the mailing with: oflocal campaign update progress {update_id}")


@update_group.command("progress")
@click.argument("update_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="As JSON (what the API answers).")
def update_progress(update_id: int, as_json: bool) -> None:
    """How far the update's mailing is: sent and failed of the addresses counted."""
    with database().read() as session:
        facts = _facts(session, update_id)
    if as_json:
        _show(facts)
    else:
        click.echo(f"update {update_id}: {_mailing_line(facts)}")


# ------------------------------------------------------------------------ pledges


def _filters(state: str | None, reward: int | None, method: str | None,
             q: str) -> staff.PledgeFilter:
    return staff.PledgeFilter(state=state, reward_id=reward, method=method, q=q).check()


pledge_filters = [
    click.option("--state", type=click.Choice(PLEDGE_STATES), default=None),
    click.option("--reward", type=int, default=None, help="A return's id."),
    click.option("--method", type=click.Choice(PAYMENT_METHODS), default=None),
    click.option("--q", default="", help="Part of a name, e-mail, phone or reference."),
]


def _with_filters(fn: Any) -> Any:
    for option in reversed(pledge_filters):
        fn = option(fn)
    return fn


@click.group("pledges", cls=OflocalGroup)
def pledges_group() -> None:
    """Pledges of a campaign: list, export, mark paid."""


@pledges_group.command("list")
@campaign_opt
@event_opt
@_with_filters
def pledges_list(campaign: str, event_slug: str, state: str | None, reward: int | None,
                 method: str | None, q: str) -> None:
    """Pledges, newest first."""
    with database().read() as session:
        rows, total = staff.list_pledges(session, _campaign_id(event_slug, campaign),
                                         _filters(state, reward, method, q), limit=1000)
    for r in rows:
        p = r.pledge
        click.echo(f"{p.id:>6} {p.reference:<9} {p.state:<10} {p.payment_method:<13} "
                   f"{yen(p.total):>10}  #{r.reward_number} x{p.quantity}  {p.supporter_name}"
                   f"  {p.supporter_email}")
    click.echo(f"{total} pledge(s)", err=True)


@pledges_group.command("export")
@campaign_opt
@event_opt
@_with_filters
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx"]), default="csv",
              show_default=True)
@click.option("--encoding", default="utf-8", show_default=True, help="utf-8 or shift_jis (CSV).")
@click.option("--out", type=click.Path(dir_okay=False, writable=True), default=None,
              help="File to write (default: standard output).")
def pledges_export(campaign: str, event_slug: str, state: str | None, reward: int | None,
                   method: str | None, q: str, fmt: str, encoding: str,
                   out: str | None) -> None:
    """The pledges as CSV or XLSX, with the supporters' answers."""
    from oflocal.reports.csvout import encoding_of

    campaign_id = _campaign_id(event_slug, campaign)
    f = _filters(state, reward, method, q)
    staff.check_export(database(), campaign_id, f)
    if fmt == "xlsx":
        if out is None:
            raise Refusal("request.invalid", detail="--out FILE for an XLSX export")
        chunks = staff.pledges_xlsx(database(), campaign_id, f)
    else:
        try:
            codec = encoding_of(encoding)
        except ValueError as error:
            raise Refusal("request.invalid", detail=str(error)) from None
        chunks = staff.pledges_csv(database(), campaign_id, f, codec)
    if out is None:
        for chunk in chunks:
            sys.stdout.buffer.write(chunk)
        return
    with open(out, "wb") as handle:
        for chunk in chunks:
            handle.write(chunk)
    click.echo(f"written {out}", err=True)


@pledges_group.command("mark-paid")
@click.argument("reference")
@click.option("--campaign", "campaign", required=True, help="The campaign's id or slug.")
@event_opt
@click.option("--source", type=click.Choice(["bank", "cash"]), default="bank",
              show_default=True)
@click.option("--amount", type=int, required=True, help="Yen received: the pledge's total.")
def pledges_mark_paid(reference: str, campaign: str, event_slug: str, source: str,
                      amount: int) -> None:
    """A transfer (or cash) received for the pledge with this reference."""
    from oflocal.crowdfunding.models import Pledge
    from oflocal.crowdfunding.payments import mark_paid

    campaign_id = _campaign_id(event_slug, campaign)
    with database().read() as session:
        pledge_id = session.execute(select(Pledge.id).where(
            Pledge.campaign_id == campaign_id, Pledge.reference == reference.strip())
        ).scalar_one_or_none()
    if pledge_id is None:
        raise Refusal("pledge.not_found")
    body = mark_paid(database(), pledge_id, source=source, amount=amount, actor=ACTOR).body
    if body["accepted"]:
        click.echo(f"pledge {reference} paid ({yen(amount)})")
    else:
        click.echo(f"pledge {reference}: payment recorded, but it cannot be taken "
                   f"({body['refund_reason']}): refund {body['refund_id']} requested")


# ------------------------------------------------------------------------ refunds


@pledges_group.command("import-bank")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--campaign", "campaign", required=True, help="The campaign's id or slug.")
@event_opt
@click.option("--apply", "apply_", is_flag=True,
              help="Record the matched transfers (without it: only show what would happen).")
def pledges_import_bank(file: Path, campaign: str, event_slug: str, apply_: bool) -> None:
    """Match a bank statement (Zengin 入出金取引明細 / 振込入金通知, or CSV) to pledges by
    reference and amount; with --apply record the matched ones (never twice)."""
    from oflocal.crowdfunding.transfers import (
        MATCHED,
        apply_matched_transfers,
        plan_transfers,
        read_statement,
    )

    campaign_id = _campaign_id(event_slug, campaign)
    rows = read_statement(file.name, file.read_bytes())
    with database().read() as session:
        plan = plan_transfers(session, campaign_id, rows)
    for match in plan:
        who = f"pledge {match.reference} {match.supporter}" if match.reference else "-"
        click.echo(f"{match.row.date}  {yen(match.row.amount):>10}  {match.row.sender[:30]:<30}"
                   f"  {match.status:<17} {who}")
    matched = sum(1 for m in plan if m.status == MATCHED)
    click.echo(f"{len(plan)} transfer(s): {matched} matched, {len(plan) - matched} not")
    if not apply_:
        click.echo("nothing recorded (add --apply to record the matched transfers)")
        return
    done = apply_matched_transfers(database(), campaign_id, rows, actor=ACTOR)
    recorded = [d for d in done if d.recorded]
    late = [d for d in recorded if not d.accepted]
    click.echo(f"recorded {len(recorded)} payment(s)"
               + (f", {len(late)} of them late (refunds requested)" if late else ""))


@click.group("refunds", cls=OflocalGroup)
def refunds_group() -> None:
    """Refunds of a campaign: list, and each step (sent, confirmed, failed, by hand)."""


@refunds_group.command("list")
@campaign_opt
@event_opt
@click.option("--state", type=click.Choice(REFUND_STATES), default=None)
def refunds_list(campaign: str, event_slug: str, state: str | None) -> None:
    with database().read() as session:
        rows = staff.list_refunds(session, _campaign_id(event_slug, campaign), state)
    for r, p in rows:
        click.echo(f"{r.id:>6} {p.reference:<9} {r.state:<13} {r.method:<14} "
                   f"{yen(r.amount):>10}  {r.reason:<16} {p.supporter_name}")


@refunds_group.command("zengin")
@campaign_opt
@event_opt
@click.option("--date", "transfer_date", type=click.DateTime(formats=["%Y-%m-%d"]),
              required=True, help="The day the bank sends the money (YYYY-MM-DD).")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
def refunds_zengin(campaign: str, event_slug: str, transfer_date: datetime,
                   output: Path) -> None:
    """The Zengin 総合振込 file of the bank refunds whose accounts were given. Changes
    nothing: mark each refund sent once the bank took the file."""
    from oflocal.crowdfunding.refund_transfers import refund_zengin_file

    with database().read() as session:
        data, ids, total = refund_zengin_file(session, _campaign_id(event_slug, campaign),
                                              transfer_date.date())
    output.write_bytes(data)
    click.echo(f"{output}: {len(ids)} refund(s), {yen(total)} (refunds {', '.join(map(str, ids))})")


@refunds_group.command("sent")
@click.argument("refund_id", type=int)
def refunds_sent(refund_id: int) -> None:
    """The money went out (also a retry after a failure)."""
    from oflocal.crowdfunding.refunds import mark_refund_sent

    _show(mark_refund_sent(database(), refund_id, actor=ACTOR).body)


@refunds_group.command("confirmed")
@click.argument("refund_id", type=int)
def refunds_confirmed(refund_id: int) -> None:
    """The money arrived."""
    from oflocal.crowdfunding.refunds import mark_refund_confirmed

    _show(mark_refund_confirmed(database(), refund_id).body)


@refunds_group.command("failed")
@click.argument("refund_id", type=int)
@click.option("--reason", required=True)
def refunds_failed(refund_id: int, reason: str) -> None:
    """The transfer came back: its entry is reversed, to be sent again."""
    from oflocal.crowdfunding.refunds import mark_refund_failed

    _show(mark_refund_failed(database(), refund_id, reason=reason, actor=ACTOR).body)


@refunds_group.command("by-hand")
@click.argument("refund_id", type=int)
@click.option("--method", type=click.Choice(["provider", "bank_transfer", "cash"]),
              required=True)
@click.option("--note", required=True)
def refunds_by_hand(refund_id: int, method: str, note: str) -> None:
    """Given back another way (cash at the desk, a transfer made by hand)."""
    from oflocal.crowdfunding.refunds import mark_refund_done_by_hand

    _show(mark_refund_done_by_hand(database(), refund_id, method=method, note=note,
                                   actor=ACTOR).body)
