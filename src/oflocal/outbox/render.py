"""Messages from templates: ``templates/mail/<kind>.<language>.txt`` (and, optionally,
``<kind>.<language>.html`` beside it for an HTML part).

A text template has two blocks, ``subject`` (one line) and ``body``. Undefined names
are errors (``StrictUndefined``): a notice queued without a fact its template needs is
refused in the caller's transaction, not sent with a hole in it. Filters: ``yen``
(¥1,234), ``when`` (a day or a Tokyo minute in the message's language, with the day
of the week: 2026年12月10日（木） 23:59 / Thu 10 Dec 2026 23:59) and ``month``
(2026年3月 / Mar 2026). Templates whose names start with ``_`` are parts, included by
the others.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import (
    Environment,
    FileSystemLoader,
    StrictUndefined,
    Template,
    UndefinedError,
    pass_context,
)
from jinja2.runtime import Context

from oflocal.clock import as_tokyo
from oflocal.format import MONTHS_EN, en_date, ja_date, yen

MAIL_TEMPLATES = Path(__file__).resolve().parents[3] / "templates" / "mail"
LANGUAGES = ("ja", "en")
WEEKDAYS_JA = "月火水木金土日"
WEEKDAYS_EN = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
SUBJECT_LENGTH = 300


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str | None


def when(value: date | datetime, language: str) -> str:
    """A day, or a minute in Asia/Tokyo, the way a letter in ``language`` writes it."""
    if isinstance(value, datetime):
        local = as_tokyo(value)
        return f"{when(local.date(), language)} {local:%H:%M}"
    if language == "ja":
        return f"{ja_date(value)}（{WEEKDAYS_JA[value.weekday()]}）"
    return f"{WEEKDAYS_EN[value.weekday()]} {en_date(value)}"


def month(value: date, language: str) -> str:
    """The month something happens in: 2026年3月 / Mar 2026."""
    if language == "ja":
        return f"{value.year}年{value.month}月"
    return f"{MONTHS_EN[value.month - 1]} {value.year}"


@pass_context
def _when(context: Context, value: date | datetime) -> str:
    return when(value, str(context["language"]))


@pass_context
def _month(context: Context, value: date) -> str:
    return month(value, str(context["language"]))


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(MAIL_TEMPLATES),
        undefined=StrictUndefined,
        autoescape=lambda name: bool(name and name.endswith(".html")),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["yen"] = yen
    env.filters["when"] = _when
    env.filters["month"] = _month
    return env


def _block(template: Template, name: str, context: Mapping[str, Any]) -> str:
    if name not in template.blocks:
        raise ValueError(f"mail template {template.name} has no {{% block {name} %}}")
    return "".join(template.blocks[name](template.new_context(dict(context))))


def _tidy(text: str) -> str:
    """Trailing spaces off every line, no blank lines at either end, one final newline."""
    lines = [line.rstrip() for line in text.splitlines()]
    return "\n".join(lines).strip("\n") + "\n"


def template_names(kind: str, language: str) -> tuple[str, str]:
    if language not in LANGUAGES:
        raise ValueError(f"mail language must be one of {LANGUAGES}, not {language!r}")
    if not re.fullmatch(r"[a-z][a-z0-9_]*", kind):
        raise ValueError(f"not a mail kind: {kind!r}")
    return f"{kind}.{language}.txt", f"{kind}.{language}.html"


def render(kind: str, language: str, context: Mapping[str, Any]) -> Rendered:
    """Subject, text and (when its template exists) HTML of a ``kind`` message."""
    text_name, html_name = template_names(kind, language)
    try:
        return _render(text_name, html_name, {**context, "language": language})
    except UndefinedError as error:  # a fact the template needs was not given
        raise ValueError(f"mail template {text_name}: {error}") from error


def _render(text_name: str, html_name: str, facts: Mapping[str, Any]) -> Rendered:
    env = environment()
    text_template = env.get_template(text_name)
    subject = " ".join(_block(text_template, "subject", facts).split())
    if not subject or len(subject) > SUBJECT_LENGTH:
        raise ValueError(f"{text_name}: the subject must be 1 to {SUBJECT_LENGTH} characters")
    text = _tidy(_block(text_template, "body", facts))
    html = None
    if (MAIL_TEMPLATES / html_name).is_file():
        html = env.get_template(html_name).render(facts)
    return Rendered(subject=subject, text=text, html=html)
