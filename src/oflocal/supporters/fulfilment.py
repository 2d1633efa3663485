"""Who is owed what, and what is done: thanks on social media (marked posted with the
post's URL), goods (shipping lists for the carriers' label software, marked shipped
with a tracking number) and voucher booklets (collected at the desk, ``pickup.py``), per
campaign; and the supporters' club member list by year.

Only paid pledges are owed anything. Marking is per pledge and item, once (a second
mark corrects the URL or tracking number, keeping when it was first done). A shipping
list checks every address again first (postal code ↔ prefecture, phone) and leaves out,
and names, the ones that would not reach anyone.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from oflocal import clock
from oflocal.crowdfunding.items import booklets_owed, check_answers
from oflocal.crowdfunding.models import Campaign, Pledge, Reward
from oflocal.db.engine import Database
from oflocal.errors import Refusal
from oflocal.events.models import Event
from oflocal.reports.csvout import encode_rows, text_cell
from oflocal.reports.exports import write_xlsx
from oflocal.reports.pdfkit import spooled
from oflocal.supporters.models import ReturnDelivery
from oflocal.supporters.pickup import Collected, collected_of

URL = re.compile(r"https?://[^\s]{3,290}")
TRACKING = re.compile(r"[0-9A-Za-z-]{6,30}")
CARRIERS = ("yamato", "japanpost", "other")


@dataclass(frozen=True)
class Owed:
    pledge_id: int
    reference: str
    name: str
    email: str
    phone: str
    quantity: int
    reward_title: str
    answers: dict[str, Any]
    done: ReturnDelivery | None


def owed(db: Database, campaign_id: int, item: str) -> list[Owed]:
    """Paid pledges of the campaign whose return contains ``item``, in pledge order."""
    with db.read() as session:
        rows = session.execute(
            select(Pledge, Reward.title, Reward.items)
            .join(Reward, Reward.id == Pledge.reward_id)
            .where(Pledge.campaign_id == campaign_id, Pledge.state == "paid")
            .order_by(Pledge.id)).all()
        ids = [p.id for p, _t, items in rows if any(i["kind"] == item for i in items)]
        done = {d.pledge_id: d for d in session.execute(select(ReturnDelivery).where(
            ReturnDelivery.pledge_id.in_(ids), ReturnDelivery.item == item)).scalars()}
        for d in done.values():
            session.expunge(d)
        return [Owed(p.id, p.reference, p.supporter_name, p.supporter_email, p.supporter_phone,
                     p.quantity, title, dict(p.answers), done.get(p.id))
                for p, title, items in rows if p.id in set(ids)]


@dataclass(frozen=True)
class BookletsOwed:
    """A paid pledge owed voucher booklets, and where they were collected if they were
    (collected at the venue desk, ``pickup.py``; never marked here)."""

    owed: Owed
    booklets: int
    collected: list[Collected]


def booklets_to_collect(db: Database, campaign_id: int) -> list[BookletsOwed]:
    rows = owed(db, campaign_id, "voucher_booklets")
    query = (select(Pledge.id, Reward.items).join(Reward, Reward.id == Pledge.reward_id)
             .where(Pledge.id.in_([o.pledge_id for o in rows])))
    with db.read() as session:
        items: dict[int, list[dict[str, Any]]] = {
            pledge_id: list(held) for pledge_id, held in session.execute(query)}
    collected = collected_of(db, [o.pledge_id for o in rows])
    return [BookletsOwed(o, sum(booklets_owed(items[o.pledge_id], o.quantity).values()),
                         collected.get(o.pledge_id, [])) for o in rows]


def mark_done(db: Database, campaign_id: int, pledge_ids: Sequence[int], item: str, *,
              detail: str, actor: str, carrier: str | None = None,
              now: datetime | None = None) -> int:
    """Record ``item`` delivered for each pledge (posted at the URL ``detail``, or shipped
    with the tracking number ``detail``); answers how many. All or nothing: a pledge that
    is not owed the item refuses the whole mark."""
    detail = detail.strip()
    if item == "sns_thanks" and not URL.fullmatch(detail):
        raise Refusal("fulfilment.invalid", detail="the post's address (https://…)")
    if item == "goods":
        if not TRACKING.fullmatch(detail):
            raise Refusal("fulfilment.invalid", detail="a tracking number (6–30 letters or digits)")
        if carrier not in CARRIERS:
            raise Refusal("fulfilment.invalid", detail=f"carrier: one of {', '.join(CARRIERS)}")
    if item not in ("sns_thanks", "goods") or not pledge_ids:
        raise Refusal("fulfilment.invalid", detail="choose at least one supporter")
    owed_ids = {o.pledge_id for o in owed(db, campaign_id, item)}
    strangers = sorted(set(pledge_ids) - owed_ids)
    if strangers:
        raise Refusal("fulfilment.not_owed", pledges=", ".join(map(str, strangers)))
    at = now or clock.now()
    with db.write() as session:
        insert = (sqlite_insert if session.get_bind().dialect.name == "sqlite"
                  else postgresql_insert)
        for pledge_id in sorted(set(pledge_ids)):
            stmt = insert(ReturnDelivery).values(pledge_id=pledge_id, item=item, detail=detail,
                                                 carrier=carrier, done_at=at, actor=actor)
            session.execute(stmt.on_conflict_do_update(
                index_elements=["pledge_id", "item"],
                set_={"detail": detail, "carrier": carrier, "actor": actor}))
    return len(set(pledge_ids))


# --------------------------------------------------------------------------- shipping lists


@dataclass(frozen=True)
class Sender:
    """Who sends the goods, as the label shows it (B2 Cloud needs the committee's Yamato
    customer code and freight number too)."""

    name: str
    postal_code: str
    address: str
    phone: str
    customer_code: str = ""  # 請求先顧客コード, 10–12 digits
    freight_number: str = "01"  # 運賃管理番号, 2 digits


@dataclass(frozen=True)
class ShippingList:
    rows: list[list[str]]
    refused: list[tuple[str, str]]  # (reference, why) left out


def _to_ship(db: Database, campaign_id: int) -> tuple[list[Owed], list[tuple[str, str]]]:
    ready, refused = [], []
    goods_only = [{"kind": "goods", "description": "-"}]
    for o in owed(db, campaign_id, "goods"):
        if o.done is not None:
            continue
        try:
            check_answers(goods_only, {"shipping": o.answers.get("shipping")})
        except Refusal as refusal:
            refused.append((o.reference, refusal.message("ja")))
            continue
        ready.append(o)
    return ready, refused


def _postal(code: str) -> str:
    return f"{code[:3]}-{code[3:]}"


def _phone(e164: str) -> str:
    """+81… as the domestic number the label software wants (0 and digits)."""
    return "0" + e164[3:] if e164.startswith("+81") else e164


B2_HEADER = [
    "お客様管理番号", "送り状種類", "クール区分", "伝票番号", "出荷予定日", "お届け予定日",
    "配達時間帯", "お届け先コード", "お届け先電話番号", "お届け先電話番号枝番",
    "お届け先郵便番号", "お届け先住所", "お届け先アパートマンション名", "お届け先会社・部門１",
    "お届け先会社・部門２", "お届け先名", "お届け先名(ｶﾅ)", "敬称", "ご依頼主コード",
    "ご依頼主電話番号", "ご依頼主電話番号枝番", "ご依頼主郵便番号", "ご依頼主住所",
    "ご依頼主アパートマンション", "ご依頼主名", "ご依頼主名(ｶﾅ)", "品名コード１", "品名１",
    "品名コード２", "品名２", "荷扱い１", "荷扱い２", "記事", "ｺﾚｸﾄ代金引換額（税込)",
    "内消費税額等", "止置き", "営業所コード", "発行枚数", "個数口表示フラグ", "請求先顧客コード",
    "請求先分類コード", "運賃管理番号",
]


def yamato_b2(db: Database, campaign_id: int, sender: Sender, ship_on: date) -> ShippingList:
    """The B2 Cloud 送り状発行データ (発払い, its 42-column layout, a title row)."""
    if not re.fullmatch(r"\d{10,12}", sender.customer_code):
        raise Refusal("fulfilment.invalid", detail="請求先顧客コード: 10–12 digits")
    if not re.fullmatch(r"\d{2}", sender.freight_number):
        raise Refusal("fulfilment.invalid", detail="運賃管理番号: 2 digits")
    ready, refused = _to_ship(db, campaign_id)
    rows = []
    for o in ready:
        to = o.answers["shipping"]
        row = [""] * len(B2_HEADER)
        row[0] = o.reference
        row[1] = "0"  # 発払い
        row[2] = "0"  # cool: none
        row[4] = f"{ship_on:%Y/%m/%d}"
        row[8] = _phone(to["phone"])
        row[10] = _postal(to["postal_code"])
        row[11] = to["prefecture"] + to["address"]
        row[15] = to["recipient"]
        row[17] = "様"
        row[19] = _phone(sender.phone) if sender.phone.startswith("+") else sender.phone
        row[21] = _postal(sender.postal_code.replace("-", ""))
        row[22] = sender.address
        row[24] = sender.name
        row[27] = f"{o.reward_title} ×{o.quantity}"[:25]
        row[39] = sender.customer_code
        row[41] = sender.freight_number
        rows.append(row)
    return ShippingList([B2_HEADER, *rows], refused)


CLICKPOST_HEADER = ["お届け先郵便番号", "お届け先氏名", "お届け先敬称", "お届け先住所1行目",
                    "お届け先住所2行目", "お届け先住所3行目", "お届け先住所4行目", "内容品"]


def _lines(text: str, width: int = 20, count: int = 4) -> list[str]:
    parts = [text[i:i + width] for i in range(0, len(text), width)][:count]
    return parts + [""] * (count - len(parts))


def clickpost(db: Database, campaign_id: int) -> ShippingList:
    """Japan Post's クリックポスト まとめ申込 CSV (the sender is the account holder)."""
    ready, refused = _to_ship(db, campaign_id)
    rows = []
    for o in ready:
        to = o.answers["shipping"]
        address = to["prefecture"] + to["address"]
        if len(address) > 80:
            refused.append((o.reference, "住所が長すぎます（4行×20文字まで）"))
            continue
        rows.append([_postal(to["postal_code"]), to["recipient"][:20], "様", *_lines(address),
                     o.reward_title[:15]])
    return ShippingList([CLICKPOST_HEADER, *rows], refused)


def shipping_csv(sheet: ShippingList) -> Iterator[bytes]:
    """Shift_JIS, as the carriers' software reads it; people's text kept from formulas."""
    return encode_rows(([text_cell(c) for c in row] for row in sheet.rows), "cp932")


# --------------------------------------------------------------------------- the club


@dataclass(frozen=True)
class Member:
    email: str
    name: str
    campaign: str
    event: str
    returning: bool  # pledged in an earlier campaign too (recognised by the address)


def club_members(db: Database, year: int) -> list[Member]:
    """Paid supporters whose return includes the club membership of ``year``."""
    with db.read() as session:
        rows = session.execute(
            select(Pledge.supporter_email, Pledge.supporter_name, Campaign.starts_at,
                   Reward.items, Campaign.title, Event.name)
            .join(Reward, Reward.id == Pledge.reward_id)
            .join(Campaign, Campaign.id == Pledge.campaign_id)
            .join(Event, Event.id == Campaign.event_id)
            .where(Pledge.state == "paid").order_by(Pledge.id)).all()
    first_campaign: dict[str, datetime] = {}
    for email, _name, starts, *_rest in rows:
        first_campaign[email] = min(starts, first_campaign.get(email, starts))
    members: dict[str, Member] = {}
    for email, name, starts, items, title, event in rows:
        if not any(i["kind"] == "club_membership" and i.get("year") == year for i in items):
            continue
        members.setdefault(email, Member(email, name, title, event,
                                         returning=first_campaign[email] < starts))
    return list(members.values())


def deliveries_of(db: Database, pledge_ids: Sequence[int]) -> dict[int, dict[str, ReturnDelivery]]:
    """What has been delivered of each pledge's return (the supporter's page)."""
    found: dict[int, dict[str, ReturnDelivery]] = {}
    with db.read() as session:
        for d in session.execute(select(ReturnDelivery).where(
                ReturnDelivery.pledge_id.in_(list(pledge_ids)))).scalars():
            session.expunge(d)
            found.setdefault(d.pledge_id, {})[d.item] = d
    return found


OWED_HEADER = ("item", "reference", "name", "email", "return", "quantity", "answer",
               "done_at", "detail", "carrier")
OWED_WIDTHS = (11, 12, 18, 28, 24, 8, 40, 16, 36, 10)
MEMBERS_HEADER = ("email", "name", "campaign", "event", "returning")
MEMBERS_WIDTHS = (28, 18, 28, 28, 10)


def owed_rows(db: Database, campaign_id: int) -> Iterator[list[object]]:
    """Every item owed with its state, the header first: the rows of both exports."""
    yield list(OWED_HEADER)
    for item in ("sns_thanks", "goods"):
        for o in owed(db, campaign_id, item):
            answer = (o.answers.get("sns_handle", "") if item == "sns_thanks" else
                      " ".join(str(v) for v in o.answers.get("shipping", {}).values()))
            d = o.done
            yield [item, o.reference, text_cell(o.name), o.email, text_cell(o.reward_title),
                   o.quantity, text_cell(answer),
                   clock.as_tokyo(d.done_at).strftime("%Y-%m-%d %H:%M") if d else "",
                   text_cell(d.detail) if d else "", (d.carrier or "") if d else ""]
    for b in booklets_to_collect(db, campaign_id):
        o, c = b.owed, (b.collected[0] if b.collected else None)
        yield ["voucher_booklets", o.reference, text_cell(o.name), o.email,
               text_cell(o.reward_title), o.quantity, b.booklets,
               clock.as_tokyo(c.collected_at).strftime("%Y-%m-%d %H:%M") if c else "",
               text_cell(c.place) if c else "", ""]


def owed_csv(db: Database, campaign_id: int) -> Iterator[bytes]:
    """Every item owed with its state, for the committee's own lists (UTF-8 with BOM)."""
    return encode_rows(owed_rows(db, campaign_id))


def owed_xlsx(db: Database, campaign_id: int) -> Iterator[bytes]:
    """The same rows as :func:`owed_csv`, as a spreadsheet."""
    return spooled(lambda out: write_xlsx(out, "お届け", owed_rows(db, campaign_id),
                                           OWED_WIDTHS))


def members_rows(members: list[Member]) -> list[list[object]]:
    rows: list[list[object]] = [list(MEMBERS_HEADER)]
    rows += ([m.email, text_cell(m.name), text_cell(m.campaign), text_cell(m.event),
              "yes" if m.returning else ""] for m in members)
    return rows


def members_csv(members: list[Member]) -> Iterator[bytes]:
    return encode_rows(members_rows(members))


def members_xlsx(members: list[Member]) -> Iterator[bytes]:
    """The same rows as :func:`members_csv`, as a spreadsheet."""
    return spooled(lambda out: write_xlsx(out, "サポーターズクラブ", members_rows(members),
                                           MEMBERS_WIDTHS))
