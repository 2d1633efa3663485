"""Every refusal that names a day or a moment writes it the reader's way (issue 8 item 7b):
Japanese 2026年12月10日 (14:05), English 10 Dec 2026 (14:05), in Asia/Tokyo; ``detail``
carries ISO 8601 (UTC, like every answer). Each refusal is raised by the real service on
both databases.

The expected words are written here independently of ``oflocal.format``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from apps import client_for
from oflocal import clock
from oflocal.auth.service import issue_api_token
from oflocal.db.engine import Database
from oflocal.errors import Refusal
from oflocal.settings import Settings
from oflocal.settlement.bank_days import next_bank_day
from oflocal.settlement.close import close_period
from oflocal.settlement.models import SettlementPeriod
from oflocal.settlement.pay import mark_period_paid
from oflocal.vouchers.codes import CodeSigner
from oflocal.vouchers.desk import sell_booklets
from oflocal.vouchers.expiry import expire_programme
from oflocal.vouchers.models import Programme
from oflocal.vouchers.redeem import redeem_tickets
from test_settlement import World, make_world

TOKYO = ZoneInfo("Asia/Tokyo")
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
JAPANESE_DATE = re.compile(r"\d+\s*[年月日]")


def ja_day(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def en_day(day: date) -> str:
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"


def ja_at(moment: datetime) -> str:
    local = moment.astimezone(TOKYO)
    return f"{ja_day(local.date())} {local:%H:%M}"


def en_at(moment: datetime) -> str:
    local = moment.astimezone(TOKYO)
    return f"{en_day(local.date())} {local:%H:%M}"


def refused(action: Callable[[], Any], code: str) -> Refusal:
    with pytest.raises(Refusal) as caught:
        action()
    assert caught.value.code == code, caught.value
    return caught.value


def assert_words(refusal: Refusal, facts: dict[str, date | datetime]) -> None:
    ja, en = refusal.message("ja"), refusal.message("en")
    body = refusal.to_body("en")
    assert not JAPANESE_DATE.search(en), en
    for name, value in facts.items():
        if isinstance(value, datetime):
            assert ja_at(value) in ja, (name, ja)
            assert en_at(value) in en, (name, en)
            iso = value.astimezone(UTC).isoformat(timespec="seconds")
            assert body["detail"][name] == iso
        else:
            assert ja_day(value) in ja, (name, ja)
            assert en_day(value) in en, (name, en)
            assert body["detail"][name] == value.isoformat()
    assert body["message_en"] == en and body["message_ja"] == ja


@pytest.fixture
def world(db: Database, signer: CodeSigner) -> World:
    return make_world(db, signer)


def _programme(w: World) -> Programme:
    with w.db.read() as s:
        programme = s.get(Programme, w.sc.programme_id)
        assert programme is not None
        s.expunge(programme)
        return programme


def test_voucher_refusals_write_days_in_each_language(world: World) -> None:
    w = world
    p = _programme(w)
    first, second = w.take(2)
    before = datetime.combine(p.valid_from, datetime.min.time(), TOKYO) - timedelta(hours=1)
    after = datetime.combine(p.valid_until, datetime.min.time(), TOKYO) + timedelta(days=1)
    workshop = w.sc.workshop_ids[0]

    def redeem(code: str, now: datetime | None = None) -> Any:
        return redeem_tickets(w.db, w.signer, workshop_id=workshop, codes=[code], now=now)

    assert_words(refused(lambda: redeem(first, before), "ticket.not_yet_valid"),
                 {"date": p.valid_from})
    assert_words(refused(lambda: redeem(first, after), "ticket.expired"),
                 {"date": p.valid_until})
    assert_words(
        refused(lambda: expire_programme(w.db, programme_id=p.id, actor="t"),
                "programme.not_expired"),
        {"date": p.valid_until})
    late = p.sales_ends_at + timedelta(minutes=1)
    assert_words(
        refused(lambda: sell_booklets(w.db, w.signer, programme_id=p.id,
                                      codes=[w.sc.booklet_codes[-1]], payment_method="cash",
                                      actor="t", now=late), "sale.window_closed"),
        {"starts": p.sales_starts_at, "ends": p.sales_ends_at})

    # Already used / already sold: the booth's short moment, in each language's words.
    redeem(second)
    used = refused(lambda: redeem(second), "ticket.already_redeemed")
    assert re.search(r"\d+月\d+日 \d\d:\d\d", used.message("ja")), used.message("ja")
    assert re.search(r" on \d+ [A-Z][a-z]{2} \d\d:\d\d ", used.message("en")), used.message("en")
    assert not JAPANESE_DATE.search(used.message("en"))
    sold = refused(lambda: sell_booklets(w.db, w.signer, programme_id=p.id,
                                         codes=[w.sc.booklet_codes[0]], payment_method="cash",
                                         actor="t"), "booklet.already_sold")
    assert re.search(r"\d+月\d+日 \d\d:\d\d", sold.message("ja")), sold.message("ja")
    assert re.search(r", \d+ [A-Z][a-z]{2} \d\d:\d\d\)", sold.message("en")), sold.message("en")


def test_settlement_refusals_write_days_and_moments_in_each_language(world: World) -> None:
    w = world
    event = w.sc.event_id
    w.redeem(0, 2, minutes=0)

    def close(at: datetime) -> Any:
        return close_period(w.db, event_id=event, cutoff=at, actor="t")

    close(w.at(20))
    last = close(w.at(20)).body["cutoff_at"]
    last_at = datetime.fromisoformat(last)
    assert_words(refused(lambda: close(w.at(10)), "settlement.cutoff_not_after_last"),
                 {"cutoff": w.at(10), "last": last_at})
    future = (clock.now() + timedelta(minutes=5)).replace(second=0, microsecond=0)
    assert_words(refused(lambda: close(future), "settlement.cutoff_in_future"),
                 {"cutoff": future})
    assert_words(refused(lambda: close(w.at(40)), "settlement.nothing_to_settle"),
                 {"cutoff": w.at(40)})

    with w.db.read() as s:
        period = s.execute(select(SettlementPeriod)).scalar_one()
        pid, cutoff_day = period.id, clock.tokyo_date(period.cutoff_at)

    def pay(day: date) -> Any:
        return mark_period_paid(w.db, period_id=pid, transfer_date=day, actor="t")

    early = cutoff_day - timedelta(days=1)
    assert_words(refused(lambda: pay(early), "settlement.transfer_date_invalid"),
                 {"date": early, "cutoff": cutoff_day})
    sunday = next(cutoff_day + timedelta(days=i) for i in range(7)
                  if (cutoff_day + timedelta(days=i)).weekday() == 6)
    holiday = refused(lambda: pay(sunday), "settlement.transfer_date_bank_holiday")
    assert_words(holiday, {"date": sunday})
    assert "Sunday" in holiday.message("en") and "日曜日" in holiday.message("ja")
    day = next_bank_day(cutoff_day)
    pay(day)
    assert_words(refused(lambda: pay(day), "settlement.already_paid"), {"date": day})


def test_a_refusal_from_the_api_uses_the_request_language(world: World, db: Database,
                                                         secret: bytes, tmp_path: Path) -> None:
    """The same refusal through HTTP: English words for an English reader."""
    w = world
    with w.db.write() as s:  # the programme ended yesterday (Tokyo)
        yesterday = clock.tokyo_date(clock.now()) - timedelta(days=1)
        s.execute(update(Programme).where(Programme.id == w.sc.programme_id)
                  .values(valid_until=yesterday))
    token = issue_api_token(db, name="w", workshop_id=w.sc.workshop_ids[0])
    settings = Settings(data_dir=tmp_path, database_url=db.url, secret_key=secret)
    code = w.take(1)[0]
    with client_for(settings, db) as client:
        for lang, words in (("en", en_day(yesterday)), ("ja", ja_day(yesterday))):
            answer = client.post("/api/v1/redemptions", json={"codes": [code]}, headers={
                "Authorization": f"Bearer {token}", "Accept-Language": lang,
                "Idempotency-Key": f"dates-{lang}"})
            assert answer.status_code == 409, answer.text
            body = answer.json()
            assert body["code"] == "ticket.expired"
            assert words in body["message"], body
            assert body["detail"]["date"] == yesterday.isoformat()
            assert not JAPANESE_DATE.search(body["message_en"])
            # A retry with the same key is answered from the stored refusal: same words.
            again = client.post("/api/v1/redemptions", json={"codes": [code]}, headers={
                "Authorization": f"Bearer {token}", "Accept-Language": lang,
                "Idempotency-Key": f"dates-{lang}"})
            assert again.json() == body
