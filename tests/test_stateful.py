"""A model of the voucher money, replayed against the real services and database.

Hypothesis drives a random day at the fair: booklets sold at the desk (sometimes too
many, over the premium budget, already sold or voided), tickets scanned at random
booths (sometimes used, unsold, voided, forged, another booklet's code), retries with
the same Idempotency-Key (which must return the first outcome, success or refusal, even
after the world changed), undo (by another workshop, twice, too late), voiding stock,
time passing and the programme expiring.

An independent model in plain dicts predicts every outcome before the call and is
checked after every step: against the database (ticket states, the trial balance,
counts) and against ``verify()``, and each DESIGN.md identity is checked on the model's
own journal. The model knows the rules from DESIGN.md and the refusal order of the
services, not their code.

Each example gets a fresh database copied from the migrated template (conftest).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select

from oflocal import clock
from oflocal.audit import verify
from oflocal.db.engine import Database
from oflocal.demo import build_event
from oflocal.errors import Refusal
from oflocal.events.models import Workshop
from oflocal.idempotency.store import IdempotencyKey, Outcome, request_hash
from oflocal.ledger.models import JournalEntry
from oflocal.ledger.verify import trial_balance
from oflocal.vouchers.codes import CodeSigner
from oflocal.vouchers.desk import sell_booklets, void_booklet
from oflocal.vouchers.expiry import expire_programme
from oflocal.vouchers.models import Booklet, Programme, Redemption, Ticket
from oflocal.vouchers.redeem import redeem_tickets, undo_redemption

pytestmark = pytest.mark.slow

# The demo programme (demo.build_event): ¥2,500 for ¥3,000 in six ¥500 tickets, at most 5
# booklets a sale. A budget for 4 booklets' premium makes "budget exhausted" reachable.
PRICE, FACE, TICKET, PER_BOOKLET, PER_SALE = 2500, 3000, 500, 6, 5
PREMIUM = FACE - PRICE
BUDGET = 4 * PREMIUM
BOOKLETS = 7
WORKSHOPS = 3
UNDO_WINDOW = 600
OTHER_SECRET = b"another-fair-entirely-0123456789"


@dataclass
class Said:
    """What a service call answered: a body, or a refusal code and its facts."""

    ok: bool
    body: dict[str, Any] = field(default_factory=dict)
    code: str = ""
    facts: dict[str, Any] = field(default_factory=dict)

    @staticmethod
    def of(call: Callable[[], Outcome | dict[str, Any]]) -> Said:
        try:
            result = call()
        except Refusal as refusal:
            return Said(False, code=refusal.code, facts=refusal.to_body("en")["detail"])
        return Said(True, body=result.body if isinstance(result, Outcome) else result)


@dataclass
class Entry:
    kind: str
    lines: dict[str, int]


@dataclass
class Redeemed:
    entry_id: int
    workshop: int
    codes: list[str]
    at: datetime
    undone: bool = False


class Model:
    """The fair as the treasurer understands it, in plain dicts."""

    def __init__(self, booklets: dict[str, list[str]], workshops: dict[int, str],
                 programme_id: int, start: datetime) -> None:
        self.booklet_of = {t: b for b, tickets in booklets.items() for t in tickets}
        self.tickets = dict.fromkeys(self.booklet_of, "printed")
        self.booklets = dict.fromkeys(booklets, "printed")
        self.tickets_of = booklets
        self.workshops = workshops
        self.liability = f"voucher_liability:P{programme_id}"
        self.entries: list[Entry] = []
        self.redemptions: dict[int, Redeemed] = {}
        self.live: dict[str, int] = {}  # ticket -> entry id of its live redemption
        self.sold = 0
        self.sales_end = start + timedelta(days=3)
        self.valid_until = clock.tokyo_date(start) + timedelta(days=3)
        self.expired = False

    # -- the journal, as DESIGN.md's table says -------------------------------------
    def post(self, kind: str, lines: dict[str, int]) -> None:
        self.entries.append(Entry(kind, lines))

    def balances(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for entry in self.entries:
            total.update(entry.lines)
        return total

    # -- predictions -------------------------------------------------------------
    def sale_refusal(self, codes: list[str], now: datetime) -> str | None:
        if len(codes) > PER_SALE:
            return "sale.limit_exceeded"
        seen: set[str] = set()
        for code in codes:
            if code in self.tickets:
                return "code.not_a_booklet"
            if code not in self.booklets:
                return "code.unknown"
            if code in seen:
                return "sale.duplicate_code"
            seen.add(code)
        if now >= self.sales_end:
            return "sale.window_closed"
        for code in codes:
            if self.booklets[code] == "voided":
                return "booklet.voided"
            if self.booklets[code] == "sold":
                return "booklet.already_sold"
        if (self.sold + len(codes)) * PREMIUM > BUDGET:
            return "sale.budget_exhausted"
        return None

    def sell(self, codes: list[str]) -> None:
        n = len(codes)
        for booklet in codes:
            self.booklets[booklet] = "sold"
            for ticket in self.tickets_of[booklet]:
                self.tickets[ticket] = "active"
        self.sold += n
        self.post("sale", {"cash": n * PRICE, "premium_fund": n * PREMIUM,
                           self.liability: -n * FACE})

    def redeem_refusal(
        self, codes: list[str], now: datetime, forged: set[str]
    ) -> tuple[str, str, bool] | None:
        """(refusal, ticket, decided by the database) for a redemption. First what the
        codes say by themselves (MAC, kind, repeats), code by code: such refusals depend
        on the request alone and are not stored under its key. Then what the database
        knows, code by code."""
        seen: set[str] = set()
        for code in codes:
            if code in self.booklets:
                return "code.not_a_ticket", code, False
            if code in forged:
                return "code.unknown", code, False
            if code in seen:
                return "redemption.duplicate_code", code, False
            seen.add(code)
        today = clock.tokyo_date(now)
        for code in codes:
            state = self.tickets.get(code)
            if state is None:  # authentic, but never printed
                return "code.unknown", code, True
            if state == "printed":
                return "ticket.not_sold", code, True
            if state == "voided":
                return "ticket.voided", code, True
            if state == "expired" or today > self.valid_until:
                return "ticket.expired", code, True
            if state == "redeemed":
                return "ticket.already_redeemed", code, True
        return None

    def redeem(self, entry_id: int, workshop: int, codes: list[str], at: datetime) -> None:
        for code in codes:
            assert code not in self.live, "the model itself would pay a ticket twice"
            self.tickets[code] = "redeemed"
            self.live[code] = entry_id
        self.redemptions[entry_id] = Redeemed(entry_id, workshop, codes, at)
        total = TICKET * len(codes)
        self.post("redemption", {self.liability: total, f"payable:W{workshop}": -total})

    def undo_refusal(self, entry_id: int, workshop: int, now: datetime) -> str | None:
        done = self.redemptions.get(entry_id)
        if done is None:
            return "undo.not_found"
        if done.workshop != workshop:
            return "undo.other_workshop"
        if done.undone:
            return "undo.already_undone"
        if now - done.at > timedelta(seconds=UNDO_WINDOW):
            return "undo.window_passed"
        return None

    def undo(self, entry_id: int) -> None:
        done = self.redemptions[entry_id]
        done.undone = True
        for code in done.codes:
            self.tickets[code] = "active"
            del self.live[code]
        total = TICKET * len(done.codes)
        self.post("undo", {self.liability: -total, f"payable:W{done.workshop}": total})

    def void_refusal(self, code: str) -> str | None:
        if code in self.tickets:
            return "code.not_a_booklet"
        if code not in self.booklets:
            return "booklet.unknown"
        if self.booklets[code] == "sold":
            return "booklet.not_voidable"
        if self.booklets[code] == "voided":
            return "booklet.voided"
        return None

    def void(self, code: str) -> None:
        self.booklets[code] = "voided"
        for ticket in self.tickets_of[code]:
            self.tickets[ticket] = "voided"

    def expire(self) -> int:
        active = [t for t, state in self.tickets.items() if state == "active"]
        for ticket in active:
            self.tickets[ticket] = "expired"
        if active:
            amount = TICKET * len(active)
            self.post("expiry", {self.liability: amount, "breakage": -amount})
        self.expired = True
        return TICKET * len(active)

    def payable(self, workshop: int) -> int:
        """Owed to W: redeemed at W (live) − paid (no payouts in this model)."""
        return sum(TICKET * len(r.codes) for r in self.redemptions.values()
                   if r.workshop == workshop and not r.undone)


def often(data: st.DataObject, n: int = 4) -> bool:
    """True n-1 times in n, and for the simplest draw (what Hypothesis tries first)."""
    return bool(data.draw(st.integers(0, n - 1)) < n - 1)


def rarely(data: st.DataObject, n: int = 4) -> bool:
    return not often(data, n)


class FairMachine(RuleBasedStateMachine):
    """One example = one fresh database and one day (or more) at the fair."""

    new_database: Callable[[], str]  # set by the test: a fresh migrated database URL
    signer: CodeSigner

    def __init__(self) -> None:
        super().__init__()
        self.db = Database(self.new_database())
        self.start = clock.now()
        self.now = self.start
        with self.db.write() as session:
            scenario = build_event(session, self.signer, slug="fair", workshops=WORKSHOPS,
                                   booklets=BOOKLETS, now=self.start, premium_budget=BUDGET)
        self.event_id = scenario.event_id
        self.programme_id = scenario.programme_id
        with self.db.read() as session:
            rows = session.execute(
                select(Booklet.code, Ticket.code)
                .join(Ticket, Ticket.booklet_id == Booklet.id)
                .order_by(Ticket.serial)
            ).all()
            names = dict(session.execute(select(Workshop.id, Workshop.name)).all())
        booklets: dict[str, list[str]] = {}
        for booklet, ticket in rows:
            booklets.setdefault(booklet, []).append(ticket)
        assert list(booklets) == scenario.booklet_codes
        self.model = Model(booklets, names, self.programme_id, self.start)
        self.workshop_ids = scenario.workshop_ids
        # Codes that are not ours: forged (right shape, right check character, MAC made
        # with another secret) and authentic but never printed.
        forger = CodeSigner(OTHER_SECRET)
        self.forged = {forger.make("T", self.programme_id, 1),
                       forger.make("T", self.programme_id, 3)}
        self.strangers = [*sorted(self.forged), self.signer.make("T", self.programme_id, 9_999)]
        self.keys: dict[tuple[str, str], tuple[Callable[[], Outcome], Said, bool]] = {}
        self.serial = 0

    def teardown(self) -> None:
        self.db.dispose()

    # -- helpers -------------------------------------------------------------------
    def _key(self, scope: str, *request: Any) -> IdempotencyKey:
        self.serial += 1
        return IdempotencyKey(scope, f"k{self.serial}", request_hash(*request))

    def _remember(self, idem: IdempotencyKey | None, call: Callable[[], Outcome],
                  said: Said, stored: bool = True) -> None:
        """Remember a keyed call for retries; ``stored``: its outcome is in the database."""
        if idem is not None:
            self.keys[(idem.scope, idem.key)] = (call, said, stored)

    def _expect(self, said: Said, refusal: str | None) -> None:
        event(f"{refusal or 'ok'}")  # shown by --hypothesis-show-statistics
        if refusal is None:
            assert said.ok, f"expected success, got {said.code} {said.facts}"
        else:
            assert not said.ok, f"expected {refusal}, got success {said.body}"
            assert said.code == refusal, (said.code, refusal, said.facts)

    # -- rules ---------------------------------------------------------------------
    @initialize()
    def open_the_desk(self) -> None:
        """The first two booklets are sold before the booths open."""
        codes = list(self.model.booklets)[:2]
        said = Said.of(lambda: sell_booklets(self.db, self.signer, programme_id=self.programme_id,
                                             codes=codes, payment_method="cash",
                                             actor="staff:1", now=self.now))
        self._expect(said, self.model.sale_refusal(codes, self.now))
        self.model.sell(codes)

    @rule(data=st.data())
    def sell(self, data: st.DataObject) -> None:
        every = list(self.model.booklets)
        printed = [b for b in every if self.model.booklets[b] == "printed"]
        if printed and often(data):  # mostly an ordinary sale
            codes = data.draw(st.lists(st.sampled_from(printed), min_size=1, max_size=2,
                                       unique=True))
        else:  # sold, voided, repeated, too many, or a ticket scanned at the desk
            codes = data.draw(st.lists(st.sampled_from(every), min_size=1,
                                       max_size=PER_SALE + 1))
            if rarely(data):
                codes[-1] = self.model.tickets_of[every[0]][0]
        use_key = data.draw(st.booleans())
        idem = self._key("staff:1", "sell", codes) if use_key else None
        at = self.now

        def call() -> Outcome:
            return sell_booklets(self.db, self.signer, programme_id=self.programme_id,
                                 codes=codes, payment_method="cash", actor="staff:1",
                                 idem=idem, now=at)

        refusal = self.model.sale_refusal(codes, at)
        said = Said.of(call)
        self._expect(said, refusal)
        if refusal is None:
            n = len(codes)
            assert (said.body["amount_paid"], said.body["face_total"],
                    said.body["premium_total"]) == (n * PRICE, n * FACE, n * PREMIUM)
            self.model.sell(codes)
        self._remember(idem, call, said)

    @rule(data=st.data())
    def redeem(self, data: st.DataObject) -> None:
        tickets = list(self.model.tickets)
        active = [t for t, state in self.model.tickets.items() if state == "active"]
        redeemed = [t for t, state in self.model.tickets.items() if state == "redeemed"]
        if active and often(data, 3):  # mostly valid tickets
            codes = data.draw(st.lists(st.sampled_from(active), min_size=1, max_size=3,
                                       unique=True))
            if redeemed and rarely(data):  # one of them already used
                codes.insert(data.draw(st.integers(0, len(codes))),
                             data.draw(st.sampled_from(redeemed)))
        else:
            candidates = st.one_of(
                st.sampled_from(tickets),
                st.sampled_from(redeemed or tickets),
                st.sampled_from([*self.strangers, next(iter(self.model.booklets))]),
            )
            codes = data.draw(st.lists(candidates, min_size=1, max_size=3))
        workshop = data.draw(st.sampled_from(self.workshop_ids))
        use_key = often(data)
        idem = self._key(f"workshop:{workshop}", "redeem", codes) if use_key else None
        at = self.now

        def call() -> Outcome:
            return redeem_tickets(self.db, self.signer, workshop_id=workshop, codes=codes,
                                  undo_window_seconds=UNDO_WINDOW, idem=idem, now=at)

        refusal = self.model.redeem_refusal(codes, at, self.forged)
        said = Said.of(call)
        self._expect(said, refusal[0] if refusal else None)
        if refusal is not None:
            assert said.facts.get("code") == refusal[1], said.facts
            if refusal[0] == "ticket.already_redeemed":
                winner = self.model.redemptions[self.model.live[refusal[1]]].workshop
                assert said.facts["workshop"] == self.model.workshops[winner]
        else:
            assert said.body["workshop_id"] == workshop
            assert said.body["total"] == TICKET * len(codes)
            assert [t["code"] for t in said.body["tickets"]] == codes
            self.model.redeem(said.body["redemption_id"], workshop, codes, at)
        self._remember(idem, call, said, stored=refusal is None or refusal[2])

    @rule(data=st.data())
    def retry(self, data: st.DataObject) -> None:
        """The same request again with the same key: the first outcome, nothing new."""
        if not self.keys:
            return
        scope_key = data.draw(st.sampled_from(sorted(self.keys)))
        call, first, _ = self.keys[scope_key]
        entries_before = len(self.model.entries)
        again = Said.of(call)
        assert again == first, (again, first)
        self._check_entry_count(entries_before)

    @rule(data=st.data())
    def reuse_key(self, data: st.DataObject) -> None:
        """A key used again for another request is refused and changes nothing."""
        redeemed = [k for k in sorted(self.keys)
                    if k[0].startswith("workshop:") and self.keys[k][2]]
        if not redeemed:
            return
        scope, key = data.draw(st.sampled_from(redeemed))
        workshop = int(scope.split(":")[1])
        code = data.draw(st.sampled_from(list(self.model.tickets)))
        idem = IdempotencyKey(scope, key, request_hash("redeem", [code, "different"]))
        said = Said.of(lambda: redeem_tickets(self.db, self.signer, workshop_id=workshop,
                                              codes=[code], idem=idem, now=self.now))
        self._expect(said, "idempotency.key_reused")

    @rule(data=st.data())
    def undo(self, data: st.DataObject) -> None:
        ids = sorted(self.model.redemptions)
        some_entry = len(self.model.entries)  # a sale's or nobody's entry id
        recent = ids[-3:]  # mostly one of the last few, often still within the window
        entry_id = data.draw(st.sampled_from(recent) if ids and often(data, 6)
                             else st.integers(1, some_entry + 2))
        done = self.model.redemptions.get(entry_id)
        same = done is not None and often(data)
        workshop = done.workshop if same and done else data.draw(
            st.sampled_from(self.workshop_ids))
        use_key = data.draw(st.booleans())
        idem = self._key(f"workshop:{workshop}", "undo", entry_id) if use_key else None
        at = self.now

        def call() -> Outcome:
            return undo_redemption(self.db, workshop_id=workshop, redemption_id=entry_id,
                                   undo_window_seconds=UNDO_WINDOW, idem=idem, now=at)

        if entry_id in self.model.redemptions:
            refusal = self.model.undo_refusal(entry_id, workshop, at)
        else:  # not a redemption of this model: a sale's entry, or no entry at all
            refusal = "undo.not_found"
        said = Said.of(call)
        self._expect(said, refusal)
        if refusal is None:
            assert said.body["total"] == TICKET * len(self.model.redemptions[entry_id].codes)
            self.model.undo(entry_id)
        self._remember(idem, call, said)

    @rule(data=st.data())
    def void(self, data: st.DataObject) -> None:
        printed = [b for b, state in self.model.booklets.items() if state == "printed"]
        if printed and rarely(data):  # a lost booklet (voiding shrinks the stock: rarely)
            code = data.draw(st.sampled_from(printed))
        else:  # sold, already voided, or a ticket's code
            code = data.draw(st.sampled_from([*self.model.booklets,
                                              next(iter(self.model.tickets))]))
        refusal = self.model.void_refusal(code)
        said = Said.of(lambda: void_booklet(self.db, self.signer, code=code, reason="破損",
                                            actor="staff:1"))
        self._expect(said, refusal)
        if refusal is None:
            self.model.void(code)

    @rule(minutes=st.integers(1, 8))
    def time_passes(self, minutes: int) -> None:
        self.now += timedelta(minutes=minutes)

    @rule(data=st.data())
    def expire_too_early(self, data: st.DataObject) -> None:
        if self.model.expired or often(data):
            return
        said = Said.of(lambda: expire_programme(self.db, programme_id=self.programme_id,
                                                actor="staff:1", now=self.now))
        self._expect(said, "programme.not_expired")

    @rule(data=st.data())
    def expire(self, data: st.DataObject) -> None:
        """Time moves past the last day of use; unredeemed sold tickets expire."""
        if not self.model.expired and often(data, 6):
            return  # the fair goes on for a while first
        self.now = max(self.now, self.start + timedelta(days=5))
        amount = self.model.expire()
        said = Said.of(lambda: expire_programme(self.db, programme_id=self.programme_id,
                                                actor="staff:1", now=self.now))
        self._expect(said, None)
        assert said.body["amount"] == amount

    # -- invariants ----------------------------------------------------------------
    def _check_entry_count(self, expected: int) -> None:
        with self.db.read() as session:
            entries = session.execute(select(func.count()).select_from(JournalEntry)).scalar_one()
        assert entries == expected == len(self.model.entries)

    @invariant()
    def database_agrees_with_the_model(self) -> None:
        model = self.model
        with self.db.read() as session:
            tickets = dict(session.execute(select(Ticket.code, Ticket.status)).all())
            booklets = dict(session.execute(select(Booklet.code, Booklet.status)).all())
            balances = {row["account"]: row["balance"]
                        for row in trial_balance(session, self.event_id)}
            sold = session.execute(
                select(Programme.booklets_sold).where(Programme.id == self.programme_id)
            ).scalar_one()
            live = session.execute(
                select(Redemption.ticket_id, func.count())
                .where(Redemption.undone_at.is_(None))
                .group_by(Redemption.ticket_id)
            ).all()
            entries = session.execute(select(func.count()).select_from(JournalEntry)).scalar_one()
            report = verify(session)
        assert report.ok, report.failures
        assert tickets == model.tickets
        assert booklets == model.booklets
        assert sold == model.sold
        assert entries == len(model.entries)
        assert {k: v for k, v in balances.items() if v} == {
            k: v for k, v in model.balances().items() if v}
        assert len(live) == len(model.live) and all(n == 1 for _, n in live)

    @invariant()
    def design_identities_hold_in_the_model(self) -> None:
        model = self.model
        balances = model.balances()
        # Every entry balances; the sum of all balances is zero.
        assert all(sum(entry.lines.values()) == 0 for entry in model.entries)
        assert sum(balances.values()) == 0
        # Voucher liability = face of tickets sold and not redeemed, voided or expired.
        active = sum(1 for state in model.tickets.values() if state == "active")
        assert -balances[model.liability] == TICKET * active
        # payable:W = redeemed at W − paid, never negative.
        for workshop in self.workshop_ids:
            owed = -balances[f"payable:W{workshop}"]
            assert owed == model.payable(workshop) >= 0
        # Premium spent = premium of booklets sold, never above the budget.
        assert balances["premium_fund"] == model.sold * PREMIUM <= BUDGET
        # A ticket is redeemed at most once, ever: one live redemption per redeemed ticket.
        live = [code for r in model.redemptions.values() if not r.undone for code in r.codes]
        assert len(live) == len(set(live))
        assert set(live) == {t for t, s in model.tickets.items() if s == "redeemed"}


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_fair_follows_the_model(backend: str, templates: Any, signer: CodeSigner) -> None:
    new_database: Callable[[], str] = (
        templates.sqlite_url if backend == "sqlite" else templates.postgres_url
    )
    new_database()  # skips here, not inside hypothesis, when PostgreSQL is not configured

    class Fair(FairMachine):
        pass

    Fair.new_database = staticmethod(new_database)
    Fair.signer = signer
    run_state_machine_as_test(
        Fair,
        settings=settings(
            max_examples=10,  # 10 runs of 25 steps; the suite's 10-minute budget
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            derandomize=False,
        ),
    )
