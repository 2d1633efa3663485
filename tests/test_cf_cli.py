"""`oflocal campaign|pledges|refunds`: the same domain functions as the pages and the
API. In process (click's runner) to stay fast; one real process per database shows a
refusal's exit code and bilingual message as a script sees them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from cf_staff_world import build
from oflocal.crowdfunding.models import Campaign, Payment, Refund
from oflocal.db.engine import Database


def test_campaign_pledges_and_refunds_commands(run_cli, db: Database, db_url: str,  # type: ignore[no-untyped-def]
                                               tmp_path: Path) -> None:
    w = build(db, slug="cli", ended=True, goal=100_000)
    body = w.pledge()
    made = run_cli("campaign", "create", "--event", "cli", "--slug", "next", "--title", "次回",
               "--goal", "50000", "--starts", "2026-06-01T10:00", "--ends", "2099-07-01T10:00")
    assert made.exit_code == 0, made.output
    shown = run_cli("campaign", "show", "next", "--event", "cli")
    assert "missing: 特定商取引法に基づく表記：運営責任者" in shown.output
    edited = run_cli("campaign", "edit", "hitsuji", "--event", "cli", "--set", "title=ひつじ団 改")
    assert edited.exit_code == 0, edited.output
    listed = run_cli("campaign", "list", "--event", "cli")
    assert "ひつじ団 改" in listed.output and "次回" in listed.output

    pledges = run_cli("pledges", "list", "hitsuji", "--event", "cli", "--state", "reserved")
    assert body["reference"] in pledges.output
    out = tmp_path / "p.csv"
    exported = run_cli("pledges", "export", "hitsuji", "--event", "cli", "--out", str(out))
    assert exported.exit_code == 0 and "佐藤花子" in out.read_text(encoding="utf-8-sig")
    paid = run_cli("pledges", "mark-paid", body["reference"], "--campaign", "hitsuji",
               "--event", "cli", "--amount", "5000")
    assert paid.exit_code == 0 and "paid" in paid.output, paid.output

    decided = run_cli("campaign", "decide", "hitsuji", "--event", "cli")
    assert '"state": "failed"' in decided.output, decided.output
    with db.read() as session:
        refund_id = session.execute(select(Refund.id)).scalar_one()
    assert run_cli("refunds", "sent", str(refund_id)).exit_code == 0
    assert run_cli("refunds", "confirmed", str(refund_id)).exit_code == 0
    assert "confirmed" in run_cli("refunds", "list", "hitsuji", "--event", "cli").output

    # A refusal, as a script sees it: exit code 2, both languages, nothing changed.
    env = {**os.environ, "OFLOCAL_DATABASE_URL": db_url, "OFLOCAL_DATA_DIR": str(tmp_path)}
    refused = subprocess.run(
        [sys.executable, "-c", "from oflocal.cli import main; main()", "campaign", "go-live",
         "next", "--event", "cli"], env=env, capture_output=True, text=True, timeout=120,
        check=False)
    assert refused.returncode == 2 and "campaign.legal_missing" in refused.stderr
    assert "運営責任者" in refused.stderr and "person responsible" in refused.stderr
    with db.read() as session:
        assert session.execute(select(Campaign.state).where(Campaign.slug == "next")
                               ).scalar_one() == "draft"
        assert len(session.execute(select(Payment.id)).all()) == 1
