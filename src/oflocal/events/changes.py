"""Every change to an event's set-up, one function each, each in its own transaction.

The API, the pages and the command line call these and nothing else to set an event up:
a handler parses and answers, these decide. A rule the database keeps (a slug, a
workshop code) comes back as the refusal a committee understands, never as a 500.
Inside an idempotent request (``idempotency.store.run_once``) each ``db.write()`` joins
the request's transaction, so the change and its Idempotency-Key commit together.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from oflocal.auth.service import check_pin, hash_secret
from oflocal.db.engine import Database
from oflocal.db.rows import unique_violation
from oflocal.errors import Refusal
from oflocal.events.invoice import invoice_number_warning
from oflocal.events.models import Event, Workshop
from oflocal.events.setup import (
    ProgrammeTerms,
    WorkshopDetails,
    add_workshop,
    create_event,
    create_programme,
    update_event,
    update_programme,
    update_workshop,
)
from oflocal.printing.layout import PrintLayout
from oflocal.vouchers.models import Programme


@contextmanager
def _unique(table: str, columns: tuple[str, ...], refusal: Refusal) -> Iterator[None]:
    """Turn the database's unique rule on ``table(columns)`` into ``refusal``."""
    try:
        yield
    except IntegrityError as error:
        if unique_violation(error, table, *columns):
            raise refusal from error
        raise


def event_or_404(session: Session, event_id: int) -> Event:
    event = session.get(Event, event_id)
    if event is None:
        raise Refusal("event.not_found")
    return event


def new_event(db: Database, *, slug: str, confirm_invoice_number: bool = False,
              **fields: Any) -> Event:
    """An event with its chart of accounts (``fields``: see ``setup.EVENT_FIELDS``).
    A taken slug: ``event.slug_taken``."""
    with _unique("event", ("slug",), Refusal("event.slug_taken", slug=slug)), \
            db.write() as session:
        event = create_event(session, slug=slug,
                             confirm_invoice_number=confirm_invoice_number, **fields)
        session.flush()
        return event


def edit_event(db: Database, event_id: int, changes: Mapping[str, Any], *,
               confirm_invoice_number: bool = False) -> Event:
    """Change the event's name, dates or the committee's profile."""
    with db.write() as session:
        event = update_event(session, event_id, changes,
                             confirm_invoice_number=confirm_invoice_number)
        session.flush()
        return event


def event_warnings(event: Event) -> list[str]:
    """What the committee should confirm (never a refusal): see ``events.invoice``."""
    warning = invoice_number_warning(event.invoice_number)
    return [warning] if warning else []


def new_workshop(db: Database, event_id: int, details: WorkshopDetails, *,
                 participating: bool = True, pin: str | None = None,
                 confirm_invoice_number: bool = False) -> Workshop:
    """A workshop and its payable account; optionally its PIN. A taken code:
    ``workshop.code_taken``."""
    if pin is not None:
        check_pin(pin)
    pin_hash = hash_secret(pin) if pin is not None else None  # slow: before the transaction
    refusal = Refusal("workshop.code_taken", code=details.code)
    with _unique("workshop", ("event_id", "code"), refusal), db.write() as session:
        event_or_404(session, event_id)
        workshop = add_workshop(session, event_id, details,
                                confirm_invoice_number=confirm_invoice_number)
        workshop.participating = participating
        workshop.pin_hash = pin_hash
        session.flush()
        return workshop


def change_workshop(db: Database, workshop_id: int, changes: Mapping[str, Any], *,
                    confirm_invoice_number: bool = False) -> Workshop:
    """Texts, participation, invoice number or bank account, checked as a whole."""
    with db.write() as session:
        workshop = update_workshop(session, workshop_id, changes,
                                   confirm_invoice_number=confirm_invoice_number)
        session.flush()
        return workshop


def new_programme(db: Database, event_id: int,
                  terms: ProgrammeTerms) -> tuple[Programme, list[str]]:
    """A voucher programme and its liability account, with the warnings its terms raise
    (a validity of 6 months or more, when explicitly allowed)."""
    with db.write() as session:
        event_or_404(session, event_id)
        return create_programme(session, event_id, terms)


def edit_programme(db: Database, programme_id: int,
                   changes: Mapping[str, Any]) -> tuple[Programme, list[str]]:
    """Change a programme's rules (see ``setup.update_programme`` for what stays fixed
    once booklets are printed), with the warnings the new terms raise."""
    with db.write() as session:
        return update_programme(session, programme_id, changes)


def change_print_layout(db: Database, programme_id: int, layout: PrintLayout) -> Programme:
    """How the next print runs look (paper, duplex, print-shop mode, rule lines...).
    Booklets already printed keep their look; the terms they show do not change."""
    with db.write() as session:
        programme = session.get(Programme, programme_id, with_for_update=True)
        if programme is None:
            raise Refusal("programme.not_found")
        programme.print_layout = layout.model_dump(mode="json")
        session.flush()
        return programme
