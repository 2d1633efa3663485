"""``oflocal worker``: a process that runs background jobs until it is told to stop.

Run as many as you like, on any machine that reaches the database and shares the data
folder (print files are written there). SIGTERM or Ctrl-C stops it gracefully: nothing
more is claimed, a print job in progress is given back to the queue at once, other jobs
finish. A second signal stops it at once; its jobs are claimed again elsewhere when
their leases run out (``OFLOCAL_JOB_LEASE_SECONDS``), as after a ``kill -9``.
"""

from __future__ import annotations

import logging
import os
import signal
from types import FrameType

import click

from oflocal.cli_base import database, settings


@click.command("worker")
@click.option("--threads", type=click.IntRange(1, 64), default=None,
              help="Jobs run at once (default: OFLOCAL_WORKER_THREADS, 1).")
def worker_command(threads: int | None) -> None:
    """Run background jobs (print batches, e-mail) until SIGTERM; see docs/architecture.md."""
    from oflocal.job_kinds import TASKS
    from oflocal.jobs.worker import Worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: "
                        "%(message)s")
    worker = Worker(database(), settings(), TASKS, threads=threads)
    signals = [0]

    def stop(number: int, _frame: FrameType | None) -> None:
        signals[0] += 1
        if signals[0] > 1:
            logging.getLogger("oflocal.jobs").warning("second signal: stopping now")
            os._exit(128 + number)
        worker.request_stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    worker.start()
    worker.join()
    worker.stop()
