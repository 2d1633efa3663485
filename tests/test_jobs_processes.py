"""Background jobs across real processes, on SQLite and PostgreSQL.

``oflocal worker`` processes render print jobs: one is killed with SIGKILL in the middle
of a render and another finishes the job, with the bytes of an undisturbed render,
after the lease ran out (the attempts show the two holders one after the other). Web
processes starting while a worker renders leave its job alone (they used to mark every
running job failed at start-up). Leases are short here (2 s) to keep the tests quick.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import select

from oflocal.auth.service import create_staff_user, issue_api_token
from oflocal.db.engine import Database
from oflocal.demo import build_event
from oflocal.jobs.models import Job, JobAttempt
from oflocal.printing.jobs import issue_batch_job, prints_dir
from oflocal.printing.models import PrintJob
from oflocal.printing.source import booklet_faces, programme_face
from oflocal.printing.writer import render_booklets
from oflocal.vouchers.codes import CodeSigner
from serverutil import running_server

T = TypeVar("T")

# A render of about half a second or more on one process: a worker is caught half-way.
KILL_BOOKLETS = 500
PAUSED_BOOKLETS = 300
FAST_JOBS = {
    "OFLOCAL_JOB_LEASE_SECONDS": "2",
    "OFLOCAL_JOB_HEARTBEAT_SECONDS": "0.3",
    "OFLOCAL_JOB_POLL_SECONDS": "0.1",
    "OFLOCAL_PRINT_PROCESSES": "1",
}


def _environment(db_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "OFLOCAL_DATABASE_URL": db_url, "OFLOCAL_DATA_DIR": str(data_dir),
            **FAST_JOBS, **extra}


@contextlib.contextmanager
def workers(db_url: str, data_dir: Path, count: int,
            **env: str) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``count`` ``oflocal worker`` processes (each in its own process group); stopped
    with SIGTERM afterwards, their logs in ``data_dir/worker-N.log``."""
    started: list[subprocess.Popen[bytes]] = []
    try:
        for n in range(count):
            with (data_dir / f"worker-{n}.log").open("wb") as log:
                started.append(subprocess.Popen(
                    [sys.executable, "-m", "oflocal", "worker"],
                    env=_environment(db_url, data_dir, **env), stdout=log, stderr=subprocess.STDOUT,
                    start_new_session=True))
        yield started
    finally:
        for proc in started:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in started:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def logs(data_dir: Path) -> str:
    return "\n".join(f"--- {path.name}\n{path.read_text(errors='replace')}"
                     for path in sorted(data_dir.glob("*.log")))


def wait_for(what: str, check: Callable[[], T | None], data_dir: Path,
             seconds: float = 90.0) -> T:
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n{logs(data_dir)}")
        time.sleep(0.05)


def rows(db: Database, job_id: int) -> tuple[PrintJob, Job, list[JobAttempt]]:
    with db.read() as session:
        print_job = session.get(PrintJob, job_id)
        job = session.execute(
            select(Job).where(Job.dedupe_key == f"print_job:{job_id}")).scalar_one()
        attempts = list(session.execute(
            select(JobAttempt).where(JobAttempt.job_id == job.id).order_by(JobAttempt.attempt)
        ).scalars())
    assert print_job is not None
    return print_job, job, attempts


def rendering(db: Database, job_id: int) -> Job | None:
    """The job, once a worker holds it and has drawn some booklets."""
    print_job, job, _ = rows(db, job_id)
    return job if job.status == "running" and print_job.done_booklets > 0 else None


def pid_of(owner: str | None) -> int:
    assert owner is not None
    return int(owner.split(":")[1])  # host:pid:name:token:thread


def undisturbed_render(db: Database, job_id: int) -> bytes:
    with db.read() as session:
        print_job = session.get(PrintJob, job_id)
        assert print_job is not None and print_job.batch_id is not None
        face, workshops, layout = programme_face(session, print_job.programme_id)
        out = io.BytesIO()
        render_booklets(face, booklet_faces(session, workshops, batch_id=print_job.batch_id),
                        out, layout, total=print_job.total_booklets)
    return out.getvalue()


@pytest.fixture
def programme(db: Database, signer: CodeSigner) -> int:
    with db.write() as session:
        return build_event(session, signer, workshops=8, booklets=0).programme_id


def test_a_print_job_whose_worker_is_killed_completes_on_another_with_the_same_bytes(
    db: Database, db_url: str, signer: CodeSigner, programme: int, tmp_path: Path
) -> None:
    with workers(db_url, tmp_path, 2) as (one, two):
        job_id = issue_batch_job(db, signer, programme_id=programme, count=KILL_BOOKLETS,
                                 actor="test").body["job_id"]
        held = wait_for("a worker to render", lambda: rendering(db, job_id), tmp_path)
        victim, survivor = (one, two) if pid_of(held.lease_owner) == one.pid else (two, one)
        assert pid_of(held.lease_owner) == victim.pid
        os.killpg(victim.pid, signal.SIGSTOP)  # caught where it is, then killed
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait()
        print_job, job, _ = rows(db, job_id)
        assert print_job.status == "running" and job.attempts == 1, "killed mid-render"
        assert print_job.done_booklets < KILL_BOOKLETS

        wait_for("the job to finish", lambda: rows(db, job_id)[0].status == "done", tmp_path)
        assert survivor.poll() is None
    assert survivor.returncode == 0, logs(tmp_path)  # SIGTERM: a graceful stop

    print_job, job, attempts = rows(db, job_id)
    assert (job.status, job.attempts) == ("done", 2)
    assert [(pid_of(a.owner), a.outcome) for a in attempts] == [
        (victim.pid, "expired"), (survivor.pid, "done")]
    # Never two holders at once: the killed worker's attempt ended when its lease ran
    # out, and the next one was claimed after that.
    assert attempts[0].ended_at is not None
    assert attempts[0].ended_at <= attempts[1].claimed_at
    pdf = (prints_dir(tmp_path) / str(print_job.file_name)).read_bytes()
    assert print_job.file_bytes == len(pdf) and print_job.done_booklets == KILL_BOOKLETS
    assert pdf == undisturbed_render(db, job_id)
    assert not list(prints_dir(tmp_path).glob("*.part")), "no half-written file is left"


def _api(base: str, token: str, path: str) -> dict[str, Any]:
    request = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return dict(json.load(answer))


def test_web_processes_starting_while_a_job_runs_leave_it_alone(
    db: Database, db_url: str, signer: CodeSigner, programme: int, tmp_path: Path
) -> None:
    """The worker is paused (SIGSTOP) while two web servers start, so that its job is
    mid-render whatever the machine's speed; its lease (60 s here) outlasts the pause.
    The servers run their own in-process workers, as by default."""
    user = create_staff_user(db, username="desk", display_name="desk", role="desk",
                             password="desk-pass-2026")
    token = issue_api_token(db, name="t", staff_user_id=user)
    seen: list[str] = []
    with workers(db_url, tmp_path, 1, OFLOCAL_JOB_LEASE_SECONDS="60") as (worker,):
        job_id = issue_batch_job(db, signer, programme_id=programme, count=PAUSED_BOOKLETS,
                                 actor="test").body["job_id"]
        wait_for("the worker to render", lambda: rendering(db, job_id), tmp_path)
        os.killpg(worker.pid, signal.SIGSTOP)
        try:
            with contextlib.ExitStack() as stack, ThreadPoolExecutor(2) as pool:
                servers = [running_server(db_url, tmp_path / name, env={
                    **FAST_JOBS, "OFLOCAL_DATA_DIR": str(tmp_path)}) for name in ("a", "b")]
                for name in ("a", "b"):
                    (tmp_path / name).mkdir()
                bases = list(pool.map(stack.enter_context, servers))
                assert rows(db, job_id)[0].status == "running", "still mid-render"
                seen.extend(_api(base, token, f"/api/v1/print-jobs/{job_id}")["status"]
                            for base in bases)
                os.killpg(worker.pid, signal.SIGCONT)

                def finished() -> bool:
                    seen.extend(_api(base, token, f"/api/v1/print-jobs/{job_id}")["status"]
                                for base in bases)
                    return seen[-1] == "done"

                wait_for("the job to finish", finished, tmp_path)
        finally:
            os.killpg(worker.pid, signal.SIGCONT)
    print_job, job, attempts = rows(db, job_id)
    assert seen[:2] == ["running", "running"] and "failed" not in seen, seen
    assert print_job.error is None and print_job.done_booklets == PAUSED_BOOKLETS
    assert (job.status, job.attempts) == ("done", 1)
    assert [(pid_of(a.owner), a.outcome) for a in attempts] == [(worker.pid, "done")]
