"""Revoking an API token takes effect at once, in every server process.

Accepted tokens used to be remembered for 10 s per worker, so a revoked token (a lost
booth tablet) went on working. Now the token is looked up on every request. The test
runs two uvicorn workers, uses the token until both have accepted it, revokes it over
the API (and another with the CLI), and from the next request on every answer is 401.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from apps import client_for
from oflocal.auth.service import create_staff_user, issue_api_token, new_api_token
from oflocal.db.engine import Database
from oflocal.demo import build_event
from oflocal.vouchers.codes import CodeSigner
from serverutil import running_server

TRIES = 40  # requests per check: with two workers, both answer some of them


@pytest.fixture
def world(db: Database, signer: CodeSigner) -> dict[str, int]:
    with db.write() as session:
        sc = build_event(session, signer, slug="rev", workshops=2, booklets=0)
    admin = create_staff_user(db, username="boss", display_name="事務局", role="admin",
                              password="a long admin password")
    return {"admin": admin, "workshop": sc.workshop_ids[0]}


def _statuses(base: str, token: str) -> set[int]:
    """Fresh connections each time, so the two workers share the requests (plain HTTP:
    ``verify=False`` spares each client the 30 ms of loading the CA bundle)."""
    return {httpx.get(base + "/api/v1/redemptions/today", verify=False,
                      headers={"Authorization": f"Bearer {token}"}).status_code
            for _ in range(TRIES)}


@pytest.mark.slow
def test_revoked_token_is_refused_at_once_by_every_worker(
    world: dict[str, int], db: Database, db_url: str, tmp_path: Path
) -> None:
    admin = issue_api_token(db, name="admin", staff_user_id=world["admin"])
    booth_id, booth = new_api_token(db, name="lost tablet", workshop_id=world["workshop"])
    cli_id, by_cli = new_api_token(db, name="old scanner", workshop_id=world["workshop"])
    with running_server(db_url, tmp_path, workers=2) as base:
        assert _statuses(base, booth) == {200}
        assert _statuses(base, by_cli) == {200}
        revoked = httpx.delete(f"{base}/api/v1/tokens/{booth_id}",
                               headers={"Authorization": f"Bearer {admin}"})
        assert revoked.status_code == 200, revoked.text
        assert revoked.json()["revoked_at"] is not None
        assert _statuses(base, booth) == {401}

        env = {**os.environ, "OFLOCAL_DATABASE_URL": db_url, "OFLOCAL_DATA_DIR": str(tmp_path)}
        done = subprocess.run([sys.executable, "-c", "from oflocal.cli import main; main()",
                               "user", "revoke-token", str(cli_id)],
                              env=env, capture_output=True, text=True, check=False)
        assert done.returncode == 0 and "revoked" in done.stdout, done.stderr
        assert _statuses(base, by_cli) == {401}

        listed = httpx.get(f"{base}/api/v1/tokens", headers={"Authorization": f"Bearer {admin}"})
        states = {t["id"]: t["revoked_at"] is not None for t in listed.json()}
        assert states == {1: False, booth_id: True, cli_id: True}
        assert all("token" not in t for t in listed.json())  # never shown again
        again = httpx.delete(f"{base}/api/v1/tokens/{booth_id}",
                             headers={"Authorization": f"Bearer {admin}"})
        assert again.json()["revoked_at"] == revoked.json()["revoked_at"]
        missing = httpx.delete(f"{base}/api/v1/tokens/999",
                               headers={"Authorization": f"Bearer {admin}"})
        assert (missing.status_code, missing.json()["code"]) == (404, "token.not_found")


def test_a_token_cannot_revoke_itself(world: dict[str, int], db: Database,
                                      secret: bytes, tmp_path: Path) -> None:

    from oflocal.settings import Settings

    own_id, own = new_api_token(db, name="script", staff_user_id=world["admin"])
    other_id, _ = new_api_token(db, name="tablet", workshop_id=world["workshop"])
    settings = Settings(data_dir=tmp_path, database_url=db.url, secret_key=secret)
    with client_for(settings, db) as client:
        headers = {"Authorization": f"Bearer {own}"}
        refused = client.delete(f"/api/v1/tokens/{own_id}", headers=headers)
        assert (refused.status_code, refused.json()["code"]) == (409, "token.own")
        assert client.delete(f"/api/v1/tokens/{other_id}", headers=headers).status_code == 200
        assert client.get("/api/v1/tokens", headers=headers).status_code == 200  # still in


def test_a_token_for_nobody_is_a_clear_404(world: dict[str, int], db: Database) -> None:
    from oflocal.errors import Refusal

    for holder, code in (({"staff_user_id": 999}, "staff.not_found"),
                         ({"workshop_id": 999}, "workshop.not_found")):
        with pytest.raises(Refusal) as refused:
            new_api_token(db, name="ghost", **holder)
        assert refused.value.code == code
