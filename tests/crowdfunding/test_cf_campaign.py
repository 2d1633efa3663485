"""Setting a campaign up: the legal notice, going live, what stays fixed once live."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cf_world import ENDS, LEGAL, STARTS, T0, build_world, pledge, snapshot

from oflocal.crowdfunding.campaigns import (
    add_reward,
    close_campaign,
    create_campaign,
    edit_campaign,
    edit_reward,
    go_live,
)
from oflocal.crowdfunding.legal import LEGAL_ITEMS, missing_legal_items
from oflocal.crowdfunding.models import Campaign
from oflocal.db.engine import Database
from oflocal.errors import Refusal


def _refused(db: Database, code: str, call) -> Refusal:  # type: ignore[no-untyped-def]
    before = snapshot(db)
    with pytest.raises(Refusal) as caught:
        call()
    assert caught.value.code == code, caught.value
    assert snapshot(db) == before
    return caught.value


def test_every_legal_item_has_words_and_a_draft_names_what_is_missing(db: Database) -> None:
    w = build_world(db, live=False)
    with db.read() as session:
        campaign = session.get(Campaign, w.campaign_id)
        assert campaign is not None and missing_legal_items(campaign) == []
        campaign.phone, campaign.cancellation_terms = "", " "
        assert [m.field for m in missing_legal_items(campaign)] == ["phone",
                                                                  "cancellation_terms"]
        campaign.phone_on_request = True  # "disclosed without delay on request" is enough
        assert [m.field for m in missing_legal_items(campaign)] == ["cancellation_terms"]
        session.rollback()
    assert all(item.ja and item.en for item in LEGAL_ITEMS)


def test_go_live_is_refused_while_the_legal_notice_misses_anything(db: Database) -> None:
    w = build_world(db, live=False)
    edit_campaign(db, w.campaign_id, {"price_note": "", "delivery_terms": "", "phone": ""})
    refusal = _refused(db, "campaign.legal_missing", lambda: go_live(db, w.campaign_id, now=T0))
    assert refusal.facts["fields"] == ["phone", "price_note", "delivery_terms"]
    assert "販売価格" in refusal.message("ja") and "when returns are delivered" in \
        refusal.message("en")
    edit_campaign(db, w.campaign_id, {"price_note": LEGAL["price_note"], "phone_on_request": True,
                                      "delivery_terms": LEGAL["delivery_terms"]})
    assert go_live(db, w.campaign_id, now=T0).state == "live"
    _refused(db, "campaign.not_draft", lambda: go_live(db, w.campaign_id, now=T0))


def test_go_live_needs_a_return_and_a_future_end(db: Database) -> None:
    w = build_world(db, live=False)
    bare = create_campaign(db, event_id=w.event_id, slug="bare", title="返礼なし", goal=1000,
                           starts_at=STARTS, ends_at=ENDS, now=STARTS, **LEGAL)
    _refused(db, "campaign.no_rewards", lambda: go_live(db, bare.id, now=T0))
    _refused(db, "campaign.already_ended", lambda: go_live(db, w.campaign_id,
                                                          now=ENDS + timedelta(seconds=1)))


def test_campaign_settings_are_checked_and_slugs_unique(db: Database) -> None:
    w = build_world(db, live=False)
    base = {"event_id": w.event_id, "title": "t", "goal": 1000, "starts_at": STARTS,
            "ends_at": ENDS}
    _refused(db, "campaign.slug_taken",
             lambda: create_campaign(db, slug="hitsuji", **base))  # type: ignore[arg-type]
    for bad in ({"goal": 0}, {"ends_at": STARTS}, {"funding_model": "flexible"},
                {"payment_methods": ["paypay"]}, {"payment_days": 61}, {"slug": "Bad Slug"}):
        _refused(db, "campaign.invalid", lambda bad=bad: create_campaign(
            db, **{"slug": "other", **base, **bad}))  # type: ignore[arg-type]
    _refused(db, "event.not_found", lambda: create_campaign(db, **{**base, "event_id": 999},
                                                            slug="x"))  # type: ignore[arg-type]


def test_a_live_campaign_keeps_what_supporters_pledged_on(db: Database) -> None:
    w = build_world(db)
    _refused(db, "campaign.field_locked", lambda: edit_campaign(db, w.campaign_id, {"goal": 1}))
    _refused(db, "campaign.field_locked",
             lambda: edit_campaign(db, w.campaign_id, {"ends_at": ENDS + timedelta(days=1)}))
    edited = edit_campaign(db, w.campaign_id, {"story": "新しい本文", "goal": 20_000})
    assert edited.story == "新しい本文"


def test_a_return_with_pledges_keeps_its_terms_and_its_limit_stays_above_claims(
        db: Database) -> None:
    w = build_world(db, per_supporter=None)
    edit_reward(db, w.limited, {"price": 6000})  # no pledge yet: free to change
    edit_reward(db, w.limited, {"price": 5000})
    for i in range(4):
        pledge(w, w.limited, email=f"s{i}@example.jp")
    _refused(db, "reward.terms_locked", lambda: edit_reward(db, w.limited, {"price": 4000}))
    _refused(db, "reward.terms_locked",
             lambda: edit_reward(db, w.limited, {"delivery_month": "2026-12"}))
    refusal = _refused(db, "reward.limit_below_claimed",
                       lambda: edit_reward(db, w.limited, {"quantity_limit": 3}))
    assert refusal.facts == {"claimed": 4}
    assert edit_reward(db, w.limited, {"quantity_limit": 4, "title": "見学"}).quantity_limit == 4
    assert edit_reward(db, w.limited, {"quantity_limit": None}).quantity_limit is None
    _refused(db, "reward.not_found", lambda: edit_reward(db, 999, {"title": "x"}))


def test_returns_are_checked(db: Database) -> None:
    w = build_world(db, live=False)
    good = {"title": "t", "price": 1000, "delivery_month": "2026-10",
            "items": [{"kind": "sns_thanks"}]}
    for bad in ({"price": 0}, {"quantity_limit": 0}, {"delivery_month": "10/2026"},
                {"items": []}, {"items": [{"kind": "hug"}]},
                {"items": [{"kind": "voucher_booklets", "programme_id": 999, "count": 1}]},
                {"shipping_fee": 500}, {"items": [{"kind": "goods"}]}):
        _refused(db, "reward.invalid",
                 lambda bad=bad: add_reward(db, w.campaign_id, **{**good, **bad}))
    assert add_reward(db, w.campaign_id, **good).number == 4  # numbered after the others


def test_close_needs_a_decision(db: Database) -> None:
    w = build_world(db)
    _refused(db, "campaign.not_decided", lambda: close_campaign(db, w.campaign_id))
    _refused(db, "campaign.not_found", lambda: close_campaign(db, 999))
