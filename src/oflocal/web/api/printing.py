"""Print batches in the background, their progress, the PDF download and the proof."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from litestar import Request, Response, Router, get, post
from litestar.params import Parameter
from litestar.response import File
from pydantic import BaseModel, Field
from sqlalchemy import select

from oflocal.errors import Refusal
from oflocal.printing.jobs import issue_batch_job, job_file, reprint_job
from oflocal.printing.models import PrintJob
from oflocal.printing.source import proof_png
from oflocal.vouchers.models import PrintBatch, Programme
from oflocal.web.api.common import (
    DESK,
    KEY_OPTIONAL,
    NOT_BLANK,
    JobId,
    ProgrammeId,
    RequestBody,
    actor_of,
    idempotency,
    once,
)
from oflocal.web.openapi import PDF
from oflocal.web.state import services

PNG = "image/png"


# Path ids within what the columns hold: a larger number is a 422, not a 404 or a crash.


class PrintRequest(RequestBody):
    count: int = Field(ge=1, le=20000, description="How many booklets to print")


class ReprintRequest(RequestBody):
    booklet_codes: list[str] = Field(min_length=1, max_length=500)
    reason: str = Field(min_length=1, max_length=200, pattern=NOT_BLANK)


class JobStatus(BaseModel):
    id: int
    programme_id: int
    status: str
    done_booklets: int
    total_booklets: int
    percent: int
    file_bytes: int | None
    error: str | None
    created_at: datetime
    finished_at: datetime | None
    download_url: str | None


class JobSummary(JobStatus):
    batch_number: int | None = Field(description="The print batch's number (第N回)")
    reason: str = Field(description="The batch's reason; reprints start with `reprint: `")


def _status(job: PrintJob) -> JobStatus:
    return JobStatus(
        id=job.id,
        programme_id=job.programme_id,
        status=job.status,
        done_booklets=job.done_booklets,
        total_booklets=job.total_booklets,
        percent=100 * job.done_booklets // max(job.total_booklets, 1),
        file_bytes=job.file_bytes,
        error=job.error,
        created_at=job.created_at,
        finished_at=job.finished_at,
        download_url=f"/api/v1/print-jobs/{job.id}/pdf" if job.status == "done" else None,
    )


def _job(request: Request[Any, Any, Any], job_id: int) -> PrintJob:
    with services(request.app.state).db.read() as session:
        job = session.get(PrintJob, job_id)
    if job is None:
        raise Refusal("request.not_found")
    return job


@post("/programmes/{programme_id:int}/print-jobs", opt={"roles": DESK, "idempotency": KEY_OPTIONAL},
      sync_to_thread=True, status_code=202)
def start_print(request: Request[Any, Any, Any], programme_id: ProgrammeId,
                data: PrintRequest) -> Response[JobStatus]:
    """Issue a numbered batch of booklets (not yet valid) and render its PDF in the background.

    An `Idempotency-Key` is optional: send one so that a retry after a lost answer
    returns the same job instead of issuing a second batch."""
    s = services(request.app.state)
    actor = actor_of(request)
    idem = idempotency(request, actor, programme_id, data.count)
    outcome = issue_batch_job(s.db, s.signer, programme_id=programme_id, count=data.count,
                              actor=actor.scope, idem=idem)
    return _started(request, int(outcome.body["job_id"]), replayed=outcome.replayed)


def _started(request: Request[Any, Any, Any], job_id: int, *,
             replayed: bool) -> Response[JobStatus]:
    """The job's status now; a retry (the same Idempotency-Key) starts nothing more."""
    worker = request.app.state.job_worker
    if not replayed and worker is not None:
        worker.nudge()  # this process's worker looks at once; any other may take it
    headers = {"Idempotent-Replayed": "true"} if replayed else {}
    return Response(_status(_job(request, job_id)), status_code=202, headers=headers)


@post("/booklets/reprint", opt={"roles": DESK, "idempotency": KEY_OPTIONAL}, sync_to_thread=True,
      status_code=202)
def reprint(request: Request[Any, Any, Any], data: ReprintRequest) -> Response[JobStatus]:
    """Void damaged unsold booklets and print replacements with new codes. An
    `Idempotency-Key` is optional: a retry answers the same job and prints nothing more."""
    s = services(request.app.state)

    def work() -> dict[str, Any]:
        return {"job_id": reprint_job(s.db, s.signer, codes=data.booklet_codes,
                                      reason=data.reason, actor=actor_of(request).scope)}

    answered = once(request, work, data.model_dump())
    return _started(request, int(answered.content["job_id"]),
                    replayed="Idempotent-Replayed" in answered.headers)


@get("/programmes/{programme_id:int}/print-jobs", opt={"roles": DESK}, sync_to_thread=True)
def list_jobs(
    request: Request[Any, Any, Any],
    programme_id: ProgrammeId,
    limit: Annotated[int, Parameter(query="limit", ge=1, le=100,
                                    description="How many, the latest first")] = 20,
) -> list[JobSummary]:
    """A programme's recent print jobs and reprints, the latest first, with their progress."""
    with services(request.app.state).db.read() as session:
        if session.get(Programme, programme_id) is None:
            raise Refusal("programme.not_found")
        rows = session.execute(
            select(PrintJob, PrintBatch.number, PrintBatch.reason)
            .outerjoin(PrintBatch, PrintBatch.id == PrintJob.batch_id)
            .where(PrintJob.programme_id == programme_id)
            .order_by(PrintJob.id.desc())
            .limit(limit)
        ).all()
        return [
            JobSummary(**_status(job).model_dump(), batch_number=number, reason=reason or "")
            for job, number, reason in rows
        ]


@get("/print-jobs/{job_id:int}", opt={"roles": DESK}, sync_to_thread=True)
def job_status(request: Request[Any, Any, Any], job_id: JobId) -> JobStatus:
    """Progress of a print job (poll it; the page shows a progress bar)."""
    return _status(_job(request, job_id))


@get("/print-jobs/{job_id:int}/pdf", opt={"roles": DESK, "download": (PDF,)},
     sync_to_thread=True, media_type=PDF)
def job_pdf(request: Request[Any, Any, Any], job_id: JobId) -> File:
    """The finished PDF, streamed from disk."""
    job = _job(request, job_id)
    if job.status != "done":
        raise Refusal("request.not_found")
    path = job_file(services(request.app.state).settings.data_dir, job)
    if not path.is_file():  # e.g. an installation restored from a backup (no print files)
        raise Refusal("print.file_missing", file=path.name)
    return File(path=path, filename=path.name, media_type="application/pdf")


@get("/programmes/{programme_id:int}/proof.png", opt={"roles": DESK, "download": (PNG,)},
     sync_to_thread=True, media_type=PNG)
def proof(request: Request[Any, Any, Any], programme_id: ProgrammeId) -> Response[bytes]:
    """The first sheet of a sample booklet as an image, to check before printing 1,000."""
    png = proof_png(services(request.app.state).db, programme_id)
    return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})


router = Router(path="/", route_handlers=[start_print, reprint, list_jobs, job_status, job_pdf,
                                          proof], tags=["printing"])
