"""What the committee and the treasurer see of a campaign: the list per event, one
campaign with its returns and figures, the pledges (filtered, exported as CSV or XLSX),
the refunds, and what deciding the outcome now would do. Read-only: every change is a
call of campaigns.py, payments.py, outcome.py or refunds.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from oflocal.clock import as_tokyo
from oflocal.crowdfunding.items import ITEM_NAMES
from oflocal.crowdfunding.legal import LegalItem, missing_legal_items
from oflocal.crowdfunding.models import (
    DECIDED,
    DUPLICATE,
    PAYMENT_METHODS,
    PLEDGE_STATES,
    REFUND_STATES,
    Campaign,
    Payment,
    Pledge,
    Refund,
    Reward,
)
from oflocal.crowdfunding.refunds import STATE_NAMES as REFUND_STATE_NAMES
from oflocal.db.engine import Database
from oflocal.errors import Refusal
from oflocal.reports.csvout import encode_rows, text_cell
from oflocal.reports.exports import write_xlsx
from oflocal.reports.pdfkit import spooled

CAMPAIGN_STATE_NAMES = {
    "draft": ("下書き", "draft"),
    "live": ("公開中", "live"),
    "waiting_payments": ("入金待ち", "waiting for payments"),
    "succeeded": ("達成", "succeeded"),
    "failed": ("不成立", "failed"),
    "closed": ("終了", "closed"),
}
PLEDGE_STATE_NAMES = {
    "reserved": ("入金待ち", "reserved"),
    "paid": ("入金済み", "paid"),
    "expired": ("期限切れ", "expired"),
    "cancelled": ("取消", "cancelled"),
    "refund_due": ("返金待ち", "to refund"),
    "refunded": ("返金済み", "refunded"),
}
METHOD_NAMES = {
    "bank_transfer": ("銀行振込", "bank transfer"),
    "card": ("クレジットカード", "card"),
    "konbini": ("コンビニ払い", "konbini"),
    "cash": ("現金", "cash"),
}
PAGE_SIZE = 200


def name(names: dict[str, tuple[str, str]], key: str, lang: str) -> str:
    ja, en = names.get(key, (key, key))
    return ja if lang == "ja" else en


def campaign_or_refusal(session: Session, campaign_id: int) -> Campaign:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise Refusal("campaign.not_found")
    return campaign


@dataclass(frozen=True)
class Figures:
    """Money and counts of a campaign now."""

    raised: int  # support of paid pledges (counts towards the goal)
    paid_total: int  # what paid pledges paid (with shipping)
    fees: int  # what providers kept of its payments
    supporters: int  # paid pledges
    reserved: int  # pledges waiting for their payment
    reserved_total: int
    by_state: dict[str, int]

    def percent(self, goal: int) -> int:
        return self.raised * 100 // goal if goal else 0


def figures(session: Session, campaign_id: int) -> Figures:
    rows = session.execute(
        select(Pledge.state, func.count(), func.coalesce(func.sum(Pledge.amount), 0),
               func.coalesce(func.sum(Pledge.total), 0))
        .where(Pledge.campaign_id == campaign_id).group_by(Pledge.state)
    ).all()
    by = {state: (int(n), int(amount), int(total)) for state, n, amount, total in rows}
    fees = int(session.execute(select(func.coalesce(func.sum(Payment.fee), 0))
                               .where(Payment.campaign_id == campaign_id)).scalar_one())
    paid = by.get("paid", (0, 0, 0))
    reserved = by.get("reserved", (0, 0, 0))
    return Figures(raised=paid[1], paid_total=paid[2], fees=fees, supporters=paid[0],
                   reserved=reserved[0], reserved_total=reserved[2],
                   by_state={s: by.get(s, (0, 0, 0))[0] for s in PLEDGE_STATES})


def campaign_rows(session: Session, event_id: int) -> list[dict[str, Any]]:
    """The event's campaigns, newest first, with their figures."""
    campaigns = session.execute(
        select(Campaign).where(Campaign.event_id == event_id).order_by(Campaign.id.desc())
    ).scalars().all()
    return [{"campaign": c, "figures": figures(session, c.id)} for c in campaigns]


@dataclass(frozen=True)
class RewardView:
    reward: Reward
    left: int | None  # None: unlimited
    paid: int  # quantity paid
    reserved: int  # quantity reserved
    items_ja: list[str]
    items_en: list[str]

    @property
    def sold_out(self) -> bool:
        return self.left == 0


def rewards_of(session: Session, campaign_id: int) -> list[RewardView]:
    rewards = session.execute(select(Reward).where(Reward.campaign_id == campaign_id)
                              .order_by(Reward.number)).scalars().all()
    held = {(rid, state): int(q) for rid, state, q in session.execute(
        select(Pledge.reward_id, Pledge.state, func.sum(Pledge.quantity))
        .where(Pledge.campaign_id == campaign_id, Pledge.state.in_(("reserved", "paid")))
        .group_by(Pledge.reward_id, Pledge.state))}
    views = []
    for r in rewards:
        left = None if r.quantity_limit is None else max(r.quantity_limit - r.claimed, 0)
        views.append(RewardView(r, left, held.get((r.id, "paid"), 0),
                                held.get((r.id, "reserved"), 0),
                                [_item_text(i, "ja") for i in r.items],
                                [_item_text(i, "en") for i in r.items]))
    return views


def _item_text(item: dict[str, Any], lang: str) -> str:
    kind = str(item["kind"])
    ja, en = ITEM_NAMES.get(kind, (kind, kind))
    text = ja if lang == "ja" else en
    if item["kind"] == "goods":
        sep = "：" if lang == "ja" else ": "
        return f"{text}{sep}{item['description']}"
    if item["kind"] == "voucher_booklets":
        return f"{text} ×{item['count']}"
    if item["kind"] == "club_membership":
        return f"{text} {item['year']}"
    if item["kind"] == "tour_invite" and item.get("note"):
        return f"{text}（{item['note']}）" if lang == "ja" else f"{text} ({item['note']})"
    return text


@dataclass(frozen=True)
class CampaignView:
    campaign: Campaign
    rewards: list[RewardView]
    missing: list[LegalItem]
    figures: Figures


def campaign_view(session: Session, campaign_id: int) -> CampaignView:
    campaign = campaign_or_refusal(session, campaign_id)
    rewards = rewards_of(session, campaign_id)
    return CampaignView(campaign, rewards, missing_legal_items(campaign),
                        figures(session, campaign_id))


def going_live_blockers(view: CampaignView, now: datetime) -> list[tuple[str, str]]:
    """Everything that stops going live now, named (ja, en); empty when it may."""
    blockers = [(f"特定商取引法に基づく表記：{m.ja}", f"Legal notice: {m.en}")
                for m in view.missing]
    if not view.rewards:
        blockers.append(("リターンが1つもありません", "There is no return yet"))
    if view.campaign.ends_at <= now:
        blockers.append(("終了日時を過ぎています", "The end date has passed"))
    return blockers


# ------------------------------------------------------------------------- the outcome


@dataclass(frozen=True)
class OutcomePreview:
    """What deciding the outcome now would do (outcome.py decides; this only reads)."""

    can_decide: bool
    reason: str  # why not: "not_live", "not_ended", "waiting", "decided"; "" when it can
    success: bool
    raised: int
    goal: int
    paid_total: int
    fees: int
    income: int  # paid totals less fees (success)
    refunds: int  # paid pledges whose money goes back (failure)
    refund_total: int
    waiting: int  # reservations still inside their payment deadline
    last_deadline: datetime | None


def outcome_preview(session: Session, campaign_id: int, now: datetime) -> OutcomePreview:
    campaign = campaign_or_refusal(session, campaign_id)
    f = figures(session, campaign_id)
    last = session.execute(
        select(func.max(Pledge.payment_deadline))
        .where(Pledge.campaign_id == campaign_id, Pledge.state == "reserved",
               Pledge.payment_deadline > now)
    ).scalar_one()
    waiting = int(session.execute(
        select(func.count()).where(Pledge.campaign_id == campaign_id,
                                   Pledge.state == "reserved", Pledge.payment_deadline > now)
    ).scalar_one())
    success = campaign.funding_model == "all_in" or f.raised >= campaign.goal
    if campaign.state in DECIDED:
        reason = "decided"
    elif campaign.state == "draft":
        reason = "not_live"
    elif now < campaign.ends_at:
        reason = "not_ended"
    elif waiting:
        reason = "waiting"
    else:
        reason = ""
    return OutcomePreview(
        can_decide=reason in ("", "waiting"), reason=reason, success=success,
        raised=f.raised, goal=campaign.goal, paid_total=f.paid_total, fees=f.fees,
        income=f.paid_total - f.fees, refunds=0 if success else f.supporters,
        refund_total=0 if success else f.paid_total, waiting=waiting, last_deadline=last)


# ------------------------------------------------------------------------- pledges


@dataclass(frozen=True)
class PledgeFilter:
    state: str | None = None
    reward_id: int | None = None
    method: str | None = None
    q: str = ""

    def check(self) -> PledgeFilter:
        if self.state and self.state not in PLEDGE_STATES:
            raise Refusal("request.invalid", detail=f"state: one of {', '.join(PLEDGE_STATES)}")
        if self.method and self.method not in PAYMENT_METHODS:
            raise Refusal("request.invalid",
                          detail=f"method: one of {', '.join(PAYMENT_METHODS)}")
        return self


@dataclass
class PledgeRow:
    pledge: Pledge
    reward_number: int
    reward_title: str
    payment_source: str | None
    payment_received_at: datetime | None
    refund_id: int | None
    refund_state: str | None
    extra: dict[str, Any] = field(default_factory=dict)


def _pledge_query(campaign_id: int, f: PledgeFilter) -> Any:
    query = (
        select(Pledge, Reward.number, Reward.title, Payment.source, Payment.received_at,
               Refund.id, Refund.state)
        .join(Reward, Reward.id == Pledge.reward_id)
        # The pledge's own payment and refund (a duplicate payment's are on the refunds list)
        .outerjoin(Payment, (Payment.pledge_id == Pledge.id) & Payment.duplicate.is_(False))
        .outerjoin(Refund, (Refund.pledge_id == Pledge.id) & (Refund.reason != DUPLICATE))
        .where(Pledge.campaign_id == campaign_id)
    )
    if f.state:
        query = query.where(Pledge.state == f.state)
    if f.reward_id:
        query = query.where(Pledge.reward_id == f.reward_id)
    if f.method:
        query = query.where(Pledge.payment_method == f.method)
    text = f.q.strip()
    if text:
        like = f"%{text.lower()}%"
        query = query.where(or_(func.lower(Pledge.supporter_name).like(like),
                                func.lower(Pledge.supporter_email).like(like),
                                Pledge.reference.like(f"%{text}%"),
                                Pledge.supporter_phone.like(f"%{text}%")))
    return query.order_by(Pledge.id.desc())


def list_pledges(session: Session, campaign_id: int, f: PledgeFilter, *,
                 limit: int = PAGE_SIZE, offset: int = 0) -> tuple[list[PledgeRow], int]:
    """Pledges matching the filter, newest first, and how many match in all."""
    campaign_or_refusal(session, campaign_id)
    f.check()
    query = _pledge_query(campaign_id, f)
    total = int(session.execute(select(func.count()).select_from(query.subquery()))
                .scalar_one())
    rows = [PledgeRow(*row) for row in session.execute(query.limit(limit).offset(offset))]
    return rows, total


EXPORT_HEADER = ("受付番号", "申込日時", "状態", "リターン番号", "リターン", "数量", "支援額",
                 "送料", "合計", "支払方法", "支払期限", "入金日時", "入金先", "返金状態",
                 "お名前", "メール", "電話", "SNS", "ウォール掲載名", "送付先氏名", "郵便番号",
                 "都道府県", "住所", "送付先電話")


def _when(moment: datetime | None) -> str:
    return as_tokyo(moment).strftime("%Y-%m-%d %H:%M") if moment else ""


def export_rows(db: Database, campaign_id: int, f: PledgeFilter) -> Iterator[list[object]]:
    """Every pledge matching the filter, the header first (oldest first)."""
    yield list(EXPORT_HEADER)
    with db.read() as session:
        campaign_or_refusal(session, campaign_id)
        f.check()
        query = _pledge_query(campaign_id, f).order_by(None).order_by(Pledge.id)
        for pledge, number, title, source, received, _rid, refund_state in session.execute(
                query.execution_options(yield_per=1000)):
            answers = pledge.answers or {}
            ship = answers.get("shipping") or {}
            wall = "（匿名）" if answers.get("wall_anonymous") else answers.get("wall_name", "")
            yield [
                pledge.reference, _when(pledge.created_at),
                name(PLEDGE_STATE_NAMES, pledge.state, "ja"), number, text_cell(title),
                pledge.quantity, pledge.amount, pledge.shipping, pledge.total,
                name(METHOD_NAMES, pledge.payment_method, "ja"), _when(pledge.payment_deadline),
                _when(received), source or "",
                name(REFUND_STATE_NAMES, refund_state, "ja") if refund_state else "",
                text_cell(pledge.supporter_name), text_cell(pledge.supporter_email),
                pledge.supporter_phone, text_cell(answers.get("sns_handle", "")),
                text_cell(wall), text_cell(ship.get("recipient", "")),
                ship.get("postal_code", ""), ship.get("prefecture", ""),
                text_cell(ship.get("address", "")), ship.get("phone", ""),
            ]


def pledges_csv(db: Database, campaign_id: int, f: PledgeFilter,
                encoding: str = "utf-8-sig") -> Iterator[bytes]:
    return encode_rows(export_rows(db, campaign_id, f), encoding)


def pledges_xlsx(db: Database, campaign_id: int, f: PledgeFilter) -> Iterator[bytes]:
    widths = (10, 17, 10, 6, 24, 6, 10, 8, 10, 14, 17, 17, 8, 12, 16, 28, 15, 16, 16, 16,
              10, 10, 36, 15)
    return spooled(lambda out: write_xlsx(out, "支援一覧", export_rows(db, campaign_id, f),
                                           widths))


def check_export(db: Database, campaign_id: int, f: PledgeFilter) -> str:
    """Refuses before a download starts (a refusal inside a stream would cut the file);
    the campaign's slug, for the file name."""
    f.check()
    with db.read() as session:
        return campaign_or_refusal(session, campaign_id).slug


# ------------------------------------------------------------------------- refunds


def list_refunds(session: Session, campaign_id: int,
                 state: str | None = None) -> list[tuple[Refund, Pledge]]:
    campaign_or_refusal(session, campaign_id)
    if state and state not in REFUND_STATES:
        raise Refusal("request.invalid", detail=f"state: one of {', '.join(REFUND_STATES)}")
    query = (select(Refund, Pledge).join(Pledge, Pledge.id == Refund.pledge_id)
             .where(Refund.campaign_id == campaign_id).order_by(Refund.id))
    if state:
        query = query.where(Refund.state == state)
    return [(row[0], row[1]) for row in session.execute(query)]
