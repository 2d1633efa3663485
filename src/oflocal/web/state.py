"""What every request handler may use: settings, database and code signer."""

from __future__ import annotations

from dataclasses import dataclass

from litestar.datastructures import State

from oflocal.db.engine import Database
from oflocal.settings import Settings
from oflocal.vouchers.codes import CodeSigner


@dataclass(frozen=True)
class Services:
    settings: Settings
    db: Database
    signer: CodeSigner


def services(state: State) -> Services:
    return state.services  # type: ignore[no-any-return]
