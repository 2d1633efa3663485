"""The automatic backups: a ``backup.run`` job every ``OFLOCAL_BACKUP_EVERY_MINUTES``.

Time is cut into slots of that length (from the epoch, UTC). Every worker, as it starts,
queues the current slot's run (deduplicated by the key ``backup:<minutes>:<slot>``: a
slot runs once however many workers start, and a restart within a slot that has run
queues nothing); each run queues the next slot's as it ends, in the same transaction
as the job's end. A run that fails records why for the staff pages and still queues
the next one: a missing USB stick is shown, then tried again ten minutes later. A run
cut short (its worker killed) is claimed again when its lease runs out; given up after
that, it queues the next slot too, so the chain never breaks while a worker runs.
"""

from __future__ import annotations

import logging
import math
import sqlite3
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from oflocal.backup import status
from oflocal.backup.create import BackupResult, create_backup, read_passphrase_file
from oflocal.db.engine import Database
from oflocal.errors import Refusal
from oflocal.jobs.queue import db_now, enqueue
from oflocal.jobs.worker import JobContext, Task
from oflocal.settings import Settings

log = logging.getLogger("oflocal.backup")

BACKUP = "backup.run"


def slot_of(moment: datetime, minutes: int) -> int:
    return math.floor(moment.timestamp() / (minutes * 60))


def _queue(session: Session, slot: int, minutes: int, now: datetime) -> None:
    delay = max(slot * minutes * 60 - now.timestamp(), 0.0)
    enqueue(session, BACKUP, {"slot": slot, "every_minutes": minutes},
            dedupe_key=f"backup:{minutes}:{slot}", delay_seconds=delay, max_attempts=2)


def schedule_backups(db: Database, settings: Settings) -> None:
    """At a worker's start: the current slot's backup, at once unless it ran already."""
    if not settings.backup.automatic:
        return
    with db.write() as session:
        now = db_now(session)
        _queue(session, slot_of(now, settings.backup.every_minutes),
               settings.backup.every_minutes, now)


def run_automatic(settings: Settings, check: Callable[[], None] | None = None) -> BackupResult:
    """One backup to the automatic folder, its outcome recorded for the staff pages."""
    config = settings.backup
    assert config.dir is not None
    try:
        passphrase = read_passphrase_file(config.passphrase_file) \
            if config.passphrase_file is not None else None
    except Refusal as refusal:
        status.record_failure(settings.data_dir, target=config.dir, code=refusal.code,
                              facts=refusal.facts)
        raise
    return create_backup(settings, target=config.dir, passphrase=passphrase, rotate=True,
                         record=True, check=check)


def _run(ctx: JobContext) -> None:
    settings = ctx.settings
    if not settings.backup.automatic:
        return  # switched off since it was queued: nothing more is queued
    try:
        result = run_automatic(settings, ctx.check)
        log.info("backup %s written (%d bytes, %.1f s)", result.path, result.size,
                 result.seconds)
    except Refusal as refusal:
        log.error("automatic backup failed: %s", refusal.message("en"))
    except (sqlite3.Error, SQLAlchemyError, ValueError, RuntimeError) as error:
        log.exception("automatic backup failed")
        status.record_failure(settings.data_dir, target=settings.backup.dir,
                              code="backup.failed", facts={"reason": str(error)[:300]})
    minutes = settings.backup.every_minutes
    with ctx.finish() as session:
        now = db_now(session)
        _queue(session, _next_slot(ctx.payload, now, minutes), minutes, now)


def _next_slot(payload: Mapping[str, Any], now: datetime, minutes: int) -> int:
    """The slot after this run's own (or after now's, when it ran late)."""
    ran = int(payload.get("slot", 0)) if payload.get("every_minutes") == minutes else 0
    return max(slot_of(now, minutes), ran) + 1


def _give_up(session: Session, payload: Mapping[str, Any], reason: str) -> None:
    minutes = int(payload.get("every_minutes") or 10)
    now = db_now(session)
    _queue(session, _next_slot(payload, now, minutes), minutes, now)
    log.error("an automatic backup was given up (%s); the next one is queued", reason)


BACKUP_TASK = Task(kind=BACKUP, run=_run, give_up=_give_up, max_attempts=2,
                   schedule=schedule_backups)
