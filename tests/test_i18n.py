"""Every word on the pages has a Japanese and an English translation, and the catalogs
hold nothing that no page uses.

Msgids are found where ``_("...")`` is called: in the Jinja templates (parsed by Jinja
itself) and in the Python page modules (parsed with ``ast``). Only literal strings are
allowed, so that this check can see every one of them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from jinja2 import Environment
from jinja2.ext import extract_from_ast

from oflocal import i18n
from oflocal.web.app import TEMPLATES

PAGES = Path(i18n.__file__).resolve().parents[1] / "web" / "pages"


def template_msgids() -> dict[str, set[str]]:
    env = Environment()
    found: dict[str, set[str]] = {}
    for path in sorted(TEMPLATES.rglob("*.html")):
        tree = env.parse(path.read_text(encoding="utf-8"))
        for lineno, _func, message in extract_from_ast(tree, gettext_functions=("_",)):
            if not isinstance(message, str):
                raise AssertionError(f"{path.name}:{lineno}: _() needs one literal string")
            found.setdefault(message, set()).add(f"{path.name}:{lineno}")
    return found


def python_msgids() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in sorted(PAGES.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            if isinstance(node.func, ast.Name) and node.func.id == "_":
                arg = node.args[0] if len(node.args) == 1 and not node.keywords else None
                if not (isinstance(arg, ast.Constant) and isinstance(arg.value, str)):
                    raise AssertionError(f"{path.name}:{node.lineno}: _() needs one literal string")
                found.setdefault(arg.value, set()).add(f"{path.name}:{node.lineno}")
    return found


def used_msgids() -> dict[str, set[str]]:
    used = template_msgids()
    for message, places in python_msgids().items():
        used.setdefault(message, set()).update(places)
    return used


def catalog(lang: str) -> dict[str, str]:
    with i18n.catalog_path(lang).open("rb") as handle:
        po = read_po(handle, locale=lang, abort_invalid=True)
    entries = {}
    for message in po:
        if not message.id:
            continue  # the header
        assert not message.fuzzy, f"{lang}: fuzzy entry {message.id!r}"
        assert isinstance(message.id, str) and isinstance(message.string, str)
        entries[message.id] = message.string
    return entries


def test_the_extractors_find_the_pages_words() -> None:
    used = used_msgids()
    assert "Log in" in used  # from the templates
    assert "Accepted" in used  # from pages/booth.py
    assert len(used) > 40


@pytest.mark.parametrize("lang", i18n.LANGS)
def test_every_msgid_is_translated(lang: str) -> None:
    entries = catalog(lang)
    missing = {m: sorted(p) for m, p in used_msgids().items() if not entries.get(m, "").strip()}
    assert not missing, f"{lang}: untranslated: {missing}"


@pytest.mark.parametrize("lang", i18n.LANGS)
def test_no_catalog_entry_is_unused(lang: str) -> None:
    unused = sorted(set(catalog(lang)) - set(used_msgids()))
    assert not unused, f"{lang}: entries no page uses: {unused}"


def test_catalogs_compile_and_translate() -> None:
    ja, en = i18n.gettext_for("ja"), i18n.gettext_for("en")
    assert ja("Log in") == "ログイン"
    assert en("Log in") == "Log in"
    assert i18n.gettext_for("fr")("Log in") == "ログイン"  # unknown language: Japanese


def test_placeholders_survive_translation() -> None:
    for lang in i18n.LANGS:
        for msgid, text in catalog(lang).items():
            for mark in ("{", "%("):
                assert msgid.count(mark) == text.count(mark), (lang, msgid)


@pytest.mark.parametrize(
    ("cookie", "header", "expected"),
    [
        ("en", "ja", "en"),
        ("ja", "en-US,en;q=0.9", "ja"),
        (None, "en-US,en;q=0.9,ja;q=0.8", "en"),
        (None, "ja-JP,ja;q=0.9,en;q=0.8", "ja"),
        (None, "fr-FR,fr;q=0.9,en;q=0.5", "en"),
        (None, "fr-FR", "ja"),
        (None, "en;q=0.2,ja;q=0.9", "ja"),
        (None, None, "ja"),
        ("xx", "", "ja"),
    ],
)
def test_language_choice(cookie: str | None, header: str | None, expected: str) -> None:
    assert i18n.choose_lang(cookie, header) == expected
