"""Voucher-booklet returns, collected at the venue desk.

A premium voucher booklet is a prepaid payment instrument: given as a return it is
issued when it is collected at the venue, not when the pledge is paid (DOMAIN-JAPAN.md).
The supporter's page shows a QR code holding ``/desk/pickup/{pledge}/{mac}``; the desk
scans it, then the covers of the printed booklets it hands over. :func:`collect` makes
them valid in one write transaction: per programme, a sale paid by the pledge
(:func:`oflocal.vouchers.desk.hand_over`: debit crowdfunding income with the price and
the premium fund with the premium, credit voucher liability with the face) and a
``booklet_pickup`` row, unique per pledge and programme, so a return is collected at
most once and a second scan is refused with when, where and by whom.

The tickets carry their programme's printed issue date and last day of use, checked
against the 6-month rule when the programme was set up. Handing over is refused before
the printed issue date and after the last day, so counted from the day of handover the
validity is never longer than printed: the rule holds for every booklet handed over.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from oflocal import clock
from oflocal.crowdfunding.items import booklets_owed
from oflocal.crowdfunding.links import pledge_number
from oflocal.crowdfunding.models import Campaign, Pledge, Reward
from oflocal.db.engine import Database
from oflocal.errors import Refusal
from oflocal.idempotency.store import IdempotencyKey, Outcome, run_once
from oflocal.supporters.models import BookletPickup
from oflocal.vouchers.codes import CodeSigner
from oflocal.vouchers.desk import hand_over
from oflocal.vouchers.lookup import authentic_codes
from oflocal.vouchers.models import Booklet, Programme, Sale

SCANNED = re.compile(r"/desk/pickup/(\d{1,12})/([A-Za-z0-9_-]{10,40})")


def pickup_token(secret: bytes, pledge_id: int) -> str:
    mac = hmac.new(secret, f"booklet-pickup:{pledge_id}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()[:16]).decode().rstrip("=")


def pickup_path(secret: bytes, pledge_id: int) -> str:
    return f"/desk/pickup/{pledge_id}/{pickup_token(secret, pledge_id)}"


def read_scan(text: str) -> tuple[int, str] | None:
    """The pledge and MAC in what a scanner typed (the whole URL, or just its path)."""
    found = SCANNED.search(text.strip())
    return (int(found.group(1)), found.group(2)) if found else None


@dataclass(frozen=True)
class Owed:
    programme_id: int
    programme: str
    count: int
    face_value: int
    issue_date: date
    valid_until: date


@dataclass(frozen=True)
class Collected:
    programme_id: int
    count: int
    place: str
    collected_at: datetime
    collected_by: str
    receipt_number: str


@dataclass(frozen=True)
class PickupView:
    """What the desk sees after scanning: who, what is owed, what was collected, and
    why it cannot be handed over now (``blocker``), if it cannot."""

    pledge_id: int
    number: str  # P-000123, as on the supporter's page and e-mails
    name: str
    reference: str
    campaign_title: str
    owed: list[Owed]
    collected: list[Collected]
    blocker: Refusal | None

    @property
    def total(self) -> int:
        return sum(o.count for o in self.owed)


def _check(secret: bytes, pledge_id: int, token: str) -> None:
    if not hmac.compare_digest(token.encode(), pickup_token(secret, pledge_id).encode()):
        raise Refusal("pickup.code_invalid")


def _collected(session: Session, pledge_ids: list[int]) -> dict[int, list[Collected]]:
    rows = session.execute(
        select(BookletPickup, Sale.receipt_number).join(Sale, Sale.id == BookletPickup.sale_id)
        .where(BookletPickup.pledge_id.in_(pledge_ids)).order_by(BookletPickup.id)).all()
    found: dict[int, list[Collected]] = {}
    for p, receipt in rows:
        found.setdefault(p.pledge_id, []).append(Collected(
            p.programme_id, p.booklet_count, p.place, p.collected_at, p.collected_by, receipt))
    return found


def _blocker(pledge: Pledge, campaign: Campaign, owed: list[Owed], done: list[Collected],
             today: date) -> Refusal | None:
    if not owed:
        return Refusal("pickup.no_booklets")
    if done:
        first = done[0]
        return Refusal("pickup.already_collected", when=first.collected_at, place=first.place,
                       by=first.collected_by)
    if pledge.state != "paid":
        return Refusal("pickup.not_paid")
    # Decided with money moved to income: it succeeded (a failed one moves nothing).
    if campaign.decided_at is None or campaign.moved_to_income <= 0:
        return Refusal("pickup.campaign_undecided")
    for o in owed:
        if today < o.issue_date:
            return Refusal("pickup.before_issue", date=o.issue_date)
        if today > o.valid_until:
            return Refusal("pickup.expired", date=o.valid_until)
    return None


def _view(session: Session, pledge_id: int, now: datetime,
          lock: bool = False) -> tuple[PickupView, Pledge]:
    query = select(Pledge).where(Pledge.id == pledge_id)
    pledge = session.execute(query.with_for_update() if lock else query).scalar_one_or_none()
    if pledge is None:
        raise Refusal("pickup.code_invalid")
    reward = session.get(Reward, pledge.reward_id)
    campaign = session.get(Campaign, pledge.campaign_id)
    assert reward is not None and campaign is not None
    counts = booklets_owed(reward.items, pledge.quantity)
    programmes = {p.id: p for p in session.execute(
        select(Programme).where(Programme.id.in_(counts))).scalars()}
    owed = [Owed(pid, programmes[pid].name, n, programmes[pid].face_value,
                 programmes[pid].issue_date, programmes[pid].valid_until)
            for pid, n in sorted(counts.items()) if pid in programmes]
    done = _collected(session, [pledge_id]).get(pledge_id, [])
    blocker = _blocker(pledge, campaign, owed, done, clock.tokyo_date(now))
    return PickupView(pledge.id, pledge_number(pledge.id), pledge.supporter_name,
                      pledge.reference, campaign.title, owed, done, blocker), pledge


def look_up(db: Database, secret: bytes, pledge_id: int, token: str, *,
            now: datetime | None = None) -> PickupView:
    """The scanned pickup code's pledge; ``pickup.code_invalid`` for a forged one."""
    _check(secret, pledge_id, token)
    with db.read() as session:
        return _view(session, pledge_id, now or clock.now())[0]


def collect(db: Database, signer: CodeSigner, secret: bytes, pledge_id: int, token: str, *,
            codes: list[str], place: str, actor: str, idem: IdempotencyKey | None = None,
            now: datetime | None = None) -> Outcome:
    """Hand over the booklets of a pledge's return: all of them at once, or nothing."""
    _check(secret, pledge_id, token)
    at = now or clock.now()
    where = place.strip()
    if not where or len(where) > 100:
        raise Refusal("pickup.place_required")

    def work(session: Session) -> dict[str, Any]:
        view, pledge = _view(session, pledge_id, at, lock=True)  # one desk at a time
        if view.blocker is not None:
            raise view.blocker
        canonical = authentic_codes(signer, codes, "B", limit=view.total)
        programme_of = dict(session.execute(
            select(Booklet.code, Booklet.programme_id).where(Booklet.code.in_(canonical))).all())
        for code in canonical:
            if code not in programme_of:
                raise Refusal("booklet.unknown", code=code)
            if programme_of[code] not in {o.programme_id for o in view.owed}:
                raise Refusal("booklet.other_programme", code=code)
        receipts = []
        for o in view.owed:
            mine = [c for c in canonical if programme_of[c] == o.programme_id]
            if len(mine) != o.count:
                raise Refusal("pickup.wrong_booklets", programme=o.programme,
                              expected=o.count, got=len(mine))
            programme = session.get(Programme, o.programme_id)
            assert programme is not None
            sale = hand_over(session, programme, mine, method="pledge",
                             paid_from="crowdfunding_income", kind="booklet_pickup",
                             actor=actor, now=at)
            session.add(BookletPickup(pledge_id=pledge.id, programme_id=o.programme_id,
                                      sale_id=sale.id, booklet_count=o.count, place=where,
                                      collected_at=at, collected_by=actor))
            receipts.append({"programme_id": o.programme_id, "booklets": mine,
                             "receipt_number": sale.receipt_number,
                             "face_total": sale.face_total})
        session.flush()  # the unique key: a parallel pickup of the same pledge fails here
        return {"pledge_id": pledge.id, "reference": pledge.reference, "place": where,
                "collected_at": at.isoformat(), "collected_by": actor, "handed_over": receipts}

    return run_once(db, idem, work)


def collected_of(db: Database, pledge_ids: list[int]) -> dict[int, list[Collected]]:
    """What each pledge collected at the desk (the supporter's page shows it)."""
    if not pledge_ids:
        return {}
    with db.read() as session:
        return _collected(session, pledge_ids)
