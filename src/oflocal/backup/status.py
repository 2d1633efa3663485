"""How the automatic backups are going, for the staff pages and ``oflocal backup --status``.

Each backup to the configured folder records its outcome in ``<data_dir>/
backup-status.json`` (written whole and renamed, so a reader never sees half of it):
the last good backup, and the last attempt with the refusal that stopped it. Every
process that shares the data folder reads the same file; nothing goes into the database
being backed up.

:func:`notice` turns it into what the staff see at the top of every page: quietly when
the last good backup was made, loudly (``alert``) when the folder is missing, a backup
failed, or none succeeded for two intervals (the workers are not running), and as a
warning when automatic backups are off or the folder is on this machine's own disk
(unless it is said to be synced elsewhere, ``OFLOCAL_BACKUP_SYNCED``).
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from oflocal import clock
from oflocal.settings import Settings

STATUS_FILE = "backup-status.json"
GRACE = timedelta(minutes=2)  # a backup takes a while; the next slot may be a little late


@dataclass(frozen=True)
class Status:
    target: str = ""
    last_good_at: str | None = None
    last_good_file: str | None = None
    last_good_bytes: int = 0
    last_good_seconds: float = 0.0
    last_good_encrypted: bool = False
    same_disk: bool = False  # the folder is on the data folder's own disk
    last_attempt_at: str | None = None
    last_ok: bool = True
    error_code: str | None = None
    error_facts: dict[str, Any] = field(default_factory=dict)
    failures: int = 0  # in a row

    @property
    def last_good(self) -> datetime | None:
        return datetime.fromisoformat(self.last_good_at) if self.last_good_at else None


def status_path(data_dir: Path) -> Path:
    return data_dir / STATUS_FILE


def read_status(data_dir: Path) -> Status | None:
    try:
        raw = json.loads(status_path(data_dir).read_text(encoding="utf-8"))
        return Status(**{k: v for k, v in raw.items() if k in Status.__dataclass_fields__})
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError):
        return Status(last_ok=False, error_code="backup.failed",
                      error_facts={"reason": f"{STATUS_FILE} cannot be read"})


def _write(data_dir: Path, status: Status) -> None:
    path = status_path(data_dir)
    part = path.with_name(f".{STATUS_FILE}.{secrets.token_hex(4)}")
    part.write_text(json.dumps(asdict(status), ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(part, path)


def record_success(data_dir: Path, *, target: Path, file: Path, size: int, seconds: float,
                   encrypted: bool, same_disk: bool, at: datetime | None = None) -> Status:
    moment = (at or clock.now()).isoformat()
    status = Status(target=str(target), last_good_at=moment, last_good_file=file.name,
                    last_good_bytes=size, last_good_seconds=round(seconds, 2),
                    last_good_encrypted=encrypted, same_disk=same_disk,
                    last_attempt_at=moment, last_ok=True)
    _write(data_dir, status)
    return status


def record_failure(data_dir: Path, *, target: Path | None, code: str,
                   facts: dict[str, Any], at: datetime | None = None) -> Status:
    before = read_status(data_dir) or Status()
    status = Status(
        target=str(target) if target else before.target,
        last_good_at=before.last_good_at, last_good_file=before.last_good_file,
        last_good_bytes=before.last_good_bytes, last_good_seconds=before.last_good_seconds,
        last_good_encrypted=before.last_good_encrypted, same_disk=before.same_disk,
        last_attempt_at=(at or clock.now()).isoformat(), last_ok=False, error_code=code,
        error_facts={k: v for k, v in facts.items() if isinstance(v, str | int | float)},
        failures=before.failures + 1)
    _write(data_dir, status)
    return status


@dataclass(frozen=True)
class Notice:
    """What the staff pages say. ``level``: ``ok`` (a quiet line), ``warn``, ``alert``.
    ``kind`` picks the words: ok, off, never, failing, stale, same_disk."""

    level: str
    kind: str
    last_good: datetime | None = None
    target: str = ""
    error_code: str | None = None
    error_facts: dict[str, Any] = field(default_factory=dict)
    minutes: int = 0


def notice(settings: Settings, status: Status | None, now: datetime | None = None) -> Notice:
    config = settings.backup
    if not config.automatic:
        if config.external or (config.dir is not None and config.every_minutes == 0):
            return Notice("none", "external")
        return Notice("warn", "off")
    at = now or clock.now()
    target = str(config.dir)
    if status is None or (status.last_good is None and status.last_ok):
        return Notice("warn", "never", target=target)
    last = status.last_good
    if not status.last_ok:
        return Notice("alert", "failing", last_good=last, target=status.target or target,
                      error_code=status.error_code, error_facts=status.error_facts)
    if last is not None and at - last > 2 * timedelta(minutes=config.every_minutes) + GRACE:
        return Notice("alert", "stale", last_good=last, target=target,
                      minutes=int((at - last).total_seconds() // 60))
    if status.same_disk and not config.synced:
        return Notice("warn", "same_disk", last_good=last, target=target)
    return Notice("ok", "ok", last_good=last, target=target)
