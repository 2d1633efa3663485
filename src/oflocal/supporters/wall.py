"""The supporters' wall (支援者ウォール): who chose to be named, by return.

A name is on the wall once its pledge is paid (money held) and its return contains
``wall_name``; it reads as the supporter typed it (pages escape it, like every text).
Anonymous supporters are counted, never named. A committee member can hide an abusive
name (``pledge.wall_hidden_at``); a hidden name counts as anonymous, so the number of
supporters stays true.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select, update

from oflocal import clock
from oflocal.crowdfunding.models import Campaign, Pledge, Reward
from oflocal.db.engine import Database
from oflocal.errors import Refusal
from oflocal.events.models import Event
from oflocal.reports.csvout import encode_rows, text_cell

ANONYMOUS = "匿名"


@dataclass(frozen=True)
class WallName:
    pledge_id: int
    name: str | None  # None: the supporter chose to be anonymous
    hidden: bool


@dataclass
class WallGroup:
    reward_number: int
    reward_title: str
    entries: list[WallName] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        """The names shown: neither anonymous nor hidden."""
        return [e.name for e in self.entries if e.name is not None and not e.hidden]

    @property
    def anonymous(self) -> int:
        return sum(1 for e in self.entries if e.name is None or e.hidden)


def wall(db: Database, campaign_id: int) -> list[WallGroup]:
    """The wall's groups, in the order of the returns; names in the order pledged."""
    groups: dict[int, WallGroup] = {}
    with db.read() as session:
        rows = session.execute(
            select(Reward.number, Reward.title, Reward.items, Pledge.id, Pledge.answers,
                   Pledge.wall_hidden_at)
            .join(Pledge, Pledge.reward_id == Reward.id)
            .where(Reward.campaign_id == campaign_id, Pledge.state == "paid")
            .order_by(Reward.number, Pledge.id)
        ).all()
    for number, title, items, pledge_id, answers, hidden_at in rows:
        if not any(item["kind"] == "wall_name" for item in items):
            continue
        group = groups.setdefault(number, WallGroup(number, title))
        name = None if answers.get("wall_anonymous") else answers.get("wall_name")
        group.entries.append(WallName(pledge_id, name, hidden_at is not None))
    return list(groups.values())


def wall_heading(db: Database, campaign_id: int) -> tuple[str, str]:
    """The poster's title and signature: the campaign, and who runs it."""
    with db.read() as session:
        row = session.execute(
            select(Campaign.title, Campaign.seller, Event.committee_name)
            .join(Event, Event.id == Campaign.event_id).where(Campaign.id == campaign_id)
        ).first()
    if row is None:
        raise Refusal("campaign.not_found")
    return row.title, row.seller or row.committee_name


def hide_name(db: Database, pledge_id: int, *, hidden: bool,
              now: datetime | None = None) -> None:
    """Hide (or show again) the wall name of a pledge."""
    with db.write() as session:
        found = session.execute(
            update(Pledge).where(Pledge.id == pledge_id)
            .values(wall_hidden_at=(now or clock.now()) if hidden else None)
            .execution_options(synchronize_session=False).returning(Pledge.id)
        ).first()
    if found is None:
        raise Refusal("pledge.not_found")


def wall_csv(groups: list[WallGroup], encoding: str = "utf-8-sig") -> Iterator[bytes]:
    """For the committee's website: one row per name, then the anonymous count."""
    def rows() -> Iterator[list[object]]:
        yield ["return_number", "return", "name", "anonymous_count"]
        for g in groups:
            for name in g.names:
                yield [g.reward_number, text_cell(g.reward_title), text_cell(name), ""]
            if g.anonymous:
                yield [g.reward_number, text_cell(g.reward_title), ANONYMOUS, g.anonymous]
    return encode_rows(rows(), encoding)
