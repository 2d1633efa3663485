"""A realistic demo event, used by ``make run`` (when the database is empty) and tests.

Forty workshops of a small manufacturing town, a ¥2,500-for-¥3,000 programme in six
¥500 tickets, a first print batch, staff logins and workshop PINs.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from oflocal import clock
from oflocal.db.engine import Database
from oflocal.events.invoice import with_check_digit
from oflocal.events.models import Event
from oflocal.events.setup import (
    ProgrammeTerms,
    WorkshopDetails,
    add_workshop,
    create_event,
    create_programme,
)
from oflocal.vouchers.codes import CodeSigner
from oflocal.vouchers.issue import add_booklets
from oflocal.vouchers.models import Ticket

# (name, kana for the bank, craft, tools)
WORKSHOPS: list[tuple[str, str, str, str]] = [
    ("大野木工所", "オオノモツコウシヨ", "木工・家具", "鉋、鑿、昇降盤"),
    ("高岡銅器 山本鋳造", "ヤマモトチユウゾウ", "銅器鋳造", "砂型、坩堝"),
    ("鈴木漆器店", "スズキシツキテン", "漆塗り", "刷毛、研ぎ炭"),
    ("はさみ工房 刃心", "ハシン", "刃物・はさみ", "鍛造炉、砥石"),
    ("丸七織物", "マルシチオリモノ", "織物", "力織機"),
    ("佐藤鉄工", "サトウテツコウ", "金属加工", "旋盤、フライス盤"),
    ("ガラス工房 灯", "ガラスコウボウアカリ", "吹きガラス", "溶解炉、吹き竿"),
    ("中村製紙所", "ナカムラセイシシヨ", "和紙", "漉き舟、簀桁"),
    ("陶房 土の音", "トウボウツチノオト", "陶芸", "電動ろくろ、登り窯"),
    ("竹細工 竹や", "タケヤ", "竹細工", "竹割り鉈"),
    ("小林染工場", "コバヤシセンコウジヨウ", "染色", "染め釜"),
    ("錫工房 すずの木", "スズノキ", "錫器", "ろくろ、鋳型"),
    ("渡辺革工房", "ワタナベカワコウボウ", "革製品", "菱目打ち、漉き機"),
    ("伊藤金網", "イトウカナアミ", "手編み金網", "ペンチ、型"),
    ("加藤瓦店", "カトウカワラテン", "瓦", "プレス機、窯"),
    ("吉田帽子製作所", "ヨシダボウシセイサクシヨ", "帽子", "ミシン、木型"),
    ("山田刺繍", "ヤマダシシユウ", "刺繍", "多頭刺繍機"),
    ("松本ボタン", "マツモトボタン", "貝ボタン", "くり抜き機"),
    ("井上タオル", "イノウエタオル", "タオル", "ジャカード織機"),
    ("木村箸店", "キムラハシテン", "箸", "削り台"),
    ("林鍛冶店", "ハヤシカジテン", "鍛冶", "スプリングハンマー"),
    ("清水研磨", "シミズケンマ", "金属研磨", "バフ機"),
    ("山口印刷", "ヤマグチインサツ", "活版印刷", "活版印刷機"),
    ("森の家具 森田", "モリタ", "家具", "NCルーター"),
    ("池田眼鏡", "イケダメガネ", "眼鏡", "研磨機、ロー付け"),
    ("橋本鞄", "ハシモトカバン", "鞄", "工業用ミシン"),
    ("石川石材", "イシカワセキザイ", "石材", "ダイヤモンドカッター"),
    ("前田桶店", "マエダオケテン", "桶・樽", "銑、鉋"),
    ("藤田ニット", "フジタニツト", "ニット", "横編み機"),
    ("岡田紙器", "オカダシキ", "紙箱", "打ち抜き機"),
    ("後藤ろうそく", "ゴトウロウソク", "和ろうそく", "芯巻き台"),
    ("長谷川畳店", "ハセガワタタミテン", "畳", "畳縫い機"),
    ("村上提灯", "ムラカミチヨウチン", "提灯", "型、刷毛"),
    ("近藤ブラシ", "コンドウブラシ", "ブラシ", "植毛機"),
    ("坂本時計修理", "サカモトトケイシユウリ", "時計", "ピンセット、旋盤"),
    ("遠藤こけし", "エンドウコケシ", "こけし", "木地挽きろくろ"),
    ("青木組紐", "アオキクミヒモ", "組紐", "丸台、高台"),
    ("藤井醸造", "フジイジヨウゾウ", "醤油", "木桶"),
    ("西村硝子", "ニシムラガラス", "切子", "グラインダー"),
    ("福田鋳物", "フクダイモノ", "鋳物", "キュポラ"),
]
BANKS = [("0001", "001"), ("0005", "001"), ("0009", "001"), ("0152", "001"), ("0152", "002")]

STAFF_LOGINS = [
    ("admin", "事務局長 Admin", "admin", "admin-pass-2026"),
    ("desk", "販売窓口 Desk", "desk", "desk-pass-2026"),
    ("treasurer", "会計 Treasurer", "treasurer", "treasurer-pass-2026"),
]
DEMO_PIN = "1234"


@dataclass
class Scenario:
    event_id: int
    programme_id: int
    workshop_ids: list[int]
    workshop_codes: list[str]
    booklet_codes: list[str] = field(default_factory=list)


def build_event(
    session: Session,
    signer: CodeSigner,
    *,
    slug: str = "demo",
    workshops: int = 40,
    booklets: int = 200,
    today: date | None = None,
    now: datetime | None = None,
    premium_budget: int = 5_000_000,
) -> Scenario:
    """An event running today ± a few days, with workshops, a programme and a print batch."""
    at = now or clock.now()
    day = today or clock.tokyo_date(at)
    event = create_event(
        session,
        slug=slug,
        name="ものづくりのまち オープンファクトリー 2026",
        committee_name="オープンファクトリー実行委員会",
        starts_on=day,
        ends_on=day + timedelta(days=3),
        committee_address="富山県高岡市御旅屋町101",
        committee_phone="0766-00-0000",
        invoice_number=with_check_digit("400012345678"),  # made up, valid check digit
    )
    ids, codes = [], []
    for i in range(workshops):
        name, kana, craft, tools = WORKSHOPS[i % len(WORKSHOPS)]
        if i >= len(WORKSHOPS):
            name = f"{name} {i // len(WORKSHOPS) + 1}号館"
        bank, branch = BANKS[i % len(BANKS)]
        workshop = add_workshop(
            session,
            event.id,
            WorkshopDetails(
                code=f"W{i + 1:02d}",
                name=name,
                name_kana=kana,
                craft=craft,
                introduction=f"{craft}の工房。{tools}を使った仕事を間近で見られます。",
                tools=tools,
                contact=f"0766-{i + 10:02d}-0000",
                bank_code=bank,
                branch_code=branch,
                account_type=1,
                account_number=f"{1234500 + i:07d}",
                account_holder_kana=kana,
                # Made-up numbers with a valid check digit (events.invoice).
                invoice_number=with_check_digit(f"{100012340000 + i:012d}") if i % 3 == 0
                else None,
            ),
        )
        ids.append(workshop.id)
        codes.append(workshop.code)
    programme, _ = create_programme(
        session,
        event.id,
        ProgrammeTerms(
            name="プレミアム付き工房めぐりチケット",
            price=2500,
            face_value=3000,
            denominations=[500] * 6,
            sales_starts_at=at - timedelta(days=1),
            sales_ends_at=at + timedelta(days=3),
            issue_date=day - timedelta(days=1),
            valid_from=day - timedelta(days=1),
            valid_until=day + timedelta(days=3),
            premium_budget=premium_budget,
            max_booklets_per_sale=5,
        ),
    )
    scenario = Scenario(event.id, programme.id, ids, codes)
    if booklets:
        batch = add_booklets(session, signer, programme.id, booklets, now=at, actor="demo")
        scenario.booklet_codes = [
            signer.make("B", programme.id, batch.first_booklet_serial + i) for i in range(booklets)
        ]
    return scenario


def add_activity(db: Database, signer: CodeSigner, scenario: Scenario, *, sold: int = 30,
                 redeemed: int = 60) -> None:
    """Sell some booklets at the desk and redeem tickets at workshops, through the real
    services, so every page (booth totals, treasurer periods) has something to show."""
    from oflocal.vouchers.desk import sell_booklets
    from oflocal.vouchers.redeem import redeem_tickets

    codes = scenario.booklet_codes[:sold]
    for start in range(0, len(codes), 3):
        sell_booklets(db, signer, programme_id=scenario.programme_id,
                      codes=codes[start:start + 3], payment_method="cash", actor="demo")
    with db.read() as session:
        tickets = list(
            session.execute(
                select(Ticket.code).where(Ticket.status == "active").order_by(Ticket.serial)
            ).scalars()
        )
    for i, start in enumerate(range(0, min(redeemed, len(tickets)), 2)):
        workshop_id = scenario.workshop_ids[i % len(scenario.workshop_ids)]
        redeem_tickets(db, signer, workshop_id=workshop_id, codes=tickets[start:start + 2])


def describe_demo_committee(session: Session, event_id: int) -> None:
    """The committee's own bank account (a made-up one), so the demo's Zengin file works."""
    event = session.get(Event, event_id)
    assert event is not None
    event.zengin_requester_code = "1234567890"
    event.zengin_requester_kana = "オープンファクトリージッコウイインカイ"
    event.payer_bank_code, event.payer_branch_code = "0152", "001"
    event.payer_account_type, event.payer_account_number = 1, "7654321"


def database_is_empty(session: Session) -> bool:
    return session.execute(select(Event.id).limit(1)).first() is None


# --------------------------------------------------------------------- crowdfunding

SUPPORTERS = ["佐藤花子", "鈴木一郎", "高橋美咲", "田中健太", "伊藤さくら", "渡辺翔", "山本結衣",
              "中村大輔", "小林愛", "加藤拓海", "吉田陽菜", "山田蓮", "佐々木葵", "山口悠真",
              "松本凛", "井上湊", "木村杏", "林大和", "斎藤結菜", "清水陽翔", "山崎芽依",
              "森颯太", "池田美月", "橋本樹"]
DEMO_STORY = """# ひつじ団 2026 — オープンファクトリーを一緒につくる

ものづくりのまちの工房が、年に一度だけ扉をひらく3日間。
**ひつじ団**は、このイベントを支えてくださるサポーターの集まりです。

## 支援金の使いみち

- 工房めぐりマップと案内サインの制作
- プレミアム付き工房めぐりチケットのプレミアム分
- 学生ボランティアの交通費

目標に届かなかった場合は、全額をお返しします（All or Nothing）。
"""


def demo_picture() -> bytes:
    """The demo campaign's main picture, drawn here (no file to ship): a saw-tooth
    factory roof under a blue sky."""
    from PIL import Image, ImageDraw

    picture = Image.new("RGB", (1200, 600), (186, 222, 245))
    draw = ImageDraw.Draw(picture)
    draw.rectangle((0, 470, 1200, 600), fill=(120, 150, 110))
    draw.rectangle((150, 300, 1050, 480), fill=(92, 84, 78))
    for x in range(150, 1050, 150):  # the saw-tooth roof
        draw.polygon([(x, 300), (x + 150, 210), (x + 150, 300)], fill=(70, 64, 60))
        draw.rectangle((x + 40, 360, x + 110, 480), fill=(240, 196, 92))  # open doors
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=85)
    return out.getvalue()


def add_campaign(db: Database, scenario: Scenario, *, now: datetime | None = None) -> int:
    """A live campaign for the demo event, through the crowdfunding services: a limited
    factory tour nearly sold out, a sold-out breakfast with a late payment refunded, and
    pledges in each state (waiting for a transfer, paid by transfer, paid in cash,
    expired, refund requested)."""
    from oflocal.crowdfunding.campaigns import add_reward, create_campaign, go_live
    from oflocal.crowdfunding.images import add_image
    from oflocal.crowdfunding.payments import mark_paid
    from oflocal.crowdfunding.pledge import PledgeRequest, make_pledge

    at = now or clock.now()
    starts = at - timedelta(days=14)
    campaign = create_campaign(
        db, event_id=scenario.event_id, slug="hitsuji-2026", title="ひつじ団 2026 サポーター募集",
        goal=300_000, starts_at=starts, ends_at=at + timedelta(days=21),
        payment_methods=["bank_transfer", "card", "konbini", "cash"], story=DEMO_STORY,
        representative="山田太郎", email="info@example.jp",
        price_note="表示価格はすべて税込です。",
        extra_charges="グッズのリターンは送料¥800。銀行振込の手数料はご負担ください。",
        payment_terms="銀行振込・コンビニ払い：お申し込みから7日以内。カード：お申し込み時。"
                      "現金：会場の受付で当日。",
        delivery_terms="各リターンに記載の月にお届けします。",
        cancellation_terms="入金前はいつでも取り消せます。目標に届かなかった場合は全額返金します。",
        now=starts)
    cheer = add_reward(db, campaign.id, title="ひつじ団 応援", price=3000, free_amount=True,
                       delivery_month=f"{(at + timedelta(days=60)):%Y-%m}",
                       description="お礼のメッセージとサポーターウォールへのお名前掲載。",
                       items=[{"kind": "sns_thanks"}, {"kind": "wall_name"}], now=starts)
    tour = add_reward(db, campaign.id, title="特別工場見学ツアー", price=10_000,
                      quantity_limit=20, per_supporter_limit=2,
                      delivery_month=f"{(at + timedelta(days=30)):%Y-%m}",
                      description="普段は入れない工程を職人の案内で見学します。",
                      items=[{"kind": "tour_invite", "note": "日程は後日ご案内します"}],
                      now=starts)
    breakfast = add_reward(db, campaign.id, title="工場長と朝ごはん", price=20_000,
                           quantity_limit=2, per_supporter_limit=1,
                           delivery_month=f"{(at + timedelta(days=30)):%Y-%m}",
                           items=[{"kind": "tour_invite", "note": "朝ごはん付き"},
                                  {"kind": "wall_name"}], now=starts)
    add_reward(db, campaign.id, title="手ぬぐいと工房めぐりチケット", price=5000, shipping_fee=800,
               quantity_limit=100, delivery_month=f"{(at + timedelta(days=45)):%Y-%m}",
               items=[{"kind": "goods", "description": "オリジナル手ぬぐい1枚"},
                      {"kind": "voucher_booklets", "programme_id": scenario.programme_id,
                       "count": 1}], now=starts)
    add_image(db, campaign.id, demo_picture(),
              alt="のこぎり屋根の工場と、青空の下にひらいた工房の扉", now=starts)
    go_live(db, campaign.id, now=starts)
    people = iter(range(len(SUPPORTERS) * 2))

    def pledge(reward: int, method: str, when: datetime, *, answers: dict[str, Any] | None = None,
               amount: int | None = None) -> dict[str, Any]:
        n = next(people)
        request = PledgeRequest(
            campaign_id=campaign.id, reward_id=reward, name=SUPPORTERS[n % len(SUPPORTERS)],
            email=f"supporter{n + 1}@example.jp", phone=f"090-{1000 + n:04d}-{5678:04d}",
            payment_method=method, amount=amount, answers=answers or {})
        return make_pledge(db, request, now=when).body

    def pay(body: dict[str, Any], source: str, when: datetime) -> None:
        mark_paid(db, body["pledge_id"], source=source, amount=body["total"], actor="demo",
                  received_at=when, now=when)

    day = timedelta(days=1)
    wall = {"sns_handle": "@hitsuji_fan", "wall_name": "ひつじ好き"}
    # Expired: bank transfers never paid (the first one, for the breakfast, pays late).
    late = pledge(breakfast.id, "bank_transfer", starts + day, answers={"wall_anonymous": True})
    pledge(cheer.id, "bank_transfer", starts + day, answers=wall)
    # The breakfast sold out after the first reservation expired; its late payment is
    # kept and refunded.
    for i in range(2):
        pay(pledge(breakfast.id, "bank_transfer", starts + 10 * day + i * day,
                   answers={"wall_name": SUPPORTERS[i]}), "bank", starts + 11 * day)
    pay(late, "bank", at - timedelta(hours=5))
    # The tour: 18 of 20 taken; 12 paid by transfer, 3 in cash at the desk, 3 waiting.
    for i in range(12):
        pay(pledge(tour.id, "bank_transfer", starts + 2 * day + i * timedelta(hours=7)), "bank",
            starts + 3 * day + i * timedelta(hours=7))
    for i in range(3):
        when = starts + 5 * day + i * timedelta(hours=2)
        pay(pledge(tour.id, "cash", when), "cash", when + timedelta(minutes=5))
    for i in range(3):
        pledge(tour.id, "bank_transfer", at - 2 * day + i * timedelta(hours=3))
    # Supporters giving freely: paid, and some still waiting for their transfer.
    for i in range(5):
        body = pledge(cheer.id, "bank_transfer", starts + 6 * day + i * day,
                      answers=wall, amount=3000 + 1000 * i)
        pay(body, "bank", starts + 7 * day + i * day)
    pledge(cheer.id, "bank_transfer", at - day, answers=wall, amount=5000)
    _after_the_pledge(db, campaign.id, at)
    _booklets_to_collect(db, scenario, at)
    return campaign.id


def _booklets_to_collect(db: Database, scenario: Scenario, at: datetime) -> None:
    """A small campaign that ended yesterday and succeeded, whose return is two voucher
    booklets: supporter3@example.jp's page shows the pickup code, and the desk
    (``/desk/pickup``) hands the booklets over."""
    from oflocal.crowdfunding.campaigns import add_reward, create_campaign, go_live
    from oflocal.crowdfunding.outcome import decide_outcome
    from oflocal.crowdfunding.payments import mark_paid
    from oflocal.crowdfunding.pledge import PledgeRequest, make_pledge

    starts, ends = at - timedelta(days=10), at - timedelta(days=1)
    campaign = create_campaign(
        db, event_id=scenario.event_id, slug="tickets-2026", title="工房めぐりチケット 先行応援",
        goal=10_000, starts_at=starts, ends_at=ends, payment_methods=["bank_transfer"],
        story="会場で使える工房めぐりチケットを、先行応援のお礼にお渡しします。",
        representative="山田太郎", email="info@example.jp", price_note="表示価格はすべて税込です。",
        extra_charges="銀行振込の手数料はご負担ください。",
        payment_terms="銀行振込：お申し込みから7日以内。",
        delivery_terms="開催期間中に会場の受付でお渡しします。",
        cancellation_terms="入金前はいつでも取り消せます。", now=starts)
    reward = add_reward(db, campaign.id, title="工房めぐりチケット2冊", price=5000,
                        delivery_month=f"{at:%Y-%m}",
                        items=[{"kind": "voucher_booklets", "programme_id": scenario.programme_id,
                                "count": 2}], now=starts)
    go_live(db, campaign.id, now=starts)
    for n, email in enumerate(("supporter3@example.jp", "supporter4@example.jp",
                               "supporter5@example.jp")):
        made = make_pledge(db, PledgeRequest(
            campaign_id=campaign.id, reward_id=reward.id,
            name=SUPPORTERS[(n + 2) % len(SUPPORTERS)], email=email,
            phone=f"090-{2000 + n:04d}-5678", payment_method="bank_transfer"),
            now=starts + timedelta(days=1 + n)).body
        mark_paid(db, made["pledge_id"], source="bank", amount=made["total"], actor="demo",
                  received_at=starts + timedelta(days=2 + n), now=starts + timedelta(days=2 + n))
    decide_outcome(db, campaign.id, actor="demo", now=at)


def _after_the_pledge(db: Database, campaign_id: int, at: datetime) -> None:
    """Two tour dates and an update, so the supporters' side of ``make run`` shows them
    (sign in at /my as supporter3@example.jp: the link is in var/outbox)."""
    from oflocal.supporters.tours import add_slot
    from oflocal.supporters.updates import publish_update, write_update

    for days, hour, places in ((40, 10, 12), (41, 14, 12)):
        day = clock.as_tokyo(at + timedelta(days=days)).replace(hour=hour, minute=0, second=0,
                                                                 microsecond=0)
        add_slot(db, campaign_id, title="尾州の機屋 見学ツアー", place="一宮市 ○○織物 本社工場",
                 starts_at=day, capacity=places, now=at)
    update = write_update(
        db, campaign_id, title="見学ツアーの日程が決まりました",
        body="ご支援ありがとうございます。**見学ツアー**の日程を2つ用意しました。"
             "ご支援の確認ページ（/my）からお選びください。",
        audience="supporters", author="demo", now=at)
    publish_update(db, update, now=at)
