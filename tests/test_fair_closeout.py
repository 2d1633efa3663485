"""A simulated fair through the API, on both databases, checked against a recount from
the raw rows (issue 13, items 5-7):

sales at the desk, redemptions at four workshops, period 1 closed and paid (5 % fee);
then corrections after payment: a paid ticket moved from W01 to W04 (its fee moves
with it, W01 owes it back and the next payout offsets it), a paid ticket of W02
withdrawn to breakage with W02 asked to pay back, ¥2,000 more taken back from W03
than its next line can absorb (carried, then asked back); period 2 (¥10 a ticket)
closed and paid; the repayments recorded when the money arrives. The programme
summary, the statements and the ledger must each agree with what the test counts
itself from the redemption, correction, sale and posting rows, and the auditor
passes. Then the last day of use passes: the treasurer page reminds, the close-out
expires what is left once (asked twice), and the auditor passes again.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import func, select, text

from apps import client_for
from oflocal import clock
from oflocal.auth.models import StaffUser
from oflocal.auth.service import Actor, issue_api_token, open_session
from oflocal.db.engine import Database
from oflocal.demo import build_event
from oflocal.ledger.models import Account, JournalEntry, Posting
from oflocal.settings import Settings
from oflocal.settlement.bank_days import next_bank_day
from oflocal.settlement.preview import preview_close
from oflocal.vouchers.codes import CodeSigner, grouped
from oflocal.vouchers.models import Programme
from oflocal.web.security import SESSION_COOKIE
from test_settlement import ticket_codes

FACE, PRICE = 3000, 2500  # the demo programme: six ¥500 tickets for ¥2,500


class Fair:
    def __init__(self, client: TestClient[Litestar], db: Database, tokens: dict[str, str],
                 sc: Any, tickets: list[str], treasurer: Actor) -> None:
        self.client, self.db, self.tokens, self.sc = client, db, tokens, sc
        self.tickets, self.treasurer = tickets, treasurer

    def call(self, method: str, who: str, path: str, body: Any = None,
             key: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"}
        if method == "POST":
            headers["Idempotency-Key"] = key or uuid.uuid4().hex
        return self.client.request(method, "/api/v1" + path, json=body, headers=headers)

    def ok(self, method: str, who: str, path: str, body: Any = None, key: str | None = None
           ) -> Any:
        answer = self.call(method, who, path, body, key)
        assert answer.status_code in (200, 201), (path, answer.text)
        return answer.json()

    def redeem(self, workshop: int, n: int) -> list[str]:
        codes, self.tickets = self.tickets[:n], self.tickets[n:]
        self.ok("POST", f"w{workshop}", "/redemptions", {"codes": codes})
        return codes

    def close_and_pay(self) -> dict[str, Any]:
        period = self.ok("POST", "treasurer", f"/events/{self.sc.event_id}/settlement/periods",
                         {"cutoff_at": clock.now().isoformat()})
        day = next_bank_day(clock.tokyo_date(clock.now())).isoformat()
        return dict(self.ok("POST", "treasurer", f"/settlement/periods/{period['period_id']}/paid",
                            {"transfer_date": day}))

    def statement(self, period_id: int, workshop: int) -> list[dict[str, str]]:
        wid = self.sc.workshop_ids[workshop]
        answer = self.call("GET", "treasurer",
                           f"/settlement/periods/{period_id}/statements/{wid}?format=csv")
        assert answer.status_code == 200, answer.text
        return list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))


@pytest.fixture
def fair(db: Database, signer: CodeSigner, secret: bytes, tmp_path: Path) -> Iterator[Fair]:
    with db.write() as session:
        sc = build_event(session, signer, workshops=4, booklets=20)
        users = [StaffUser(username=f"f-{r}", display_name=f"{r} user", role=r,
                           password_hash="!", created_at=clock.now())
                 for r in ("treasurer", "desk")]
        session.add_all(users)
        session.flush()
        ids = {u.role: u.id for u in users}
        treasurer = Actor("staff", ids["treasurer"], "treasurer user", "treasurer")
    tokens = {r: issue_api_token(db, name=r, staff_user_id=i) for r, i in ids.items()}
    for i, wid in enumerate(sc.workshop_ids):
        tokens[f"w{i}"] = issue_api_token(db, name=f"w{i}", workshop_id=wid)
    settings = Settings(data_dir=tmp_path, database_url=db.url, secret_key=secret)
    with client_for(settings, db) as client:
        fair = Fair(client, db, tokens, sc, [], treasurer)
        for start in range(0, 15, 5):  # 15 booklets sold in three sales of five
            fair.ok("POST", "desk", f"/programmes/{sc.programme_id}/sales",
                    {"booklet_codes": sc.booklet_codes[start:start + 5]})
        fair.tickets = ticket_codes(db, sc.booklet_codes[:15])
        yield fair


# ------------------------------------------------------------- recounts from raw rows


def raw_settled_per_workshop(db: Database) -> dict[str, tuple[int, int]]:
    """Workshop code → (tickets, face) as settled: live redemptions, a moved ticket
    counted where it went, a withdrawn one nowhere (raw SQL, not the app's code)."""
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    with db.read() as s:
        for code, amount in s.execute(text(
                "SELECT w.code, r.amount FROM redemption r JOIN workshop w ON w.id = r.workshop_id "
                "WHERE r.undone_at IS NULL")):
            out[code][0] += 1
            out[code][1] += amount
        for code, amount, face in s.execute(text(
                "SELECT w.code, c.amount, r.amount FROM settlement_correction c "
                "JOIN workshop w ON w.id = c.workshop_id "
                "JOIN redemption r ON r.id = c.redemption_id")):
            sign = 1 if amount > 0 else -1
            out[code][0] += sign
            out[code][1] += sign * face
    return {k: (v[0], v[1]) for k, v in out.items() if v != [0, 0]}


def raw_premium_used(db: Database) -> int:
    """Per sale: face redeemed (not withdrawn) × the sale's premium ÷ its face value."""
    with db.read() as s:
        rows = s.execute(text(
            "SELECT s.id, s.premium_total, s.face_total, r.amount FROM redemption r "
            "JOIN ticket t ON t.id = r.ticket_id JOIN booklet b ON b.id = t.booklet_id "
            "JOIN sale s ON s.id = b.sale_id WHERE r.undone_at IS NULL AND r.id NOT IN ("
            "  SELECT redemption_id FROM settlement_correction "
            "  WHERE amount < 0 AND counter_account = 'breakage' "
            "  AND redemption_id IS NOT NULL)")).all()
    per_sale: dict[int, list[int]] = {}
    for sale, premium, face, amount in rows:
        per_sale.setdefault(sale, [premium, face, 0])[2] += amount
    return sum(redeemed * premium // face for premium, face, redeemed in per_sale.values())


def raw_balances(db: Database, event_id: int) -> dict[str, int]:
    with db.read() as s:
        return {code: int(total) for code, total in s.execute(
            select(Account.code, func.coalesce(func.sum(Posting.amount), 0))
            .join(Posting, Posting.account_id == Account.id, isouter=True)
            .where(Account.event_id == event_id)
            .group_by(Account.code))}


def verified(fair: Fair) -> None:
    report = fair.ok("GET", "treasurer", "/ledger/verify")
    assert report["ok"], [c for c in report["checks"] if not c["ok"]]


# ---------------------------------------------------------------------------- the fair


def test_a_fair_with_corrections_after_payment_agrees_everywhere(fair: Fair) -> None:
    sc, event = fair.sc, fair.sc.event_id
    w = sc.workshop_codes  # W01..W04
    fair.ok("PUT", "treasurer", f"/events/{event}/settlement/fee-rule",
            {"rule": "rate", "rate_bp": 500, "fixed_yen": 0, "rounding": "floor"})
    moved = fair.redeem(0, 8)[0]  # scanned on W01's phone, meant for W04
    withdrawn = fair.redeem(1, 5)[0]  # a ticket W02 did not honour
    fair.redeem(2, 3)
    first = fair.close_and_pay()
    assert (first["face_total"], first["fee_total"], first["net_total"]) == (8000, 400, 7600)

    # After payment: W01 has nothing pending; what it gives back is a receivable.
    done = fair.ok("POST", "treasurer", "/settlement/corrections/redemption",
                   {"ticket_code": moved, "reason": "他の工房の券", "to_workshop_id":
                    sc.workshop_ids[3]})
    assert (done["face"], done["fee"], done["amount"], done["settle_by"]) == (
        500, 25, 475, "offset")
    gone = fair.ok("POST", "treasurer", "/settlement/corrections/redemption",
                   {"ticket_code": withdrawn, "reason": "利用されていない", "settle": "repayment"})
    assert (gone["amount"], gone["counter_account"], gone["settle_by"]) == (
        475, "breakage", "repayment")
    more = fair.ok("POST", "treasurer", "/settlement/corrections/adjustment",
                   {"workshop_id": sc.workshop_ids[2], "amount": -2000,
                    "counter_account": "premium_fund", "reason": "二重払い"})
    assert more["settle_by"] == "offset"
    twice = fair.call("POST", "treasurer", "/settlement/corrections/redemption",
                      {"ticket_code": moved, "reason": "again"})
    assert twice.status_code == 409 and twice.json()["code"] == "settlement.already_corrected"
    owed = {o["code"]: o for o in fair.ok("GET", "treasurer",
                                          f"/events/{event}/settlement/owed-back")}
    assert {c: (o["total"], o["to_offset"], o["to_repay"]) for c, o in owed.items()} == {
        w[0]: (475, 475, 0), w[1]: (475, 0, 475), w[2]: (2000, 2000, 0)}
    balances = raw_balances(fair.db, event)
    assert all(balances[f"payable:W{wid}"] <= 0 for wid in sc.workshop_ids)  # never a debit
    verified(fair)

    fair.ok("PUT", "treasurer", f"/events/{event}/settlement/fee-rule",
            {"rule": "fixed", "rate_bp": 0, "fixed_yen": 10, "rounding": "floor"})
    fair.redeem(0, 5)
    fair.redeem(2, 2)
    with fair.db.read() as s:  # the page's preview applies the same offset rule
        preview = preview_close(s, event, clock.now())
    second = fair.close_and_pay()
    assert (preview.adjustment_total, preview.net_total, preview.negative) == (
        second["adjustment_total"], second["net_total"], []) == (0, 3430, [])
    lines = {ln["workshop_code"]: (ln["face_total"], ln["adjustment"], ln["fee"], ln["net"])
             for ln in fair.ok("GET", "treasurer",
                               f"/settlement/periods/{second['period_id']}")["lines"]}
    # W01's line offsets what it owed; W03's could not absorb ¥2,000, so it waits.
    assert lines == {w[0]: (2500, -475, 50, 1975), w[2]: (1000, 0, 20, 980),
                     w[3]: (0, 475, 0, 475)}

    notes = [(r["内訳"], int(r["金額"])) for r in fair.statement(second["period_id"], 0)
             if r["区分"] == "訂正の説明"]
    assert notes == [  # the ticket as printed on it
        (f"券{grouped(moved)}→{w[3]} {_name(fair, 3)}（額面¥500・手数料¥25戻し）", -475),
        ("支払済み分の戻し（今回のお支払いから差引）", -475)]
    pdf = fair.call("GET", "treasurer", f"/settlement/periods/{second['period_id']}"
                    f"/statements/{sc.workshop_ids[0]}")
    doc = pdfium.PdfDocument(pdf.content)
    printed = "\n".join(doc[i].get_textpage().get_text_range() for i in range(len(doc)))
    doc.close()
    assert "訂正の説明" in printed and "支払済み分の戻し（今回のお支払いから差引）" in printed
    carried = [(r["内訳"], int(r["金額"])) for r in fair.statement(second["period_id"], 2)
               if r["区分"] == "訂正の説明"]
    assert carried == [("支払済み分の戻し 残り（次回以降のお支払いから差引）", -2000)]
    target = [r for r in fair.statement(second["period_id"], 3) if r["区分"] == "訂正の説明"]
    assert [int(r["金額"]) for r in target] == [475] and grouped(moved) in target[0]["内訳"]

    # The workshops pay back; W03 is asked to instead of waiting for a payout.
    too_much = fair.call("POST", "treasurer", f"/settlement/workshops/{sc.workshop_ids[1]}"
                         "/repayments", {"amount": 476, "received_on": _today()})
    assert too_much.status_code == 409
    assert too_much.json()["code"] == "settlement.repayment_too_much"
    fair.ok("POST", "treasurer", f"/settlement/workshops/{sc.workshop_ids[1]}/repayments",
            {"amount": 475, "received_on": _today()}, key="repay-w02")
    replay = fair.call("POST", "treasurer",
                       f"/settlement/workshops/{sc.workshop_ids[1]}/repayments",
                       {"amount": 475, "received_on": _today()}, key="repay-w02")
    assert replay.status_code == 201 and replay.headers.get("Idempotent-Replayed") == "true"
    asked = fair.ok("POST", "treasurer",
                    f"/settlement/workshops/{sc.workshop_ids[2]}/repayment-request")
    assert (asked["corrections"], asked["to_repay"]) == (1, 2000)
    fair.ok("POST", "treasurer", f"/settlement/workshops/{sc.workshop_ids[2]}/repayments",
            {"amount": 2000, "received_on": _today(), "account": "cash"})
    assert fair.ok("GET", "treasurer", f"/events/{event}/settlement/owed-back") == []

    # The summary agrees with settlement, and with a recount from the raw rows.
    summary = fair.ok("GET", "treasurer", f"/programmes/{sc.programme_id}/summary")
    per_workshop = {r["code"]: (r["tickets"], r["face"]) for r in summary["per_workshop"]}
    assert per_workshop == raw_settled_per_workshop(fair.db) == {
        w[0]: (12, 6000), w[1]: (4, 2000), w[2]: (5, 2500), w[3]: (1, 500)}
    settled_face: dict[str, int] = defaultdict(int)
    for period in (first, second):
        for ln in fair.ok("GET", "treasurer",
                          f"/settlement/periods/{period['period_id']}")["lines"]:
            settled_face[ln["workshop_code"]] += ln["face_total"]
    corrected = {w[0]: -500, w[1]: -500, w[3]: 500}  # the two tickets' face value
    assert {c: f + corrected.get(c, 0) for c, f in settled_face.items()} == {
        c: face for c, (_n, face) in per_workshop.items()}
    assert (summary["redeemed_tickets"], summary["redeemed_face"]) == (22, 11000)
    assert (summary["withdrawn_tickets"], summary["withdrawn_face"]) == (1, 500)
    # the days add up to what was redeemed: the withdrawn ticket was no use
    assert (sum(d["tickets"] for d in summary["per_day"]),
            sum(d["face"] for d in summary["per_day"])) == (22, 11000)
    assert summary["premium_used"] == raw_premium_used(fair.db) == 11000 * 500 // FACE
    assert summary["cash_received"] == 15 * PRICE

    # The ledger, recounted from the postings: every workshop settled, nothing owed.
    balances = raw_balances(fair.db, event)
    for wid in sc.workshop_ids:
        assert balances[f"payable:W{wid}"] == 0
    for wid in sc.workshop_ids[:3]:
        assert balances[f"receivable:W{wid}"] == 0
    nets = first["net_total"] + second["net_total"]
    assert balances["bank"] == -nets + 475
    assert balances["cash"] == 15 * PRICE + 2000
    assert balances["fee_income"] == -(first["fee_total"] + second["fee_total"]) + 25
    assert balances["breakage"] == -500
    assert balances["premium_fund"] == 15 * (FACE - PRICE) - 2000
    assert balances[f"voucher_liability:P{sc.programme_id}"] == -(90 - 23) * 500
    assert sum(balances.values()) == 0
    verified(fair)
    books_agree_with_the_raw_rows(fair, cash=15 * PRICE + 2000)


def books_agree_with_the_raw_rows(fair: Fair, *, cash: int) -> None:
    """The treasurer deposits the desk's cash (their own voucher); then the trial balance,
    the annual report, the unused balance, the journal export and the bank reconciliation,
    all through the API, against recounts from the raw postings and tickets."""
    event = fair.sc.event_id
    fair.ok("POST", "treasurer", f"/events/{event}/treasury/entries",
            {"kind": "cash_deposit", "amount": cash, "business_date": _today(),
             "description": "受付の現金を銀行へ預け入れ"})
    raw = raw_balances(fair.db, event)
    assert raw["cash"] == 0
    # A span wide enough for every business day of this fair (payouts on transfer days).
    first = (clock.tokyo_date(clock.now()) - timedelta(days=40)).isoformat()
    last = (clock.tokyo_date(clock.now()) + timedelta(days=10)).isoformat()
    span = f"from={first}&to={last}"
    trial = fair.ok("GET", "treasurer", f"/events/{event}/trial-balance?{span}")
    with fair.db.read() as s:
        postings = s.execute(text(
            "SELECT a.code, p.amount FROM posting p JOIN account a ON a.id = p.account_id "
            "WHERE a.event_id = :e"), {"e": event}).all()
    debits: dict[str, int] = defaultdict(int)
    credits: dict[str, int] = defaultdict(int)
    for code, amount in postings:
        (debits if amount > 0 else credits)[code] += abs(amount)
    rows = {r["account"]: r for r in trial["rows"]}
    for code, balance in raw.items():
        row = rows[code]
        assert (row["opening"], row["debit"], row["credit"], row["closing"]) == (
            0, debits[code], credits[code], balance), code
    assert trial["balanced"] and trial["total_debit"] == sum(debits.values())
    annual = fair.ok("GET", "treasurer", f"/events/{event}/annual-report?{span}")
    with fair.db.read() as s:
        funds = sum(v for code, v in raw.items() if s.execute(text(
            "SELECT kind FROM account WHERE event_id = :e AND code = :c"),
            {"e": event, "c": code}).scalar_one() == "asset")
    assert annual["brought_forward"] == 0 and annual["carried_forward"] == funds
    assert annual["income_total"] - annual["expenditure_total"] == annual["difference"] == funds
    with fair.db.read() as s:
        valid_face = s.execute(text(
            "SELECT COALESCE(SUM(denomination), 0) FROM ticket WHERE status = 'active'")
        ).scalar_one()
    unused = fair.ok("GET", "treasurer", f"/events/{event}/unused-balance")
    assert unused["as_of"]["total"] == valid_face == -raw[
        f"voucher_liability:P{fair.sc.programme_id}"]
    journal = fair.call("GET", "treasurer", f"/events/{event}/exports/journal?format=csv")
    lines = list(csv.reader(io.StringIO(journal.content.decode("utf-8-sig"))))[1:]
    assert len(lines) == len(postings)
    today = clock.tokyo_date(clock.now())
    with fair.db.read() as s:  # the bank's lines up to today, each on its business day
        bank_rows = s.execute(text(
            "SELECT p.amount, e.business_date, e.occurred_at FROM posting p "
            "JOIN account a ON a.id = p.account_id JOIN journal_entry e ON e.id = p.entry_id "
            "WHERE a.event_id = :e AND a.code = 'bank'"), {"e": event}).all()
    by_today = 0
    for amount, business, at in bank_rows:
        day = business if business is not None else clock.tokyo_date(_aware(at))
        if isinstance(day, str):  # SQLite hands dates back as text in raw SQL
            day = date.fromisoformat(day)
        by_today += amount if day <= today else 0
    bank = fair.ok("GET", "treasurer",
                   f"/events/{event}/bank-reconciliation?as_of={today.isoformat()}"
                   f"&passbook_balance={by_today}")
    assert bank["ledger_balance"] == by_today == bank["unmatched_total"]  # nothing ticked
    assert bank["difference"] == 0
    verified(fair)


def _aware(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def test_the_unused_balance_refuses_a_day_to_come(fair: Fair) -> None:
    event = fair.sc.event_id
    tomorrow = (clock.tokyo_date(clock.now()) + timedelta(days=1)).isoformat()
    refused = fair.call("GET", "treasurer", f"/events/{event}/unused-balance?as_of={tomorrow}")
    assert refused.status_code == 422
    body = refused.json()
    assert body["code"] == "report.date_in_future"
    assert not any("a" <= c.lower() <= "z" for c in body["message_ja"])
    assert "has not come yet" in body["message_en"]
    today = fair.ok("GET", "treasurer", f"/events/{event}/unused-balance?as_of={_today()}")
    assert today["as_of"]["total"] == 90 * 500
    token, _csrf = open_session(fair.db, fair.treasurer, hours=1)
    fair.client.cookies.set(SESSION_COOKIE, token)
    page = fair.client.get(f"/treasurer/reports?event={event}&as_of={tomorrow}")
    fair.client.cookies.clear()
    assert page.status_code == 422 and "まだ来ていません" in page.text


def test_the_close_out_after_the_last_day(fair: Fair, monkeypatch: pytest.MonkeyPatch) -> None:
    sc = fair.sc
    fair.redeem(0, 6)
    fair.close_and_pay()
    early = fair.call("POST", "treasurer", f"/programmes/{sc.programme_id}/close-out")
    assert early.status_code == 409 and early.json()["code"] == "programme.not_expired"
    with fair.db.read() as s:
        programme = s.get(Programme, sc.programme_id)
        assert programme is not None
        last_day, rule = programme.valid_until, programme.breakage_rule
    fair.redeem(1, 2)  # one more at the fair's end, not settled yet

    later = clock.start_of_tokyo_day(last_day + timedelta(days=1)) + timedelta(hours=10)
    real_now = clock.now
    started = real_now()
    monkeypatch.setattr(clock, "now", lambda: later + (real_now() - started))  # days pass
    status = fair.ok("GET", "treasurer", f"/programmes/{sc.programme_id}/close-out")
    assert (status["last_day_passed"], status["closed_out"]) == (True, False)
    assert (status["tickets"], status["amount"], status["target"]) == (82, 41000, rule)
    assert (status["unsettled_redemptions"], status["unpaid_periods"]) == (2, 0)

    page = _treasurer_page(fair, f"/treasurer?event={sc.event_id}")
    assert f'id="closeout-reminder-{sc.programme_id}"' in page
    guided = _treasurer_page(fair, f"/treasurer/programmes/{sc.programme_id}/close-out")
    assert "¥41,000" in guided and 'id="confirm-close-out"' in guided
    with fair.db.read() as s:  # the page and the API name the account the ledger posts to
        ledger_name = s.execute(select(Account.name).where(
            Account.event_id == sc.event_id, Account.code == "breakage")).scalar_one()
    assert ledger_name.startswith(status["target_ja"] + " ")
    assert f"{status['target_ja']}に振り替えます" in guided and "雑収入" not in guided

    done = fair.ok("POST", "treasurer", f"/programmes/{sc.programme_id}/close-out")
    assert (done["expired_now"], done["expired_now_amount"], done["closed_out"]) == (
        82, 41000, True)
    again = fair.ok("POST", "treasurer", f"/programmes/{sc.programme_id}/close-out")
    assert (again["expired_now"], again["entry_id"], again["expired_face"]) == (0, None, 41000)
    with fair.db.read() as s:
        expiries = s.execute(select(JournalEntry.once_key)
                             .where(JournalEntry.kind == "expiry")).scalars().all()
    assert expiries == [f"expiry:P{sc.programme_id}"]
    balances = raw_balances(fair.db, sc.event_id)
    assert balances[f"voucher_liability:P{sc.programme_id}"] == 0
    assert rule == "breakage" and balances["breakage"] == -41000  # the demo's rule
    assert f'id="closeout-reminder-{sc.programme_id}"' not in _treasurer_page(
        fair, f"/treasurer?event={sc.event_id}")
    assert 'id="closed-out"' in _treasurer_page(
        fair, f"/treasurer/programmes/{sc.programme_id}/close-out")
    verified(fair)


def _today() -> str:
    return clock.tokyo_date(clock.now()).isoformat()


def _name(fair: Fair, workshop: int) -> str:
    with fair.db.read() as s:
        return str(s.execute(text("SELECT name FROM workshop WHERE id = :id"),
                             {"id": fair.sc.workshop_ids[workshop]}).scalar_one())


def _treasurer_page(fair: Fair, path: str) -> str:
    token, _csrf = open_session(fair.db, fair.treasurer, hours=1)
    fair.client.cookies.set(SESSION_COOKIE, token)
    answer = fair.client.get(path, follow_redirects=False)
    fair.client.cookies.clear()
    assert answer.status_code == 200, answer.text
    return str(answer.text)


def test_the_treasurer_asks_back_and_records_a_repayment_on_the_page(fair: Fair) -> None:
    sc = fair.sc
    paid_ticket = fair.redeem(0, 2)[0]
    fair.close_and_pay()
    token, csrf = open_session(fair.db, fair.treasurer, hours=1)
    fair.client.cookies.set(SESSION_COOKIE, token)
    posted = fair.client.post(f"/treasurer/events/{sc.event_id}/corrections", data={
        "_csrf": csrf, "ticket_code": paid_ticket, "to_workshop_id": "",
        "reason": "利用されていない", "settle": "next_payout"})
    assert posted.status_code == 200, posted.text
    assert 'id="owed-back"' in posted.text and "¥500" in posted.text
    wid = sc.workshop_ids[0]
    asked = fair.client.post(f"/treasurer/workshops/{wid}/repayment-request",
                             data={"_csrf": csrf, "event_id": str(sc.event_id)})
    assert asked.status_code == 200 and f"/treasurer/workshops/{wid}/repayments" in asked.text
    form = {"_csrf": csrf, "event_id": str(sc.event_id), "key": "form-1", "amount": "500",
            "received_on": _today(), "account": "bank"}
    for _ in range(2):  # a double click records it once
        recorded = fair.client.post(f"/treasurer/workshops/{wid}/repayments", data=form)
        assert recorded.status_code == 200, recorded.text
    fair.client.cookies.clear()
    with fair.db.read() as s:
        repayments = s.execute(select(func.count()).where(JournalEntry.kind == "repayment")
                               ).scalar_one()
    assert repayments == 1
    assert raw_balances(fair.db, sc.event_id)[f"receivable:W{wid}"] == 0
    verified(fair)
