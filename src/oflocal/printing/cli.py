"""``oflocal print``: booklets to print-ready PDFs from the command line."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import click

from oflocal.cli_base import database, progress_bar, settings, signer
from oflocal.printing.jobs import issue_batch_job, job_file, reprint_job
from oflocal.printing.models import PrintJob


def _run_with_bar(job_id: int, out: Path | None, workers: int) -> None:
    """Render the job here (this command claims it like any worker) with a progress bar;
    if a running worker claimed it first, follow that worker's progress instead."""
    import dataclasses
    import threading

    from oflocal.jobs.worker import Worker
    from oflocal.printing.jobs import PRINT_BATCH

    db, data_dir = database(), settings().data_dir
    worker = Worker(db, dataclasses.replace(settings(), print_processes=workers),
                    [PRINT_BATCH], threads=1, name="cli")
    with db.read() as session:
        job = session.get(PrintJob, job_id)
        assert job is not None
        total = job.total_booklets
    queued_as = _queue_id(job_id)
    ended = threading.Event()

    def render() -> None:  # as a worker would, for this one job, until it has ended
        while not ended.is_set():
            if not worker.run_job(queued_as):
                ended.wait(1.0)

    with progress_bar(length=total, label="印刷データ作成 Rendering") as bar:
        thread = threading.Thread(target=render, name="oflocal-print")
        thread.start()
        shown = 0
        try:
            while True:
                with db.read() as session:
                    now = session.get(PrintJob, job_id)
                    assert now is not None
                bar.update(now.done_booklets - shown)
                shown = now.done_booklets
                if now.status in ("done", "failed"):
                    break
                time.sleep(0.3)
        finally:
            ended.set()
            worker.request_stop()  # on Ctrl-C: the job is given back to the queue
            thread.join()
            worker.stop()
    with db.read() as session:
        job = session.get(PrintJob, job_id)
        assert job is not None
    if job.status != "done":
        raise click.ClickException(f"print job {job_id} failed: {job.error}")
    path = job_file(data_dir, job)
    if out is not None:
        shutil.copyfile(path, out)
        path = out
    click.echo(f"{job.total_booklets} booklets → {path} ({(job.file_bytes or 0) / 1e6:.1f} MB)")


def _queue_id(print_job_id: int) -> int:
    """The background job that renders print job ``print_job_id``."""
    from sqlalchemy import select

    from oflocal.jobs.models import Job

    with database().read() as session:
        return session.execute(
            select(Job.id).where(Job.dedupe_key == f"print_job:{print_job_id}")
        ).scalar_one()


@click.group("print")
def print_group() -> None:
    """Print voucher booklets (PDF for an office printer or a print shop)."""


@print_group.command("booklets")
@click.option("--programme", "programme_id", type=int, required=True)
@click.option("--count", type=click.IntRange(1, 20000), required=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--workers", type=click.IntRange(1, 16), default=2, show_default=True)
def print_booklets(programme_id: int, count: int, out: Path | None, workers: int) -> None:
    """Issue COUNT new booklets (not valid until sold) and write their PDF."""

    job_id = issue_batch_job(database(), signer(), programme_id=programme_id, count=count,
                             actor="cli").body["job_id"]
    _run_with_bar(job_id, out, workers)


@print_group.command("reprint")
@click.argument("codes", nargs=-1, required=True)
@click.option("--reason", required=True, help="Why (e.g. 水濡れで破損 / water damage).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None)
def print_reprint(codes: tuple[str, ...], reason: str, out: Path | None) -> None:
    """Void damaged unsold booklets and print replacements with new codes."""

    job_id = reprint_job(database(), signer(), codes=list(codes), reason=reason, actor="cli")
    _run_with_bar(job_id, out, 1)


@print_group.command("sample")
@click.option("--programme", "programme_id", type=int, required=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--png", is_flag=True, help="Write the first sheet as a PNG instead of a PDF.")
def print_sample(programme_id: int, out: Path, png: bool) -> None:
    """A proof: one booklet with the real layout, marked 見本 SAMPLE, codes that never work."""
    from oflocal.printing.proof import render_first_sheet_png
    from oflocal.printing.samples import sample_booklets
    from oflocal.printing.source import programme_face
    from oflocal.printing.writer import render_booklets
    from oflocal.vouchers.models import Programme

    with database().read() as session:
        face, workshops, layout = programme_face(session, programme_id, sample=True)
        programme = session.get(Programme, programme_id)
        assert programme is not None
        booklets = sample_booklets(programme_id, list(programme.denominations),
                                   list(workshops.values()))
    if png:
        out.write_bytes(render_first_sheet_png(face, booklets, layout))
    else:
        render_booklets(face, booklets, str(out), layout)
    click.echo(f"sample → {out}")
