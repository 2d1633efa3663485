"""Where a message goes: to the SMTP server of the settings, or, with none, to a file.

SMTP: one connection per message (a campaign sends hundreds, not millions), STARTTLS
before anything else when configured (a server that does not offer it is an error,
never a reason to go on in clear), then a login when a user is set. Once the server
has accepted the DATA, the message is sent: a failing QUIT afterwards changes nothing.
A recipient the server refuses for good (5xx) is :class:`Undeliverable`; every other
error is worth another try later.

Files: ``<data_dir>/outbox/<id>-<kind>.eml``, written whole (a ``.part`` renamed into
place), so a second attempt at the same message replaces the file, never adds one.
"""

from __future__ import annotations

import os
import smtplib
import ssl
from email.message import EmailMessage
from pathlib import Path

from oflocal.outbox.compose import sender_address
from oflocal.settings import Mail


class Undeliverable(Exception):
    """The server refused the recipient for good (a 5xx answer): trying again would
    be refused again."""


def outbox_dir(data_dir: Path) -> Path:
    return data_dir / "outbox"


def send_smtp(message: EmailMessage, mail: Mail, envelope_to: str) -> None:
    """Hand ``message`` to the SMTP server; returns once the server has accepted it."""
    assert mail.smtp_host is not None
    smtp = smtplib.SMTP(mail.smtp_host, mail.smtp_port, timeout=mail.smtp_timeout_seconds)
    try:
        smtp.ehlo()
        if mail.smtp_starttls:
            smtp.starttls(context=ssl.create_default_context())
            smtp.ehlo()
        if mail.smtp_user:
            smtp.login(mail.smtp_user, mail.smtp_password or "")
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
    except BaseException:
        smtp.close()
        raise
    try:  # accepted: whatever QUIT says, the message is on its way
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()


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
