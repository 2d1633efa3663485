"""Settlement services on both databases: closing periods, paying, corrections, and the
database guards behind them. Helpers here are shared by the other test_settlement_*
and test_reports* modules."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import bindparam, select, text
from sqlalchemy.exc import DBAPIError

from backends import through_pgbouncer
from oflocal import clock
from oflocal.audit import verify
from oflocal.db.engine import Database
from oflocal.demo import Scenario, build_event
from oflocal.errors import Refusal
from oflocal.ledger.verify import trial_balance
from oflocal.settlement.bank_days import next_bank_day
from oflocal.settlement.close import close_period
from oflocal.settlement.corrections import adjust_workshop, correct_redemption
from oflocal.settlement.models import SettlementLine, SettlementPeriod, SettlementTally
from oflocal.settlement.pay import mark_period_paid
from oflocal.settlement.queries import period_detail
from oflocal.settlement.rules import FeeRule
from oflocal.settlement.settings import set_fee_rule
from oflocal.vouchers.codes import CodeSigner, grouped
from oflocal.vouchers.desk import sell_booklets
from oflocal.vouchers.models import Redemption
from oflocal.vouchers.redeem import redeem_tickets, undo_redemption

# --------------------------------------------------------------------------- helpers


@dataclass
class World:
    db: Database
    signer: CodeSigner
    sc: Scenario
    tickets: list[str]  # codes of sold, still unredeemed tickets (taken from the front)
    base: datetime  # a moment in the past inside the programme's validity

    def take(self, n: int) -> list[str]:
        codes, self.tickets = self.tickets[:n], self.tickets[n:]
        assert len(codes) == n, "not enough sold tickets in this world"
        return codes

    def redeem(self, workshop: int, n: int, minutes: float) -> Any:
        return redeem_tickets(
            self.db, self.signer, workshop_id=self.sc.workshop_ids[workshop], codes=self.take(n),
            now=self.at(minutes),
        ).body

    def at(self, minutes: float) -> datetime:
        return self.base + timedelta(minutes=minutes)

    def close(self, minutes: float | None = None, **kwargs: Any) -> dict[str, Any]:
        cutoff = self.at(minutes) if minutes is not None else None
        return close_period(self.db, event_id=self.sc.event_id, cutoff=cutoff, actor="test",
                            **kwargs).body

    def balances(self) -> dict[str, int]:
        with self.db.read() as s:
            return {r["account"]: int(r["balance"]) for r in trial_balance(s, self.sc.event_id)}

    def payable(self, workshop: int) -> int:
        """What the ledger says the committee owes the workshop (credit balance)."""
        return -self.balances()[f"payable:W{self.sc.workshop_ids[workshop]}"]

    def assert_verified(self) -> None:
        with self.db.read() as s:
            report = verify(s)
        assert report.ok, report.failures


def ticket_codes(db: Database, booklet_codes: list[str]) -> list[str]:
    with db.read() as s:
        return list(
            s.execute(
                text(
                    "SELECT t.code FROM ticket t JOIN booklet b ON b.id = t.booklet_id "
                    "WHERE b.code IN :codes ORDER BY b.serial, t.serial"
                ).bindparams(bindparam("codes", expanding=True)),
                {"codes": booklet_codes},
            ).scalars()
        )


def make_world(db: Database, signer: CodeSigner, *, workshops: int = 3, booklets: int = 6,
               sold: int = 5, sold_at: datetime | None = None,
               programme_day: date | None = None, slug: str = "demo") -> World:
    """``programme_day``: the programme is valid from the day before it (default today).
    ``sold_at``: when the booklets are sold; the sales window then opens a day before it.
    ``slug``: another one for a second event in the same database."""
    with db.write() as s:
        sc = build_event(s, signer, slug=slug, workshops=workshops, booklets=booklets,
                         today=programme_day, now=sold_at)
    for i in range(0, sold, 5):
        sell_booklets(db, signer, programme_id=sc.programme_id,
                      codes=sc.booklet_codes[i:min(i + 5, sold)], payment_method="cash",
                      actor="test", now=sold_at)
    codes = ticket_codes(db, sc.booklet_codes[:sold])
    base = clock.now() - timedelta(hours=3)
    # The tests' moments (base .. base + 61 min) stay in one Tokyo day: tallies are per
    # day, and a test run at 02:00-03:00 JST would otherwise split a workshop's day.
    last_day = clock.tokyo_date(base + timedelta(minutes=61))
    if clock.tokyo_date(base) != last_day:
        base = clock.start_of_tokyo_day(last_day) + timedelta(minutes=1)
    return World(db, signer, sc, codes, base)


@pytest.fixture
def world(db: Database, signer: CodeSigner) -> World:
    return make_world(db, signer)


def lines_of(db: Database, period_id: int) -> dict[int, SettlementLine]:
    with db.read() as s:
        return {
            ln.workshop_id: ln
            for ln in s.execute(
                select(SettlementLine).where(SettlementLine.period_id == period_id)
            ).scalars()
        }


def period_numbers(db: Database) -> dict[int, int | None]:
    """Each redemption's period number (None: not settled yet), worked out here from the
    rule as the brief states it, not with the app's SQL: the first period from the
    redemption's open period whose cut-off is at or after its time; undone: none."""
    with db.read() as s:
        periods = s.execute(
            text("SELECT p.event_id, sp.number, sp.cutoff_at FROM settlement_period sp "
                 "JOIN programme p ON p.event_id = sp.event_id ORDER BY sp.number")
        ).all()
        rows = s.execute(
            select(Redemption.id, Redemption.open_period, Redemption.redeemed_at,
                   Redemption.undone_at)
        ).all()
    cutoffs = sorted({(number, _aware(cutoff)) for _e, number, cutoff in periods})
    out: dict[int, int | None] = {}
    for r in rows:
        found = [n for n, c in cutoffs if n >= r.open_period and c >= r.redeemed_at]
        out[r.id] = None if r.undone_at is not None or not found else found[0]
    return out


def bank_day(moment: datetime) -> date:
    """The first day banks are open from ``moment``'s Tokyo day: a transfer date."""
    return next_bank_day(clock.tokyo_date(moment))


def stored(db: Database, value: datetime) -> datetime:
    """A timestamp as raw SQL must write it: naive UTC on SQLite (as UTCDateTime does)."""
    return value.astimezone(UTC).replace(tzinfo=None) if db.engine.dialect.name == "sqlite" \
        else value


def _aware(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# ----------------------------------------------------------------------------- close


def test_close_freezes_what_was_redeemed_up_to_the_cutoff(world: World) -> None:
    w = world
    w.redeem(0, 3, minutes=0)
    w.redeem(1, 2, minutes=10)
    w.redeem(0, 1, minutes=30)  # exactly at the cut-off: belongs to the first period
    w.redeem(2, 4, minutes=31)  # after the cut-off: the next period
    first = w.close(30)
    assert (first["number"], first["ticket_count"], first["face_total"]) == (1, 6, 3000)
    assert first["workshops"] == 2 and first["net_total"] == 3000 and not first["replayed"]
    lines = lines_of(w.db, first["period_id"])
    ids = w.sc.workshop_ids
    assert {k: (v.ticket_count, v.face_total) for k, v in lines.items()} == {
        ids[0]: (4, 2000), ids[1]: (2, 1000)
    }
    with w.db.read() as s:
        tallies = s.execute(
            select(SettlementTally.workshop_id, SettlementTally.denomination,
                   SettlementTally.ticket_count)
            .where(SettlementTally.period_id == first["period_id"])
        ).all()
        workshop_of = dict(s.execute(select(Redemption.id, Redemption.workshop_id)).all())
    unsettled = [workshop_of[r] for r, n in period_numbers(w.db).items() if n is None]
    assert sorted(tallies) == sorted([(ids[0], 500, 4), (ids[1], 500, 2)])
    assert sorted(unsettled) == [ids[2]] * 4
    w.assert_verified()

    second = w.close(60)
    assert (second["number"], second["ticket_count"], second["face_total"]) == (2, 4, 2000)
    assert second["previous_cutoff_at"] == first["cutoff_at"]
    w.assert_verified()


def test_close_is_idempotent_and_cutoffs_move_forward(world: World) -> None:
    w = world
    w.redeem(0, 2, minutes=0)
    first = w.close(20)
    again = close_period(w.db, event_id=w.sc.event_id, cutoff=w.at(20), actor="test")
    assert again.status == 200 and again.body["replayed"]
    assert again.body["period_id"] == first["period_id"]
    with pytest.raises(Refusal) as earlier:
        w.close(10)
    assert earlier.value.code == "settlement.cutoff_not_after_last"
    with pytest.raises(Refusal) as future:
        close_period(w.db, event_id=w.sc.event_id, cutoff=clock.now() + timedelta(minutes=5),
                     actor="test")
    assert future.value.code == "settlement.cutoff_in_future"
    with pytest.raises(Refusal) as empty:
        w.close(40)
    assert empty.value.code == "settlement.nothing_to_settle"
    with w.db.read() as s:
        assert s.execute(select(SettlementPeriod.number)).scalars().all() == [1]
    w.redeem(1, 1, minutes=45)
    assert w.close(50)["number"] == 2


def test_undo_after_closing_is_refused_by_the_service_and_the_database(world: World) -> None:
    w = world
    out = w.redeem(0, 2, minutes=0)
    w.close(5)
    with pytest.raises(Refusal) as settled:
        undo_redemption(w.db, workshop_id=w.sc.workshop_ids[0],
                        redemption_id=out["redemption_id"], now=w.at(6))
    assert settled.value.code == "undo.settled"
    # Even a direct UPDATE (a bug, a script) cannot undo a settled redemption.
    with pytest.raises(DBAPIError), w.db.write() as s:
        s.execute(text("UPDATE redemption SET undone_at = :t, undo_entry_id = entry_id"),
                  {"t": clock.now()})
    w.assert_verified()


def test_frozen_settlement_rows_cannot_be_rewritten(world: World) -> None:
    w = world
    w.redeem(0, 2, minutes=0)
    w.redeem(1, 1, minutes=40)
    period = w.close(5)
    later = w.close(50)
    mark_period_paid(w.db, period_id=period["period_id"], transfer_date=bank_day(w.at(5)),
                     actor="test")
    for statement in (
        "UPDATE settlement_line SET net = net + 1",
        "DELETE FROM settlement_line",
        "UPDATE settlement_tally SET ticket_count = ticket_count + 1",
        "DELETE FROM settlement_tally",
        "DELETE FROM settlement_period",
        f"UPDATE settlement_period SET status = 'closed' WHERE id = {period['period_id']}",
        f"UPDATE settlement_period SET cutoff_at = closed_at WHERE id = {later['period_id']}",
        # which period a redemption is in cannot be moved either
        "UPDATE redemption SET open_period = open_period + 1",
        "UPDATE event SET open_period = open_period + 1",  # no period numbered so
        "UPDATE event SET open_period = 1",
    ):
        with pytest.raises(DBAPIError), w.db.write() as s:
            s.execute(text(statement))
    w.assert_verified()


def test_the_database_keeps_open_periods_exact(world: World) -> None:
    """A redemption must copy its event's open period; periods are numbered by it, follow
    the last cut-off, and only a close moves it on. Each refused write changes nothing;
    the same write with the right value goes through (so it was the guard that said no)."""
    w = world
    w.redeem(0, 2, minutes=0)
    first = w.close(5)
    with w.db.read() as s:
        open_now = s.execute(text("SELECT open_period FROM event WHERE id = :e"),
                             {"e": w.sc.event_id}).scalar_one()
        ticket_id, programme_id, amount = s.execute(
            text("SELECT id, programme_id, denomination FROM ticket WHERE code = :c"),
            {"c": w.tickets[0]},
        ).one()
        entry_id = s.execute(text("SELECT MIN(entry_id) FROM redemption")).scalar_one()
    assert open_now == 2
    insert = text(
        "INSERT INTO redemption (ticket_id, workshop_id, programme_id, amount, entry_id, "
        "redeemed_at, open_period) VALUES (:t, :w, :p, :a, :e, :at, :n)"
    )
    row = {"t": ticket_id, "w": w.sc.workshop_ids[0], "p": programme_id, "a": amount,
           "e": entry_id, "at": stored(w.db, w.at(6))}

    class Rollback(Exception):
        pass

    for stale in (1, 3):
        with pytest.raises(DBAPIError), w.db.write() as s:
            s.execute(insert, {**row, "n": stale})
    with pytest.raises(Rollback), w.db.write() as s:
        s.execute(insert, {**row, "n": open_now})
        raise Rollback  # the right copy is accepted; undo it by rolling back

    period = {"e": w.sc.event_id, "at": stored(w.db, clock.now())}
    insert_period = text(
        "INSERT INTO settlement_period (event_id, number, cutoff_at, previous_cutoff_at, "
        "status, fee_rule, fee_rate_bp, fee_fixed_yen, fee_rounding, closed_at, closed_by) "
        "VALUES (:e, :n, :cut, :prev, 'closed', 'none', 0, 0, 'floor', :at, 'test')"
    )
    cut = stored(w.db, w.at(30))
    prev = stored(w.db, datetime.fromisoformat(first["cutoff_at"]))
    for bad in ({"n": 3, "prev": prev, "cut": cut},      # not the open period
                {"n": 2, "prev": None, "cut": cut},      # forgets the last cut-off
                {"n": 2, "prev": prev, "cut": prev}):    # does not end later
        with pytest.raises(DBAPIError), w.db.write() as s:
            s.execute(insert_period, {**period, **bad})
    with pytest.raises(Rollback), w.db.write() as s:
        s.execute(insert_period, {**period, "n": 2, "prev": prev, "cut": cut})
        s.execute(text("UPDATE event SET open_period = 3 WHERE id = :e"), {"e": w.sc.event_id})
        raise Rollback  # a period and the move past it, as a close writes them
    with w.db.read() as s:
        assert s.execute(text("SELECT open_period FROM event")).scalar_one() == 2
        assert s.execute(text("SELECT COUNT(*) FROM settlement_period")).scalar_one() == 1
    w.assert_verified()


@through_pgbouncer
def test_closes_racing_on_one_cutoff_make_one_period(world: World) -> None:
    w = world
    w.redeem(0, 3, minutes=0)
    w.redeem(1, 3, minutes=1)
    cutoff = w.at(10)
    results: list[Any] = []

    def close() -> None:
        try:
            results.append(close_period(w.db, event_id=w.sc.event_id, cutoff=cutoff, actor="t"))
        except Exception as error:
            results.append(error)

    threads = [threading.Thread(target=close) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(not isinstance(r, Exception) for r in results), results
    assert len({r.body["period_id"] for r in results}) == 1
    assert sorted(r.status for r in results) == [200] * 5 + [201]
    with w.db.read() as s:
        assert s.execute(select(SettlementPeriod.id)).scalars().all() == [
            results[0].body["period_id"]
        ]
    w.assert_verified()


# ------------------------------------------------------------------------------- fee


@pytest.mark.parametrize(
    ("rule", "face", "count", "fee"),
    [
        (FeeRule("none"), 12345, 10, 0),
        (FeeRule("rate", 250, 0, "floor"), 1010, 2, 25),  # 25.25
        (FeeRule("rate", 250, 0, "round"), 1010, 2, 25),
        (FeeRule("rate", 250, 0, "ceil"), 1010, 2, 26),
        (FeeRule("rate", 250, 0, "floor"), 1020, 2, 25),  # 25.5
        (FeeRule("rate", 250, 0, "round"), 1020, 2, 26),
        (FeeRule("rate", 250, 0, "ceil"), 1020, 2, 26),
        (FeeRule("rate", 300, 0, "ceil"), 1000, 2, 30),  # exact: no rounding
        (FeeRule("fixed", 0, 30, "floor"), 1500, 3, 90),
        (FeeRule("fixed", 0, 600, "floor"), 1000, 2, 1000),  # never above the face value
    ],
)
def test_fee_rule(rule: FeeRule, face: int, count: int, fee: int) -> None:
    assert rule.fee(face, count) == fee


def test_fee_rule_is_frozen_with_the_period(world: World) -> None:
    w = world
    set_fee_rule(w.db, event_id=w.sc.event_id, rule=FeeRule("rate", 333, 0, "ceil"))
    w.redeem(0, 3, minutes=0)  # 1500 × 3.33 % = 49.95 → 50
    w.redeem(1, 1, minutes=0)  # 500 × 3.33 % = 16.65 → 17
    first = w.close(5)
    set_fee_rule(w.db, event_id=w.sc.event_id, rule=FeeRule("fixed", 0, 20, "floor"))
    w.redeem(0, 2, minutes=10)
    second = w.close(15)
    ids = w.sc.workshop_ids
    one, two = lines_of(w.db, first["period_id"]), lines_of(w.db, second["period_id"])
    assert (one[ids[0]].fee, one[ids[0]].net, one[ids[1]].fee) == (50, 1450, 17)
    assert first["fee_total"] == 67 and first["net_total"] == 2000 - 67
    assert "3.33%" in first["fee_rule"] and "切り上げ" in first["fee_rule"]
    assert (two[ids[0]].fee, two[ids[0]].net) == (40, 960)
    with w.db.read() as s:
        assert "3.33%" in period_detail(s, first["period_id"])["fee_rule"]


# ------------------------------------------------------------------------------ paid


def test_marking_paid_posts_payouts_once(world: World) -> None:
    w = world
    set_fee_rule(w.db, event_id=w.sc.event_id, rule=FeeRule("rate", 500, 0, "floor"))
    w.redeem(0, 4, minutes=0)
    w.redeem(1, 1, minutes=0)
    w.redeem(2, 2, minutes=20)  # after the cut-off: stays payable
    period = w.close(10)
    day = bank_day(w.at(10))
    before = w.balances()
    with pytest.raises(Refusal) as early:
        mark_period_paid(w.db, period_id=period["period_id"],
                         transfer_date=clock.tokyo_date(w.at(10)) - timedelta(days=1),
                         actor="test")
    assert early.value.code == "settlement.transfer_date_invalid"
    holiday = next(d for d in (day + timedelta(days=i) for i in range(7)) if d.weekday() == 6)
    with pytest.raises(Refusal) as closed:  # a Sunday: no bank moved money then
        mark_period_paid(w.db, period_id=period["period_id"], transfer_date=holiday,
                         actor="test")
    assert closed.value.code == "settlement.transfer_date_bank_holiday"
    assert "日曜日" in closed.value.message("ja") and "Sunday" in closed.value.message("en")
    paid = mark_period_paid(w.db, period_id=period["period_id"], transfer_date=day, actor="test")
    assert paid.body["status"] == "paid" and paid.body["payout_entries"] == 2
    after = w.balances()
    assert w.payable(0) == 0 and w.payable(1) == 0 and w.payable(2) == 1000
    assert after["bank"] - before["bank"] == -(2000 - 100 + 500 - 25)
    assert after["fee_income"] - before["fee_income"] == -125
    with pytest.raises(Refusal) as twice:
        mark_period_paid(w.db, period_id=period["period_id"], transfer_date=day, actor="test")
    assert twice.value.code == "settlement.already_paid"
    assert w.balances() == after
    with pytest.raises(Refusal) as missing:
        mark_period_paid(w.db, period_id=10_000, transfer_date=day, actor="test")
    assert missing.value.code == "settlement.period_not_found"
    w.assert_verified()


@through_pgbouncer
def test_paying_a_period_from_many_threads_pays_once(world: World) -> None:
    w = world
    w.redeem(0, 2, minutes=0)
    w.redeem(1, 2, minutes=0)
    period = w.close(5)
    day = bank_day(w.at(5))
    outcomes: list[str] = []

    def pay() -> None:
        try:
            mark_period_paid(w.db, period_id=period["period_id"], transfer_date=day, actor="t")
            outcomes.append("paid")
        except Refusal as refusal:
            outcomes.append(refusal.code)

    threads = [threading.Thread(target=pay) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["paid"] + ["settlement.already_paid"] * 5
    with w.db.read() as s:
        payouts = s.execute(text("SELECT count(*) FROM journal_entry WHERE kind = 'payout'"))
        assert payouts.scalar_one() == 2
    assert w.payable(0) == 0 and w.payable(1) == 0
    w.assert_verified()


# ----------------------------------------------------------------------- corrections


def test_a_correction_is_a_reversing_entry_in_the_next_period(world: World) -> None:
    w = world
    out = w.redeem(0, 2, minutes=0)  # scanned on W1's phone, meant for W3
    first = w.close(5)
    mark_period_paid(w.db, period_id=first["period_id"], transfer_date=bank_day(w.at(5)),
                     actor="test")
    wrong = out["tickets"][0]["code"]  # the treasurer names the ticket by its code
    # W1 was paid and has nothing pending: what it gives back is owed to the committee
    # (receivable:W1, never a negative payable), to be offset against its next payout.
    typed = grouped(wrong).lower()  # as a person types it: groups of four, any case
    done = correct_redemption(w.db, ticket_code=typed, reason="wrong booth", actor="t",
                              to_workshop_id=w.sc.workshop_ids[2], now=w.at(7))
    # redemption_id keeps the booth's meaning: the redemption's journal entry.
    assert (done["ticket_code"], done["redemption_id"]) == (wrong, out["redemption_id"])
    assert (done["amount"], done["fee"], done["settle_by"]) == (500, 0, "offset")
    assert w.payable(0) == 0
    assert w.balances()[f"receivable:W{w.sc.workshop_ids[0]}"] == 500
    w.redeem(0, 3, minutes=8)  # W1 takes more tickets: its next line absorbs the offset
    with pytest.raises(Refusal) as again:
        correct_redemption(w.db, ticket_code=wrong, reason="again", actor="t", now=w.at(9))
    assert again.value.code == "settlement.already_corrected"
    adjust_workshop(w.db, workshop_id=w.sc.workshop_ids[1], amount=120,
                    counter_account="fee_income", reason="fee refund", actor="t", now=w.at(9))
    w.assert_verified()
    second = w.close(10)
    ids = w.sc.workshop_ids
    lines = lines_of(w.db, second["period_id"])
    assert (lines[ids[0]].face_total, lines[ids[0]].adjustment, lines[ids[0]].net) == (
        1500, -500, 1000)
    assert (lines[ids[2]].face_total, lines[ids[2]].adjustment, lines[ids[2]].net) == (0, 500, 500)
    assert (lines[ids[1]].adjustment, lines[ids[1]].net) == (120, 120)
    assert [w.payable(i) for i in range(3)] == [1500, 120, 500]  # W1's 500 is receivable
    mark_period_paid(w.db, period_id=second["period_id"], transfer_date=bank_day(w.at(10)),
                     actor="test")
    assert [w.payable(i) for i in range(3)] == [0, 0, 0]
    assert w.balances()[f"receivable:W{w.sc.workshop_ids[0]}"] == 0
    w.assert_verified()


def test_an_unsettled_redemption_is_undone_not_corrected(world: World) -> None:
    w = world
    code = w.redeem(0, 1, minutes=0)["tickets"][0]["code"]
    with pytest.raises(Refusal) as refused:
        correct_redemption(w.db, ticket_code=code, reason="x", actor="t")
    assert refused.value.code == "settlement.not_settled"
    unused = w.take(1)[0]  # sold, never redeemed
    with pytest.raises(Refusal) as never:
        correct_redemption(w.db, ticket_code=unused, reason="x", actor="t")
    assert never.value.code == "settlement.redemption_not_found"
    for typo, expected in ((unused[:-1] + "0" if unused[-1] != "0" else unused[:-1] + "1",
                            "code.checksum"), ("hello", "code.malformed")):
        with pytest.raises(Refusal) as bad_code:
            correct_redemption(w.db, ticket_code=typo, reason="x", actor="t")
        assert bad_code.value.code == expected
    for amount, counter, reason, expected in (
        (0, "breakage", "zero", "settlement.correction_amount_invalid"),
        (-1, "bank", "not a counter account", "settlement.correction_counter_invalid"),
        (-1, "breakage", "  ", "settlement.correction_reason_required"),
    ):
        with pytest.raises(Refusal) as bad:
            adjust_workshop(w.db, workshop_id=w.sc.workshop_ids[0], amount=amount,
                            counter_account=counter, reason=reason, actor="t")
        assert bad.value.code == expected
        # one language per message: no English inside the Japanese one
        assert not any("a" <= c.lower() <= "z" for c in bad.value.message("ja"))
    w.assert_verified()
