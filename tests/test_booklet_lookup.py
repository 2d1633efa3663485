"""GET /api/v1/booklets/{code}: what staff see before voiding or reprinting a booklet,
on both databases; a forged or mistyped code is refused like everywhere else."""

from __future__ import annotations

from pathlib import Path

from apps import client_for
from oflocal.auth.service import issue_api_token
from oflocal.db.engine import Database
from oflocal.demo import build_event
from oflocal.settings import Settings
from oflocal.vouchers.codes import CodeSigner, grouped
from oflocal.vouchers.desk import sell_booklets, void_booklet
from test_api_setup import staff_tokens


def test_a_booklet_is_looked_up_by_its_cover_code(db: Database, signer: CodeSigner,
                                                  secret: bytes, tmp_path: Path) -> None:
    with db.write() as session:
        scenario = build_event(session, signer, slug="look", workshops=2, booklets=3)
    stock, sold, lost = scenario.booklet_codes
    sell_booklets(db, signer, programme_id=scenario.programme_id, codes=[sold],
                  payment_method="cash", actor="desk")
    void_booklet(db, signer, code=lost, reason="紛失", actor="desk")
    tokens = staff_tokens(db)
    tokens["workshop"] = issue_api_token(db, name="w", workshop_id=scenario.workshop_ids[0])
    settings = Settings(data_dir=tmp_path, database_url=db.url, secret_key=secret)
    with client_for(settings, db) as client:
        def get(code: str, who: str = "desk") -> dict[str, object]:
            answer = client.get(f"/api/v1/booklets/{code}",
                                headers={"Authorization": f"Bearer {tokens[who]}"})
            body: dict[str, object] = answer.json()
            body["http"] = answer.status_code
            return body

        printed = get(grouped(stock).lower())  # typed as printed, in lower case
        assert printed["http"] == 200, printed
        assert (printed["code"], printed["status"], printed["tickets"], printed["face_value"],
                printed["voidable"], printed["sold_at"]) == (stock, "printed", 6, 3000, True, None)
        assert (get(sold)["status"], get(sold)["voidable"]) == ("sold", False)
        assert get(sold)["sold_at"] is not None
        voided = get(lost)
        assert (voided["status"], voided["void_reason"], voided["voidable"]) == (
            "voided", "紛失", False)

        forged = signer.make("B", scenario.programme_id, 999)[:-1] + "Z"
        assert get(forged)["code"] in ("code.checksum", "code.unknown")
        other_key = CodeSigner(b"k" * 32).make("B", scenario.programme_id, 1)
        assert (get(other_key)["http"], get(other_key)["code"]) == (404, "code.unknown")
        unprinted = signer.make("B", scenario.programme_id, 999)
        assert (get(unprinted)["http"], get(unprinted)["code"]) == (404, "booklet.unknown")
        ticket = signer.make("T", scenario.programme_id, 1)
        assert get(ticket)["code"] == "code.not_a_booklet"
        assert get(stock, "workshop")["http"] == 403  # desk staff only
