"""The manifest: what a backup holds, counted from the snapshot itself.

``summarise`` reads a database (the snapshot file, or PostgreSQL inside the snapshot
``pg_dump`` copies) and answers its schema revision, the rows of every table and the
ledger's totals: entries, postings, debits and credits, and every account's balance.
A restore counts the restored database the same way and compares: the books that came
back are the books that left, to the row and to the yen.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, case, func, inspect, select, table, text
from sqlalchemy.exc import SQLAlchemyError

from oflocal.ledger.models import Account, JournalEntry, Posting
from oflocal.vouchers.models import Booklet, Ticket

MANIFEST = "manifest.json"
SECRET = "secret_key"
SETTINGS = "settings.json"
DATABASE = {"sqlite": "database.sqlite3", "postgresql": "database.pgdump"}


def summarise(conn: Connection) -> dict[str, Any]:
    """Schema revision, rows per table and the ledger's totals of this database."""
    try:
        revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except SQLAlchemyError:
        revision = None
    names = sorted(n for n in inspect(conn).get_table_names() if n != "alembic_version")
    counts = {name: int(conn.execute(select(func.count()).select_from(table(name))).scalar_one())
              for name in names}
    ledger: dict[str, Any] = {"entries": 0, "postings": 0, "debits": 0, "credits": 0,
                              "accounts": {}}
    if "posting" in counts and "account" in counts:
        debits, credits, postings = conn.execute(select(
            func.coalesce(func.sum(case((Posting.amount > 0, Posting.amount), else_=0)), 0),
            func.coalesce(func.sum(case((Posting.amount < 0, -Posting.amount), else_=0)), 0),
            func.count(Posting.id),
        )).one()
        entries = conn.execute(select(func.count(JournalEntry.id))).scalar_one()
        balances = conn.execute(
            select(Account.event_id, Account.code, func.coalesce(func.sum(Posting.amount), 0))
            .join(Posting, Posting.account_id == Account.id, isouter=True)
            .group_by(Account.id, Account.event_id, Account.code)
            .order_by(Account.event_id, Account.code)
        ).all()
        ledger = {"entries": int(entries), "postings": int(postings), "debits": int(debits),
                  "credits": int(credits),
                  "accounts": {f"{event}/{code}": int(total) for event, code, total in balances}}
    return {"revision": revision, "counts": counts, "ledger": ledger}


def sample_codes(conn: Connection, per_end: int = 50) -> list[str]:
    """Printed codes from both ends of the ticket and booklet tables: what the signing
    secret must authenticate (the first printed and the last)."""
    found: set[str] = set()
    for model in (Ticket, Booklet):
        for order in (model.id.asc(), model.id.desc()):
            found.update(conn.execute(select(model.code).order_by(order).limit(per_end))
                         .scalars())
    return sorted(found)


def differences(expected: Mapping[str, Any], found: Mapping[str, Any]) -> list[str]:
    """Where two summaries disagree, in words (empty: the same books)."""
    problems = []
    if expected.get("revision") != found.get("revision"):
        problems.append(f"schema revision {found.get('revision')} (backup: "
                        f"{expected.get('revision')})")
    want, got = expected.get("counts", {}), found.get("counts", {})
    for name in sorted(set(want) | set(got)):
        if want.get(name) != got.get(name):
            problems.append(f"table {name}: {got.get(name)} rows (backup: {want.get(name)})")
    want_l, got_l = expected.get("ledger", {}), found.get("ledger", {})
    for key in ("entries", "postings", "debits", "credits"):
        if want_l.get(key) != got_l.get(key):
            problems.append(f"ledger {key}: {got_l.get(key)} (backup: {want_l.get(key)})")
    want_a, got_a = want_l.get("accounts", {}), got_l.get("accounts", {})
    for account in sorted(set(want_a) | set(got_a)):
        if want_a.get(account) != got_a.get(account):
            problems.append(f"account {account}: {got_a.get(account)} "
                            f"(backup: {want_a.get(account)})")
    return problems


@dataclass(frozen=True)
class Manifest:
    """Everything a backup says about itself, sealed inside it."""

    created_at: str  # when the snapshot began (UTC, ISO 8601)
    finished_at: str
    installation: str
    oflocal_version: str
    host: str
    database: dict[str, Any]  # kind, member, size, tool versions
    summary: dict[str, Any]  # summarise() of the snapshot
    files: dict[str, dict[str, Any]]  # member → {"sha256", "size"}
    codes: dict[str, int] = field(default_factory=dict)  # printed codes checked / authentic

    def to_bytes(self) -> bytes:
        return json.dumps({
            "format": "oflocal-backup-manifest", "version": 1,
            "created_at": self.created_at, "finished_at": self.finished_at,
            "installation": self.installation, "oflocal_version": self.oflocal_version,
            "host": self.host, "database": self.database, "summary": self.summary,
            "files": self.files, "codes": self.codes,
        }, ensure_ascii=False, indent=1, sort_keys=True).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Manifest:
        raw = json.loads(data)
        if raw.get("format") != "oflocal-backup-manifest":
            raise ValueError("not a backup manifest")
        return cls(created_at=raw["created_at"], finished_at=raw["finished_at"],
                   installation=raw["installation"], oflocal_version=raw["oflocal_version"],
                   host=raw.get("host", ""), database=raw["database"], summary=raw["summary"],
                   files=raw["files"], codes=raw.get("codes", {}))

    @property
    def revision(self) -> str | None:
        value = self.summary.get("revision")
        return str(value) if value is not None else None
