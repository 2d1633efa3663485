"""The fair of issue 13 at its own scale, through the API, on both databases: 110
booklets sold (cash, bank transfer, card), 227 tickets redeemed at 30 workshops, two
settlement periods with different fee rules (2.5 % rounded half up, then ¥15 a ticket),
each paid on the transfer date of the Zengin file made for it. After the first payout:
a paid ticket moved from W01 to W05 (W01's share comes off its next payout), a ticket of
W02 withdrawn and W02 asked to pay it back, ¥1,500 more taken back from W03 (offset
next time) and ¥5,000 from W06 (more than its next line can absorb: carried). A week
later the treasurer books the town's subsidy (dated before the fair), deposits the
desk's cash, records the bank's transfer charges (a mistyped voucher first, reversed),
receives W02's repayment and reconciles the bank account against the passbook.

Every report is then checked against a recount from the raw rows with plain SQL, never
through the service functions: the trial balance over three spans, the statements
(支払通知書) of every workshop, both Zengin files read by the independent reader
(tests/settlement/zengin_reader.py), the annual report, the unused balance, the
journal export (CSV and XLSX) and the bank reconciliation. The world is built once per
database and shared by the module's tests (they only read it; the reconciliation test
ticks lines, which no other test looks at).
"""

from __future__ import annotations

import csv
import importlib.util
import io
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import openpyxl
import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import make_url, text

from apps import client_for
from backends import BACKENDS
from oflocal import clock
from oflocal.auth.models import StaffUser
from oflocal.auth.service import issue_api_token
from oflocal.db.engine import Database
from oflocal.demo import build_event
from oflocal.settings import Settings
from oflocal.settlement.bank_days import next_bank_day
from oflocal.vouchers.codes import CodeSigner, grouped
from test_fair_closeout import raw_premium_used, raw_settled_per_workshop
from test_settlement import ticket_codes

pytestmark = pytest.mark.xdist_group("fair_at_scale")  # one world per database, one worker

BOOKLETS_SOLD, PRICE, FACE, TICKET = 110, 2500, 3000, 500
# Tickets redeemed per workshop (W01..W30) in each period: 150 + 77 = 227. W05 and W13
# redeem nothing in the second; W06 only two tickets (¥1,000, too little to absorb ¥5,000).
FIRST = [8, 3, 6, 5, 4, 7, 2, 8, 5, 6, 1, 4, 7, 3, 8, 5, 2, 6, 4, 9, 3, 5, 7, 2, 6, 4, 8, 1, 5, 6]
SECOND = [4, 2, 5, 3, 0, 2, 3, 1, 4, 2, 3, 5, 0, 2, 3, 4, 1, 3, 2, 4, 1, 3, 2, 4, 3, 1, 2, 4, 3, 1]
RATE_RULE = {"rule": "rate", "rate_bp": 250, "fixed_yen": 0, "rounding": "round"}
FIXED_RULE = {"rule": "fixed", "rate_bp": 0, "fixed_yen": 15, "rounding": "floor"}
SUBSIDY, MISTYPED, CHARGE_PER_TRANSFER, UNBOOKED_CHARGE = 300_000, 44_000, 440, 330


@dataclass
class World:
    client: TestClient[Litestar]
    db: Database
    backend: str
    event_id: int
    programme_id: int
    workshop_ids: list[int]
    tokens: dict[str, str]
    day0: date  # the fair's day (sales, redemptions, corrections)
    d1: date  # first period's transfer date
    d2: date  # second period's transfer date, the day the treasurer does the books
    periods: list[int] = field(default_factory=list)
    zengin_before: dict[int, bytes] = field(default_factory=dict)  # made before paying
    statements_before: dict[int, list[dict[str, str]]] = field(default_factory=dict)
    moved: str = ""
    withdrawn: str = ""
    charges: int = 0
    build_seconds: float = 0.0

    def call(self, method: str, path: str, body: Any = None, who: str = "treasurer",
             key: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"}
        if method in ("POST", "PUT"):
            headers["Idempotency-Key"] = key or uuid.uuid4().hex
        return self.client.request(method, "/api/v1" + path, json=body, headers=headers)

    def ok(self, method: str, path: str, body: Any = None, who: str = "treasurer") -> Any:
        answer = self.call(method, path, body, who)
        assert answer.status_code in (200, 201), (path, answer.text)
        return answer.json()

    def csv(self, path: str) -> list[dict[str, str]]:
        answer = self.call("GET", path)
        assert answer.status_code == 200, answer.text
        return list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))


def _pay_on_planned_date(world: World, period_id: int, day: date) -> None:
    """Make the Zengin file for ``day`` (the planned transfer date), then mark the
    period paid without a date: it is paid on the planned one."""
    made = world.call("GET", f"/settlement/periods/{period_id}/zengin"
                             f"?transfer_date={day.isoformat()}")
    assert made.status_code == 200, made.text
    world.zengin_before[period_id] = made.content
    world.statements_before[period_id] = world.csv(
        f"/settlement/periods/{period_id}/statements?format=csv")
    paid = world.ok("POST", f"/settlement/periods/{period_id}/paid", {})
    assert paid["transfer_date"] == day.isoformat()


def _redeem(world: World, tickets: list[str], counts: list[int]) -> list[str]:
    for i, n in enumerate(counts):
        if n:
            world.ok("POST", "/redemptions", {"codes": tickets[:n]}, who=f"w{i}")
            tickets = tickets[n:]
    return tickets


def _run_the_fair(world: World, booklets: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    event, w = world.event_id, world.workshop_ids
    world.ok("PUT", f"/events/{event}/settlement/requester", {
        "code": "1234567890", "name_kana": "ｵｰﾌﾟﾝﾌｧｸﾄﾘｰｼﾞｯｺｳｲｲﾝｶｲ", "bank_code": "0001",
        "branch_code": "001", "account_type": 1, "account_number": "7654321"})
    for n, start in enumerate(range(0, BOOKLETS_SOLD, 5)):  # 22 sales of five booklets
        method = "card" if n % 7 == 5 else "bank" if n % 4 == 3 else "cash"
        world.ok("POST", f"/programmes/{world.programme_id}/sales",
                 {"booklet_codes": booklets[start:start + 5], "payment_method": method},
                 who="desk")
    tickets = ticket_codes(world.db, booklets[:BOOKLETS_SOLD])

    world.ok("PUT", f"/events/{event}/settlement/fee-rule", RATE_RULE)
    world.moved, world.withdrawn = tickets[0], tickets[FIRST[0]]  # W01's first, W02's first
    tickets = _redeem(world, tickets, FIRST)
    first = world.ok("POST", f"/events/{event}/settlement/periods",
                     {"cutoff_at": clock.now().isoformat()})
    world.periods.append(first["period_id"])
    _pay_on_planned_date(world, first["period_id"], world.d1)

    # Corrections after the payout: nothing of W01..W06 is pending any more.
    moved = world.ok("POST", "/settlement/corrections/redemption", {
        "ticket_code": world.moved, "reason": "W05の券をW01の端末で読み取り",
        "to_workshop_id": w[4]})
    withdrawn = world.ok("POST", "/settlement/corrections/redemption", {
        "ticket_code": world.withdrawn, "reason": "利用されていない券", "settle": "repayment"})
    assert (moved["settle_by"], withdrawn["settle_by"]) == ("offset", "repayment")
    for workshop, amount in ((w[2], -1500), (w[5], -5000)):
        world.ok("POST", "/settlement/corrections/adjustment", {
            "workshop_id": workshop, "amount": amount, "counter_account": "premium_fund",
            "reason": "二重払いの戻し"})

    world.ok("PUT", f"/events/{event}/settlement/fee-rule", FIXED_RULE)
    rest = _redeem(world, tickets, SECOND)
    assert len(rest) == BOOKLETS_SOLD * 6 - sum(FIRST) - sum(SECOND)
    second = world.ok("POST", f"/events/{event}/settlement/periods",
                      {"cutoff_at": clock.now().isoformat()})
    world.periods.append(second["period_id"])
    _pay_on_planned_date(world, second["period_id"], world.d2)

    # A week later, 10:00 on the second transfer day: the treasurer does the books.
    later = clock.start_of_tokyo_day(world.d2) + timedelta(hours=10)
    real_now, started = clock.now, clock.now()
    monkeypatch.setattr(clock, "now", lambda: later + (real_now() - started))
    books = f"/events/{event}/treasury/entries"
    world.ok("POST", books, {
        "kind": "subsidy", "amount": SUBSIDY, "credit_account": "premium_fund",
        "business_date": (world.day0 - timedelta(days=10)).isoformat(),
        "description": "プレミアム分の補助金", "counterparty": "高岡市"})
    with world.db.read() as s:  # all the desk's cash goes to the bank on the first bank day
        cash = s.execute(text(
            "SELECT SUM(p.amount) FROM posting p JOIN account a ON a.id = p.account_id "
            "WHERE a.event_id = :e AND a.code = 'cash'"), {"e": event}).scalar_one()
    world.ok("POST", books, {"kind": "cash_deposit", "amount": int(cash),
                             "business_date": world.d1.isoformat(),
                             "description": "受付の現金を預け入れ"})
    transfers = sum(int(world.call("GET", f"/settlement/periods/{p}/zengin")
                        .headers["X-Zengin-Payees"]) for p in world.periods)
    world.charges = CHARGE_PER_TRANSFER * transfers
    typo = world.ok("POST", books, {
        "kind": "expense", "debit_account": "bank_fees", "amount": MISTYPED,
        "business_date": world.d2.isoformat(), "description": "振込手数料"})
    world.ok("POST", f"/treasury/entries/{typo['id']}/reverse", {"reason": "金額の誤り"})
    world.ok("POST", books, {
        "kind": "expense", "debit_account": "bank_fees", "amount": world.charges,
        "business_date": world.d2.isoformat(), "description": f"振込手数料 {transfers}件"})
    owed = {o["workshop_id"]: o for o in world.ok("GET", f"/events/{event}/settlement/owed-back")}
    world.ok("POST", f"/settlement/workshops/{w[1]}/repayments",
             {"amount": owed[w[1]]["to_repay"], "received_on": world.d2.isoformat()})


@pytest.fixture(scope="module", params=BACKENDS)
def world(request: pytest.FixtureRequest, templates: Any, signer: CodeSigner, secret: bytes,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    started = time.monotonic()
    url = templates.sqlite_url() if request.param == "sqlite" else templates.postgres_url()
    db = Database(url)
    monkeypatch = pytest.MonkeyPatch()
    try:
        with db.write() as session:
            sc = build_event(session, signer, slug="scale", workshops=30,
                             booklets=BOOKLETS_SOLD + 10)
            users = [StaffUser(username=f"scale-{r}", display_name=f"{r} user", role=r,
                               password_hash="!", created_at=clock.now())
                     for r in ("treasurer", "desk")]
            session.add_all(users)
            session.flush()
            staff = {u.role: u.id for u in users}
        tokens = {r: issue_api_token(db, name=r, staff_user_id=i) for r, i in staff.items()}
        for i, wid in enumerate(sc.workshop_ids):
            tokens[f"w{i}"] = issue_api_token(db, name=f"w{i}", workshop_id=wid)
        day0 = clock.tokyo_date(clock.now())
        d1 = next_bank_day(day0)
        settings = Settings(data_dir=tmp_path_factory.mktemp(f"scale-{request.param}"),
                            database_url=db.url, secret_key=secret)
        with client_for(settings, db) as client:
            built = World(client, db, request.param, sc.event_id, sc.programme_id,
                          sc.workshop_ids, tokens, day0, d1,
                          next_bank_day(d1 + timedelta(days=7)))
            _run_the_fair(built, sc.booklet_codes, monkeypatch)
            built.build_seconds = time.monotonic() - started
            yield built
    finally:
        monkeypatch.undo()
        db.dispose()
        if request.param == "sqlite":
            path = make_url(url).database
            assert path is not None
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(path + suffix).unlink(missing_ok=True)


# ------------------------------------------------------------- the raw rows, recounted


def _day(value: Any) -> date:
    return date.fromisoformat(value) if isinstance(value, str) else value


def _moment(value: Any) -> datetime:
    if isinstance(value, str):  # SQLite hands timestamps back as text in raw SQL
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass(frozen=True)
class RawPosting:
    id: int
    entry_id: int
    code: str
    kind: str  # the account's class
    amount: int
    day: date  # the entry's business date, else the Tokyo day it was recorded
    entry_kind: str


def raw_postings(db: Database, event_id: int) -> list[RawPosting]:
    with db.read() as s:
        rows = s.execute(text(
            "SELECT p.id, p.entry_id, a.code, a.kind, p.amount, e.business_date, "
            "e.occurred_at, e.kind FROM posting p JOIN account a ON a.id = p.account_id "
            "JOIN journal_entry e ON e.id = p.entry_id WHERE a.event_id = :e "
            "ORDER BY p.id"), {"e": event_id}).all()
    return [RawPosting(pid, eid, code, kind, int(amount),
                       _day(business) if business is not None
                       else clock.tokyo_date(_moment(at)), entry_kind)
            for pid, eid, code, kind, amount, business, at, entry_kind in rows]


@dataclass(frozen=True)
class RawPeriod:
    id: int
    cutoff: datetime
    previous: datetime | None
    rule: str
    rate_bp: int
    fixed_yen: int
    rounding: str
    transfer_date: date


def raw_periods(db: Database, event_id: int) -> list[RawPeriod]:
    with db.read() as s:
        rows = s.execute(text(
            "SELECT id, cutoff_at, previous_cutoff_at, fee_rule, fee_rate_bp, fee_fixed_yen, "
            "fee_rounding, transfer_date FROM settlement_period WHERE event_id = :e "
            "ORDER BY number"), {"e": event_id}).all()
    return [RawPeriod(pid, _moment(cut), _moment(prev) if prev is not None else None, rule,
                      bp, fixed, rounding, _day(day))
            for pid, cut, prev, rule, bp, fixed, rounding, day in rows]


def fee_of(period: RawPeriod, face: int, tickets: int) -> int:
    """The fee as the rule's words say it (rules.py is not used): a rate of the face
    value rounded to the yen as stated, or yen per ticket."""
    if period.rule == "rate":
        exact = face * period.rate_bp / 10_000
        whole = int(exact)
        fraction = exact - whole
        if period.rounding == "round":
            return whole + (1 if fraction >= 0.5 else 0)
        return whole + (1 if period.rounding == "ceil" and fraction else 0)
    return tickets * period.fixed_yen if period.rule == "fixed" else 0


@dataclass(frozen=True)
class Line:
    tickets: int
    face: int
    adjustment: int
    fee: int

    @property
    def net(self) -> int:
        return self.face + self.adjustment - self.fee


def recount_lines(db: Database, event_id: int) -> dict[int, dict[str, Line]]:
    """Period id → workshop code → its line, from the redemptions (live ones redeemed
    after the previous cut-off, up to this one), the corrections given to the period and
    the period's fee rule."""
    periods = raw_periods(db, event_id)
    with db.read() as s:
        codes = dict(s.execute(text("SELECT id, code FROM workshop WHERE event_id = :e"),
                               {"e": event_id}).all())
        redemptions = s.execute(text(
            "SELECT r.workshop_id, r.amount, r.redeemed_at FROM redemption r "
            "JOIN programme p ON p.id = r.programme_id "
            "WHERE p.event_id = :e AND r.undone_at IS NULL"), {"e": event_id}).all()
        corrections = s.execute(text(
            "SELECT settlement_period_id, workshop_id, amount FROM settlement_correction "
            "WHERE event_id = :e AND settlement_period_id IS NOT NULL"), {"e": event_id}).all()
    out: dict[int, dict[str, Line]] = {}
    for period in periods:
        counted: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
        for workshop, amount, at in redemptions:
            moment = _moment(at)
            if moment <= period.cutoff and (period.previous is None or moment > period.previous):
                counted[workshop][0] += 1
                counted[workshop][1] += int(amount)
        for period_id, workshop, amount in corrections:
            if period_id == period.id:
                counted[workshop][2] += int(amount)
        out[period.id] = {codes[w]: Line(n, face, adj, fee_of(period, face, n))
                          for w, (n, face, adj) in counted.items()}
    return out


def _sum(values: Any) -> int:
    return sum(int(v) for v in values)


# ----------------------------------------------------------------------------- tests


def test_the_fair_has_the_issues_scale(world: World) -> None:
    with world.db.read() as s:
        sold = s.execute(text("SELECT COUNT(*) FROM booklet b JOIN sale s ON s.id = b.sale_id"
                              )).scalar_one()
        redeemed, workshops = s.execute(text(
            "SELECT COUNT(*), COUNT(DISTINCT workshop_id) FROM redemption "
            "WHERE undone_at IS NULL")).one()
        rules = s.execute(text("SELECT fee_rule, fee_rate_bp, fee_fixed_yen, fee_rounding "
                               "FROM settlement_period ORDER BY number")).all()
    assert (sold, redeemed, workshops) == (110, 227, 30)
    assert [tuple(r) for r in rules] == [("rate", 250, 0, "round"), ("fixed", 0, 15, "floor")]
    print(f"\n[{world.backend}] the fair was built in {world.build_seconds:.1f} s")  # -s shows it


def test_the_ledger_is_sound_and_the_summary_agrees_with_settlement(world: World) -> None:
    report = world.ok("GET", "/ledger/verify")
    assert report["ok"], [c for c in report["checks"] if not c["ok"]]
    summary = world.ok("GET", f"/programmes/{world.programme_id}/summary")
    per_workshop = {r["code"]: (r["tickets"], r["face"]) for r in summary["per_workshop"]}
    assert per_workshop == raw_settled_per_workshop(world.db)
    lines = recount_lines(world.db, world.event_id)
    settled: dict[str, int] = defaultdict(int)
    for per_period in lines.values():
        for code, line in per_period.items():
            settled[code] += line.face
    w05, w01, w02 = (f"W{n:02d}" for n in (5, 1, 2))
    assert {**settled, w01: settled[w01] - TICKET, w02: settled[w02] - TICKET,
            w05: settled[w05] + TICKET} == {c: face for c, (_n, face) in per_workshop.items()}
    assert (summary["redeemed_tickets"], summary["withdrawn_tickets"]) == (226, 1)
    assert summary["premium_used"] == raw_premium_used(world.db)
    with world.db.read() as s:
        paid = s.execute(text("SELECT SUM(amount_paid) FROM sale")).scalar_one()
    assert summary["cash_received"] == paid == BOOKLETS_SOLD * PRICE


def recount_fees_moved_in(db: Database, event_id: int) -> dict[int, dict[str, int]]:
    """By period and workshop: the fee on settled tickets a correction moved to the
    workshop (the redemption's face less what the correction pays it)."""
    out: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    with db.read() as s:
        for period, code, fee in s.execute(text(
                "SELECT c.settlement_period_id, w.code, r.amount - c.amount "
                "FROM settlement_correction c JOIN redemption r ON r.id = c.redemption_id "
                "JOIN workshop w ON w.id = c.workshop_id "
                "WHERE c.event_id = :e AND c.amount > 0 AND r.amount - c.amount > 0"),
                {"e": event_id}):
            out[period][code] += int(fee)
    return out


def test_period_lines_and_statements_agree_with_the_recount(world: World) -> None:
    lines = recount_lines(world.db, world.event_id)
    fees_in = recount_fees_moved_in(world.db, world.event_id)
    with world.db.read() as s:
        invoice_number = s.execute(text("SELECT invoice_number FROM event WHERE id = :e"),
                                   {"e": world.event_id}).scalar_one()
    assert invoice_number  # the demo committee is registered: statements are invoices
    for period, planned in zip(world.periods, (world.d1, world.d2), strict=True):
        expected = lines[period]
        api = {ln["workshop_code"]: Line(ln["ticket_count"], ln["face_total"],
                                         ln["adjustment"], ln["fee"])
               for ln in world.ok("GET", f"/settlement/periods/{period}")["lines"]}
        assert api == expected
        rows = world.csv(f"/settlement/periods/{period}/statements?format=csv")
        by_workshop: dict[str, list[dict[str, str]]] = defaultdict(list)
        for row in rows:
            by_workshop[row["工房コード"]].append(row)
        assert set(by_workshop) == set(expected)
        for code, line in expected.items():
            mine = by_workshop[code]
            kinds: dict[str, list[dict[str, str]]] = defaultdict(list)
            for row in mine:
                kinds[row["区分"]].append(row)
            assert _sum(r["金額"] for r in kinds["券種"]) == line.face
            assert _sum(r["金額"] for r in kinds["日別"]) == line.face
            assert _sum(r["枚数"] for r in kinds["日別"]) == line.tickets
            assert [(int(r["枚数"]), int(r["金額"])) for r in kinds["額面合計"]] == [
                (line.tickets, line.face)]
            assert [int(r["金額"]) for r in kinds["訂正合計"]] == [line.adjustment]
            assert _sum(r["金額"] for r in kinds["訂正"]) == line.adjustment
            assert [int(r["金額"]) for r in kinds["手数料"]] == [-line.fee]
            assert [int(r["金額"]) for r in kinds["支払額"]] == [line.net]
            # The fee is the committee's taxable sale: 10 % tax inside it, cut to the yen.
            # A ticket moved to the workshop is paid face − fee: charged the fee too.
            charged = line.fee + fees_in[period].get(code, 0)
            tax = [int(r["金額"]) for r in kinds["手数料の消費税"]]
            assert tax == ([charged * 10 // 110] if charged else [])
            assert all(invoice_number in r["内訳"] for r in kinds["手数料の消費税"])
            assert {r["振込日"] for r in mine} == {planned.isoformat()}
        before = {r["振込日"] for r in world.statements_before[period]}
        assert before == {f"{planned.isoformat()}（予定）"}  # the Zengin file's date

    second = lines[world.periods[1]]
    # The corrections after the first payout, carried into the second: W01 gives back
    # the moved ticket less the fee it paid on it, W05 receives that, W03 is offset,
    # W06's ¥5,000 waits (its line could not absorb it), W02 was asked to pay back.
    assert second["W05"].face == 0 and second["W05"].adjustment > 0
    assert second["W01"].adjustment == -second["W05"].adjustment
    assert (second["W03"].adjustment, second["W06"].adjustment, second["W02"].adjustment) == (
        -1500, 0, 0)
    rows = world.csv(f"/settlement/periods/{world.periods[1]}/statements?format=csv")
    w05 = [r for r in rows if r["工房コード"] == "W05" and r["区分"] == "訂正"]
    assert len(w05) == 1 and grouped(world.moved) in w05[0]["内訳"]


def test_zengin_files_read_back_as_the_recount(world: World) -> None:
    reader = _zengin_reader()
    lines = recount_lines(world.db, world.event_id)
    with world.db.read() as s:
        workshops = {wid: (code, number) for wid, code, number in s.execute(text(
            "SELECT id, code, account_number FROM workshop WHERE event_id = :e"),
            {"e": world.event_id})}
    postings = raw_postings(world.db, world.event_id)
    for period in raw_periods(world.db, world.event_id):
        blob = world.call("GET", f"/settlement/periods/{period.id}/zengin").content
        assert blob == world.zengin_before[period.id]  # the file the bank was sent
        parsed = reader.read(blob)
        paid = {code: line.net for code, line in lines[period.id].items() if line.net > 0}
        assert parsed.count == len(parsed.data) == len(paid)
        assert parsed.total == sum(paid.values())
        assert parsed.header.requester_code == "1234567890"
        assert parsed.header.transfer_mmdd == f"{period.transfer_date:%m%d}"
        read_back = {}
        for record in parsed.data:
            code, number = workshops[int(record.customer_code_1)]
            assert record.account_number == number
            read_back[code] = record.amount
        assert read_back == paid
        # …and the bank account's payouts on that day took exactly the file's total.
        out = [p.amount for p in postings
               if p.code == "bank" and p.entry_kind == "payout" and p.day == period.transfer_date]
        assert -sum(out) == parsed.total and len(out) == parsed.count


def _spans(world: World) -> dict[str, tuple[date, date]]:
    before = world.day0 - timedelta(days=1)
    return {"before the fair": (world.day0 - timedelta(days=30), before),
            "the fair and after": (world.day0, world.d2),
            "all": (world.day0 - timedelta(days=30), world.d2)}


def test_the_trial_balance_over_three_spans(world: World) -> None:
    postings = raw_postings(world.db, world.event_id)
    with world.db.read() as s:
        accounts = dict(s.execute(text("SELECT code, kind FROM account WHERE event_id = :e"),
                                  {"e": world.event_id}).all())
    closings: dict[str, dict[str, int]] = {}
    for name, (first, last) in _spans(world).items():
        trial = world.ok("GET", f"/events/{world.event_id}/trial-balance"
                                f"?from={first.isoformat()}&to={last.isoformat()}")
        rows = {r["account"]: r for r in trial["rows"]}
        assert set(rows) == set(accounts)
        for code, row in rows.items():
            mine = [p.amount for p in postings if p.code == code]
            opening = sum(p.amount for p in postings if p.code == code and p.day < first)
            inside = [p.amount for p in postings if p.code == code and first <= p.day <= last]
            debit = sum(a for a in inside if a > 0)
            credit = -sum(a for a in inside if a < 0)
            assert (row["opening"], row["debit"], row["credit"], row["closing"]) == (
                opening, debit, credit, opening + debit - credit), (name, code)
            assert row["kind"] == accounts[code]
            if name == "all":
                assert row["closing"] == sum(mine)  # nothing is dated after the last day
        journal_debits = sum(p.amount for p in postings if first <= p.day <= last and p.amount > 0)
        assert trial["total_debit"] == trial["total_credit"] == journal_debits, name
        assert trial["total_debit"] == sum(r["debit"] for r in trial["rows"])
        assert trial["balanced"] and sum(r["closing"] for r in trial["rows"]) == 0
        closings[name] = {code: r["closing"] for code, r in rows.items()}
    # Before the fair only the subsidy was booked (dated ten days before it).
    assert {c: v for c, v in closings["before the fair"].items() if v} == {
        "bank": SUBSIDY, "premium_fund": -SUBSIDY}
    assert closings["the fair and after"] == closings["all"]
    kinds = {r["kind"]: r["kind_label"] for r in trial["rows"]}
    assert kinds["asset"].startswith("資産") and kinds["expense"].startswith("費用")


def test_the_annual_report_equals_the_trial_balance_and_the_raw_postings(world: World) -> None:
    postings = raw_postings(world.db, world.event_id)
    with world.db.read() as s:
        sales = s.execute(text("SELECT SUM(face_total), SUM(premium_total) FROM sale")).one()
        vouchers = s.execute(text(
            "SELECT kind, amount, id, reverses_id FROM treasury_entry WHERE event_id = :e"),
            {"e": world.event_id}).all()
    reversed_ids = {r for *_x, r in vouchers if r is not None}
    live = [(kind, int(amount)) for kind, amount, vid, reverses in vouchers
            if reverses is None and vid not in reversed_ids]
    for name, (first, last) in _spans(world).items():
        span = f"from={first.isoformat()}&to={last.isoformat()}"
        report = world.ok("GET", f"/events/{world.event_id}/annual-report?{span}")
        trial = world.ok("GET", f"/events/{world.event_id}/trial-balance?{span}")
        funds = [r for r in trial["rows"] if r["kind"] == "asset"]
        assert report["brought_forward"] == sum(r["opening"] for r in funds), name
        assert report["carried_forward"] == sum(r["closing"] for r in funds), name
        assert report["difference"] == sum(r["debit"] - r["credit"] for r in funds), name
        assert report["income_total"] == sum(x["amount"] for x in report["income"])
        assert report["expenditure_total"] == sum(x["amount"] for x in report["expenditure"])
        assert report["income_total"] - report["expenditure_total"] == report["difference"]
        assert {x["key"]: x["amount"] for x in report["funds"]} == {
            r["account"]: r["closing"] for r in funds}
        assert _annual_lines(postings, first, last) == (
            [(x["key"], x["amount"]) for x in report["income"]],
            [(x["key"], x["amount"]) for x in report["expenditure"]]), name
    everything = world.ok("GET", f"/events/{world.event_id}/annual-report?"
                                 f"from={_spans(world)['all'][0]}&to={world.d2}")
    got = {x["key"]: x["amount"] for x in everything["income"] + everything["expenditure"]}
    assert (got["booklet_sales"], got["premium"]) == (int(sales[0]), int(sales[1]))
    assert got["subsidy"] == 0 and got["premium_fund_in"] >= SUBSIDY  # paid into the fund
    assert got["fees"] == sum(a for k, a in live if k == "expense") == world.charges
    assert got["payouts"] > 0 and got["fee_income"] > 0
    xlsx = world.call("GET", f"/events/{world.event_id}/exports/annual-report?format=xlsx"
                             f"&from={_spans(world)['all'][0]}&to={world.d2}")
    assert xlsx.status_code == 200
    cells = [c for row in openpyxl.load_workbook(io.BytesIO(xlsx.content), read_only=True
                                                 ).active.iter_rows(values_only=True)
             for c in row]
    assert everything["carried_forward"] in cells and everything["income_total"] in cells


INCOME = ["booklet_sales", "crowdfunding", "subsidy", "sponsors", "premium_fund_in",
          "fee_income"]
EXPENDITURE = ["payouts", "premium", "fees", "expenses"]


def _annual_lines(postings: list[RawPosting], first: date,
                  last: date) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """The receipts and payments of the span as the accountant counts them: every entry
    that moves funds (an asset account), split by its other postings; the premium fund
    both ways (paid in / drawn), any other account net. Labels are taken as given."""
    inside = [p for p in postings if first <= p.day <= last]
    moving = {p.entry_id for p in inside if p.kind == "asset"}
    debits: dict[str, int] = defaultdict(int)
    credits: dict[str, int] = defaultdict(int)
    kinds: dict[str, str] = {}
    for p in inside:
        if p.entry_id in moving and p.kind != "asset":
            (debits if p.amount > 0 else credits)[p.code] += abs(p.amount)
            kinds[p.code] = p.kind
    income: dict[str, int] = dict.fromkeys(INCOME, 0)
    spent: dict[str, int] = dict.fromkeys(EXPENDITURE, 0)
    for code in sorted(kinds):
        if code == "premium_fund":
            spent["premium"] += debits[code]
            income["premium_fund_in"] += credits[code]
            continue
        net = debits[code] - credits[code]
        if code.startswith("voucher_liability:"):
            income["booklet_sales"] -= net
        elif code == "fee_income":
            income["fee_income"] -= net
        elif code.startswith("payable:"):
            spent["payouts"] += net
        elif code == "subsidy_income":
            income["subsidy"] -= net
        elif code == "sponsorship_income":
            income["sponsors"] -= net
        elif code in ("pledges_held", "crowdfunding_income"):
            income["crowdfunding"] -= net
        elif code in ("bank_fees", "payment_fees"):
            spent["fees"] += net
        elif code == "other_expenses":
            spent["expenses"] += net
        elif kinds[code] == "expense":
            spent[code] = spent.get(code, 0) + net
        elif net:
            income[code] = income.get(code, 0) - net
    return list(income.items()), list(spent.items())


def test_the_unused_balance_is_the_tickets_still_valid(world: World) -> None:
    with world.db.read() as s:
        active = s.execute(text(
            "SELECT COALESCE(SUM(t.denomination), 0) FROM ticket t "
            "JOIN booklet b ON b.id = t.booklet_id WHERE t.status = 'active'")).scalar_one()
        redeemed = s.execute(text(
            "SELECT COALESCE(SUM(amount), 0) FROM redemption WHERE undone_at IS NULL")
        ).scalar_one()
        sold = s.execute(text("SELECT SUM(face_total) FROM sale")).scalar_one()
    liability = sum(p.amount for p in raw_postings(world.db, world.event_id)
                    if p.code == f"voucher_liability:P{world.programme_id}")
    unused = world.ok("GET", f"/events/{world.event_id}/unused-balance")
    assert unused["as_of"]["as_of"] == world.d2.isoformat()  # the clock moved on
    assert unused["as_of"]["total"] == active == sold - redeemed == -liability
    assert active == (BOOKLETS_SOLD * 6 - 227) * TICKET
    on_the_day = world.ok("GET", f"/events/{world.event_id}/unused-balance"
                                 f"?as_of={world.day0.isoformat()}")
    assert on_the_day["as_of"]["total"] == active  # nothing was sold or redeemed since


def test_the_journal_export_has_every_posting_and_real_dates(world: World) -> None:
    postings = raw_postings(world.db, world.event_id)
    by_id = {p.id: p for p in postings}
    answer = world.call("GET", f"/events/{world.event_id}/exports/journal?format=csv")
    rows = list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert len(rows) == len(postings)
    debits = sum(p.amount for p in postings if p.amount > 0)
    assert _sum(r["借方"] or 0 for r in rows) == _sum(r["貸方"] or 0 for r in rows) == debits
    assert sorted((int(r["仕訳番号"]), r["勘定コード"], int(r["借方"] or 0) - int(r["貸方"] or 0))
                  for r in rows) == sorted((p.entry_id, p.code, p.amount) for p in postings)

    answer = world.call("GET", f"/events/{world.event_id}/exports/journal?format=xlsx")
    assert answer.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(answer.content), read_only=True).active
    table = list(sheet.iter_rows(values_only=True))
    header = list(table[0])
    at, day, entry = header.index("日時"), header.index("取引日"), header.index("仕訳番号")
    code, debit, credit = (header.index(h) for h in ("勘定コード", "借方", "貸方"))
    assert len(table) - 1 == len(postings)
    days: dict[int, date] = {p.entry_id: p.day for p in by_id.values()}
    seen: list[tuple[int, str, int]] = []
    for row in table[1:]:
        assert isinstance(row[at], datetime) and isinstance(row[day], datetime), row
        assert row[day].time() == datetime.min.time()
        assert row[day].date() == days[int(row[entry])]
        seen.append((int(row[entry]), row[code], int(row[debit] or 0) - int(row[credit] or 0)))
    assert sorted(seen) == sorted((p.entry_id, p.code, p.amount) for p in postings)
    payout_days = {row[day].date() for row in table[1:] if row[code].startswith("payable:")
                   and row[debit]}
    assert {world.d1, world.d2} <= payout_days  # payouts on their transfer dates


def test_the_bank_reconciliation_explains_the_passbook(world: World) -> None:
    event = world.event_id
    bank = [p for p in raw_postings(world.db, event) if p.code == "bank"]
    ledger = sum(p.amount for p in bank if p.day <= world.d2)
    assert ledger == sum(p.amount for p in bank)  # nothing later than today
    seen = [p for p in bank if p.day < world.d2]  # the passbook, updated to yesterday
    world.ok("PUT", f"/events/{event}/bank-reconciliation/ticks",
             {"posting_ids": [p.id for p in seen], "seen": True})
    with world.db.read() as s:
        ticked = {int(i) for i in s.execute(text(
            "SELECT posting_id FROM bank_tick WHERE event_id = :e"), {"e": event}).scalars()}
    assert ticked == {p.id for p in seen}
    unmatched = [p for p in bank if p.id not in ticked]
    # Today's transfers, charges and W02's repayment are not in the passbook yet, and
    # the bank took a charge the books do not know of.
    passbook = sum(p.amount for p in seen) - UNBOOKED_CHARGE
    answer = world.ok("GET", f"/events/{event}/bank-reconciliation?as_of={world.d2}"
                             f"&passbook_balance={passbook}")
    assert answer["ledger_balance"] == ledger
    assert answer["unmatched_total"] == sum(p.amount for p in unmatched)
    assert answer["unmatched_count"] == len(unmatched) > 0
    assert {x["posting_id"] for x in answer["unmatched"]} == {p.id for p in unmatched}
    assert answer["difference"] == ledger - passbook
    assert answer["unexplained"] == UNBOOKED_CHARGE
    kept = world.ok("POST", f"/events/{event}/bank-reconciliations",
                    {"as_of": world.d2.isoformat(), "passbook_balance": passbook,
                     "note": "通帳記入 前日まで"})
    assert (kept["ledger_balance"], kept["unexplained"]) == (ledger, UNBOOKED_CHARGE)
    # The owed-back list agrees with the receivables: only W06's ¥5,000 still waits.
    owed = world.ok("GET", f"/events/{event}/settlement/owed-back")
    receivables = defaultdict(int)
    for p in raw_postings(world.db, event):
        if p.code.startswith("receivable:"):
            receivables[p.code] += p.amount
    assert {f"receivable:W{o['workshop_id']}": o["total"] for o in owed} == {
        c: v for c, v in receivables.items() if v}
    assert [(o["code"], o["to_offset"], o["to_repay"]) for o in owed] == [("W06", 5000, 0)]


_READER: ModuleType | None = None


def _zengin_reader() -> ModuleType:
    """The independent Zengin reader (tests/settlement), loaded once by its path."""
    global _READER
    if _READER is None:
        path = Path(__file__).parent / "settlement" / "zengin_reader.py"
        spec = importlib.util.spec_from_file_location("oflocal_scale_zengin_reader", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up
        spec.loader.exec_module(module)
        _READER = module
    return _READER
