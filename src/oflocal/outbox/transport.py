"""Where a message goes: to the SMTP server of the settings, or, with none, to a file.

SMTP: STARTTLS before anything else when configured (a server that does not offer it is
an error, never a reason to go on in clear), then a login when a user is set. Once the
server has accepted the DATA, the message is sent: a failing QUIT afterwards changes
nothing. A recipient the server refuses for good (5xx) is :class:`Undeliverable`; every
other error is worth another try later.

Connections are kept (:func:`send_kept`): each worker thread keeps
its connection open from one message to the next, so a mailing to thousands pays the
connect, EHLO, STARTTLS and login once per :data:`KEEP_MESSAGES` messages rather than
once per message. A connection is closed (QUIT) when its thread has nothing to send
(``close_kept``, called by the worker), after :data:`KEEP_MESSAGES` messages, when it
was left unused for :data:`KEEP_IDLE_SECONDS`, and after any error that may leave it in
doubt. A kept connection the server has closed meanwhile is found out at ``MAIL FROM``,
before anything of the message was handed over: then, and only then, the message goes
once more over a new connection.

Files: ``<data_dir>/outbox/<id>-<kind>.eml``, written whole (a ``.part`` renamed into
place), so a second attempt at the same message replaces the file, never adds one.
"""

from __future__ import annotations

import os
import smtplib
import ssl
import threading
import time
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from oflocal.outbox.compose import sender_address
from oflocal.settings import Mail


class Undeliverable(Exception):
    """The server refused the recipient for good (a 5xx answer): trying again would
    be refused again."""


def outbox_dir(data_dir: Path) -> Path:
    return data_dir / "outbox"


KEEP_MESSAGES = 100  # then QUIT and a new connection: servers limit messages per session
KEEP_IDLE_SECONDS = 10.0  # unused longer: not trusted any more (servers time out idle ones)


class _SMTP(smtplib.SMTP):
    """Knows whether the message's DATA was begun: before that, nothing was handed over."""

    data_begun = False

    def data(self, msg: Any) -> tuple[int, bytes]:
        self.data_begun = True
        return super().data(msg)


def _connect(mail: Mail) -> _SMTP:
    assert mail.smtp_host is not None
    smtp = _SMTP(mail.smtp_host, mail.smtp_port, timeout=mail.smtp_timeout_seconds)
    try:
        smtp.ehlo()
        if mail.smtp_starttls:
            smtp.starttls(context=ssl.create_default_context())
            smtp.ehlo()
        if mail.smtp_user:
            smtp.login(mail.smtp_user, mail.smtp_password or "")
    except BaseException:
        smtp.close()
        raise
    return smtp


def _hand_over(smtp: _SMTP, message: EmailMessage, mail: Mail, envelope_to: str) -> None:
    smtp.data_begun = False
    try:
        smtp.send_message(message, from_addr=sender_address(mail.mail_from),
                          to_addrs=[envelope_to])
    except smtplib.SMTPRecipientsRefused as error:
        answers = list(error.recipients.values())
        if answers and all(500 <= code < 600 for code, _ in answers):
            code, text = answers[0]
            raise Undeliverable(
                f"{envelope_to} refused by the server: {code} "
                f"{text.decode(errors='replace') if isinstance(text, bytes) else text}"
            ) from error
        raise


def _quit(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()


@dataclass
class _Kept:
    smtp: _SMTP
    server: tuple[str | None, int, str | None, bool]
    sent: int = 0
    used: float = 0.0


_threads = threading.local()


def _server(mail: Mail) -> tuple[str | None, int, str | None, bool]:
    return (mail.smtp_host, mail.smtp_port, mail.smtp_user, mail.smtp_starttls)


def close_kept() -> None:
    """Close this thread's kept connection, if any (QUIT)."""
    kept: _Kept | None = getattr(_threads, "kept", None)
    _threads.kept = None
    if kept is not None:
        _quit(kept.smtp)


class _Stale(Exception):
    """A kept connection turned out closed before anything of the message was sent."""


def _closed_by_server(error: BaseException) -> bool:
    if isinstance(error, (smtplib.SMTPServerDisconnected, ConnectionError)):
        return True
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return any(code == 421 for code, _ in error.recipients.values())
    return isinstance(error, smtplib.SMTPResponseException) and error.smtp_code == 421


def _refused(error: BaseException) -> bool:
    # After a refusal smtplib has reset the session (RSET): the connection serves the
    # next message. After anything else (a timeout, a lost connection, a 421) it is
    # closed, or may be mid-command.
    return isinstance(error, (Undeliverable, smtplib.SMTPRecipientsRefused,
                              smtplib.SMTPSenderRefused, smtplib.SMTPDataError))


def _send_on(kept: _Kept, message: EmailMessage, mail: Mail, envelope_to: str, *,
             reused: bool) -> None:
    try:
        _hand_over(kept.smtp, message, mail, envelope_to)
    except BaseException as error:
        cause = error.__cause__ if isinstance(error, Undeliverable) else error
        if (_refused(error) and not _closed_by_server(cause or error)
                and kept.smtp.sock is not None):
            kept.sent, kept.used = kept.sent + 1, time.monotonic()
            raise
        kept.smtp.close()
        _threads.kept = None
        if reused and not kept.smtp.data_begun and _closed_by_server(error):
            raise _Stale() from error
        raise
    kept.sent, kept.used = kept.sent + 1, time.monotonic()


def send_kept(message: EmailMessage, mail: Mail, envelope_to: str) -> None:
    """Hand ``message`` to the SMTP server over this thread's kept connection (see the
    module doc); returns once the server has accepted it."""
    kept: _Kept | None = getattr(_threads, "kept", None)
    if kept is not None and (kept.server != _server(mail) or kept.sent >= KEEP_MESSAGES
                             or time.monotonic() - kept.used > KEEP_IDLE_SECONDS):
        close_kept()
        kept = None
    if kept is not None:
        try:
            _send_on(kept, message, mail, envelope_to, reused=True)
            return
        except _Stale:
            pass  # the server closed it while it was kept: once more, on a new one
    kept = _threads.kept = _Kept(_connect(mail), _server(mail))
    _send_on(kept, message, mail, envelope_to, reused=False)


def write_eml(message: EmailMessage, folder: Path, name: str) -> Path:
    """Write ``message`` as ``folder/name`` (RFC 5322 bytes, CRLF), durably."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    part = folder / f"{name}.part"
    try:
        with part.open("wb") as out:
            out.write(message.as_bytes())
            out.flush()
            os.fsync(out.fileno())
        os.replace(part, target)
    finally:
        part.unlink(missing_ok=True)
    return target
