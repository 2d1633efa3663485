"""Japanese first, English second: the words on the pages.

The catalogs are ordinary gettext ``.po`` files beside this module
(``{ja,en}/LC_MESSAGES/messages.po``); the msgid is the English text. They are compiled
in memory when first used (babel ``read_po`` + ``write_mo``), so no ``.mo`` file is kept
in the repository. Nothing is installed globally: each request picks its language and
passes that catalog's ``gettext`` to its templates as ``_``, which is thread-safe.

To add words: write ``_("English text")`` in a template or a page module and add that
msgid with its translation to both ``.po`` files; ``tests/test_i18n.py`` fails until both
have it, and also when an entry is no longer used anywhere.

Refusal messages are not here: they live, already bilingual, in :mod:`oflocal.errors`.
"""

from __future__ import annotations

import gettext
from collections.abc import Callable
from functools import cache
from io import BytesIO
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LANGS: tuple[str, ...] = ("ja", "en")
DEFAULT_LANG = "ja"
LANG_COOKIE = "oflocal_lang"
CATALOG_DIR = Path(__file__).resolve().parent

Gettext = Callable[[str], str]


def catalog_path(lang: str) -> Path:
    return CATALOG_DIR / lang / "LC_MESSAGES" / "messages.po"


@cache
def translations(lang: str) -> gettext.GNUTranslations:
    """The compiled catalog for ``lang`` (``ja`` or ``en``), built once per process."""
    if lang not in LANGS:
        raise ValueError(f"unsupported language {lang!r}")
    with catalog_path(lang).open("rb") as handle:
        catalog = read_po(handle, locale=lang, abort_invalid=True)
    buffer = BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def gettext_for(lang: str) -> Gettext:
    """The ``_`` function handed to one request's templates."""
    return translations(lang if lang in LANGS else DEFAULT_LANG).gettext


def load_all() -> None:
    """Compile every catalog now, so a broken ``.po`` file stops start-up, not a page."""
    for lang in LANGS:
        translations(lang)


def choose_lang(cookie: str | None, accept_language: str | None) -> str:
    """The cookie wins; then the browser's preference (``Accept-Language``); else ja."""
    if cookie in LANGS:
        return cookie
    best, best_q = DEFAULT_LANG, 0.0
    for position, item in enumerate((accept_language or "").split(",")):
        tag, _, params = item.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        if primary not in LANGS:
            continue
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        # Earlier entries win ties, as browsers list them in order of preference.
        q -= position * 1e-6
        if q > best_q:
            best, best_q = primary, q
    return best
