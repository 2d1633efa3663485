"""Pledging: the reservation, the answers each item asks for, the refusals (which change
nothing), expiry giving stock back, cancelling, and a double tap making one pledge."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from cf_world import (
    ENDS,
    SHIPPING,
    STARTS,
    T0,
    audit,
    build_world,
    claimed,
    pledge,
    request,
    snapshot,
    state_of,
)
from sqlalchemy import select

from oflocal.crowdfunding import pledge_sql
from oflocal.crowdfunding.models import Pledge
from oflocal.crowdfunding.pledge import cancel_pledge, make_pledge
from oflocal.crowdfunding.reserve import payment_deadline, transfer_reference
from oflocal.crowdfunding.sweep import expire_reservations
from oflocal.db.engine import Database
from oflocal.errors import Refusal
from oflocal.idempotency.models import IdempotencyRecord
from oflocal.idempotency.store import IdempotencyKey, request_hash
from oflocal.outbox.models import MailMessage


def _refused(db: Database, code: str, call) -> Refusal:  # type: ignore[no-untyped-def]
    before = snapshot(db)
    with pytest.raises(Refusal) as caught:
        call()
    assert caught.value.code == code, caught.value
    assert snapshot(db) == before
    return caught.value


def test_a_pledge_reserves_its_quantity_until_the_deadline(db: Database) -> None:
    w = build_world(db)
    body = pledge(w, w.limited, quantity=2).body
    assert body["state"] == "reserved" and body["total"] == 10_000
    assert body["reference"] == transfer_reference(1, 1) and len(body["reference"]) == 7
    # 7 days on, to the end of that day in Tokyo (12:00 JST on 1 May -> 8 May 24:00 JST)
    assert body["payment_deadline"] == "2026-05-08T15:00:00+00:00"
    assert claimed(db, w.limited) == 2
    with db.read() as session:
        notice = session.execute(select(MailMessage)).scalar_one()  # queued with the pledge
        assert (notice.kind, notice.about) == ("pledge_received", f"pledge:{body['pledge_id']}")
        assert body["reference"] in notice.text_body and "¥10,000" in notice.text_body
    second = pledge(w, w.limited, email="b@example.jp").body
    assert second["reference"] == transfer_reference(1, 2) != body["reference"]
    audit(db)


def test_deadlines_by_payment_method() -> None:
    assert payment_deadline("card", T0, 7) == T0 + timedelta(minutes=30)
    assert payment_deadline("cash", T0, 7).isoformat() == "2026-05-01T15:00:00+00:00"
    assert payment_deadline("konbini", T0, 3).isoformat() == "2026-05-04T15:00:00+00:00"


def test_references_carry_a_check_digit() -> None:
    ref = transfer_reference(3, 42)
    assert ref[:-1] == "300042"
    typo = ref[:2] + str((int(ref[2]) + 1) % 10) + ref[3:]
    assert transfer_reference(3, 42) != typo


def test_sold_out_is_a_clear_refusal_and_changes_nothing(db: Database) -> None:
    w = build_world(db, limit=3, per_supporter=None)
    pledge(w, w.limited, quantity=2)
    refusal = _refused(db, "reward.sold_out", lambda: pledge(w, w.limited, quantity=2))
    assert refusal.facts == {"left": 1} and "完売" in refusal.message("ja")
    pledge(w, w.limited, quantity=1, email="b@example.jp")
    _refused(db, "reward.sold_out", lambda: pledge(w, w.limited, email="c@example.jp"))
    assert claimed(db, w.limited) == 3
    audit(db)


def test_expired_reservations_give_their_stock_back(db: Database) -> None:
    w = build_world(db, limit=2, per_supporter=None)
    first = pledge(w, w.limited, method="card").body  # held for half an hour
    pledge(w, w.limited, email="b@example.jp")  # held for 7 days
    _refused(db, "reward.sold_out", lambda: pledge(w, w.limited, email="c@example.jp"))
    later = T0 + timedelta(minutes=31)
    third = pledge(w, w.limited, email="c@example.jp", now=later).body  # the card's stock
    assert state_of(db, first["pledge_id"]) == "expired"
    assert third["state"] == "reserved" and claimed(db, w.limited) == 2
    # The expiry run gives back what no pledge came to take.
    assert expire_reservations(db, now=T0 + timedelta(days=8)) == 2
    assert claimed(db, w.limited) == 0
    assert expire_reservations(db, now=T0 + timedelta(days=9)) == 0
    audit(db)


def test_per_supporter_limit_counts_by_email(db: Database) -> None:
    w = build_world(db, per_supporter=3)
    pledge(w, w.limited, quantity=2, email="Sato@Example.jp")
    refusal = _refused(db, "reward.per_supporter_limit",
                       lambda: pledge(w, w.limited, quantity=2, email="sato@example.jp "))
    assert refusal.facts == {"limit": 3, "held": 2}
    pledge(w, w.limited, quantity=1, email="sato@example.jp")
    pledge(w, w.limited, quantity=3, email="other@example.jp")


def test_campaign_must_be_open_and_the_method_offered(db: Database) -> None:
    w = build_world(db, methods=("bank_transfer",))
    _refused(db, "campaign.not_open", lambda: pledge(w, w.limited, now=ENDS))
    _refused(db, "campaign.not_open", lambda: pledge(w, w.limited,
                                                     now=STARTS - timedelta(seconds=1)))
    _refused(db, "pledge.method_unavailable", lambda: pledge(w, w.limited, method="card"))
    draft = build_world(db, live=False, slug="other")
    _refused(db, "campaign.not_open", lambda: pledge(draft, draft.limited))
    _refused(db, "reward.not_found", lambda: pledge(w, draft.limited))
    _refused(db, "campaign.not_found", lambda: make_pledge(
        db, request(w, w.limited).__class__(**{**request(w, w.limited).__dict__,
                                               "campaign_id": 999}), now=T0))


def test_amounts(db: Database) -> None:
    w = build_world(db)
    assert pledge(w, w.free, amount=12_345).body["amount"] == 12_345
    assert pledge(w, w.free, email="b@example.jp").body["amount"] == 3000
    _refused(db, "pledge.amount_below_minimum", lambda: pledge(w, w.free, amount=2999))
    _refused(db, "pledge.amount_mismatch", lambda: pledge(w, w.limited, amount=4000))
    goods = pledge(w, w.goods, quantity=2).body
    assert (goods["amount"], goods["shipping"], goods["total"]) == (5000, 800, 5800)
    _refused(db, "pledge.invalid", lambda: pledge(w, w.limited, quantity=0))


@pytest.mark.parametrize(("answers", "code"), [
    ({}, "pledge.answer_missing"),
    ({"sns_handle": "@x"}, "pledge.answer_missing"),
    ({"sns_handle": "@x", "wall_name": "x", "age": 3}, "pledge.invalid"),
])
def test_answers_the_items_ask_for(db: Database, answers: dict[str, object], code: str) -> None:
    w = build_world(db)
    _refused(db, code, lambda: pledge(w, w.free, answers=answers))


def test_wall_name_may_be_anonymous(db: Database) -> None:
    w = build_world(db)
    out = pledge(w, w.free, answers={"sns_handle": " @x ", "wall_anonymous": True})
    with db.read() as session:
        stored = session.get(Pledge, out.body["pledge_id"])
        assert stored is not None and stored.answers == {"sns_handle": "@x",
                                                         "wall_anonymous": True}


@pytest.mark.parametrize(("change", "code"), [
    ({"postal_code": "100-0001"}, "pledge.prefecture_mismatch"),  # Tokyo, not Toyama
    ({"postal_code": "999-9999"}, "pledge.postal_code_unknown"),
    ({"postal_code": "93300"}, "pledge.postal_code_unknown"),
    ({"phone": "0766-22-123"}, "pledge.phone_invalid"),
    ({"phone": "+1 212 555 0100"}, "pledge.phone_invalid"),
    ({"address": ""}, "pledge.answer_missing"),
])
def test_shipping_address_is_checked(db: Database, change: dict[str, str], code: str) -> None:
    w = build_world(db)
    _refused(db, code, lambda: pledge(w, w.goods, answers={"shipping": {**SHIPPING, **change}}))


def test_shipping_address_is_cleaned(db: Database) -> None:
    w = build_world(db)
    shipping = {**SHIPPING, "postal_code": "〒９３３－００２９", "phone": "０７６６−２２−１２３４"}
    out = pledge(w, w.goods, answers={"shipping": shipping})
    with db.read() as session:
        stored = session.get(Pledge, out.body["pledge_id"])
        assert stored is not None
        assert stored.answers["shipping"]["postal_code"] == "9330029"
        assert stored.answers["shipping"]["phone"] == "+81766221234"
        assert stored.supporter_phone == "+819012345678"


def test_supporter_details_are_checked(db: Database) -> None:
    w = build_world(db)
    base = request(w, w.limited)
    for change, code in (({"email": "nope"}, "pledge.email_invalid"),
                         ({"phone": "12"}, "pledge.phone_invalid"),
                         ({"name": " "}, "pledge.invalid")):
        bad = base.__class__(**{**base.__dict__, **change})
        _refused(db, code, lambda bad=bad: make_pledge(db, bad, now=T0))


def test_a_double_tap_makes_one_pledge(db: Database) -> None:
    w = build_world(db)
    req = request(w, w.limited)
    idem = IdempotencyKey("supporter", "tap-1", request_hash("pledge", req.__dict__))
    first = make_pledge(db, req, idem=idem, now=T0)
    again = make_pledge(db, req, idem=idem, now=T0 + timedelta(seconds=1))
    assert again.replayed and again.body == first.body and claimed(db, w.limited) == 1


def test_cancel_gives_stock_back_only_while_unpaid(db: Database) -> None:
    w = build_world(db)
    body = pledge(w, w.limited, quantity=2).body
    out = cancel_pledge(db, body["pledge_id"], now=T0)
    assert out.body["state"] == "cancelled" and claimed(db, w.limited) == 0
    refusal = _refused(db, "pledge.not_cancellable",
                       lambda: cancel_pledge(db, body["pledge_id"], now=T0))
    assert "cancelled" in refusal.message("en")
    _refused(db, "pledge.not_found", lambda: cancel_pledge(db, 999, now=T0))
    audit(db)


def _stored(db: Database, key: str) -> tuple[int, dict[str, object]]:
    with db.read() as session:
        row = session.execute(select(IdempotencyRecord.status_code, IdempotencyRecord.body)
                              .where(IdempotencyRecord.key == key)).one()
    return row.status_code, json.loads(row.body)


def test_sold_out_is_stored_and_replayed_the_same_on_either_path(
        db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """A sold-out answer stored by the one-statement look (PostgreSQL, a return this
    process has read) and by the two-step look are the same; a key answered "sold out"
    keeps that answer when stock comes back, and a new key then gets it."""
    statements: list[bool] = []  # what each one-statement look did (refused or not)
    real = pledge_sql.look_and_refuse

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        row = real(*args, **kwargs)
        statements.append(bool(row.refused))
        return row

    monkeypatch.setattr(pledge_sql, "look_and_refuse", counted)
    w = build_world(db, limit=2, per_supporter=None)
    held = [pledge(w, w.limited, email=f"h{n}@example.jp").body for n in range(2)]

    def key(name: str) -> IdempotencyKey:
        return IdempotencyKey("supporter", name, request_hash("pledge", name))

    sold_out = Refusal("reward.sold_out", left=0).to_body("en")
    fast = _refused(db, "reward.sold_out", lambda: make_pledge(
        db, request(w, w.limited, email="f@example.jp"), idem=key("fast"), now=T0))
    pledge_sql._TERMS.clear()  # the return's terms not seen yet: the two-step look
    slow = _refused(db, "reward.sold_out", lambda: make_pledge(
        db, request(w, w.limited, email="s@example.jp"), idem=key("slow"), now=T0))
    assert statements == ([] if db.is_sqlite else [True])  # PostgreSQL: "fast" in one
    assert fast.to_body("en") == slow.to_body("en") == sold_out
    assert _stored(db, "fast") == _stored(db, "slow") == (409, sold_out)
    # Checks that come first still come first on the one-statement path.
    _refused(db, "pledge.amount_mismatch", lambda: make_pledge(
        db, request(w, w.limited, email="m@example.jp", amount=1), idem=key("amount"),
        now=T0))
    cancel_pledge(db, held[0]["pledge_id"], now=T0)  # one comes back
    for name in ("fast", "slow"):  # their answer stays
        _refused(db, "reward.sold_out", lambda name=name: make_pledge(
            db, request(w, w.limited, email=f"{name[0]}@example.jp"), idem=key(name),
            now=T0 + timedelta(seconds=1)))
    again = make_pledge(db, request(w, w.limited, email="n@example.jp"), idem=key("new"),
                        now=T0 + timedelta(seconds=1))
    assert again.body["state"] == "reserved" and claimed(db, w.limited) == 2
    audit(db)
