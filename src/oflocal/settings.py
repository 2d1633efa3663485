"""All settings in one place, read from ``OFLOCAL_*`` environment variables."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

TIMEZONE = "Asia/Tokyo"
# What an installation keeps in its data folder (a restored backup makes the same).
SECRET_FILE = "secret_key"
SQLITE_FILE = "oflocal.db"


def _flag(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _path(name: str) -> Path | None:
    value = os.environ.get(name, "").strip()
    return Path(value).expanduser().resolve() if value else None


def _load_or_create_secret(data_dir: Path) -> bytes:
    """Generate the secret once, atomically, readable by the owner only."""
    path = data_dir / SECRET_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip().encode()
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_hex(32))
    return path.read_text().strip().encode()


@dataclass(frozen=True)
class Lockout:
    """How many wrong passwords or PINs a login takes before it locks, and for how long."""

    attempts: int = 5
    minutes: int = 15


@dataclass(frozen=True)
class Jobs:
    """Background jobs (``oflocal.jobs``): where they run and how long a claim lasts.

    A worker holds a job for ``lease_seconds`` and renews the lease every
    ``heartbeat_seconds``; a job whose worker died is claimed again once its lease has
    run out. Idle workers look for work every ``poll_seconds``; a failed attempt is
    retried after ``retry_base_seconds``, doubling each time (up to 5 minutes). With
    ``in_process`` (the default) each web process runs ``threads`` worker threads
    itself; deployments with separate ``oflocal worker`` processes switch it off."""

    in_process: bool = True
    threads: int = 1
    lease_seconds: float = 30.0
    heartbeat_seconds: float = 10.0
    poll_seconds: float = 2.0
    retry_base_seconds: float = 5.0

    def __post_init__(self) -> None:
        if self.retry_base_seconds < 0:
            raise ValueError("OFLOCAL_JOB_RETRY_SECONDS cannot be negative")
        if not 0 < self.heartbeat_seconds < self.lease_seconds:
            raise ValueError("the job heartbeat must come more often than the lease runs out")
        if self.poll_seconds <= 0 or self.threads < 1:
            raise ValueError("job polling needs a positive interval and at least one thread")


@dataclass(frozen=True)
class Stripe:
    """Card and konbini payments through Stripe (``oflocal.payments.stripe_provider``).

    Off while ``secret_key`` is empty. ``webhook_secret`` (``whsec_…``) checks the
    ``Stripe-Signature`` of each webhook; ``api_base`` points the client elsewhere than
    Stripe (the tests' stand-in server); empty means Stripe's own API.
    ``publishable_key`` (``pk_…``, public by design) is what the supporter's browser
    gives Stripe.js to take a card: konbini needs only the secret key, card needs both
    (``card_ready``)."""

    secret_key: str = field(default="", repr=False)
    webhook_secret: str = field(default="", repr=False)
    api_base: str = ""
    publishable_key: str = ""

    def __post_init__(self) -> None:
        if self.secret_key and not self.webhook_secret:
            raise ValueError(
                "OFLOCAL_STRIPE_WEBHOOK_SECRET must be set with OFLOCAL_STRIPE_SECRET_KEY: "
                "without it no payment could be confirmed"
            )
        if self.api_base and not self.api_base.startswith(("https://", "http://")):
            raise ValueError("OFLOCAL_STRIPE_API_BASE must be an http(s) URL")
        if self.publishable_key and not self.publishable_key.startswith("pk_"):
            raise ValueError("OFLOCAL_STRIPE_PUBLISHABLE_KEY must be a publishable key (pk_…)")
        modes = {key.split("_")[1] for key in (self.secret_key, self.publishable_key)
                 if key.startswith(("sk_", "rk_", "pk_")) and key.count("_") >= 2}
        if len(modes) > 1:  # a test key with a live one: no payment could ever succeed
            raise ValueError("OFLOCAL_STRIPE_SECRET_KEY and OFLOCAL_STRIPE_PUBLISHABLE_KEY "
                             "must both be test keys or both live keys")

    @property
    def enabled(self) -> bool:
        return bool(self.secret_key)

    @property
    def card_ready(self) -> bool:
        """Card can be taken: the server's key and the browser's (Stripe.js) are set."""
        return self.enabled and bool(self.publishable_key)

    @property
    def stripe_js(self) -> bool:
        """Whether pages load Stripe.js (js.stripe.com) for the card form: only against
        Stripe's own API (a stand-in server cannot confirm what Stripe.js sends)."""
        return self.card_ready and not self.api_base


@dataclass(frozen=True)
class Mail:
    """E-mail to supporters (``oflocal.outbox``): how the workers deliver it.

    With ``smtp_host`` set, each message goes to that server (STARTTLS first when
    ``smtp_starttls``, then a login when ``smtp_user`` is set). Without it (the ``make
    run`` demo) each message is written as an ``.eml`` file under ``<data_dir>/outbox/``
    for people to read. ``mail_from`` is the From of every message, e.g.
    ``"ひつじ団事務局 <info@example.jp>"``; its domain also names the Message-IDs."""

    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_user: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    smtp_starttls: bool = True
    mail_from: str = "oflocal <oflocal@localhost>"
    smtp_timeout_seconds: float = 30.0

    def __post_init__(self) -> None:
        if not 0 < self.smtp_port < 65536:
            raise ValueError("OFLOCAL_SMTP_PORT must be a TCP port (1-65535)")
        if "@" not in self.mail_from or any(c in self.mail_from for c in "\r\n"):
            raise ValueError("OFLOCAL_MAIL_FROM must be an address, e.g. "
                             "'Committee <info@example.jp>'")


@dataclass(frozen=True)
class Backup:
    """Backups of the books and the signing secret (``oflocal.backup``).

    With ``dir`` set (a USB stick, a synced folder: anywhere but this disk), the
    workers write one every ``every_minutes`` minutes, keep every one of the last
    ``keep_hours`` hours and the day's last one for ``keep_days`` days, and the staff
    pages say when the last good one was made (loudly when the folder is missing or a
    backup fails). ``synced`` says the folder, though on this machine's disk, is synced
    elsewhere (Google Drive, Dropbox…): no warning that it is on the same disk.
    ``passphrase_file`` encrypts them (AES-256-GCM). ``external`` says
    backups are made outside oflocal (PostgreSQL's continuous archiving): no notice
    that they are off. ``database_url`` is a direct connection for ``pg_dump`` when the
    app reaches PostgreSQL through PgBouncer; ``pg_bin_dir`` where ``pg_dump`` and
    ``pg_restore`` are (empty: on the PATH)."""

    dir: Path | None = None
    every_minutes: int = 10
    keep_hours: int = 24
    keep_days: int = 30
    passphrase_file: Path | None = None
    synced: bool = False
    external: bool = False
    database_url: str | None = field(default=None, repr=False)
    pg_bin_dir: str = ""

    def __post_init__(self) -> None:
        if self.every_minutes < 0:
            raise ValueError("OFLOCAL_BACKUP_EVERY_MINUTES cannot be negative (0: only by hand)")
        if self.keep_hours < 1 or self.keep_days < 0:
            raise ValueError("OFLOCAL_BACKUP_KEEP_HOURS must be at least 1 and "
                             "OFLOCAL_BACKUP_KEEP_DAYS at least 0")

    @property
    def automatic(self) -> bool:
        """Whether the workers make backups by themselves."""
        return self.dir is not None and self.every_minutes > 0


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    secret_key: bytes = field(repr=False)
    undo_window_seconds: int = 600
    session_hours: int = 12
    secure_cookies: bool = False
    lockout: Lockout = Lockout()  # staff passwords and workshop PINs alike
    max_codes_per_redemption: int = 50
    # How long a client may take to send a request body once the app reads it (408 after).
    body_timeout_seconds: float = 10.0
    jobs: Jobs = Jobs()
    # Processes composing the pages of one print job (the bytes do not depend on it).
    print_processes: int = 2
    # Database connections a web process keeps open (PostgreSQL). Requests run on up to
    # 40 threads; a pool smaller than the requests in flight opens and closes a
    # connection per request beyond it (a new server process each on PostgreSQL).
    db_pool_size: int = 20
    stripe: Stripe = Stripe()
    mail: Mail = Mail()
    backup: Backup = Backup()

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def from_env() -> Settings:
    data_dir = Path(os.environ.get("OFLOCAL_DATA_DIR", "var")).resolve()
    url = os.environ.get("OFLOCAL_DATABASE_URL") or f"sqlite:///{data_dir / SQLITE_FILE}"
    key = os.environ.get("OFLOCAL_SECRET_KEY")
    secret = key.encode() if key else _load_or_create_secret(data_dir)
    return Settings(
        data_dir=data_dir,
        database_url=normalise_database_url(url),
        secret_key=secret,
        undo_window_seconds=int(os.environ.get("OFLOCAL_UNDO_WINDOW_SECONDS", "600")),
        session_hours=int(os.environ.get("OFLOCAL_SESSION_HOURS", "12")),
        secure_cookies=_flag("OFLOCAL_SECURE_COOKIES"),
        lockout=Lockout(
            attempts=int(os.environ.get("OFLOCAL_LOGIN_ATTEMPTS", "5")),
            minutes=int(os.environ.get("OFLOCAL_LOGIN_LOCK_MINUTES", "15")),
        ),
        body_timeout_seconds=float(os.environ.get("OFLOCAL_BODY_TIMEOUT_SECONDS", "10")),
        jobs=Jobs(
            in_process=_flag("OFLOCAL_WORKERS_IN_PROCESS", True),
            threads=int(os.environ.get("OFLOCAL_WORKER_THREADS", "1")),
            lease_seconds=float(os.environ.get("OFLOCAL_JOB_LEASE_SECONDS", "30")),
            heartbeat_seconds=float(os.environ.get("OFLOCAL_JOB_HEARTBEAT_SECONDS", "10")),
            poll_seconds=float(os.environ.get("OFLOCAL_JOB_POLL_SECONDS", "2")),
            retry_base_seconds=float(os.environ.get("OFLOCAL_JOB_RETRY_SECONDS", "5")),
        ),
        print_processes=int(os.environ.get("OFLOCAL_PRINT_PROCESSES", "2")),
        db_pool_size=int(os.environ.get("OFLOCAL_DB_POOL_SIZE", "20")),
        stripe=Stripe(
            secret_key=os.environ.get("OFLOCAL_STRIPE_SECRET_KEY", "").strip(),
            webhook_secret=os.environ.get("OFLOCAL_STRIPE_WEBHOOK_SECRET", "").strip(),
            api_base=os.environ.get("OFLOCAL_STRIPE_API_BASE", "").strip().rstrip("/"),
            publishable_key=os.environ.get("OFLOCAL_STRIPE_PUBLISHABLE_KEY", "").strip(),
        ),
        mail=Mail(
            smtp_host=os.environ.get("OFLOCAL_SMTP_HOST") or None,
            smtp_port=int(os.environ.get("OFLOCAL_SMTP_PORT", "587")),
            smtp_user=os.environ.get("OFLOCAL_SMTP_USER") or None,
            smtp_password=os.environ.get("OFLOCAL_SMTP_PASSWORD") or None,
            smtp_starttls=_flag("OFLOCAL_SMTP_STARTTLS", True),
            mail_from=os.environ.get("OFLOCAL_MAIL_FROM") or Mail.mail_from,
        ),
        backup=Backup(
            dir=_path("OFLOCAL_BACKUP_DIR"),
            every_minutes=int(os.environ.get("OFLOCAL_BACKUP_EVERY_MINUTES", "10")),
            keep_hours=int(os.environ.get("OFLOCAL_BACKUP_KEEP_HOURS", "24")),
            keep_days=int(os.environ.get("OFLOCAL_BACKUP_KEEP_DAYS", "30")),
            passphrase_file=_path("OFLOCAL_BACKUP_PASSPHRASE_FILE"),
            synced=_flag("OFLOCAL_BACKUP_SYNCED"),
            external=_flag("OFLOCAL_BACKUP_EXTERNAL"),
            database_url=os.environ.get("OFLOCAL_BACKUP_DATABASE_URL") or None,
            pg_bin_dir=os.environ.get("OFLOCAL_PG_BIN_DIR", "").strip(),
        ),
    )


def normalise_database_url(url: str) -> str:
    """Accept plain ``postgresql://`` URLs and use psycopg 3 for them."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return from_env()
