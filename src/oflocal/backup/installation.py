"""What makes an installation besides its database: the signing secret and the settings.

The secret signs every printed code: a backup without it restores books whose tickets
can no longer be checked, and a new secret would refuse every ticket already printed.
The settings are the ``OFLOCAL_*`` environment of the process that made the backup,
without the credentials a provider can issue again (they are named, not kept): a
backup is a file on a USB stick, and it already holds one secret too many for that.
"""

from __future__ import annotations

import contextlib
import hashlib
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from oflocal.vouchers.codes import CodeFormatError, CodeSigner, parse

# Issued again by their providers (Stripe's dashboard, the mail host): named, not kept.
CREDENTIALS = frozenset({
    "OFLOCAL_STRIPE_SECRET_KEY", "OFLOCAL_STRIPE_WEBHOOK_SECRET", "OFLOCAL_SMTP_PASSWORD",
    "OFLOCAL_BACKUP_DATABASE_URL",
})
# Set by the restore for the new installation (the secret is kept as its file).
REWRITTEN = frozenset({"OFLOCAL_DATA_DIR", "OFLOCAL_DATABASE_URL", "OFLOCAL_SECRET_KEY"})
# Paths of the old machine: written commented out, to be checked on the new one.
MACHINE_PATHS = frozenset({"OFLOCAL_BACKUP_DIR", "OFLOCAL_BACKUP_PASSPHRASE_FILE",
                           "OFLOCAL_FONT_PATH", "OFLOCAL_PG_BIN_DIR"})


def installation_id(secret: bytes) -> str:
    """A short name for the installation, the same wherever its secret goes: backup
    files carry it, and the rotation touches only its own installation's files."""
    return hashlib.sha256(b"oflocal installation\0" + secret).hexdigest()[:8]


def count_authentic(secret: bytes, codes: list[str]) -> int:
    """How many of these printed codes this secret signed: a secret that signs none of
    them cannot check a single ticket already printed."""
    signer = CodeSigner(secret)
    authentic = 0
    for code in codes:
        with contextlib.suppress(CodeFormatError):
            authentic += signer.is_authentic(parse(code))
    return authentic


def oflocal_version() -> str:
    try:
        return metadata.version("oflocal")
    except metadata.PackageNotFoundError:
        return "unknown"


@dataclass(frozen=True)
class KeptSettings:
    env: dict[str, str] = field(default_factory=dict)
    not_kept: list[str] = field(default_factory=list)
    database_url: str = ""  # where the books were (without a password), for people

    def to_json(self) -> dict[str, Any]:
        return {"env": self.env, "not_kept": self.not_kept, "database_url": self.database_url}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> KeptSettings:
        return cls(env=dict(data.get("env", {})), not_kept=list(data.get("not_kept", [])),
                   database_url=str(data.get("database_url", "")))


def without_password(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "(unreadable)"


def settings_to_keep(environ: Mapping[str, str], database_url: str) -> KeptSettings:
    env, not_kept = {}, []
    for name in sorted(environ):
        if not name.startswith("OFLOCAL_") or name.startswith("OFLOCAL_TEST_"):
            continue
        if name in CREDENTIALS:
            not_kept.append(name)
        elif name not in REWRITTEN:
            env[name] = environ[name]
    return KeptSettings(env=env, not_kept=not_kept, database_url=without_password(database_url))


def env_file(kept: KeptSettings, *, data_dir: Path, database_url: str | None,
             source: str) -> str:
    """The restored installation's settings, for ``set -a; . oflocal.env; set +a``."""
    lines = [
        f"# oflocal installation restored from {source}",
        "# Use it before any oflocal command:  set -a; . ./oflocal.env; set +a",
        f"OFLOCAL_DATA_DIR={shlex.quote(str(data_dir))}",
    ]
    if database_url:
        lines.append(f"OFLOCAL_DATABASE_URL={shlex.quote(database_url)}")
    for name, value in kept.env.items():
        if name in MACHINE_PATHS:
            lines.append(f"# {name}={shlex.quote(value)}  (a path on the old machine: "
                         "check it here, then remove the #)")
        else:
            lines.append(f"{name}={shlex.quote(value)}")
    if kept.not_kept:
        lines.append("# Not kept in the backup (issue them again, then set them here): "
                     + ", ".join(kept.not_kept))
    return "\n".join(lines) + "\n"
