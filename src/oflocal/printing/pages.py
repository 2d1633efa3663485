"""Per-booklet page content: the only work that grows with the number of tickets.

A page places the document's forms (see artwork.py) and adds the QR code, the typed
code and the serial of each ticket.  This module runs in worker processes, so it gets
everything it needs in a small picklable ``PageKit`` (geometry, form names and the
glyph codes of the few characters a code or serial can contain) and imports nothing
heavy.  The same function produces the same bytes in any process, which keeps the
output identical whatever the number of workers.
"""

from __future__ import annotations

import os
import threading
import time
import zlib
from dataclasses import dataclass

from oflocal.vouchers.codes import grouped

from . import geometry, qr
from .geometry import PageGeometry, Rect

# Characters a ticket composer may draw: QR alphanumerics (every code) and "No. ".
VARIABLE_CHARS = qr.ALPHANUMERIC + "No."
SERIAL_FORMAT = "No. {:06d}"
INK = "0.13 0.13 0.13 rg"


@dataclass(frozen=True)
class TicketJob:
    serial: int
    code: str
    frame: str  # form names
    card: str | None
    back: str | None


@dataclass(frozen=True)
class BookletJob:
    serial: int
    code: str
    tickets: tuple[TicketJob, ...]


@dataclass(frozen=True)
class PageKit:
    geometry: PageGeometry
    glyphs: dict[str, tuple[str, float]]
    font: str
    show_serial: bool
    duplex: bool
    back_workshop: bool
    mask: int
    cover: str
    cover_marks: str | None
    cut_guides: str | None
    back_marks: str | None
    sample_ticket: str | None
    sample_cover: str | None


def compose_booklet(kit: PageKit, job: BookletJob) -> list[bytes]:
    """Flate-compressed content streams of the booklet's pages, in print order."""
    pages = [_cover(kit, job)]
    if kit.duplex:
        pages.append(_form(kit.cover_marks))
    per_page = len(kit.geometry.cells)
    for start in range(0, len(job.tickets), per_page):
        tickets = job.tickets[start : start + per_page]
        pages.append(_front(kit, tickets))
        if kit.duplex:
            pages.append(_back(kit, tickets))
    # Level 3: a quarter of level 6's time for ~25% more bytes on these repetitive pages.
    return [zlib.compress(page.encode("latin-1"), 3) for page in pages]


def _form(name: str | None) -> str:
    return f"/{name} Do" if name else ""


def _text(kit: PageKit, x: float, y: float, text: str, size: float, colour: str) -> str:
    hexes = "".join([kit.glyphs[ch][0] for ch in text])
    return f"BT {colour} /{kit.font} {size:g} Tf {x:.2f} {y:.2f} Td <{hexes}> Tj ET"


def _width(kit: PageKit, text: str, size: float) -> float:
    return sum([kit.glyphs[ch][1] for ch in text]) * size / 1000


def _qr(kit: PageKit, code: str, box: Rect, module: float) -> str:
    path, modules = qr.symbol_path(code, kit.mask)
    if modules != geometry.QR_MODULES:  # a longer payload: a bigger symbol, same box
        module = box.w / modules
    return f"q {module:.4f} 0 0 {module:.4f} {box.x:.2f} {box.y:.2f} cm 0 g {path} Q"


def _cover(kit: PageKit, job: BookletJob) -> str:
    slots = kit.geometry.cover
    ops = [_form(kit.cover_marks), f"/{kit.cover} Do", _qr(kit, job.code, slots.qr, slots.module)]
    typed = grouped(job.code)
    x = slots.code_centre - _width(kit, typed, slots.code_size) / 2
    ops.append(_text(kit, x, slots.code_baseline, typed, slots.code_size, INK))
    serial = SERIAL_FORMAT.format(job.serial)
    x = slots.code_centre - _width(kit, serial, slots.serial_size) / 2
    ops.append(_text(kit, x, slots.serial_baseline, serial, slots.serial_size, INK))
    ops.append(_form(kit.sample_cover))
    return "\n".join(ops)


def _front(kit: PageKit, tickets: tuple[TicketJob, ...]) -> str:
    s = kit.geometry.slots
    ops = [_form(kit.cut_guides)]
    for cell, ticket in zip(kit.geometry.cells, tickets, strict=False):
        ops.append(f"q 1 0 0 1 {cell.x:.2f} {cell.y:.2f} cm /{ticket.frame} Do")
        if ticket.card:
            ops.append(f"q 1 0 0 1 {s.workshop.x:.2f} {s.workshop.y:.2f} cm /{ticket.card} Do Q")
        ops.append(_qr(kit, ticket.code, s.qr, s.module))
        typed = grouped(ticket.code)
        x = s.code_x(_width(kit, typed, s.code_size))
        ops.append(_text(kit, x, s.code_baseline, typed, s.code_size, INK))
        if kit.show_serial:
            serial = SERIAL_FORMAT.format(ticket.serial)
            x = s.serial_right - _width(kit, serial, s.serial_size)
            ops.append(_text(kit, x, s.serial_baseline, serial, s.serial_size, "1 g"))
        if kit.sample_ticket:
            ops.append(f"/{kit.sample_ticket} Do")
        ops.append("Q")
    return "\n".join(ops)


def _back(kit: PageKit, tickets: tuple[TicketJob, ...]) -> str:
    """The back of a ticket sheet: each ticket's back lies behind its front."""
    s = kit.geometry.slots
    ops = [_form(kit.back_marks)]
    if not kit.back_workshop:
        return "\n".join(ops)  # blank, but the page is there so fronts and backs pair up
    for cell, ticket in zip(kit.geometry.back_cells(), tickets, strict=False):
        ops.append(f"q 1 0 0 1 {cell.x:.2f} {cell.y:.2f} cm")
        if ticket.back:
            ops.append(f"/{ticket.back} Do")
        if kit.show_serial:
            serial = SERIAL_FORMAT.format(ticket.serial)
            x = s.back_serial_right - _width(kit, serial, 6)
            ops.append(_text(kit, x, s.back_serial_baseline, serial, 6, INK))
        ops.append("Q")
    return "\n".join(ops)


_KIT: PageKit | None = None


def init_worker(kit: PageKit) -> None:
    global _KIT
    _KIT = kit
    _exit_with_parent(os.getppid())


def _exit_with_parent(parent: int) -> None:
    """A page composer lives no longer than the process that started it: when that one
    is killed outright (``kill -9`` of an ``oflocal worker``), the composer would wait
    forever to hand back pages nobody reads. The job itself is claimed again elsewhere."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="oflocal-parent-watch", daemon=True).start()


def compose_chunk(jobs: list[BookletJob]) -> list[list[bytes]]:
    """Worker entry point: the pages of several booklets (the kit comes from init_worker)."""
    if _KIT is None:
        raise RuntimeError("init_worker was not called in this process")
    return [compose_booklet(_KIT, job) for job in jobs]
