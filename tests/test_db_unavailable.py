"""A database connection dropped under the app answers 503, changes nothing, and the
retry with the same Idempotency-Key goes through (the pool does not ping before use)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar.testing import TestClient
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.pool import NullPool

from oflocal.auth.service import issue_api_token
from oflocal.db.engine import Database
from oflocal.demo import build_event
from oflocal.settings import Settings
from oflocal.vouchers.codes import CodeSigner
from oflocal.vouchers.desk import sell_booklets
from oflocal.vouchers.models import Redemption, Ticket
from oflocal.web.app import create_app


def test_dropped_connection_is_503_then_the_retry_succeeds(
    templates: Any, signer: CodeSigner, secret: bytes, tmp_path: Path
) -> None:
    """PostgreSQL only: an embedded SQLite database has no server connection to drop."""
    db = Database(templates.postgres_url())
    try:
        _drop_and_retry(db, signer, secret, tmp_path)
    finally:
        db.dispose()


def _drop_and_retry(db: Database, signer: CodeSigner, secret: bytes, tmp_path: Path) -> None:
    with db.write() as session:
        scenario = build_event(session, signer, workshops=1, booklets=1)
    sell_booklets(db, signer, programme_id=scenario.programme_id,
                  codes=scenario.booklet_codes, payment_method="cash", actor="t")
    with db.read() as session:
        code = session.execute(select(Ticket.code).limit(1)).scalar_one()
    token = issue_api_token(db, name="t", workshop_id=scenario.workshop_ids[0])
    app = create_app(Settings(data_dir=tmp_path, database_url=db.url, secret_key=secret), db)
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "drop-1"}
    with TestClient(app) as client:
        assert client.get("/api/v1/redemptions/today",
                          headers={"Authorization": headers["Authorization"]}).status_code == 200
        killer = create_engine(db.engine.url, poolclass=NullPool)
        with killer.connect() as conn:  # the server drops every pooled connection
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = current_database() AND pid <> pg_backend_pid()"))
        killer.dispose()
        dropped = client.post("/api/v1/redemptions", json={"codes": [code]}, headers=headers)
        statuses = [dropped.status_code]
        while dropped.status_code == 503 and len(statuses) < 20:  # one per pooled connection
            assert dropped.json()["code"] == "server.unavailable"
            dropped = client.post("/api/v1/redemptions", json={"codes": [code]}, headers=headers)
            statuses.append(dropped.status_code)
    assert statuses[0] == 503, statuses
    assert dropped.status_code == 201, (statuses, dropped.text)
    with db.read() as session:
        assert session.execute(select(func.count()).select_from(Redemption)).scalar_one() == 1
