"""A campaign's report for the committee's meeting: the money (pledged, paid, refunded,
fees, net, and paid by day), the supporters (new and returning, by return, by prefecture
from the postal codes they gave) and how far the returns are delivered.

Read-only, from the same rows as the ledger's entries; ``oflocal ledger verify``
checks those agree.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import func, select

from oflocal import clock
from oflocal.crowdfunding.models import Campaign, Payment, Pledge, Refund, Reward
from oflocal.db.engine import Database
from oflocal.errors import Refusal
from oflocal.supporters.models import BookletPickup, ReturnDelivery, TourBooking

REFUNDED = ("sent", "confirmed", "done_by_hand")
LIVE = ("reserved", "paid", "refund_due", "refunded")  # pledges that were not withdrawn
UNKNOWN_PREFECTURE = "（住所なし）"


@dataclass
class CampaignReport:
    title: str
    goal: int
    state: str
    made_on: date
    pledged: int = 0  # every pledge not cancelled or expired, shipping included
    paid: int = 0
    refunded: int = 0
    fees: int = 0
    by_day: list[tuple[date, int]] = field(default_factory=list)  # paid, by Tokyo day
    supporters: int = 0
    returning: int = 0
    by_return: list[tuple[str, int, int]] = field(default_factory=list)  # title, pledges, yen
    by_prefecture: list[tuple[str, int]] = field(default_factory=list)
    delivery: list[tuple[str, int, int]] = field(default_factory=list)  # item, done, owed

    @property
    def net(self) -> int:
        return self.paid - self.refunded - self.fees

    @property
    def new(self) -> int:
        return self.supporters - self.returning


def campaign_report(db: Database, campaign_id: int, *, now: datetime | None = None
                    ) -> CampaignReport:
    with db.read() as session:
        campaign = session.get(Campaign, campaign_id)
        if campaign is None:
            raise Refusal("campaign.not_found")
        r = CampaignReport(campaign.title, campaign.goal, campaign.state,
                           clock.tokyo_date(now or clock.now()))
        r.pledged = session.execute(select(func.coalesce(func.sum(Pledge.total), 0)).where(
            Pledge.campaign_id == campaign_id, Pledge.state.in_(LIVE))).scalar_one()
        payments = session.execute(select(Payment.amount, Payment.fee, Payment.received_at)
                                   .where(Payment.campaign_id == campaign_id)).all()
        r.paid = sum(p.amount for p in payments)
        r.fees = sum(p.fee for p in payments)
        per_day: Counter[date] = Counter()
        for p in payments:
            per_day[clock.tokyo_date(p.received_at)] += p.amount
        r.by_day = sorted(per_day.items())
        r.refunded = session.execute(select(func.coalesce(func.sum(Refund.amount), 0)).where(
            Refund.campaign_id == campaign_id, Refund.state.in_(REFUNDED))).scalar_one()
        paid = session.execute(
            select(Pledge.supporter_email, Pledge.answers, Pledge.total, Reward.number,
                   Reward.title, Reward.items, Pledge.id)
            .join(Reward, Reward.id == Pledge.reward_id)
            .where(Pledge.campaign_id == campaign_id, Pledge.state == "paid")
            .order_by(Reward.number)).all()
        emails = {row.supporter_email for row in paid}
        earlier = set(session.execute(
            select(Pledge.supporter_email).join(Campaign, Campaign.id == Pledge.campaign_id)
            .where(Pledge.state.in_(("paid", "refunded", "refund_due")),
                   Campaign.starts_at < campaign.starts_at,
                   Pledge.supporter_email.in_(emails))).scalars())
        delivered = Counter(session.execute(
            select(ReturnDelivery.item).join(Pledge, Pledge.id == ReturnDelivery.pledge_id)
            .where(Pledge.campaign_id == campaign_id)).scalars())
        toured = session.execute(
            select(func.count(TourBooking.id)).join(Pledge, Pledge.id == TourBooking.pledge_id)
            .where(Pledge.campaign_id == campaign_id)).scalar_one()
        collected = session.execute(
            select(func.count(func.distinct(BookletPickup.pledge_id)))
            .join(Pledge, Pledge.id == BookletPickup.pledge_id)
            .where(Pledge.campaign_id == campaign_id)).scalar_one()
    r.supporters, r.returning = len(emails), len(emails & earlier)
    returns: dict[int, tuple[str, int, int]] = {}
    prefectures: Counter[str] = Counter()
    owed: Counter[str] = Counter()
    for row in paid:
        title, count, amount = returns.get(row.number, (row.title, 0, 0))
        returns[row.number] = (title, count + 1, amount + row.total)
        prefectures[row.answers.get("shipping", {}).get("prefecture") or UNKNOWN_PREFECTURE] += 1
        for kind in {item["kind"] for item in row.items}:
            owed[kind] += 1
    r.by_return = list(returns.values())
    r.by_prefecture = prefectures.most_common()
    done = {"tour_invite": toured, "voucher_booklets": collected}
    r.delivery = [(kind, done.get(kind, delivered[kind]), owed[kind])
                  for kind in ("sns_thanks", "goods", "tour_invite", "voucher_booklets")
                  if owed[kind]]
    return r


def report_rows(r: CampaignReport) -> Iterator[list[object]]:
    """The report as one sheet of rows (CSV, XLSX): a section name in the first column."""
    yield ["section", "item", "value", "count"]
    for name, value in (("pledged", r.pledged), ("paid", r.paid), ("refunded", r.refunded),
                        ("fees", r.fees), ("net", r.net), ("goal", r.goal)):
        yield ["money", name, value, ""]
    for day, amount in r.by_day:
        yield ["paid_by_day", day.isoformat(), amount, ""]
    yield ["supporters", "all", "", r.supporters]
    yield ["supporters", "new", "", r.new]
    yield ["supporters", "returning", "", r.returning]
    for title, count, amount in r.by_return:
        yield ["by_return", title, amount, count]
    for prefecture, count in r.by_prefecture:
        yield ["by_prefecture", prefecture, "", count]
    for item, done, owed in r.delivery:
        yield ["delivered", item, done, owed]
