"""Printing wired to the database: background jobs through the API, reprints, proofs.

Every code in the downloaded PDF is decoded from the rasterised page and compared with
the codes stored for that batch; printing never makes a ticket valid.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import pytest
import zxingcpp
from litestar.testing import TestClient
from PIL import Image
from sqlalchemy import select

from apps import client_for
from oflocal.auth.service import create_staff_user, issue_api_token
from oflocal.db.engine import Database
from oflocal.demo import build_event
from oflocal.jobs.models import Job
from oflocal.jobs.queue import claim
from oflocal.printing.jobs import PRINT_BATCH, issue_batch_job
from oflocal.printing.models import PrintJob
from oflocal.settings import Settings
from oflocal.vouchers.codes import CodeSigner
from oflocal.vouchers.models import Booklet, Ticket

QR_ONLY = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)


@pytest.fixture
def client(db: Database, signer: CodeSigner, secret: bytes, tmp_path: Path
           ) -> Iterator[tuple[TestClient[Any], int]]:
    with db.write() as session:
        scenario = build_event(session, signer, workshops=8, booklets=0)
    user = create_staff_user(db, username="printer", display_name="印刷係", role="desk",
                             password="printer-pass-1")
    token = issue_api_token(db, name="t", staff_user_id=user)
    settings = Settings(data_dir=tmp_path, database_url=db.url, secret_key=secret)
    with client_for(settings, db) as test_client:
        test_client.headers["Authorization"] = f"Bearer {token}"
        yield test_client, scenario.programme_id


def _wait(client: TestClient[Any], job_id: int) -> dict[str, Any]:
    seen: list[int] = []
    for _ in range(600):
        status = client.get(f"/api/v1/print-jobs/{job_id}").json()
        seen.append(status["percent"])
        if status["status"] in ("done", "failed"):
            assert seen == sorted(seen), "progress never goes backwards"
            return dict(status)
        time.sleep(0.1)
    raise AssertionError("print job did not finish in 60 s")


def _decoded_codes(pdf: bytes) -> list[str]:
    document = pdfium.PdfDocument(pdf)
    try:
        found = []
        for page in document:
            image = page.render(scale=200 / 72, grayscale=True).to_pil()
            found.extend(r.text for r in zxingcpp.read_barcodes(image, formats=QR_ONLY))
        return found
    finally:
        document.close()


def _stored_codes(db: Database, batch_id: int) -> set[str]:
    with db.read() as session:
        booklets = session.execute(select(Booklet.code).where(Booklet.batch_id == batch_id))
        tickets = session.execute(
            select(Ticket.code).join(Booklet, Booklet.id == Ticket.booklet_id)
            .where(Booklet.batch_id == batch_id)
        )
        return set(booklets.scalars()) | set(tickets.scalars())


def test_print_job_runs_in_background_and_every_code_decodes(
    client: tuple[TestClient[Any], int], db: Database, tmp_path: Path
) -> None:
    http, programme_id = client
    started = http.post(f"/api/v1/programmes/{programme_id}/print-jobs", json={"count": 3})
    assert started.status_code == 202, started.text
    job = _wait(http, started.json()["id"])
    assert job["status"] == "done" and job["done_booklets"] == 3, job
    pdf = http.get(job["download_url"])
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    with db.read() as session:
        batch_id = session.execute(select(PrintJob.batch_id)).scalar_one()
        statuses = set(session.execute(select(Ticket.status)).scalars())
    decoded = _decoded_codes(pdf.content)
    assert sorted(decoded) == sorted(_stored_codes(db, batch_id))  # 3 covers + 18 tickets
    assert len(decoded) == 21
    assert statuses == {"printed"}  # printing never makes a ticket valid
    # Print files are not in backups: on a restored installation the file is not there.
    for file in (tmp_path / "prints").glob("*.pdf"):
        file.unlink()
    gone = http.get(job["download_url"])
    assert gone.status_code == 404 and gone.json()["code"] == "print.file_missing"


def test_reprint_voids_old_codes_and_prints_replacements(
    client: tuple[TestClient[Any], int], db: Database
) -> None:
    http, programme_id = client
    _wait(http, http.post(f"/api/v1/programmes/{programme_id}/print-jobs",
                          json={"count": 2}).json()["id"])
    with db.read() as session:
        damaged = session.execute(select(Booklet).order_by(Booklet.serial)).scalars().first()
        assert damaged is not None
    response = http.post("/api/v1/booklets/reprint",
                         json={"booklet_codes": [damaged.code], "reason": "水濡れ"})
    assert response.status_code == 202, response.text
    job = _wait(http, response.json()["id"])
    assert job["status"] == "done"
    with db.read() as session:
        old = session.get(Booklet, damaged.id)
        new = session.execute(
            select(Booklet).where(Booklet.replaces_booklet_id == damaged.id)
        ).scalar_one()
        old_tickets = set(
            session.execute(select(Ticket.status).where(Ticket.booklet_id == damaged.id)).scalars()
        )
    assert old is not None and old.status == "voided" and "水濡れ" in (old.void_reason or "")
    assert old_tickets == {"voided"}
    decoded = set(_decoded_codes(http.get(job["download_url"]).content))
    assert new.code in decoded and damaged.code not in decoded
    # the voided booklet can no longer be sold
    refused = http.post("/api/v1/booklets/reprint",
                        json={"booklet_codes": [damaged.code], "reason": "again"})
    assert refused.status_code == 409 and refused.json()["code"] == "booklet.voided"


def test_proof_png_is_the_first_sheet_with_sample_codes(
    client: tuple[TestClient[Any], int], db: Database, signer: CodeSigner
) -> None:
    http, programme_id = client
    response = http.get(f"/api/v1/programmes/{programme_id}/proof.png")
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(response.content))
    codes = [r.text for r in zxingcpp.read_barcodes(image.convert("L"), formats=QR_ONLY)]
    assert codes, "the proof shows QR codes"
    from oflocal.vouchers.codes import parse

    # sample codes are well-formed but signed with a throwaway key: the server refuses them
    assert all(not signer.is_authentic(parse(code)) for code in codes)


def test_wrong_roles_and_bad_counts(client: tuple[TestClient[Any], int]) -> None:
    http, programme_id = client
    too_many = http.post(f"/api/v1/programmes/{programme_id}/print-jobs", json={"count": 0})
    assert too_many.status_code == 422 and too_many.json()["code"] == "request.invalid"
    missing = http.get("/api/v1/print-jobs/999")
    assert missing.status_code == 404
    anonymous = http.get("/api/v1/print-jobs/1", headers={"Authorization": ""})
    assert anonymous.status_code == 401


def test_a_starting_server_leaves_a_job_another_worker_holds_alone(
    db: Database, signer: CodeSigner, secret: bytes, tmp_path: Path
) -> None:
    """Start-up used to mark every running print job failed; a job is now held by its
    worker's lease, and a new web process (with its own worker) does not touch it."""
    with db.write() as session:
        scenario = build_event(session, signer, workshops=2, booklets=0)
    job_id = issue_batch_job(db, signer, programme_id=scenario.programme_id, count=2,
                             actor="t").body["job_id"]
    elsewhere = claim(db, "another-machine:1:worker:0", [PRINT_BATCH.kind], lease_seconds=60)
    assert elsewhere is not None
    settings = Settings(data_dir=tmp_path, database_url=db.url, secret_key=secret)
    with client_for(settings, db) as http:
        assert http.get("/api/v1/health").status_code == 200
        time.sleep(0.2)  # the app's own worker has looked for work
    with db.read() as session:
        job = session.get(PrintJob, job_id)
        queued = session.get(Job, elsewhere.job_id)
    assert job is not None and job.status == "queued" and job.error is None
    assert queued is not None and queued.status == "running"
    assert (queued.lease_owner, queued.attempts) == ("another-machine:1:worker:0", 1)


def test_a_retried_print_request_returns_the_same_job(
    client: tuple[TestClient[Any], int], db: Database
) -> None:
    http, programme_id = client
    url = f"/api/v1/programmes/{programme_id}/print-jobs"
    first = http.post(url, json={"count": 2}, headers={"Idempotency-Key": "print-1"})
    again = http.post(url, json={"count": 2}, headers={"Idempotency-Key": "print-1"})
    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"]
    # The answer is the job's status now, marked as a replay like every retried write.
    assert first.headers.get("idempotent-replayed") is None
    assert again.headers.get("idempotent-replayed") == "true"
    other = http.post(url, json={"count": 3}, headers={"Idempotency-Key": "print-1"})
    assert other.status_code == 422 and other.json()["code"] == "idempotency.key_reused"
    _wait(http, first.json()["id"])
    with db.read() as session:
        assert len(session.execute(select(PrintJob.id)).all()) == 1
        assert len(session.execute(select(Booklet.id)).all()) == 2


def test_print_booklets_from_the_command_line_claims_its_job_like_a_worker(
    db: Database, db_url: str, signer: CodeSigner, tmp_path: Path
) -> None:
    with db.write() as session:
        programme = build_event(session, signer, workshops=2, booklets=0).programme_id
    out = tmp_path / "booklets.pdf"
    env = {**os.environ, "OFLOCAL_DATABASE_URL": db_url, "OFLOCAL_DATA_DIR": str(tmp_path)}
    made = subprocess.run(
        [sys.executable, "-m", "oflocal", "print", "booklets", "--programme", str(programme),
         "--count", "3", "--out", str(out), "--workers", "1"],
        env=env, capture_output=True, text=True, timeout=120, check=False)
    assert made.returncode == 0, made.stderr
    assert "3 booklets" in made.stdout and out.read_bytes().startswith(b"%PDF-")
    with db.read() as session:
        print_job = session.execute(select(PrintJob)).scalar_one()
        job = session.execute(select(Job)).scalar_one()
    assert print_job.status == "done" and print_job.file_bytes == out.stat().st_size
    assert (job.status, job.attempts) == ("done", 1) and ":cli:" in (job.lease_owner or "")
