"""One PDF being written: its shared resources, its forms and its pages, in order.

Work comes in chunks of booklets.  ``plan`` (in the main process, in booklet order)
names the forms a chunk needs and queues the ones not yet written; ``write`` then
writes the queued forms followed by the chunk's pages.  Object numbers are therefore
handed out in the same order however many workers composed the pages.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

from . import qr
from .artwork import SAMPLE_STATE, Artwork, Photo
from .faces import BookletFace, ProgrammeFace, TicketFace, WorkshopFace
from .fonts import DocumentFont
from .geometry import Rect, page_geometry
from .images import prepare_image
from .layout import PrintLayout
from .pages import VARIABLE_CHARS, BookletJob, PageKit, TicketJob
from .pdf import PageTree, PdfWriter, box, text_string

_CODE_CHARS = frozenset(qr.ALPHANUMERIC)


@dataclass
class ChunkPlan:
    jobs: list[BookletJob]
    pending: list[Callable[[], object]] = field(default_factory=list)  # forms to write first
    tickets: int = 0


class Document:
    def __init__(
        self, out: BinaryIO, programme: ProgrammeFace, layout: PrintLayout, font: DocumentFont
    ) -> None:
        self.pdf = PdfWriter(out)
        self.programme = programme
        self.layout = layout
        self.font = font
        self.geometry = g = page_geometry(layout)
        self.art = Artwork(programme, layout, g, font)
        self._font_ref = self.pdf.reserve()
        self._resources = self.pdf.reserve()
        self._tree = PageTree(self.pdf)
        self._xobjects: dict[str, int] = {}
        self._frames: dict[int, str] = {}
        self._cards: dict[WorkshopFace | None, tuple[str | None, str | None]] = {}
        self._images: dict[bytes, Photo] = {}
        self._states: dict[str, int] = {}

        boxes = f"/MediaBox {box(g.media)}"
        if g.bleed is not None:
            boxes += f" /TrimBox {box(g.trim)} /BleedBox {box(g.bleed)}"
        self._page_entries = f"{boxes} /Resources {self._resources} 0 R"

        sample_ticket = sample_cover = None
        if programme.sample:
            self._states[SAMPLE_STATE] = self.pdf.write_object(
                None, "<< /Type /ExtGState /ca 0.28 >>"
            )
            cell = Rect(0, 0, g.slots.width, g.slots.height)
            sample_ticket = self._form("SmpT", self.art.sample_stamp(cell), cell)
            sample_cover = self._form("SmpC", self.art.sample_stamp(g.content), g.media)
        cover = self._form("Cover", self.art.cover(), g.media)
        assert cover is not None  # the cover always has content
        self.kit = PageKit(
            geometry=g,
            glyphs=font.glyphs(VARIABLE_CHARS),
            font=font.resource,
            show_serial=layout.show_serial,
            duplex=layout.duplex,
            back_workshop=layout.back_side == "workshop",
            mask=qr.DEFAULT_MASK,
            cover=cover,
            cover_marks=self._form("MarksC", self.art.trim_marks(), g.media),
            cut_guides=self._form("Cuts", self.art.cut_guides(), g.media),
            back_marks=self._form("MarksB", self.art.back_marks(), g.media),
            sample_ticket=sample_ticket,
            sample_cover=sample_cover,
        )

    @property
    def pages(self) -> int:
        return self._tree.count

    # --- forms and images ---

    def _form(self, name: str, data: bytes, bbox: Rect) -> str | None:
        if not data.strip():
            return None
        self._xobjects[name] = self.pdf.write_stream(
            None,
            f" /Type /XObject /Subtype /Form /BBox {box(bbox)} /Resources {self._resources} 0 R",
            data,
        )
        return name

    def _image(self, workshop: WorkshopFace, pending: list[Callable[[], object]]) -> Photo | None:
        raw = workshop.image
        if not raw:
            return None
        if raw in self._images:
            return self._images[raw]
        name = f"Im{len(self._images) + 1}"
        image = prepare_image(raw, f"workshop {workshop.name!r}")  # fail early, in plan()
        photo = self._images[raw] = Photo(name, image.width, image.height)

        def write() -> None:
            entries = (
                f" /Type /XObject /Subtype /Image /Width {image.width} /Height {image.height}"
                " /BitsPerComponent 8"
            )
            smask = ""
            if image.alpha is not None:
                mask = self.pdf.write_stream(
                    None, entries + " /ColorSpace /DeviceGray", image.alpha, compressed=True
                )
                smask = f" /SMask {mask} 0 R"
            data_entries = f"{entries} /ColorSpace /{image.colour_space}{smask}"
            if image.filter == "DCTDecode":
                self._xobjects[name] = self.pdf.write_stream(
                    None, data_entries + " /Filter /DCTDecode", image.data, compress=False
                )
            else:
                self._xobjects[name] = self.pdf.write_stream(
                    None, data_entries, image.data, compressed=True
                )

        pending.append(write)
        return photo

    def _frame(self, denomination: int, pending: list[Callable[[], object]]) -> str:
        name = self._frames.get(denomination)
        if name is None:
            name = self._frames[denomination] = f"Fr{denomination}"
            cell = Rect(0, 0, self.geometry.slots.width, self.geometry.slots.height)
            pending.append(lambda: self._form(name, self.art.ticket_frame(denomination), cell))
        return name

    def _card(
        self, workshop: WorkshopFace | None, pending: list[Callable[[], object]]
    ) -> tuple[str | None, str | None]:
        if workshop in self._cards:
            return self._cards[workshop]
        number = len(self._cards) + 1
        photo = self._image(workshop, pending) if workshop is not None else None
        card = f"Wc{number}" if self.layout.show_workshop else None
        back = f"Wb{number}" if self.layout.duplex and self.layout.back_side == "workshop" else None
        if workshop is None:
            back = None
        s = self.geometry.slots
        if card:
            front_box = Rect(0, 0, s.workshop.w, s.workshop.h)
            pending.append(
                lambda: self._form(card, self.art.workshop_card(workshop, photo), front_box)
            )
        if back:
            back_box = Rect(0, 0, s.width, s.height)
            pending.append(
                lambda: self._form(back, self.art.workshop_back(workshop, photo), back_box)
            )
        self._cards[workshop] = (card, back)
        return card, back

    # --- pages ---

    def plan(self, booklets: Sequence[BookletFace]) -> ChunkPlan:
        plan = ChunkPlan(jobs=[])
        for booklet in booklets:
            _check_booklet(booklet)
            tickets = tuple(self._ticket_job(t, plan.pending) for t in booklet.tickets)
            plan.jobs.append(BookletJob(booklet.serial, booklet.code, tickets))
            plan.tickets += len(tickets)
        return plan

    def _ticket_job(self, ticket: TicketFace, pending: list[Callable[[], object]]) -> TicketJob:
        frame = self._frame(ticket.denomination, pending)
        card, back = self._card(ticket.workshop, pending)
        return TicketJob(ticket.serial, ticket.code, frame, card, back)

    def write(self, plan: ChunkPlan, pages: list[list[bytes]]) -> None:
        for write_form in plan.pending:
            write_form()
        for booklet_pages in pages:
            for content in booklet_pages:
                self._tree.add(content, self._page_entries, compressed=True)

    def close(self) -> None:
        self._tree.close()
        self.font.write(self.pdf, self._font_ref)
        xobjects = " ".join(f"/{name} {ref} 0 R" for name, ref in self._xobjects.items())
        states = " ".join(f"/{name} {ref} 0 R" for name, ref in self._states.items())
        self.pdf.write_object(
            self._resources,
            f"<< /Font << /{self.font.resource} {self._font_ref} 0 R >>"
            f" /XObject << {xobjects} >>" + (f" /ExtGState << {states} >>" if states else "")
            + " >>",
        )
        # PrintScaling /None: "fit to page" would shrink tickets and break cut and duplex
        # alignment.  Duplex: print dialogs preselect long-edge flipping.
        prefs = "/PrintScaling /None"
        if self.layout.duplex:
            prefs += " /Duplex /DuplexFlipLongEdge"
        catalog = self.pdf.write_object(
            None,
            f"<< /Type /Catalog /Pages {self._tree.root} 0 R /ViewerPreferences << {prefs} >> >>",
        )
        p = self.programme
        info = self.pdf.write_object(
            None,
            f"<< /Title {text_string(f'{p.event_name} {p.programme_name}')}"
            f" /Author {text_string(p.committee_name)}"
            f" /Producer {text_string('oflocal print engine')} >>",
        )
        self.pdf.close(catalog, info)


def _check_booklet(booklet: BookletFace) -> None:
    where = f"booklet No. {booklet.serial}"
    if not booklet.tickets:
        raise ValueError(f"{where} has no tickets")
    for code in (booklet.code, *(t.code for t in booklet.tickets)):
        if not code or not set(code) <= _CODE_CHARS or len(code) > 40:
            raise ValueError(f"{where}: {code!r} is not a printable code")
    for ticket in booklet.tickets:
        if ticket.denomination <= 0:
            raise ValueError(f"{where}: ticket No. {ticket.serial} has no amount")
