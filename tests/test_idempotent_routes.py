"""Every API route that changes money or state honours ``Idempotency-Key``.

A black-box attack retried ``POST /settlement/corrections/adjustment`` with the same key
and got two entries: a retried adjustment paid twice. This test reads the routes from
``app.routes`` when it runs, so a route added later without the key fails here: each
unsafe route must declare ``opt["idempotency"]`` ("required" or "optional") and have a
case below, or be named in :data:`EXEMPT` with the reason. Each case is sent, then sent
again with the same key: the answer must be the first one again (status, body, and the
``Idempotent-Replayed`` header), and no table may gain or lose a row. Routes that need
the key refuse a request without one and change nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute
from litestar.testing import TestClient
from sqlalchemy import text

from apps import client_for
from cf_staff_world import idempotency_world
from oflocal import clock
from oflocal.auth.service import create_staff_user, issue_api_token, new_api_token
from oflocal.crowdfunding.campaigns import add_reward, create_campaign, go_live
from oflocal.crowdfunding.outcome import decide_outcome
from oflocal.crowdfunding.payments import mark_paid
from oflocal.crowdfunding.pledge import PledgeRequest, make_pledge
from oflocal.db.engine import Database
from oflocal.demo import build_event, describe_demo_committee
from oflocal.settings import Settings
from oflocal.settlement.bank_days import next_bank_day
from oflocal.settlement.close import close_period
from oflocal.settlement.corrections import adjust_workshop
from oflocal.supporters.pickup import pickup_path
from oflocal.supporters.updates import write_update
from oflocal.treasury.entries import EntryRequest, record_entry
from oflocal.vouchers.codes import CodeSigner
from oflocal.vouchers.desk import sell_booklets
from oflocal.vouchers.redeem import redeem_tickets
from test_api_setup import programme_body, workshop_body

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# Unsafe routes without a key, and why. Adding one here is a decision.
EXEMPT = {
    ("POST", "/api/v1/session/staff"): "logging in answers a new session secret, never stored",
    ("POST", "/api/v1/session/workshop"): "the same",
    ("POST", "/api/v1/session/logout"): "ending a session twice ends it once",
    ("POST", "/api/v1/tokens"): "answers a new token, which must not be stored; a stray "
                                "second token can be revoked",
    ("POST", "/api/v1/payments/stripe/webhook"): "the provider's event id is the key "
                                                 "(opt idempotent_by=provider_event): "
                                                 "recorded once, a duplicate answers 200",
}
# Tables a replay may not change. Sessions, stored outcomes, print progress and the
# attempts of background jobs (the app's worker claims a queued print job meanwhile) are
# not the request's business.
SKIP_TABLES = frozenset({"idempotency_record", "web_session", "alembic_version",
                         "job_attempt"})


@dataclass(frozen=True)
class Case:
    method: str
    route: str  # as in app.routes
    url: str
    body: dict[str, Any] | None
    who: str = "admin"
    other: dict[str, Any] | None = None  # another request, refused under the same key
    same: str | None = None  # compare only this field (a print job's progress moves on)


@dataclass
class World:
    client: TestClient[Litestar]
    db: Database
    tokens: dict[str, str]
    cases: list[Case]


@pytest.fixture
def world(db: Database, signer: CodeSigner, secret: bytes, tmp_path: Path) -> Iterator[World]:
    now = clock.now()
    with db.write() as session:
        sc = build_event(session, signer, slug="idem", workshops=3, booklets=6)
        over = build_event(session, signer, slug="over", workshops=1, booklets=0,
                           now=now - timedelta(days=10),
                           today=clock.tokyo_date(now - timedelta(days=10)))
    admin = create_staff_user(db, username="boss", display_name="事務局", role="admin",
                              password="a long admin password")
    tokens = {"admin": issue_api_token(db, name="admin", staff_user_id=admin),
              "workshop": issue_api_token(db, name="booth", workshop_id=sc.workshop_ids[0])}
    spare, _ = new_api_token(db, name="spare", workshop_id=sc.workshop_ids[1])
    sell_booklets(db, signer, programme_id=sc.programme_id, codes=sc.booklet_codes[:1],
                  payment_method="cash", actor="t")
    with db.read() as session:
        tickets = session.execute(text(
            "SELECT code FROM ticket WHERE status = 'active' ORDER BY id")).scalars().all()
    redeem_tickets(db, signer, workshop_id=sc.workshop_ids[0], codes=[tickets[0]])
    closed = close_period(db, event_id=sc.event_id, actor="t").body
    to_undo = redeem_tickets(db, signer, workshop_id=sc.workshop_ids[0], codes=[tickets[1]])
    adjust_workshop(db, workshop_id=sc.workshop_ids[2], amount=-100,
                    counter_account="premium_fund", reason="返金を依頼", actor="t",
                    settle="repayment")  # what the repayment case records
    event, programme, workshop = sc.event_id, sc.programme_id, sc.workshop_ids[0]
    today = clock.tokyo_date(clock.now())
    campaign, reward = _live_campaign(db, event)
    cf = idempotency_world(db)
    pickup_code = _pickup_code(db, secret, event, programme)
    to_edit, to_publish = (write_update(db, cf["draft"], title=title, body="本文です。",
                                        audience="public", author="t")
                           for title in ("下書き", "公開する報告"))
    voucher = record_entry(db, EntryRequest(
        event_id=event, kind="cash_deposit", amount=5000, business_date=today,
        description="売上金の預け入れ"), actor="t")
    with db.read() as session:
        bank_posting = session.execute(text(
            "SELECT id FROM posting WHERE entry_id = :e AND amount > 0"),
            {"e": voucher["entry_id"]}).scalar_one()
    cases = [
        # The treasurer's own entries and the bank reconciliation (web/api/treasury.py)
        Case("POST", "/api/v1/events/{event_id:int}/treasury/entries",
             f"/api/v1/events/{event}/treasury/entries",
             {"kind": "subsidy", "amount": 30000, "business_date": today.isoformat(),
              "description": "町の補助金", "credit_account": "premium_fund"},
             other={"kind": "subsidy", "amount": 30001, "business_date": today.isoformat(),
                    "description": "町の補助金", "credit_account": "premium_fund"}),
        Case("POST", "/api/v1/treasury/entries/{voucher_id:int}/reverse",
             f"/api/v1/treasury/entries/{voucher['id']}/reverse", {"reason": "入力誤り"},
             other={"reason": "別の理由"}),
        Case("PUT", "/api/v1/events/{event_id:int}/bank-reconciliation/ticks",
             f"/api/v1/events/{event}/bank-reconciliation/ticks",
             {"posting_ids": [bank_posting]}, other={"posting_ids": [bank_posting],
                                                    "seen": False}),
        Case("POST", "/api/v1/events/{event_id:int}/bank-reconciliations",
             f"/api/v1/events/{event}/bank-reconciliations",
             {"as_of": today.isoformat(), "passbook_balance": 5000},
             other={"as_of": today.isoformat(), "passbook_balance": 5001}),
        # Crowdfunding, staff side (web/api/cf_staff.py)
        Case("POST", "/api/v1/events/{event_id:int}/campaigns",
             f"/api/v1/events/{cf['event']}/campaigns",
             {"slug": "idem-cf", "title": "ひつじ団", "goal": 100000,
              "starts_at": "2026-06-01T10:00:00+09:00", "ends_at": "2026-07-01T10:00:00+09:00"},
             other={"slug": "idem-cf2", "title": "ひつじ団", "goal": 100000,
                    "starts_at": "2026-06-01T10:00:00+09:00",
                    "ends_at": "2026-07-01T10:00:00+09:00"}),
        Case("PATCH", "/api/v1/campaigns/{campaign_id:int}",
             f"/api/v1/campaigns/{cf['draft']}", {"title": "ひつじ団 2027"},
             other={"title": "ひつじ団 2028"}),
        Case("POST", "/api/v1/campaigns/{campaign_id:int}/rewards",
             f"/api/v1/campaigns/{cf['draft']}/rewards",
             {"title": "お礼", "price": 3000, "delivery_month": "2026-09",
              "items": [{"kind": "sns_thanks"}]}),
        Case("PATCH", "/api/v1/rewards/{reward_id:int}", f"/api/v1/rewards/{cf['reward']}",
             {"quantity_limit": 8}, other={"quantity_limit": 9}),
        Case("POST", "/api/v1/campaigns/{campaign_id:int}/go-live",
             f"/api/v1/campaigns/{cf['draft']}/go-live", None),
        Case("POST", "/api/v1/pledges/{pledge_id:int}/payment",
             f"/api/v1/pledges/{cf['pledge']}/payment", {"source": "bank", "amount": 5000},
             other={"source": "cash", "amount": 5000}),
        Case("POST", "/api/v1/campaigns/{campaign_id:int}/outcome",
             f"/api/v1/campaigns/{cf['undecided']}/outcome", None),
        Case("POST", "/api/v1/refunds/{refund_id:int}/sent",
             f"/api/v1/refunds/{cf['to_send']}/sent", None),
        Case("POST", "/api/v1/refunds/{refund_id:int}/confirmed",
             f"/api/v1/refunds/{cf['to_confirm']}/confirmed", None),
        Case("POST", "/api/v1/refunds/{refund_id:int}/failed",
             f"/api/v1/refunds/{cf['to_fail']}/failed", {"reason": "口座なし"},
             other={"reason": "名義違い"}),
        Case("POST", "/api/v1/refunds/{refund_id:int}/by-hand",
             f"/api/v1/refunds/{cf['by_hand']}/by-hand", {"method": "cash", "note": "受付で返金"},
             other={"method": "cash", "note": "別の返金"}),
        Case("POST", "/api/v1/campaigns/{campaign_id:int}/images",
             f"/api/v1/campaigns/{cf['draft']}/images",
             {"alt": "窯", "data_base64": cf["png"]},
             other={"alt": "別の窯", "data_base64": cf["png"]}),
        Case("PATCH", "/api/v1/campaign-images/{image_id:int}",
             f"/api/v1/campaign-images/{cf['image']}", {"position": 2},
             other={"alt": "別の説明"}),
        Case("DELETE", "/api/v1/campaign-images/{image_id:int}",
             f"/api/v1/campaign-images/{cf['image']}", None),
        Case("POST", "/api/v1/campaigns/{campaign_id:int}/close",
             f"/api/v1/campaigns/{cf['closable']}/close", None),
        # Updates (web/api/cf_updates.py)
        Case("POST", "/api/v1/campaigns/{campaign_id:int}/updates",
             f"/api/v1/campaigns/{cf['draft']}/updates",
             {"title": "工房から", "body": "窯に火が入りました。", "audience": "public"},
             other={"title": "工房から", "body": "窯に火が入りました。",
                    "audience": "supporters"}),
        Case("PATCH", "/api/v1/campaigns/{campaign_id:int}/updates/{update_id:int}",
             f"/api/v1/campaigns/{cf['draft']}/updates/{to_edit}", {"title": "下書き 2"},
             other={"title": "下書き 3"}),
        Case("POST", "/api/v1/campaigns/{campaign_id:int}/updates/{update_id:int}/publish",
             f"/api/v1/campaigns/{cf['draft']}/updates/{to_publish}/publish", None),
        Case("PUT", "/api/v1/events/{event_id:int}/settlement/requester",
             f"/api/v1/events/{event}/settlement/requester",
             {"code": "1234567890", "name_kana": "ｵｰﾌﾟﾝﾌｧｸﾄﾘｰｼﾞｯｺｳｲｲﾝｶｲ", "bank_code": "0001",
              "branch_code": "001", "account_type": 1, "account_number": "1234567"},
             other={"code": "1234567899", "name_kana": "ｲｲﾝｶｲ", "bank_code": "0001",
                    "branch_code": "001", "account_type": 1, "account_number": "1234567"}),
        Case("PUT", "/api/v1/events/{event_id:int}/settlement/fee-rule",
             f"/api/v1/events/{event}/settlement/fee-rule", {"rule": "fixed", "fixed_yen": 25},
             other={"rule": "fixed", "fixed_yen": 30}),
        Case("POST", "/api/v1/events", "/api/v1/events",
             {"slug": "idem-2027", "name": "二〇二七", "committee_name": "実行委員会",
              "starts_on": (today + timedelta(days=30)).isoformat(),
              "ends_on": (today + timedelta(days=32)).isoformat()}),
        Case("POST", "/api/v1/events/{event_id:int}/workshops",
             f"/api/v1/events/{event}/workshops", workshop_body("H09", pin="2468")),
        Case("PATCH", "/api/v1/workshops/{workshop_id:int}", f"/api/v1/workshops/{workshop}",
             {"craft": "鋳物"}),
        Case("PUT", "/api/v1/workshops/{workshop_id:int}/pin",
             f"/api/v1/workshops/{sc.workshop_ids[2]}/pin", {"pin": "97531"}),
        Case("POST", "/api/v1/events/{event_id:int}/programmes",
             f"/api/v1/events/{event}/programmes", programme_body()),
        Case("PATCH", "/api/v1/programmes/{programme_id:int}",
             f"/api/v1/programmes/{programme}", {"max_booklets_per_sale": 3},
             other={"max_booklets_per_sale": 4}),
        Case("PUT", "/api/v1/programmes/{programme_id:int}/print-layout",
             f"/api/v1/programmes/{programme}/print-layout", {"paper": "A3", "columns": 4,
                                                              "rows": 6},
             other={"paper": "B4"}),
        Case("POST", "/api/v1/programmes/{programme_id:int}/batches",
             f"/api/v1/programmes/{programme}/batches", {"count": 2}),
        Case("POST", "/api/v1/programmes/{programme_id:int}/print-jobs",
             f"/api/v1/programmes/{programme}/print-jobs", {"count": 1}, other={"count": 2},
             same="id"),
        Case("POST", "/api/v1/programmes/{programme_id:int}/sales",
             f"/api/v1/programmes/{programme}/sales",
             {"booklet_codes": [sc.booklet_codes[1]], "payment_method": "cash"},
             other={"booklet_codes": [sc.booklet_codes[1]], "payment_method": "card"}),
        Case("POST", "/api/v1/pickups", "/api/v1/pickups",
             {"code": pickup_code, "booklet_codes": [sc.booklet_codes[4]], "place": "本部受付"},
             other={"code": pickup_code, "booklet_codes": [sc.booklet_codes[5]],
                    "place": "本部受付"}),
        Case("POST", "/api/v1/booklets/void", "/api/v1/booklets/void",
             {"code": sc.booklet_codes[2], "reason": "雨で濡れた"}),
        Case("POST", "/api/v1/booklets/reprint", "/api/v1/booklets/reprint",
             {"booklet_codes": [sc.booklet_codes[3]], "reason": "印刷かすれ"}, same="id"),
        Case("POST", "/api/v1/redemptions", "/api/v1/redemptions",
             {"codes": [tickets[2]]}, who="workshop", other={"codes": [tickets[3]]}),
        Case("POST", "/api/v1/redemptions/{redemption_id:int}/undo",
             f"/api/v1/redemptions/{to_undo.body['redemption_id']}/undo", None, who="workshop"),
        Case("POST", "/api/v1/settlement/corrections/redemption",
             "/api/v1/settlement/corrections/redemption",
             {"ticket_code": tickets[0], "reason": "別の工房の券", "to_workshop_id":
              sc.workshop_ids[1]}),
        Case("POST", "/api/v1/settlement/corrections/adjustment",
             "/api/v1/settlement/corrections/adjustment",
             {"workshop_id": workshop, "amount": 300, "counter_account": "premium_fund",
              "reason": "釣り銭の立替"},
             other={"workshop_id": workshop, "amount": 301, "counter_account": "premium_fund",
                    "reason": "釣り銭の立替"}),
        Case("POST", "/api/v1/events/{event_id:int}/settlement/periods",
             f"/api/v1/events/{event}/settlement/periods", {}),
        Case("POST", "/api/v1/settlement/periods/{period_id:int}/paid",
             f"/api/v1/settlement/periods/{closed['period_id']}/paid",
             {"transfer_date": next_bank_day(today + timedelta(days=1)).isoformat()}),
        Case("POST", "/api/v1/programmes/{programme_id:int}/expire",
             f"/api/v1/programmes/{over.programme_id}/expire", None),
        Case("POST", "/api/v1/programmes/{programme_id:int}/close-out",
             f"/api/v1/programmes/{over.programme_id}/close-out", None),
        Case("POST", "/api/v1/settlement/workshops/{workshop_id:int}/repayment-request",
             f"/api/v1/settlement/workshops/{workshop}/repayment-request", None),
        Case("POST", "/api/v1/settlement/workshops/{workshop_id:int}/repayments",
             f"/api/v1/settlement/workshops/{sc.workshop_ids[2]}/repayments",
             {"amount": 60, "received_on": today.isoformat()},
             other={"amount": 40, "received_on": today.isoformat()}),
        # After the repayment above: ¥100 asked back, ¥60 paid, so the invoice bills ¥40.
        Case("POST", "/api/v1/settlement/workshops/{workshop_id:int}/repayment-invoices",
             f"/api/v1/settlement/workshops/{sc.workshop_ids[2]}/repayment-invoices", {},
             other={"due_date": (today + timedelta(days=20)).isoformat()}),
        Case("POST", "/api/v1/staff-users", "/api/v1/staff-users",
             {"username": "desk2", "display_name": "受付", "role": "desk",
              "password": "another long password"}),
        Case("DELETE", "/api/v1/tokens/{token_id:int}", f"/api/v1/tokens/{spare}", None),
        Case("POST", "/api/v1/session/password", "/api/v1/session/password",
             {"current_password": "a long admin password",
              "new_password": "an even longer admin password"}),
        Case("POST", "/api/v1/public/campaigns/{campaign_id:int}/pledges",
             f"/api/v1/public/campaigns/{campaign}/pledges",
             {"reward_id": reward, "name": "佐藤花子", "email": "sato@example.jp",
              "phone": "090-1234-5678", "payment_method": "bank_transfer"},
             other={"reward_id": reward, "name": "佐藤花子", "email": "sato@example.jp",
                    "phone": "090-1234-5678", "payment_method": "cash"}),
    ]
    settings = Settings(data_dir=tmp_path, database_url=db.url, secret_key=secret)
    with client_for(settings, db) as client:
        yield World(client, db, tokens, cases)


def _live_campaign(db: Database, event_id: int) -> tuple[int, int]:
    """A live campaign with one return, for the public pledge route."""
    now = clock.now()
    with db.write() as session:
        describe_demo_committee(session, event_id)  # the account transfers go to
    campaign = create_campaign(
        db, event_id=event_id, slug="hitsuji", title="ひつじ団", goal=100_000,
        starts_at=now - timedelta(hours=1), ends_at=now + timedelta(days=30),
        payment_methods=["bank_transfer", "cash"], representative="山田太郎",
        phone="0766-00-0000", price_note="税込", extra_charges="なし", payment_terms="7日以内",
        delivery_terms="2027年3月", cancellation_terms="入金前は取消可", now=now)
    reward = add_reward(db, campaign.id, title="見学", price=5000, quantity_limit=10,
                        delivery_month="2027-03", items=[{"kind": "tour_invite"}])
    go_live(db, campaign.id, now=now)
    return campaign.id, reward.id


def _pickup_code(db: Database, secret: bytes, event_id: int, programme_id: int) -> str:
    """The pickup code of a paid pledge whose return holds one booklet of the programme,
    in a campaign that ended and succeeded."""
    now = clock.now()
    starts, ends = now - timedelta(days=10), now - timedelta(hours=1)
    campaign = create_campaign(
        db, event_id=event_id, slug="booklets", title="冊子団", goal=1000, starts_at=starts,
        ends_at=ends, payment_methods=["bank_transfer"], representative="山田太郎",
        phone="0766-00-0000", price_note="税込", extra_charges="なし", payment_terms="7日以内",
        delivery_terms="会場で", cancellation_terms="入金前は取消可", now=starts)
    reward = add_reward(db, campaign.id, title="冊子", price=3000, delivery_month="2027-03",
                        items=[{"kind": "voucher_booklets", "programme_id": programme_id,
                                "count": 1}])
    go_live(db, campaign.id, now=starts)
    made = make_pledge(db, PledgeRequest(
        campaign_id=campaign.id, reward_id=reward.id, name="佐藤花子", email="p@example.jp",
        phone="090-1234-5678", payment_method="bank_transfer", quantity=1, amount=None,
        answers={}), now=starts).body
    mark_paid(db, made["pledge_id"], source="bank", amount=3000, actor="t", now=starts)
    decide_outcome(db, campaign.id, actor="t", now=now)
    return pickup_path(secret, made["pledge_id"])


def unsafe_routes(app: Litestar) -> dict[tuple[str, str], Any]:
    return {
        (method, route.path): handler
        for route in app.routes if isinstance(route, HTTPRoute)
        and route.path.startswith("/api/")
        for method, (handler, _) in route.route_handler_map.items() if method in UNSAFE
    }


def row_counts(db: Database) -> dict[str, int]:
    with db.read() as session:
        names = [t for t in session.connection().dialect.get_table_names(session.connection())
                 if t not in SKIP_TABLES]
        return {t: session.execute(text(f'SELECT count(*) FROM "{t}"')).scalar_one()
                for t in names}


def send(world: World, case: Case, key: str | None, body: Any = None) -> Any:
    headers = {"Authorization": f"Bearer {world.tokens[case.who]}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    sent = case.body if body is None else body
    return world.client.request(case.method, case.url, headers=headers,
                                json=sent if sent is not None else None)


def test_every_state_changing_route_honours_the_key(world: World) -> None:
    routes = unsafe_routes(world.client.app)
    covered = {(c.method, c.route) for c in world.cases}
    assert set(routes) == covered | set(EXEMPT), (
        "unsafe routes with neither a case here nor a reason in EXEMPT: "
        f"{sorted(set(routes) - covered - set(EXEMPT))}; stale: "
        f"{sorted((covered | set(EXEMPT)) - set(routes))}")
    problems: list[str] = []
    for n, case in enumerate(world.cases):
        name = f"{case.method} {case.route}"
        mode = routes[case.method, case.route].opt.get("idempotency")
        if mode not in ("required", "optional"):
            problems.append(f"{name}: declares no idempotency ({mode!r})")
            continue
        if mode == "required":
            before = row_counts(world.db)
            missing = send(world, case, None)
            if (missing.status_code, missing.json().get("code")) != (
                    400, "idempotency.key_missing") or row_counts(world.db) != before:
                problems.append(f"{name}: without a key got {missing.status_code}")
        key = f"idem-{n}"
        first = send(world, case, key)
        if not 200 <= first.status_code < 300:
            problems.append(f"{name}: first call {first.status_code} {first.text[:200]}")
            continue
        after_first = row_counts(world.db)
        again = send(world, case, key)
        seen, expected = again.json(), first.json()
        if case.same:
            seen, expected = seen[case.same], expected[case.same]
        if (again.status_code, seen) != (first.status_code, expected):
            problems.append(f"{name}: the retry answered {again.status_code} {again.text[:200]}"
                            f" instead of {first.status_code} {first.text[:200]}")
        if again.headers.get("idempotent-replayed") != "true":
            problems.append(f"{name}: the retry was not a replay")
        if (changed := row_counts(world.db)) != after_first:
            diff = {t: (after_first[t], changed[t]) for t in changed
                    if changed[t] != after_first.get(t)}
            problems.append(f"{name}: the retry changed rows {diff}")
        if case.other:  # the same key for another request is refused, and changes nothing
            other = send(world, case, key, case.other)
            if other.json().get("code") != "idempotency.key_reused" or (
                    row_counts(world.db) != after_first):
                problems.append(f"{name}: another request with the same key got "
                                f"{other.status_code} {other.text[:200]}")
    assert not problems, "\n".join(problems)
