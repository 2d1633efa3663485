"""Everything a booth, a desk or a script can send wrong, through the real app.

Each bad request gets its documented code and status (docs/api.md: the one error shape,
codes from the MESSAGES registry, never a 500) and leaves the money as it was: the test
compares ticket and booklet states and the counts of journal entries, postings,
redemptions and sales before and after. Runs on SQLite and PostgreSQL (one fresh
database per backend from conftest's templates) through Litestar's TestClient, with
bearer tokens as the booth tablets use them.
"""

from __future__ import annotations

import json
import string
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from litestar.testing import TestClient
from sqlalchemy import func, select

from oflocal.auth.service import create_staff_user, issue_api_token
from oflocal.db.engine import Database
from oflocal.demo import build_event
from oflocal.errors import MESSAGES, Refusal
from oflocal.ledger.models import JournalEntry, Posting
from oflocal.settings import Settings
from oflocal.vouchers.codes import ALPHABET, CodeSigner, check_char, grouped
from oflocal.vouchers.desk import sell_booklets
from oflocal.vouchers.lookup import authentic_codes
from oflocal.vouchers.models import Booklet, Redemption, Sale, Ticket
from oflocal.web.app import create_app

REDEEM = "/api/v1/redemptions"
OTHER_SECRET = b"the-next-town-over-0123456789abc"
CODE_REFUSALS = {"code.malformed", "code.checksum", "code.unknown"}


@dataclass
class Booth:
    client: TestClient[Any]
    db: Database
    signer: CodeSigner
    programme_id: int
    active: list[str]  # sold, unredeemed tickets of this event
    unsold: list[str]  # printed tickets of this event
    foreign: str  # a sold ticket of another event on the same server
    booklet: str  # an unsold booklet of this event
    workshop: dict[str, str]  # bearer header of workshop W01
    desk: dict[str, str]  # bearer header of a desk user
    serial: int = 0

    def key(self) -> str:
        self.serial += 1
        return f"bad-input-{self.serial}"

    def redeem(self, payload: Any, **kw: Any) -> httpx.Response:
        headers = {**self.workshop, "Idempotency-Key": self.key(), **kw.pop("headers", {})}
        if "content" in kw or "data" in kw:
            return self.client.post(REDEEM, headers=headers, **kw)
        return self.client.post(REDEEM, json=payload, headers=headers, **kw)


def _tickets(db: Database, booklet: str) -> list[str]:
    with db.read() as session:
        return list(session.execute(
            select(Ticket.code).join(Booklet, Booklet.id == Ticket.booklet_id)
            .where(Booklet.code == booklet).order_by(Ticket.serial)
        ).scalars())


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def booth(
    request: pytest.FixtureRequest, templates: Any, signer: CodeSigner, secret: bytes,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Booth]:
    """One database and app per backend for the whole module: every test here leaves the
    money unchanged (and checks it), so they can share it."""
    url = templates.sqlite_url() if request.param == "sqlite" else templates.postgres_url()
    db = Database(url)
    with db.write() as session:
        here = build_event(session, signer, slug="here", workshops=2, booklets=3)
        there = build_event(session, signer, slug="there", workshops=1, booklets=1)
    for scenario in (here, there):
        sell_booklets(db, signer, programme_id=scenario.programme_id,
                      codes=scenario.booklet_codes[:1], payment_method="cash", actor="test")
    token = issue_api_token(db, name="booth", workshop_id=here.workshop_ids[0])
    desk_user = create_staff_user(db, username="desk", display_name="Desk", role="desk",
                                  password="desk-pass-2026")
    desk = issue_api_token(db, name="desk", staff_user_id=desk_user)
    data_dir = tmp_path_factory.mktemp(f"bad-input-{request.param}")
    app = create_app(Settings(data_dir=data_dir, database_url=db.url, secret_key=secret), db)
    with TestClient(app) as client:
        yield Booth(
            client=client,
            db=db,
            signer=signer,
            programme_id=here.programme_id,
            active=_tickets(db, here.booklet_codes[0]),
            unsold=_tickets(db, here.booklet_codes[1]),
            foreign=_tickets(db, there.booklet_codes[0])[0],
            booklet=here.booklet_codes[2],
            workshop={"Authorization": f"Bearer {token}"},
            desk={"Authorization": f"Bearer {desk}"},
        )
    db.dispose()


def snapshot(db: Database) -> dict[str, Any]:
    """Everything a refusal must leave as it was."""
    with db.read() as session:
        return {
            "tickets": dict(session.execute(select(Ticket.code, Ticket.status)).all()),
            "booklets": dict(session.execute(select(Booklet.code, Booklet.status)).all()),
            **{
                name: session.execute(select(func.count()).select_from(model)).scalar_one()
                for name, model in (("entries", JournalEntry), ("postings", Posting),
                                    ("redemptions", Redemption), ("sales", Sale))
            },
        }


def refused(answer: httpx.Response, status: int | set[int], code: str | set[str]) -> dict[str, Any]:
    """The one error shape, with the documented status for a registered code."""
    statuses = {status} if isinstance(status, int) else status
    codes = {code} if isinstance(code, str) else code
    assert answer.status_code in statuses, (answer.status_code, answer.text[:300])
    body: dict[str, Any] = answer.json()
    assert set(body) == {"code", "message", "message_ja", "message_en", "detail"}, body
    assert body["code"] in codes, body
    assert MESSAGES[body["code"]].status == answer.status_code
    return body


def _with_check(body: str) -> str:
    return body + check_char(body)


def test_codes_that_are_not_ours(booth: Booth) -> None:
    good = booth.active[0]
    before = snapshot(booth.db)
    flipped = ALPHABET[(ALPHABET.index(good[12]) + 1) % 32]
    altered = good[:12] + flipped + good[13:]  # one character changed, check char kept
    remade = _with_check(altered[:-1])  # ... and the check character made to fit again
    forged = _with_check(good[:9] + "0123456789")  # our programme and serial, invented MAC
    cases: list[tuple[str, int, str]] = [
        ("hello", 422, "code.malformed"),
        ("", 422, "code.malformed"),
        (good[:-1], 422, "code.malformed"),  # truncated
        (good + "X", 422, "code.malformed"),  # too long
        (good[:19] + "U", 422, "code.malformed"),  # U is not Crockford base32
        ("券🎫\x00\u202e", 422, "code.malformed"),  # unicode junk
        ("T" * 100_000, 422, "code.malformed"),
        (altered, 422, "code.checksum"),
        (remade, 404, "code.unknown"),  # the MAC catches what the check char cannot
        (forged, 404, "code.unknown"),
        (CodeSigner(OTHER_SECRET).make("T", booth.programme_id, 1), 404, "code.unknown"),
        (booth.signer.make("T", booth.programme_id, 30_000), 404, "code.unknown"),  # unprinted
        (booth.booklet, 422, "code.not_a_ticket"),
    ]
    for text, status, code in cases:
        body = refused(booth.redeem({"codes": [text]}), status, code)
        assert body["detail"]["code"] in (text[:40], text), (text[:40], body)
        # The same bad code among good ones: all or nothing.
        refused(booth.redeem({"codes": [booth.active[1], text]}), status, code)
    assert snapshot(booth.db) == before


def test_tickets_that_cannot_be_taken_here(booth: Booth) -> None:
    before = snapshot(booth.db)
    refused(booth.redeem({"codes": [booth.foreign]}), 409, "ticket.other_event")
    refused(booth.redeem({"codes": [booth.unsold[0]]}), 409, "ticket.not_sold")
    refused(booth.redeem({"codes": [booth.active[0], booth.foreign]}), 409, "ticket.other_event")
    assert snapshot(booth.db) == before


def test_numbers_that_cannot_be_ids_or_amounts(booth: Booth) -> None:
    before = snapshot(booth.db)
    for bad in (10**30, 2**63, 2**31, -1, 0):
        undo = booth.client.post(f"{REDEEM}/{bad}/undo",
                                 headers={**booth.workshop, "Idempotency-Key": booth.key()})
        refused(undo, {404, 422}, {"undo.not_found", "request.invalid"})
        sale = booth.client.post(
            f"/api/v1/programmes/{bad}/sales", json={"booklet_codes": [booth.booklet]},
            headers={**booth.desk, "Idempotency-Key": booth.key()},
        )
        refused(sale, {404, 422}, {"programme.not_found", "request.invalid"})
    for limit in (10**30, -1, 0):
        today = booth.client.get(f"{REDEEM}/today?limit={limit}", headers=booth.workshop)
        refused(today, 422, "request.invalid")
    huge = b'{"codes": [' + b"9" * 5000 + b"]}"
    refused(booth.redeem(None, content=huge, headers={"Content-Type": "application/json"}),
            422, "request.invalid")
    refused(booth.redeem({"codes": [-1]}), 422, "request.invalid")
    sale = booth.client.post(
        f"/api/v1/programmes/{booth.programme_id}/sales",
        json={"booklet_codes": [booth.booklet], "payment_method": -(10**30)},
        headers={**booth.desk, "Idempotency-Key": booth.key()},
    )
    refused(sale, 422, "request.invalid")
    assert snapshot(booth.db) == before


def test_bodies_that_are_not_json(booth: Booth) -> None:
    before = snapshot(booth.db)
    as_json = json.dumps({"codes": [booth.active[0]]})
    refused(booth.redeem(None, content=as_json, headers={"Content-Type": "text/plain"}),
            415, "request.unsupported_media_type")
    refused(booth.redeem(None, data={"codes": booth.active[0]}),
            415, "request.unsupported_media_type")
    refused(booth.redeem(None, content=as_json,
                         headers={"Content-Type": "application/x-www-form-urlencoded"}),
            415, "request.unsupported_media_type")
    for broken in (b'{"codes": [', b"\xff\xfe", b"[" * 100_000 + b"]" * 100_000):
        refused(booth.redeem(None, content=broken, headers={"Content-Type": "application/json"}),
                422, "request.invalid")
    assert snapshot(booth.db) == before


def test_bodies_of_the_wrong_shape(booth: Booth) -> None:
    before = snapshot(booth.db)
    one = booth.active[0]
    payloads: list[Any] = [{}, {"code": [one]}, {"codes": None}, {"codes": one},
                           {"codes": [123]}, {"codes": [None]}, {"codes": [[one]]}, [one],
                           "codes", {"codes": []},
                           {"codes": booth.active * 10}]  # 60 codes: over the limit of 50
    for payload in payloads:
        refused(booth.redeem(payload), 422, "request.invalid")
    refused(booth.redeem({"codes": [one, booth.active[1], one]}), 422,
            "redemption.duplicate_code")
    # The same ticket written two ways is still the same ticket.
    refused(booth.redeem({"codes": [one, grouped(one).lower()]}), 422,
            "redemption.duplicate_code")
    assert snapshot(booth.db) == before


def test_idempotency_keys_that_cannot_be_used(booth: Booth) -> None:
    before = snapshot(booth.db)
    body = {"codes": [booth.unsold[0]]}
    missing = booth.client.post(REDEEM, json=body, headers=booth.workshop)
    refused(missing, 400, "idempotency.key_missing")
    for bad in ("", "x" * 201, "has space", "tab\there"):
        answer = booth.client.post(REDEEM, json=body,
                                   headers={**booth.workshop, "Idempotency-Key": bad})
        refused(answer, 400, "idempotency.key_missing" if bad == "" else "idempotency.key_invalid")
    # 200 printable characters is a valid key: the request is then judged on its merits.
    longest = booth.client.post(REDEEM, json=body,
                                headers={**booth.workshop, "Idempotency-Key": "k" * 200})
    refused(longest, 409, "ticket.not_sold")
    assert snapshot(booth.db) == before


# --- mutated codes ---------------------------------------------------------------

NOISE = " -\u3000\t"
LOOKALIKE = {"1": "IiLl", "0": "Oo"}


@st.composite
def typed_the_same(draw: st.DrawFn, code: str) -> str:
    """How people and scanners write a code: case, spaces, dashes, look-alikes."""
    out = []
    for ch in draw(st.sampled_from([code, grouped(code)])):
        if ch in LOOKALIKE and draw(st.booleans()):
            ch = draw(st.sampled_from(LOOKALIKE[ch]))
        elif draw(st.booleans()):
            ch = ch.lower()
        out.append(ch)
        if draw(st.integers(0, 5)) == 0:
            out.append(draw(st.sampled_from(NOISE)))
    return "".join(out)


@st.composite
def mistyped(draw: st.DrawFn, code: str) -> str:
    """One or two slips: substitutions, swaps, insertions, deletions."""
    text = list(code)
    for _ in range(draw(st.integers(1, 2))):
        kind = draw(st.sampled_from(["substitute", "swap", "insert", "delete"]))
        at = draw(st.integers(0, len(text) - 1))
        letter = st.sampled_from(ALPHABET + "ILOU" + string.ascii_lowercase[:6])
        if kind == "substitute":
            text[at] = draw(letter)
        elif kind == "swap" and at + 1 < len(text):
            text[at], text[at + 1] = text[at + 1], text[at]
        elif kind == "insert":
            text.insert(at, draw(letter))
        elif len(text) > 1:
            del text[at]
    return "".join(text)


def _accepts(signer: CodeSigner, text: str) -> str | None:
    """The canonical code if ``text`` is accepted as a ticket code, else None."""
    try:
        (canonical,) = authentic_codes(signer, [text], "T", limit=1)
    except Refusal as refusal:
        assert refusal.code in CODE_REFUSALS, refusal.code
        return None
    return canonical


@settings(max_examples=200, deadline=None)
@given(data=st.data(), serial=st.integers(1, 32**5 - 1), programme=st.integers(1, 32**3 - 1))
def test_a_mistyped_code_is_never_another_ticket(
    data: st.DataObject, serial: int, programme: int, signer: CodeSigner
) -> None:
    code = signer.make("T", programme, serial)
    assert _accepts(signer, data.draw(typed_the_same(code))) == code
    slip = data.draw(mistyped(code))
    assert _accepts(signer, slip) in (None, code), (code, slip)


@settings(max_examples=25, deadline=None)
@given(data=st.data())
@example(data=None)
def test_mutated_codes_through_the_api(booth: Booth, data: st.DataObject | None) -> None:
    """At the booth: a slip is refused by the code checks, or it is the same ticket."""
    code = booth.active[2]
    text = grouped(code).lower() if data is None else data.draw(
        st.one_of(mistyped(code), typed_the_same(code)))
    before = snapshot(booth.db)
    answer = booth.redeem({"codes": [text]})
    body = answer.json()
    if answer.status_code == 201:
        assert [t["code"] for t in body["tickets"]] == [code]
    elif answer.status_code == 409:
        assert body["code"] == "ticket.already_redeemed" and body["detail"]["code"] == code
    else:
        refused(answer, {404, 422}, CODE_REFUSALS)
    after = snapshot(booth.db)
    changed = {c for c, s in after["tickets"].items() if before["tickets"][c] != s}
    assert changed <= {code}
    if answer.status_code != 201:
        assert after == before



# --- money and counts are JSON integers (issue 8, item 3) --------------------------

# How a number can be written wrong: each was once taken as an integer (true as ¥1).
NOT_INTEGERS: list[Any] = [True, False, "100", " 100 ", "1e2", 100.0, 2.5, None, [100], {}]
NOT_BOOLEANS: list[Any] = ["true", "false", 1, 0, "yes", None, [True]]
NOT_DATES: list[Any] = [0, 20261010, 1.5, True, ["2026-10-10"]]
IGNORED = {"created_at", "updated_at", "last_used_at", "locked_until"}


def everything(db: Database) -> dict[str, Any]:
    """Every row of every table (small test databases), to see that nothing changed."""
    from oflocal.db.base import Base

    out: dict[str, Any] = {}
    with db.read() as session:
        for table in Base.metadata.sorted_tables:
            columns = [c for c in table.columns if c.name not in IGNORED]
            rows = session.execute(select(*columns).order_by(*table.primary_key.columns)).all()
            out[table.name] = [tuple(r) for r in rows]
    return out


@dataclass
class Office:
    client: TestClient[Any]
    db: Database
    event_id: int
    programme_id: int
    workshop_id: int
    admin_id: int
    admin: dict[str, str]


@pytest.fixture
def office(db: Database, signer: CodeSigner, secret: bytes,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Office]:
    """An admin (who may also do the treasurer's work) with a bearer token, on SQLite and
    on PostgreSQL."""
    with db.write() as session:
        scenario = build_event(session, signer, slug="office", workshops=2, booklets=2)
    admin_id = create_staff_user(db, username="office-admin", display_name="Admin",
                                 role="admin", password="admin-pass-2026")
    token = issue_api_token(db, name="office", staff_user_id=admin_id)
    app = create_app(Settings(data_dir=tmp_path_factory.mktemp("office"), database_url=db.url,
                              secret_key=secret), db)
    with TestClient(app) as client:
        yield Office(client, db, scenario.event_id, scenario.programme_id,
                     scenario.workshop_ids[0], admin_id, {"Authorization": f"Bearer {token}"})


def _programme_body() -> dict[str, Any]:
    return {"name": "工房めぐりチケット", "price": 2500, "face_value": 3000,
            "denominations": [500] * 6, "sales_starts_at": "2026-10-01T09:00:00+09:00",
            "sales_ends_at": "2026-10-20T17:00:00+09:00", "issue_date": "2026-10-01",
            "valid_from": "2026-10-01", "valid_until": "2026-11-30", "premium_budget": 100_000,
            "max_booklets_per_sale": 5, "validity_override": False}


def _bank() -> dict[str, Any]:
    return {"bank_code": "0001", "branch_code": "123", "account_type": 1,
            "account_number": "0034567", "account_holder_kana": "ヤマダモッコウ"}


def _wrong_forms(office: Office) -> list[tuple[str, str, dict[str, Any], str, list[Any]]]:
    """(method, path, a valid body, the field (dotted) to spoil, its wrong forms)."""
    e, p, w = office.event_id, office.programme_id, office.workshop_id
    adjustment = {"workshop_id": w, "amount": 100, "counter_account": "premium_fund",
                  "reason": "手数料の返金"}
    correction = {"redemption_id": 1, "reason": "誤って受付", "to_workshop_id": w}
    fee = {"rule": "fixed", "rate_bp": 0, "fixed_yen": 10, "rounding": "floor"}
    requester = {"code": "0123456789", "name_kana": "ﾀｶｵｶｵｰﾌﾟﾝﾌｧｸﾄﾘｰ", "bank_code": "0001",
                 "branch_code": "123", "account_type": 1, "account_number": "1234567"}
    workshop = {"code": "W99", "name": "新しい工房", "name_kana": "アタラシイコウボウ",
                "participating": True, "bank": _bank()}
    event = {"slug": "strict-2026", "name": "n", "committee_name": "c",
             "starts_on": "2026-10-10", "ends_on": "2026-10-12"}
    return [
        ("POST", "/api/v1/settlement/corrections/adjustment", adjustment, "amount", NOT_INTEGERS),
        ("POST", "/api/v1/settlement/corrections/adjustment", adjustment, "workshop_id",
         NOT_INTEGERS),
        ("POST", "/api/v1/settlement/corrections/redemption", correction, "redemption_id",
         NOT_INTEGERS),
        ("POST", "/api/v1/settlement/corrections/redemption", correction, "to_workshop_id",
         [v for v in NOT_INTEGERS if v is not None]),
        ("PUT", f"/api/v1/events/{e}/settlement/fee-rule", fee, "fixed_yen", NOT_INTEGERS),
        ("PUT", f"/api/v1/events/{e}/settlement/fee-rule", fee, "rate_bp", NOT_INTEGERS),
        ("PUT", f"/api/v1/events/{e}/settlement/requester", requester, "account_type",
         NOT_INTEGERS),
        ("POST", f"/api/v1/events/{e}/programmes", _programme_body(), "price", NOT_INTEGERS),
        ("POST", f"/api/v1/events/{e}/programmes", _programme_body(), "face_value",
         NOT_INTEGERS),
        ("POST", f"/api/v1/events/{e}/programmes", _programme_body(), "denominations.2",
         NOT_INTEGERS),
        ("POST", f"/api/v1/events/{e}/programmes", _programme_body(), "premium_budget",
         NOT_INTEGERS),
        ("POST", f"/api/v1/events/{e}/programmes", _programme_body(), "max_booklets_per_sale",
         NOT_INTEGERS),
        ("POST", f"/api/v1/events/{e}/programmes", _programme_body(), "validity_override",
         NOT_BOOLEANS),
        ("POST", f"/api/v1/events/{e}/programmes", _programme_body(), "issue_date", NOT_DATES),
        ("POST", f"/api/v1/events/{e}/programmes", _programme_body(), "sales_starts_at",
         NOT_DATES),
        ("POST", f"/api/v1/programmes/{p}/batches", {"count": 100}, "count", NOT_INTEGERS),
        ("POST", f"/api/v1/programmes/{p}/print-jobs", {"count": 100}, "count", NOT_INTEGERS),
        ("POST", f"/api/v1/events/{e}/workshops", workshop, "bank.account_type", NOT_INTEGERS),
        ("POST", f"/api/v1/events/{e}/workshops", workshop, "participating", NOT_BOOLEANS),
        ("PATCH", f"/api/v1/workshops/{w}", {"participating": False}, "participating",
         [v for v in NOT_BOOLEANS if v is not None]),
        ("PATCH", f"/api/v1/workshops/{w}", {"bank": _bank()}, "bank.account_type",
         NOT_INTEGERS),
        ("POST", "/api/v1/tokens", {"name": "t", "staff_user_id": office.admin_id},
         "staff_user_id", [v for v in NOT_INTEGERS if v is not None]),
        ("POST", "/api/v1/tokens", {"name": "t", "workshop_id": w}, "workshop_id",
         [v for v in NOT_INTEGERS if v is not None]),
        ("POST", "/api/v1/events", event, "starts_on", NOT_DATES),
    ]


def _spoiled(body: dict[str, Any], field: str, value: Any) -> dict[str, Any]:
    spoiled = json.loads(json.dumps(body))
    *parents, last = field.split(".")
    target = spoiled
    for name in parents:
        target = target[name]
    if isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return spoiled


def test_money_counts_ids_flags_and_dates_take_only_their_json_type(office: Office) -> None:
    """`amount: true` once posted ¥1, `"100"` and `100.0` posted ¥100, a print `count` of
    `"100"` issued 100 booklets: now each is a 422 naming the field, and nothing changes."""
    before = everything(office.db)
    for method, path, body, field, wrong in _wrong_forms(office):
        for value in wrong:
            answer = office.client.request(
                method, path, json=_spoiled(body, field, value),
                headers={**office.admin, "Idempotency-Key": f"strict-{field}-{value!r}"[:200]},
            )
            refusal = refused(answer, 422, "request.invalid")
            named = field.split(".")[0] if field.startswith("denominations") else field
            assert named in refusal["detail"]["detail"], (method, path, field, value, refusal)
            assert "入力内容に誤りがあります" in refusal["message_ja"]
    assert everything(office.db) == before


def test_the_same_bodies_written_right_are_taken(office: Office) -> None:
    """The bodies spoiled above are valid as they are (so each refusal was the field's)."""
    for method, path, body, field, _ in _wrong_forms(office):
        if path.endswith(("/redemption", "/tokens", "/print-jobs")) or method == "PATCH":
            continue  # no such redemption; tokens and print jobs are tested elsewhere
        answer = office.client.request(method, path, json=body,
                                       headers={**office.admin, "Idempotency-Key": field})
        assert answer.status_code < 400 or answer.json()["code"] not in {"request.invalid"}, (
            method, path, field, answer.text[:300])
