"""Names of backup files, and which old ones to delete.

A backup is ``oflocal-YYYYMMDD-HHMMSS-<installation>.ofbak`` (Tokyo time: the name sorts
by time and reads like the desk's clock); while it is being written it is a hidden
``.oflocal-<installation>-<random>.partial`` in the same folder, renamed once complete.
Nothing that does not match the pattern of this installation is ever touched, so two
installations may share a synced folder.

The rotation keeps every backup of the last ``keep_hours`` hours, the last one of each
Tokyo day for ``keep_days`` days, and always the newest; the rest is deleted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from oflocal import clock

SUFFIX = ".ofbak"
_NAME = re.compile(r"^oflocal-(\d{8})-(\d{6})(?:-(\d+))?-([0-9a-f]{8})\.ofbak$")


@dataclass(frozen=True)
class BackupFile:
    path: Path
    at: datetime  # when it was made (to the second, Tokyo time in the name)
    installation: str


def file_name(at: datetime, installation: str, counter: int = 0) -> str:
    local = clock.as_tokyo(at)
    extra = f"-{counter}" if counter else ""
    return f"oflocal-{local:%Y%m%d-%H%M%S}{extra}-{installation}{SUFFIX}"


def partial_prefix(installation: str) -> str:
    return f".oflocal-{installation}-"


def parse(path: Path) -> BackupFile | None:
    match = _NAME.match(path.name)
    if match is None:
        return None
    try:
        local = datetime.strptime(match.group(1) + match.group(2), "%Y%m%d%H%M%S")
    except ValueError:
        return None
    return BackupFile(path, local.replace(tzinfo=clock.TOKYO), match.group(4))


def backups(folder: Path, installation: str) -> list[BackupFile]:
    """This installation's backups in ``folder``, newest first."""
    found = [b for p in folder.iterdir() if (b := parse(p)) and b.installation == installation]
    return sorted(found, key=lambda b: (b.at, b.path.name), reverse=True)


def to_delete(files: Iterable[BackupFile], now: datetime, *, keep_hours: int,
              keep_days: int) -> list[BackupFile]:
    """The backups the rotation deletes (pure: nothing is touched here)."""
    ordered = sorted(files, key=lambda b: (b.at, b.path.name), reverse=True)
    recent = now - timedelta(hours=keep_hours)
    daily = now - timedelta(days=keep_days)
    kept_days: set[object] = set()
    doomed = []
    for index, backup in enumerate(ordered):
        day = clock.tokyo_date(backup.at)
        if index == 0 or backup.at >= recent:
            kept_days.add(day)  # a day with a recent backup needs no other
            continue
        if backup.at >= daily and day not in kept_days:
            kept_days.add(day)  # the newest of its day: the day's last state
            continue
        doomed.append(backup)
    return doomed
