"""What every ``oflocal`` command group shares: this process's settings, database and
code signer (made once, on first use), and how a refusal ends a command (its
bilingual message on stderr, exit code 2). The capability CLIs import this module,
never ``oflocal.cli``, which imports them.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from functools import cache
from typing import TYPE_CHECKING, Any, TypeVar, overload

import click

from oflocal.db.engine import Database
from oflocal.errors import Refusal
from oflocal.settings import Settings, get_settings
from oflocal.vouchers.codes import CodeSigner

if TYPE_CHECKING:
    from click._termui_impl import ProgressBar

V = TypeVar("V")


@cache
def settings() -> Settings:
    return get_settings()


@cache
def database() -> Database:
    return Database(settings().database_url)


def signer() -> CodeSigner:
    return CodeSigner(settings().secret_key)


@overload
def progress_bar(iterable: Iterable[V], *, length: int, label: str) -> ProgressBar[V]: ...


@overload
def progress_bar(iterable: None = None, *, length: int, label: str) -> ProgressBar[int]: ...


def progress_bar(iterable: Iterable[Any] | None = None, *, length: int,
                 label: str) -> ProgressBar[Any]:
    """A progress bar on stderr for a person at a terminal, and nothing otherwise: when
    stderr is a pipe or a file, click would print the bare label there once (a stray
    "statements" after a successful ``oflocal settle statements``)."""
    return click.progressbar(iterable, length=length, label=label, file=sys.stderr,
                             show_pos=True, hidden=not sys.stderr.isatty())


def fail(refusal: Refusal) -> None:
    click.echo(f"✕ {refusal.message('ja')}\n  {refusal.message('en')} [{refusal.code}]", err=True)
    sys.exit(2)


class OflocalGroup(click.Group):
    """Turns a Refusal into its bilingual message and exit code 2 instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Refusal as refusal:
            fail(refusal)


