"""A stored message as RFC 5322 bytes: headers encoded for Japanese, a stable Message-ID.

Subjects and names are MIME-encoded words (``=?utf-8?b?…?=``), bodies UTF-8: base64
over SMTP (any server takes it), 8bit in the demo's ``.eml`` files (so the text reads
as it is in an editor). The Message-ID comes from the message's id and dedupe key, and
the Date from when it was queued, so every attempt at one message sends the same
headers: a copy sent twice (see ``jobs.py``) is recognisably the same message.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

from oflocal.clock import as_tokyo

# Printable ASCII without spaces or specials: also the old Japanese mobile addresses
# with dots where RFC 5322 allows none (taro..yamada.@docomo.ne.jp), which carriers
# still deliver to; refusing them would lose the supporters who have them.
LOCAL_PART = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}")
LINE_BYTES = 998
DOMAIN = re.compile(r"(?=.{4,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
                    r"[A-Za-z]{2,63}")


def check_address(address: str) -> str:
    """The address, trimmed; ValueError unless it is one plain ASCII ``local@domain``
    (the forms that take it validate it first, with their own words)."""
    address = address.strip()
    local, at, domain = address.rpartition("@")
    if not at or not LOCAL_PART.fullmatch(local) or not DOMAIN.fullmatch(domain):
        raise ValueError(f"not an e-mail address oflocal can send to: {address!r}")
    return address


def recipient(address: str, name: str) -> Address:
    local, _, domain = check_address(address).rpartition("@")
    return Address(display_name=" ".join(name.split()), username=local, domain=domain)


def sender_address(mail_from: str) -> str:
    """The bare address of ``OFLOCAL_MAIL_FROM`` (the SMTP envelope's sender)."""
    return parseaddr(mail_from)[1]


def message_id(message_id: int, dedupe_key: str, mail_from: str) -> str:
    domain = sender_address(mail_from).rpartition("@")[2] or "localhost"
    digest = hashlib.sha256(dedupe_key.encode()).hexdigest()[:12]
    return f"<oflocal.mail.{message_id}.{digest}@{domain}>"


@dataclass(frozen=True)
class Letter:
    """What a message row holds that its bytes need."""

    id: int
    to_address: str
    to_name: str
    kind: str
    language: str
    subject: str
    text_body: str
    html_body: str | None
    dedupe_key: str
    created_at: datetime
    unsubscribe_url: str | None = None


def compose(letter: Letter, mail_from: str, *, cte: str = "base64") -> EmailMessage:
    """The message with CRLF line ends (``policy.SMTP``); ``cte`` encodes the bodies."""
    message = EmailMessage(policy=policy.SMTP)
    message["From"] = mail_from
    message["To"] = recipient(letter.to_address, letter.to_name)
    message["Subject"] = letter.subject
    message["Date"] = format_datetime(as_tokyo(letter.created_at))
    message["Message-ID"] = message_id(letter.id, letter.dedupe_key, mail_from)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies
    message["Content-Language"] = letter.language
    message["X-Oflocal-Kind"] = letter.kind
    if letter.unsubscribe_url:  # a mailing: one click in the mail program unsubscribes
        message["List-Unsubscribe"] = f"<{letter.unsubscribe_url}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(letter.text_body, charset="utf-8", cte=_fits(letter.text_body, cte))
    if letter.html_body is not None:
        message.add_alternative(letter.html_body, subtype="html", charset="utf-8",
                                cte=_fits(letter.html_body, cte))
    return message


def _fits(text: str, cte: str) -> str:
    """8bit only while every line stays within RFC 5322's 998 bytes (a long sentence
    of a supporter's note may not); quoted-printable otherwise."""
    if cte == "8bit" and any(len(line.encode()) > LINE_BYTES for line in text.splitlines()):
        return "quoted-printable"
    return cte
