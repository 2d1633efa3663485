"""How the automatic backups are going, for monitoring (``backup/status.py``): the same
judgement the staff pages' banner shows, as JSON. A script polls it and raises the alarm
on ``level: alert`` (the CLI's ``oflocal backup --status`` exits 1 then)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from litestar import Request, Router, get
from pydantic import BaseModel, Field

from oflocal.backup.status import notice, read_status
from oflocal.errors import Refusal
from oflocal.web.api.common import STAFF
from oflocal.web.errors import require_json_body
from oflocal.web.state import services


class BackupStatusOut(BaseModel):
    level: Literal["ok", "warn", "alert", "none"] = Field(
        description="ok: the last backup is recent; warn: backups are off, none made yet, "
                    "or the folder is on the laptop's own disk; alert: the last backup "
                    "failed or none for two intervals; none: made outside oflocal")
    kind: Literal["ok", "off", "never", "failing", "stale", "same_disk", "external"]
    last_good_at: datetime | None = Field(description="when the last good backup was made")
    target: str = Field(description="the backup folder")
    every_minutes: int = Field(description="the interval of the automatic backups")
    error_code: str | None = Field(description="why the last backup failed (a refusal code)")
    message_ja: str | None
    message_en: str | None


@get("/backup/status", opt={"roles": STAFF}, sync_to_thread=True, tags=["system"])
def backup_status(request: Request[Any, Any, Any]) -> BackupStatusOut:
    """The automatic backups' state, as the banner on the staff pages says it."""
    settings = services(request.app.state).settings
    shown = notice(settings, read_status(settings.data_dir))
    messages: dict[str, str | None] = {"ja": None, "en": None}
    if shown.error_code:
        for lang in messages:
            try:
                messages[lang] = Refusal(shown.error_code, **shown.error_facts).message(lang)
            except KeyError:  # a code this version does not know (a newer worker wrote it)
                messages[lang] = shown.error_code
    return BackupStatusOut(level=shown.level, kind=shown.kind,
                           last_good_at=shown.last_good, target=shown.target,
                           every_minutes=settings.backup.every_minutes,
                           error_code=shown.error_code, message_ja=messages["ja"],
                           message_en=messages["en"])


router = Router(path="/", route_handlers=[backup_status], before_request=require_json_body)
